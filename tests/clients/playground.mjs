// The playground in a real browser: playwright-core driving Debian's Chromium
// against a `vantage serve` the Rust test started. Usage:
//   VANTAGE_DIRECT=http://127.0.0.1:PORT ARTIFACTS=DIR node playground.mjs run VIDEO AUDIO OTHER_WORDS LONG_VIDEO LONG_AUDIO
//   VANTAGE_DIRECT=... ARTIFACTS=DIR KEY=the-key node playground.mjs keys
//   VANTAGE_DIRECT=... ARTIFACTS=DIR SERVER_PID=N node playground.mjs restart VIDEO AUDIO
// Each state is kept as DIR/NN-name.png. Prints one JSON line of what it
// measured; exits non-zero on the first failed check.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [scenario, ...files] = process.argv.slice(2);
const { VANTAGE_DIRECT: direct, ARTIFACTS: artifacts } = process.env;
mkdirSync(artifacts, { recursive: true });
const MINUTE = 60_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
if (process.env.TRACE) {
  page.on("request", (r) => console.error(Date.now() % 100000, "->", r.method(), r.url(), r.headers()["x-fal-target-url"] || ""));
  page.on("requestfinished", (r) => console.error(Date.now() % 100000, "<-", r.method(), r.url(), r.headers()["x-fal-target-url"] || ""));
}
let shots = 0;
const shot = (name) => page.screenshot({ path: join(artifacts, `${String(++shots).padStart(2, "0")}-${name}.png`), fullPage: true });
const measured = {};

try {
  await page.goto(`${direct}/`);
  await checkLabels();
  if (scenario === "keys") await keys();
  else if (scenario === "restart") await restart(...files);
  else await run(...files);
  // Answers the tests provoke (4xx; refused connections while the server is down) are not problems.
  const expected = scenario === "restart" ? /status of 4\d\d|net::ERR_/ : /status of 4\d\d/;
  assert.deepEqual(problems.filter((p) => !expected.test(p)), [], "the page logged errors");
  console.log(JSON.stringify(measured));
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(problems.join("\n"));
  throw e;
} finally {
  await browser.close();
}

/** Every control has a name a screen reader reads out. */
async function checkLabels() {
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button, progress, iframe, video")]
      .filter((el) => {
        const labelled = el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.title;
        return !labelled && !(el.tagName === "BUTTON" && el.textContent.trim());
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unnamed, [], "controls without a label");
  measured.controls = await page.locator("input, select, button").count();
}

async function run(video, audio, otherWords, longVideo, longAudio) {
  await shot("empty");
  // The two files, uploaded with a progress bar as soon as they are chosen.
  await chooseBoth(video, audio);

  // A bad frame rate: the server's 422, shown beside the field.
  await page.getByLabel("Output frame rate").fill("fast");
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.locator("#fps-error").filter({ hasText: /fps|rate|pattern|match/i }).waitFor();
  assert.equal(await page.getByLabel("Output frame rate").getAttribute("aria-invalid"), "true");
  measured.fps_error = await page.locator("#fps-error").innerText();
  await shot("bad-frame-rate");
  await page.getByLabel("Output frame rate").fill("");

  // A video this server does not have: refused at once, beside the video.
  const videoAddress = page.getByRole("group", { name: "Video with the original speech" }).getByLabel("…or paste its address");
  const audioAddress = page.getByRole("group", { name: "New narration (the same words)" }).getByLabel("…or paste its address");
  await videoAddress.fill(`${direct}/files/uploads/nothing/missing.mp4`);
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.locator("#video-error").filter({ hasText: "no file at" }).waitFor();
  measured.missing_file_error = await page.locator("#video-error").innerText();
  await shot("missing-file");
  await videoAddress.fill("");
  await page.getByLabel("Choose a video…").setInputFiles(video);
  await waitUploaded("video");

  // A narration address nothing answers at: the run fails fetching it, and says so beside it.
  await audioAddress.fill("http://127.0.0.1:9/narration.wav");
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.locator("#audio-error").filter({ hasText: "could not be fetched" }).waitFor({ timeout: MINUTE });
  measured.download_error = await page.locator("#audio-error").innerText();
  await shot("download-failed");
  await audioAddress.fill("");
  await page.getByLabel("Choose an audio file…").setInputFiles(audio);
  await waitUploaded("audio");

  // Precision, submitted with the keyboard alone.
  await page.getByRole("radio", { name: /^Adaptive/ }).focus();
  await page.keyboard.press("ArrowDown");
  assert.ok(await page.getByRole("radio", { name: /^Precision/ }).isChecked(), "the arrow key picks the next mode");
  for (let i = 0; i < 40; i++) {
    if (await page.evaluate(() => document.activeElement?.id === "submit")) break;
    await page.keyboard.press("Tab");
  }
  assert.equal(await page.evaluate(() => document.activeElement?.id), "submit", "Tab reaches the button");
  await page.keyboard.press("Enter");
  await page.locator("#stages li").first().waitFor({ timeout: MINUTE });
  await page.locator('#stages li[data-state="progress"], #stages li[data-state="done"]').first().waitFor({ timeout: 5 * MINUTE });
  await shot("running");
  await page.locator("#result").waitFor({ state: "visible", timeout: 10 * MINUTE });
  const stages = await page.$$eval("#stages li", (lis) => lis.map((li) => [li.dataset.stage, li.dataset.state, li.querySelector("progress").value]));
  measured.stages = stages;
  for (const [name, state, value] of stages) {
    if (state === "done" || state === "cached") assert.equal(value, 100, `${name} ends at 100%`);
  }
  for (const stage of ["source-words", "target-words", "analyze", "interpolate", "mux", "diagnostic"]) {
    assert.ok(stages.some(([name]) => name === stage), `${stage} in ${JSON.stringify(stages)}`);
  }
  assert.ok(stages.every(([, state]) => state === "done" || state === "cached"), JSON.stringify(stages));

  // The result plays beside the source, from one button.
  const duration = await mediaDuration("#result-video");
  measured.result_duration = duration;
  await page.getByRole("button", { name: "Play both" }).click();
  await page.waitForFunction(() => ["result-video", "source-video"].every((id) => document.getElementById(id).currentTime > 0.3), null, { timeout: MINUTE });
  measured.playing = await page.evaluate(() => ["result-video", "source-video"].map((id) => !document.getElementById(id).paused));
  assert.deepEqual(measured.playing, [true, true]);
  await shot("result-playing");
  await page.getByRole("button", { name: "Pause both" }).click();
  assert.deepEqual(await page.evaluate(() => ["result-video", "source-video"].map((id) => document.getElementById(id).paused)), [true, true]);
  measured.confidence = await page.locator(".confidence").innerText();

  // The diagnostic: the warp plot inline, the report inline and in its own tab.
  await page.waitForFunction(() => document.getElementById("warp-plot").naturalWidth > 0, null, { timeout: MINUTE });
  const report = page.frameLocator("#report-frame");
  await report.locator("body").waitFor();
  measured.report_text = (await report.locator("body").innerText()).length;
  assert.ok(measured.report_text > 100, "the report has content");
  const [tab] = await Promise.all([context.waitForEvent("page"), page.getByRole("link", { name: "Open the report in a new tab" }).click()]);
  await tab.waitForLoadState();
  measured.report_title = await tab.title();
  await tab.close();
  await page.locator("#diagnostic-out").scrollIntoViewIfNeeded();
  await shot("diagnostic");

  // The timecodes, downloaded.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: /^Timecodes/ }).click()]);
  const saved = join(artifacts, "timecodes.txt");
  await download.saveAs(saved);
  measured.timecodes = readFileSync(saved, "utf8");
  measured.downloads = await page.$$eval("#downloads a", (as) => as.map((a) => a.textContent));

  // A reload finds the request again, and lists it.
  await page.reload();
  await page.locator("#result").waitFor({ state: "visible", timeout: MINUTE });
  await page.locator("#recent-table tbody tr td.status.done").first().waitFor();
  await shot("reloaded");

  await mismatch(video, otherWords);
  await cancelBoth(longVideo, longAudio);
}

/** A narration with other words, dropped on the page: the error quotes
 * both, beside the choice that decides, and its "Try again" runs. */
async function mismatch(video, otherWords) {
  await page.getByLabel("Choose a video…").setInputFiles(video); // a reload forgets the files
  await drop("#audio-drop", otherWords, "audio/wav");
  await waitUploaded("video");
  await waitUploaded("audio");
  await page.getByRole("radio", { name: /^Off/ }).check();
  await page.getByRole("button", { name: "Synchronise" }).click();
  const error = page.locator("#mismatch-error");
  await error.filter({ hasText: "do not say the same words" }).waitFor({ timeout: 2 * MINUTE });
  measured.mismatch = await error.innerText();
  assert.match(measured.mismatch, /The video says ".+"; the narration says "Completely unrelated words about the weather and trains\."/);
  assert.equal(await page.getByLabel("If the two audios say different words").getAttribute("aria-invalid"), "true");
  await shot("mismatch");
  await error.getByRole("button", { name: "Try again: stretch the picture evenly" }).click();
  await page.locator("#result").waitFor({ state: "visible", timeout: 5 * MINUTE });
  assert.equal(await page.getByLabel("If the two audios say different words").inputValue(), "linear");
  measured.mismatch_warnings = await page.$$eval(".warnings li", (lis) => lis.map((li) => li.textContent));
  assert.ok(measured.mismatch_warnings.some((w) => w.includes("stretched evenly")), JSON.stringify(measured.mismatch_warnings));
  await page.getByLabel("If the two audios say different words").selectOption("");
}

/** A file dropped on `target`, as a person dragging it from their desktop would. */
async function drop(target, path, type) {
  const bytes = readFileSync(path).toString("base64");
  const name = path.split("/").pop();
  const transfer = await page.evaluateHandle(
    ({ bytes, name, type }) => {
      const data = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
      const t = new DataTransfer();
      t.items.add(new File([data], name, { type }));
      return t;
    },
    { bytes, name, type },
  );
  await page.dispatchEvent(target, "dragover", { dataTransfer: transfer });
  await page.dispatchEvent(target, "drop", { dataTransfer: transfer });
}

/** One running and one queued request (the server runs one at a time), each cancelled. */
async function cancelBoth(video, audio) {
  await chooseBoth(video, audio);
  await page.getByRole("radio", { name: /^Precision/ }).check();
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.locator("#run-status").filter({ hasText: "Running" }).waitFor({ timeout: MINUTE });
  const running = await currentId();

  await page.getByRole("radio", { name: /^Blend/ }).check();
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.waitForFunction((id) => JSON.parse(sessionStorage.getItem("vantage.current")).id !== id, running);
  await page.locator("#run-status").filter({ hasText: "In the queue" }).waitFor({ timeout: MINUTE });
  const queued = await currentId();
  measured.queued_status = await page.locator("#run-status").innerText();
  await shot("queued");
  await page.getByRole("button", { name: "Cancel", exact: true }).first().click();
  await page.locator("#run-status").filter({ hasText: "Cancelled" }).waitFor({ timeout: MINUTE });
  await shot("cancelled-while-queued");

  // The running one, found again in the list.
  const row = page.locator(`#recent-table tr[data-request-id="${running}"]`);
  await row.locator("td.status.running").waitFor({ timeout: MINUTE });
  await row.getByRole("button", { name: /^Open/ }).click();
  await page.locator("#run-status").filter({ hasText: "Running" }).waitFor({ timeout: MINUTE });
  await page.locator("#run").getByRole("button", { name: "Cancel", exact: true }).click();
  await page.locator("#run-status").filter({ hasText: "Cancelled" }).waitFor({ timeout: MINUTE });
  await shot("cancelled-while-running");
  for (const id of [running, queued]) {
    await page.locator(`#recent-table tr[data-request-id="${id}"] td.status.cancelled`).waitFor({ timeout: MINUTE });
  }
  measured.cancelled = [running, queued];
}

/** A server with keys: the page asks for one, and says when it is wrong. */
async function keys() {
  await page.locator("#key-section").waitFor();
  await page.locator("#recent-error").filter({ hasText: "API key" }).waitFor();
  await page.getByRole("group", { name: "Video with the original speech" }).getByLabel("…or paste its address").fill(`${direct}/files/a.mp4`);
  await page.getByRole("group", { name: "New narration (the same words)" }).getByLabel("…or paste its address").fill(`${direct}/files/a.wav`);
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.locator("#api-key-error").filter({ hasText: "needs an API key" }).waitFor();
  measured.missing = await page.locator("#api-key-error").innerText();
  await shot("key-missing");
  await page.getByLabel("This server needs a key").fill("not-the-key");
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.locator("#api-key-error").filter({ hasText: "refused" }).waitFor();
  measured.wrong = await page.locator("#api-key-error").innerText();
  await shot("key-wrong");
  await page.getByLabel("This server needs a key").fill(process.env.KEY);
  await page.getByLabel("This server needs a key").press("Tab");
  await page.waitForFunction(() => document.getElementById("recent-error").textContent === "");
  measured.stored = await page.evaluate(() => sessionStorage.getItem("vantage.key"));
  assert.equal(measured.stored, process.env.KEY);
  await shot("key-accepted");
}

/** The page keeps following a request while the server is killed (the
 * test restarts it on the same address) and shows its result. */
async function restart(video, audio) {
  await chooseBoth(video, audio);
  await page.getByRole("radio", { name: /^Precision/ }).check();
  await page.getByRole("button", { name: "Synchronise" }).click();
  await page.locator('#stages li[data-stage="interpolate"]').waitFor({ timeout: 5 * MINUTE });
  process.kill(Number(process.env.SERVER_PID), "SIGKILL");
  const away = page.locator("#run-status").filter({ hasText: "does not answer" });
  await away.waitFor({ timeout: MINUTE });
  measured.away = await away.innerText();
  await shot("server-away");
  await page.locator("#result").waitFor({ state: "visible", timeout: 8 * MINUTE });
  measured.result_duration = await mediaDuration("#result-video");
  await shot("result-after-restart");
}

/** Both files chosen, and uploaded. */
async function chooseBoth(video, audio) {
  await page.getByLabel("Choose a video…").setInputFiles(video);
  await page.getByLabel("Choose an audio file…").setInputFiles(audio);
  await waitUploaded("video");
  await waitUploaded("audio");
}

async function waitUploaded(which) {
  await page.waitForFunction((w) => {
    const p = document.getElementById(`${w}-progress`);
    return !p.hidden && p.value === 100;
  }, which, { timeout: MINUTE });
}

async function mediaDuration(selector) {
  await page.waitForFunction((s) => document.querySelector(s).readyState >= 1, selector, { timeout: MINUTE });
  return page.$eval(selector, (v) => v.duration);
}

async function currentId() {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem("vantage.current")).id);
}
