// The official JavaScript client (@fal-ai/client, pinned) against `vantage serve`,
// configured the two ways Node allows: a proxy URL ({url, when: "always"}),
// and a requestMiddleware that rewrites fal's hosts. Usage:
// VANTAGE_DIRECT=http://... VANTAGE_QUEUE=http://... node js_client.mjs VIDEO AUDIO
// Prints one JSON line of what it measured; exits non-zero on the first failed check.
import { createFalClient, ValidationError, ApiError } from "@fal-ai/client";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const [video, audio] = process.argv.slice(2);
const { VANTAGE_DIRECT: direct, VANTAGE_QUEUE: queue, FAL_KEY: key } = process.env;
const APP = "local/vantage";

const proxied = createFalClient({
  credentials: key,
  proxyUrl: { url: `${direct}/api/fal/proxy`, when: "always" },
});
const rewritten = createFalClient({
  credentials: key,
  requestMiddleware: async (request) => ({
    ...request,
    url: request.url
      .replace(/^https:\/\/queue\.fal\.run/, queue)
      .replace(/^https:\/\/fal\.run/, direct)
      .replace(/^https:\/\/rest\.fal\.ai/, direct),
  }),
});

const measured = {};

// storage.upload through the proxy, then a sync on the uploaded URLs.
const videoUrl = await proxied.storage.upload(new Blob([readFileSync(video)], { type: "video/mp4" }));
const audioUrl = await proxied.storage.upload(new Blob([readFileSync(audio)], { type: "audio/wav" }));
assert.ok(videoUrl.startsWith(`${direct}/files/uploads/`), videoUrl);
const input = { video_url: videoUrl, audio_url: audioUrl, rife_mode: "off" };

// subscribe, polling, through the proxy.
const updates = [];
const polled = await proxied.subscribe(APP, { input, logs: true, onQueueUpdate: (u) => updates.push(u.status) });
assert.ok(polled.data.synchronized_video_url, JSON.stringify(polled.data));
assert.ok(polled.requestId, "x-fal-request-id");
assert.equal(updates.at(-1), "COMPLETED");
measured.frames = polled.data.metadata.output_frames;

// subscribe, streaming status, through the rewriting middleware.
const streamed = await rewritten.subscribe(`${APP}/diagnostic`, { input, mode: "streaming", logs: true });
assert.ok(streamed.data.diagnostic_video_url, JSON.stringify(streamed.data));
assert.equal(streamed.data.metadata.output_frames, measured.frames);

// queue.submit / status / result / cancel.
const { request_id: id } = await rewritten.queue.submit(APP, { input });
let status;
do {
  status = await rewritten.queue.status(APP, { requestId: id, logs: true });
  await new Promise((r) => setTimeout(r, 200));
} while (status.status !== "COMPLETED");
const result = await rewritten.queue.result(APP, { requestId: id });
assert.equal(result.requestId, id);
assert.equal(result.data.metadata.output_frames, measured.frames);
await assert.rejects(rewritten.queue.cancel(APP, { requestId: id }), (e) => e instanceof ApiError && e.status === 400);

// A 422 is the client's ValidationError, naming the field.
await assert.rejects(
  proxied.subscribe(APP, { input: { ...input, rife_mode: "fast" } }),
  (e) => {
    assert.ok(e instanceof ValidationError, String(e));
    assert.equal(e.getFieldErrors("rife_mode").length, 1, JSON.stringify(e.fieldErrors));
    measured.validation = e.fieldErrors[0].type;
    return true;
  },
);

console.log(JSON.stringify(measured));
