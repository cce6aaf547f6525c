// The Vantage playground: a client of this server's public API only.
// Uploads go through /storage/upload/initiate (then a PUT, for the progress
// bar); syncs through fal's queue protocol in the proxy form the official JS
// client uses in a browser (the fal URL in x-fal-target-url, sent to this
// origin); recent requests come from GET /requests.
"use strict";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const QUEUE = "https://queue.fal.run";
const PROXY = "/api/fal/proxy";
const KEY = "vantage.key";
const CURRENT = "vantage.current";

// ---- the key and the HTTP calls -------------------------------------------

const key = () => sessionStorage.getItem(KEY) || "";

function authHeaders(extra = {}) {
  return key() ? { ...extra, authorization: `Key ${key()}` } : extra;
}

async function readJson(resp) {
  try {
    return await resp.json();
  } catch {
    return null;
  }
}

/** A call to a fal queue URL through this server's proxy route. */
async function queueCall(method, target, body) {
  const headers = authHeaders({ "x-fal-target-url": target });
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(PROXY, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: resp.status, body: await readJson(resp) };
}

function requestUrls(req) {
  const base = `${QUEUE}/${req.app ? req.app + "/" : ""}requests/${req.id}`;
  return { result: base, status: `${base}/status`, cancel: `${base}/cancel` };
}

// ---- messages beside the fields --------------------------------------------

/** The element that shows errors about an input field. */
const FIELD_ERRORS = {
  video_url: "video-error",
  audio_url: "audio-error",
  rife_mode: "mode-error",
  fps: "fps-error",
  whisper_model: "model-error",
  on_mismatch: "mismatch-error",
};
const FIELD_INPUTS = { video_url: "video-url", audio_url: "audio-url", fps: "fps", whisper_model: "model", on_mismatch: "on-mismatch" };

function clearErrors() {
  for (const el of document.querySelectorAll(".error")) el.replaceChildren();
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

function showError(field, message, extra = []) {
  const el = $(FIELD_ERRORS[field] || field) || $("form-error");
  el.replaceChildren(document.createTextNode(message), ...extra);
  const input = $(FIELD_INPUTS[field]);
  if (input) input.setAttribute("aria-invalid", "true");
  el.closest("fieldset, .option, section, form")?.scrollIntoView({ block: "nearest" });
}

/** A 422 in FastAPI's shape: each message beside its field. */
function showValidation(detail) {
  for (const e of detail) {
    const field = Array.isArray(e.loc) ? String(e.loc[1] ?? "") : "";
    const what = { video_url: "The video", audio_url: "The narration" }[field];
    const message = e.type === "file_download_error" && what ? `${what} could not be fetched: ${e.msg}` : e.msg;
    showError(field in FIELD_ERRORS ? field : "form-error", message);
  }
}

/** A request that ended in an error, shown where it can be acted on. */
function showFailure(status, body) {
  if (status === 401) return showKeyError(body);
  if (body && Array.isArray(body.detail)) return showValidation(body.detail);
  const detail = plain(body?.detail) || `the server answered ${status}`;
  const remedies = (body?.remedies || []).flatMap((r) => r.choices.map((choice) => remedyButton(r.field, choice)));
  switch (body?.error_type) {
    case "different_content":
      return showError("on_mismatch", mismatchWords(detail), remedies);
    case "missing_weights":
      return showError("whisper_model", detail, remedies);
    default: {
      const field = body?.remedies?.[0]?.field;
      return showError(field in FIELD_ERRORS ? field : "form-error", detail, remedies);
    }
  }
}

/** A message without the runner's "stage 'x' (type) failed:" prefix. */
function plain(detail) {
  return typeof detail === "string" ? detail.replace(/^stage '[^']*' \([^)]*\) failed: /, "") : detail;
}

/** The mismatch in a sentence: how many words match, and both quotes. */
function mismatchWords(detail) {
  const quotes = /the source says (".*"), the target says (".*")\. /.exec(detail);
  const count = /(\d+) of (\d+) words match/.exec(detail);
  if (!quotes) return `The two audios do not say the same words: ${detail}`;
  const matched = count ? ` (${count[1]} of ${count[2]} words match)` : "";
  const end = /[.!?]"$/.test(quotes[2]) ? "" : ".";
  return `The two audios do not say the same words${matched}. The video says ${quotes[1]}; the narration says ${quotes[2]}${end}`;
}

/** "Try again with …": sets the field and submits again. */
function remedyButton(field, choice) {
  const input = $(FIELD_INPUTS[field]);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary remedy";
  const option = input?.querySelector(`option[value="${CSS.escape(choice)}"]`);
  button.textContent = `Try again: ${option ? option.textContent.toLowerCase() : choice}`;
  button.addEventListener("click", () => {
    if (input) input.value = choice;
    $("sync-form").requestSubmit();
  });
  return button;
}

function showKeyError(body) {
  $("key-section").hidden = false;
  const message = key()
    ? "The server refused this key. Check it (it is case-sensitive) and enter it again."
    : "This server needs an API key: enter the one its operator gave you.";
  $("api-key-error").textContent = body?.detail ? `${message} (${body.detail})` : message;
  $("api-key").setAttribute("aria-invalid", "true");
  $("api-key").focus();
}

// ---- the two files: upload as soon as one is chosen ------------------------

const media = { video: {}, audio: {} };

function chooseFile(which, file) {
  const m = media[which];
  m.xhr?.abort();
  $(`${which}-url`).value = "";
  $(`${which}-error`).textContent = "";
  $(`${which}-name`).textContent = `${file.name} (${megabytes(file.size)})`;
  if (file.size > config.max_upload_bytes) {
    m.pending = Promise.reject(new Error(`${file.name} is ${megabytes(file.size)}: this server takes files up to ${megabytes(config.max_upload_bytes)}. Give its address instead.`));
    m.pending.catch(() => {});
    return;
  }
  m.pending = upload(which, file);
  m.pending.catch((e) => showError(`${which}_url`, e.message));
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

async function upload(which, file) {
  const progress = $(`${which}-progress`);
  progress.hidden = false;
  uploadState(which, file, 0);
  const resp = await fetch("/storage/upload/initiate", {
    method: "POST",
    headers: authHeaders({ "content-type": "application/json" }),
    body: JSON.stringify({ file_name: file.name, content_type: file.type || "application/octet-stream" }),
  });
  const target = await readJson(resp);
  if (resp.status === 401) {
    showKeyError(target);
    throw new Error("Uploading needs the API key.");
  }
  if (!resp.ok) throw new Error(`The upload could not start: ${target?.detail || resp.status}`);
  await new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    media[which].xhr = xhr;
    xhr.open("PUT", target.upload_url);
    xhr.setRequestHeader("content-type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) uploadState(which, file, (100 * e.loaded) / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let detail = xhr.statusText;
      try {
        detail = JSON.parse(xhr.responseText).detail || detail;
      } catch {}
      reject(new Error(`The upload failed: ${detail}`));
    };
    xhr.onerror = () => reject(new Error("The upload failed: the connection to the server broke."));
    xhr.onabort = () => reject(new Error("The upload was replaced by another file."));
    xhr.send(file);
  });
  uploadState(which, file, 100);
  return target.file_url;
}

function uploadState(which, file, percent) {
  $(`${which}-progress`).value = percent;
  const state = percent >= 100 ? "uploaded" : `uploading… ${percent.toFixed(0)}%`;
  $(`${which}-name`).textContent = `${file.name} (${megabytes(file.size)}): ${state}`;
}

/** The URL to send for one side, once its upload (if any) is done. */
async function mediaUrl(which) {
  const typed = $(`${which}-url`).value.trim();
  if (typed) return typed;
  return media[which].pending ? await media[which].pending : null;
}

function setUpDrop(which) {
  const drop = $(`${which}-drop`);
  const input = $(`${which}-file`);
  input.addEventListener("change", () => {
    if (input.files[0]) chooseFile(which, input.files[0]);
    input.value = ""; // choosing the same file again is a new upload
  });
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) chooseFile(which, file);
  });
  $(`${which}-url`).addEventListener("input", () => {
    media[which].xhr?.abort();
    media[which] = {};
    $(`${which}-name`).textContent = "";
    $(`${which}-progress`).hidden = true;
  });
}

// ---- submitting ------------------------------------------------------------

async function submit(event) {
  event.preventDefault();
  clearErrors();
  if (config.keys_required && !key()) return showKeyError(null);
  const button = $("submit");
  button.disabled = true;
  try {
    const [video, audio] = await Promise.all([side("video"), side("audio")]);
    if (!video || !audio) return;
    const input = formInput(video, audio);
    const { status, body } = await queueCall("POST", `${QUEUE}/sync`, input);
    if (status !== 200) return showFailure(status, body);
    watch({ id: body.request_id, app: "", source: video });
    refreshRecent();
  } catch (e) {
    showError("form-error", `The server could not be reached: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

/** One side's URL, or null with the reason shown beside it. */
async function side(which) {
  const what = which === "video" ? "a video" : "a narration";
  try {
    const got = await mediaUrl(which);
    if (!got) showError(`${which}_url`, `Choose ${what} file or paste its address.`);
    return got;
  } catch (e) {
    showError(`${which}_url`, e.message);
    return null;
  }
}

function formInput(video_url, audio_url) {
  const input = {
    video_url,
    audio_url,
    rife_mode: document.querySelector('input[name="rife_mode"]:checked')?.value || "adaptive",
    diagnostic_mode: $("diagnostic").checked,
  };
  const fps = $("fps").value.trim();
  if (fps) input.fps = fps;
  if ($("model").value) input.whisper_model = $("model").value;
  if ($("on-mismatch").value) input.on_mismatch = $("on-mismatch").value;
  return input;
}

// ---- following a request ---------------------------------------------------

let watching = null; // {id, app, source, abort}

async function watch(req) {
  watching?.abort.abort();
  const abort = new AbortController();
  watching = { ...req, abort };
  sessionStorage.setItem(CURRENT, JSON.stringify({ id: req.id, app: req.app, source: req.source }));
  $("run").hidden = false;
  clearResult();
  $("cancel").disabled = false;
  $("stages").replaceChildren();
  $("log").textContent = "";
  setRunStatus("Submitted…");
  $("run").scrollIntoView({ block: "nearest" });
  const urls = requestUrls(req);
  try {
    await follow(urls, abort.signal);
  } catch (e) {
    if (abort.signal.aborted) return;
    setRunStatus(`Lost track of the request: ${e.message}`);
    if (e.status === 404) sessionStorage.removeItem(CURRENT);
    return;
  }
  if (abort.signal.aborted) return;
  $("cancel").disabled = true;
  const { status, body } = await queueCall("GET", urls.result);
  if (abort.signal.aborted) return;
  if (status === 200) showResult(body, req);
  else if (body?.error_type === "client_cancelled") setRunStatus("Cancelled. The stages that had finished stay cached: running it again reuses them.");
  else {
    setRunStatus("Failed: see the message beside the field it is about.");
    showFailure(status, body);
  }
  refreshRecent();
}

/** Status events until COMPLETED: the stream, or polling if it breaks. */
async function follow(urls, signal) {
  try {
    if (await stream(urls.status, signal)) return;
  } catch (e) {
    if (signal.aborted) throw e;
    if (e.status === 404 || e.status === 401) throw e;
  }
  let seen = -1;
  for (;; await new Promise((r) => setTimeout(r, 1000))) {
    let answer;
    try {
      answer = await queueCall("GET", `${urls.status}?logs=1`);
    } catch {
      if (signal.aborted) return;
      // The server is away (restarting: queued and running requests survive it).
      setRunStatus("The server does not answer; trying again…");
      continue;
    }
    const { status, body } = answer;
    if (signal.aborted) return;
    if (status === 404 || status === 401) throw httpError(status, body);
    if (body?.status) {
      const logs = body.logs || [];
      onStatus({ ...body, logs: logs.slice(Math.max(seen, 0)) });
      seen = logs.length;
      if (body.status === "COMPLETED") return;
    }
  }
}

function httpError(status, body) {
  const e = new Error(status === 404 ? "the server no longer has it" : body?.detail || `status ${status}`);
  e.status = status;
  if (status === 401) showKeyError(body);
  return e;
}

/** Server-sent status events; true once COMPLETED was seen. */
async function stream(statusUrl, signal) {
  const resp = await fetch(PROXY, { headers: authHeaders({ "x-fal-target-url": `${statusUrl}/stream?logs=1` }), signal });
  if (!resp.ok) throw httpError(resp.status, await readJson(resp));
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = chunk
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      const status = JSON.parse(data);
      onStatus(status);
      if (status.status === "COMPLETED") return true;
    }
  }
}

function onStatus(s) {
  if (s.status === "IN_QUEUE") {
    const ahead = s.queue_position ?? 0;
    setRunStatus(ahead === 0 ? "In the queue: next to start." : `In the queue: ${ahead} ${ahead === 1 ? "request" : "requests"} ahead.`);
  } else if (s.status === "IN_PROGRESS") {
    setRunStatus("Running…");
  } else if (s.status === "COMPLETED") {
    setRunStatus("Finishing…");
  }
  for (const entry of s.logs || []) onLog(entry);
}

function setRunStatus(text) {
  $("run-status").textContent = text;
}

/** The built-in pipelines' stages, in words (others show their own name). */
const STAGE_WORDS = {
  "source-audio": "Reading the video's sound",
  "target-audio": "Reading the narration",
  "source-words": "Finding the words in the video",
  "target-words": "Finding the words in the narration",
  analyze: "Aligning the two voices",
  retime: "Planning the new timing",
  "predict-freeze": "Finding frames that would repeat",
  interpolate: "Making the frames",
  mux: "Adding the narration",
  diagnostic: "Drawing the diagnostic",
};

const STAGE_STATES = { queued: "waiting", started: "running", progress: "running", cached: "reused from the cache", done: "done", failed: "failed" };

function onLog(entry) {
  const time = (entry.timestamp || "").slice(11, 19);
  $("log").textContent += `${time} ${entry.level.padEnd(5)} ${entry.message}\n`;
  const l = entry.labels || {};
  if (l.stage) showStage(l.stage, l.event, Number(l.percent) || 0);
}

function showStage(stage, event, percent) {
  const id = `stage-${stage.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  let li = $(id);
  if (!li) {
    li = document.createElement("li");
    li.id = id;
    li.dataset.stage = stage;
    const name = document.createElement("span");
    name.className = "stage-name";
    name.textContent = STAGE_WORDS[stage] || stage;
    name.title = stage;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `${name.textContent}: progress`);
    const state = document.createElement("span");
    state.className = "stage-state";
    li.append(name, bar, state);
    $("stages").append(li);
  }
  const bar = li.querySelector("progress");
  if (event === "progress" || event === "done" || event === "cached") bar.value = Math.max(bar.value, percent);
  li.dataset.state = event;
  li.querySelector(".stage-state").textContent = event === "progress" ? `${percent.toFixed(0)}%` : STAGE_STATES[event] || event;
}

async function cancel(req) {
  const { status, body } = await queueCall("PUT", requestUrls(req).cancel);
  if (status === 202) {
    if (watching?.id === req.id) setRunStatus("Cancelling…");
  } else if (status === 401) {
    showKeyError(body);
  } else if (status !== 400) {
    showError("form-error", `Could not cancel: ${body?.status || status}`);
  }
  refreshRecent();
}

// ---- the result ------------------------------------------------------------

function showResult(r, req) {
  const m = r.metadata || {};
  setRunStatus(`Done in ${Number(m.seconds || 0).toFixed(1)} s${m.cache_hits ? ` (${m.cache_hits} stages reused from the cache)` : ""}.`);
  $("result").hidden = false;
  const source = $("source-video");
  const result = $("result-video");
  result.src = r.synchronized_video_url;
  if (req.source) source.src = req.source;
  else source.removeAttribute("src");
  source.closest("figure").hidden = !req.source;
  showConfidence(m);
  showDownloads(r);
  const diag = $("diagnostic-out");
  diag.hidden = !r.diagnostic_video_url && !r.report_url;
  if (r.diagnostic_video_url) $("diagnostic-video").src = r.diagnostic_video_url;
  $("warp-plot").hidden = !r.warp_plot_url;
  if (r.warp_plot_url) $("warp-plot").src = r.warp_plot_url;
  $("report-link").hidden = $("report-frame").hidden = !r.report_url;
  if (r.report_url) {
    $("report-link").href = r.report_url;
    $("report-frame").src = r.report_url;
  }
  $("result").scrollIntoView({ block: "start" });
}

/** Hide the last result and let go of its media: a browser opens at most
 * six connections to a server, and a loaded video can hold one. */
function clearResult() {
  $("result").hidden = true;
  for (const id of ["source-video", "result-video", "diagnostic-video"]) {
    const v = $(id);
    v.pause();
    v.removeAttribute("src");
    v.load();
  }
  $("report-frame").removeAttribute("src");
}

function showConfidence(m) {
  const box = $("confidence");
  const confidence = Number(m.alignment_confidence || 0);
  const word = confidence >= 0.8 ? "high" : confidence >= 0.5 ? "medium" : "low";
  const head = document.createElement("p");
  head.className = `confidence ${word}`;
  head.textContent = `Alignment confidence: ${(100 * confidence).toFixed(0)}% (${word})`;
  if (m.word_match != null) head.textContent += ` · ${(100 * m.word_match).toFixed(0)}% of the words match`;
  head.textContent += ` · ${m.anchors_used ?? 0} words anchored the timing.`;
  const facts = document.createElement("p");
  const parts = [`${fmt(m.source_duration)} s of video re-timed to ${fmt(m.target_duration)} s of narration`];
  if (m.output_frames != null) parts.push(`${m.output_frames} frames at ${fmt(m.fps)} fps`);
  if (m.synthesized_frames) parts.push(`${m.synthesized_frames} made by RIFE`);
  if (m.blended_frames) parts.push(`${m.blended_frames} blended`);
  if (m.repeated_frames && !m.synthesized_frames && !m.blended_frames) parts.push(`${m.repeated_frames} repeated`);
  facts.textContent = `${parts.join(", ")}.`;
  box.replaceChildren(head, facts);
  if ((m.warnings || []).length) {
    const title = document.createElement("p");
    title.textContent = "Worth checking:";
    const list = document.createElement("ul");
    list.className = "warnings";
    for (const w of m.warnings) {
      const li = document.createElement("li");
      li.textContent = w;
      list.append(li);
    }
    box.append(title, list);
  }
}

const fmt = (x) => (x == null ? "?" : Number(x).toFixed(2).replace(/\.?0+$/, ""));

function showDownloads(r) {
  const links = [
    ["The synchronised video", r.synchronized_video_url],
    ["Timecodes (one new time per source frame)", r.timecodes_url],
    ["Freezes (frames that would repeat)", r.freezes_url],
    ["Alignment (the warp and its confidence, JSON)", r.alignment_url],
    ["Frames (how each output frame was made, JSON)", r.frames_url],
    ["The diagnostic video", r.diagnostic_video_url],
  ];
  $("downloads").replaceChildren(
    ...links
      .filter(([, url]) => url)
      .map(([label, url]) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = url;
        a.download = url.split("/").pop();
        a.textContent = label;
        li.append(a);
        return li;
      }),
  );
}

// ---- one play button for both videos --------------------------------------

function setUpPlayer() {
  const result = $("result-video");
  const source = $("source-video");
  const both = () => [result, source].filter((v) => v.getAttribute("src"));
  $("play-both").addEventListener("click", () => {
    if (!result.paused) return both().forEach((v) => v.pause());
    const t = result.ended ? 0 : result.currentTime;
    for (const v of both()) {
      v.currentTime = Math.min(t, v.duration || t);
      v.play().catch(() => {});
    }
  });
  result.addEventListener("play", () => ($("play-both").textContent = "Pause both"));
  result.addEventListener("pause", () => {
    $("play-both").textContent = "Play both";
    source.pause();
  });
  result.addEventListener("timeupdate", () => {
    if (result.duration) $("seek").value = String(Math.round((1000 * result.currentTime) / result.duration));
    $("time").textContent = clock(result.currentTime);
    // Keep the two together (they decode at their own pace).
    if (!result.paused && !source.ended && source.getAttribute("src") && Math.abs(source.currentTime - result.currentTime) > 0.15 && result.currentTime < source.duration) {
      source.currentTime = result.currentTime;
    }
  });
  $("seek").addEventListener("input", () => {
    const t = (Number($("seek").value) / 1000) * (result.duration || 0);
    for (const v of both()) v.currentTime = Math.min(t, v.duration || t);
  });
  $("source-sound").addEventListener("change", () => (source.muted = !$("source-sound").checked));
}

function clock(t) {
  const m = Math.floor(t / 60);
  return `${m}:${(t - 60 * m).toFixed(1).padStart(4, "0")}`;
}

// ---- recent requests -------------------------------------------------------

let recentTimer = null;

async function refreshRecent() {
  clearTimeout(recentTimer);
  let active = false;
  try {
    const resp = await fetch("/requests?limit=20", { headers: authHeaders() });
    const body = await readJson(resp);
    if (resp.status === 401) {
      $("recent-error").textContent = "Enter the API key to see the requests on this server.";
      $("key-section").hidden = false;
      return;
    }
    if (!resp.ok) throw new Error(body?.detail || resp.status);
    $("recent-error").textContent = "";
    $("recent-table").querySelector("tbody").replaceChildren(...body.requests.map(recentRow));
    active = body.requests.some((r) => r.status !== "COMPLETED");
  } catch (e) {
    $("recent-error").textContent = `Could not list the requests: ${e.message}`;
  } finally {
    refreshHealth();
    recentTimer = setTimeout(refreshRecent, active ? 2000 : 10000);
  }
}

function recentRow(r) {
  const tr = document.createElement("tr");
  tr.dataset.requestId = r.request_id;
  const name = (url) => (url ? decodeURIComponent(url.split("/").pop()) : "(sent inline)");
  const cells = [new Date(r.submitted_at).toLocaleString(), name(r.video_url), name(r.audio_url), r.rife_mode || r.endpoint, statusWords(r)];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  tr.children[4].className = `status ${statusClass(r)}`;
  const actions = document.createElement("td");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "secondary";
  open.textContent = "Open";
  open.setAttribute("aria-label", `Open the request from ${cells[0]}`);
  open.addEventListener("click", () => watch({ id: r.request_id, app: r.app, source: r.video_url }));
  actions.append(open);
  if (r.status !== "COMPLETED") {
    const stop = document.createElement("button");
    stop.type = "button";
    stop.className = "danger";
    stop.textContent = "Cancel";
    stop.setAttribute("aria-label", `Cancel the request from ${cells[0]}`);
    stop.addEventListener("click", () => cancel({ id: r.request_id, app: r.app }));
    actions.append(stop);
  }
  tr.append(actions);
  return tr;
}

function statusClass(r) {
  if (r.status === "IN_QUEUE") return "queued";
  if (r.status === "IN_PROGRESS") return "running";
  if (r.error_type === "client_cancelled") return "cancelled";
  return r.error_type ? "failed" : "done";
}

function statusWords(r) {
  switch (statusClass(r)) {
    case "queued":
      return r.queue_position ? `queued (${r.queue_position} ahead)` : "queued (next)";
    case "running":
      return "running";
    case "cancelled":
      return "cancelled";
    case "failed":
      return `failed: ${r.error || r.error_type}`;
    default:
      return "done";
  }
}

async function refreshHealth() {
  try {
    const h = await (await fetch("/health")).json();
    $("server-status").textContent = `Server ${h.status} · ${h.running} running · ${h.queued} queued`;
  } catch {
    $("server-status").textContent = "The server does not answer.";
  }
}

// ---- start -----------------------------------------------------------------

function setUpKey() {
  const input = $("api-key");
  $("key-section").hidden = !config.keys_required;
  input.value = key();
  input.addEventListener("input", () => {
    sessionStorage.setItem(KEY, input.value.trim());
    $("api-key-error").textContent = "";
    input.removeAttribute("aria-invalid");
  });
  input.addEventListener("change", refreshRecent);
}

function setUpModels() {
  const select = $("model");
  const fallback = document.createElement("option");
  fallback.value = "";
  fallback.textContent = "The server's default (tiny.en)";
  select.append(fallback);
  for (const name of config.models) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    select.append(option);
  }
}

function start() {
  $("version").textContent = config.version;
  setUpKey();
  setUpModels();
  setUpDrop("video");
  setUpDrop("audio");
  setUpPlayer();
  $("sync-form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", () => watching && cancel(watching));
  $("refresh").addEventListener("click", refreshRecent);
  refreshRecent();
  const current = JSON.parse(sessionStorage.getItem(CURRENT) || "null");
  if (current?.id) watch(current);
}

start();
