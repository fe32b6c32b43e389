// ferlite live page. Two modes, the same page:
//  - on this device (the default where the browser can run it): ferlite.js runs detection, alignment, the emotion
//    model, tracking and smoothing in the page with onnxruntime-web; no frame leaves the browser, no WebSocket opens;
//  - on the server: camera -> JPEG frames over a WebSocket -> faces and emotions drawn back.
"use strict";

// Each reaches at least 4.5:1 contrast against the black behind the labels (WCAG AA).
const COLORS = { angry: "#ff6b6b", disgust: "#5fd36f", fear: "#d48bff", happy: "#ffc800", sad: "#5fa8ff",
                 surprise: "#00c8e6", neutral: "#b4b4b4", contempt: "#d7a0a0" };
const ADJECTIVES = { disgust: "disgusted", fear: "afraid", surprise: "surprised", contempt: "contemptuous" };
const SMOOTHING = 0.3;          // weight of the newest frame in the mood bar's moving average
const SPEAK_MIN_INTERVAL = 4000; // ms between two spoken cues
const PRIVACY = {
  device: "On this device: frames are analysed in this browser and never leave it; the server only served the files.",
  server: "On the server: frames are analysed by the ferlite server that served this page and are never stored.",
};
// A WebAssembly module using a SIMD instruction: onnxruntime-web's build needs SIMD.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0,
                                   253, 15, 253, 98, 11]);

// The page's options in its address: ?mode=server|device, ?threads=N (WebAssembly), ?pace=max (benchmarks).
const PARAMS = new URLSearchParams(location.search);
const PACE_MAX = PARAMS.get("pace") === "max";
// A server started with --api-key serves only its page without the key: the page passes on its own ?key=.
const withKey = (url) => PARAMS.get("key") ? `${url}${url.includes("?") ? "&" : "?"}key=${encodeURIComponent(PARAMS.get("key"))}` : url;
const $ = (id) => document.getElementById(id);
const video = $("video"), view = $("view"), ctx = view.getContext("2d");
const grab = document.createElement("canvas");
const state = { ws: null, stream: null, labels: [], maxFps: 10, busy: false, lastSent: 0, mood: null,
                dominant: "none", spoken: "", lastSpoke: 0, captionSize: 2.2, config: null, mode: "server",
                device: null, provider: "" };
// What the page measured, for benchmarks/web_fps.py: per analysed frame, its milliseconds and faces.
window.ferliteStats = { mode: null, frames: [], since: 0 };

function setStatus(text) { $("status").textContent = text; }

async function init() {
  try {
    const answer = await fetch(withKey("config.json"));
    if (answer.status === 401) throw new Error("this server needs its API key: open the page as /?key=YOUR_KEY");
    state.config = await answer.json();
    for (const part of [state.config.detector, state.config.classifier]) if (part?.model_url) part.model_url = withKey(part.model_url);
  } catch (err) {
    setStatus("Cannot read the page's settings (config.json): " + err.message);
    return;
  }
  const cfg = state.config;
  setLabels(cfg.classifier.labels);
  const wanted = PARAMS.get("mode");
  const deviceOk = cfg.on_device.available && typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
  const deviceWhyNot = cfg.on_device.available ? "this browser has no WebAssembly SIMD" : cfg.on_device.reason;
  $("mode-device").disabled = !deviceOk;
  $("mode-device").parentElement.title = deviceOk ? "" : `Not available: ${deviceWhyNot}`;
  $("mode-server-label").hidden = !cfg.server;
  if (wanted === "server" && cfg.server) state.mode = "server";
  else if (deviceOk) state.mode = "device";
  else if (cfg.server) state.mode = "server";
  else { setStatus(`This page runs on the device only, and it cannot here: ${deviceWhyNot}.`); $("start").disabled = true; }
  $(`mode-${state.mode}`).checked = true;
  $("privacy").textContent = PRIVACY[state.mode];
  setStatus(state.mode === "device" ? "Ready: runs on this device." : "Ready: runs on the server." +
            (deviceOk || !cfg.server ? "" : ` (On-device mode is not available: ${deviceWhyNot}.)`));
}

function setLabels(labels) {
  state.labels = labels;
  state.mood = Object.fromEntries(labels.map((l) => [l, 0]));
  buildLegend();
}

async function setMode(mode) {
  const running = Boolean(state.stream);
  if (running) stop();
  state.mode = mode;
  $("privacy").textContent = PRIVACY[mode];
  if (running) await start();
}

async function start() {
  if (state.stream) { stop(); return; }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    setStatus("No camera: " + err.message);
    return;
  }
  video.srcObject = state.stream;
  await video.play();
  $("start").textContent = "Stop camera";
  window.ferliteStats = { mode: state.mode, frames: [], since: performance.now() };
  if (state.mode === "device") startDevice();
  else connect();
}

function stop() {
  if (state.ws) state.ws.close();
  state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("start").textContent = "Start camera";
  setStatus("Stopped.");
}

async function loadDevice() {
  if (state.device) return state.device;
  setStatus("Loading the models into this page...");
  const F = await import(new URL("static/ferlite.js", document.baseURI).href);
  const base = new URL(`static/${state.config.on_device.onnxruntime_web}/`, document.baseURI).href;
  const threads = Number(PARAMS.get("threads")) || undefined;
  const { ort, providers } = await F.loadOnnxRuntime(base, { threads });
  const cfg = structuredClone(state.config);
  cfg.detector.model_url = new URL(cfg.detector.model_url, document.baseURI).href;
  cfg.classifier.model_url = new URL(cfg.classifier.model_url, document.baseURI).href;
  state.device = await F.Recognizer.create(ort, cfg, { providers });
  state.provider = state.device.provider === "webgpu" ? "WebGPU" :
    `WebAssembly, ${ort.env.wasm.numThreads || 1} thread(s)${crossOriginIsolated ? "" : ", not cross-origin isolated"}`;
  window.ferliteDevice = state.device;  // for the parity test and the benchmark
  return state.device;
}

async function startDevice() {
  try {
    await loadDevice();
  } catch (err) {
    setStatus("Cannot run the models in this browser: " + err.message);
    return;
  }
  state.device.reset();
  setStatus(`Running on this device (${state.provider}).`);
  deviceFrame();
}

async function deviceFrame() {
  if (!state.stream || state.mode !== "device") return;
  const w = video.videoWidth, h = video.videoHeight;
  if (!w || !h) { setTimeout(deviceFrame, 50); return; }
  grab.width = w; grab.height = h;
  const g = grab.getContext("2d", { willReadFrequently: true });
  g.drawImage(video, 0, 0, w, h);
  const start = performance.now();
  const faces = await state.device.update(g.getImageData(0, 0, w, h));
  const ms = performance.now() - start;
  window.ferliteStats.frames.push({ ms, faces: faces.length });
  // The server's message, in ferlite's output vocabulary (ferlite.core.vocabulary): flat box, tracker_id.
  const msg = { width: w, height: h, faces: faces.map((f, n) => ({ face: n, x1: f.box[0], y1: f.box[1], x2: f.box[2],
    y2: f.box[3], tracker_id: f.trackId, label: f.label,
    scores: Object.fromEntries(state.labels.map((l, i) => [l, f.scores[i]])) })) };
  showFaces(msg, `${msg.faces.length} face(s), ${ms.toFixed(0)} ms on this device (${state.provider}).`);
  // Each new camera frame once (a phone's battery does not pay for analysing the same frame twice); ?pace=max
  // analyses frame after frame as fast as the device can (benchmarks/web_fps.py measures that).
  if (PACE_MAX || !video.requestVideoFrameCallback) setTimeout(deviceFrame, 0);
  else video.requestVideoFrameCallback(() => deviceFrame());
}

function showFaces(msg, status) {
  draw(msg);
  updateMood(msg.faces);
  updateCaption(msg.faces);
  setStatus(status);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(withKey(`${scheme}://${location.host}/ws`));
  ws.binaryType = "arraybuffer";
  ws.onopen = () => setStatus("Connected.");
  ws.onclose = () => { state.ws = null; state.busy = false; if (state.stream) setStatus("Disconnected from the server."); };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  state.ws = ws;
}

function sendFrame() {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || state.busy || !state.stream) return;
  const wait = 1000 / state.maxFps - (performance.now() - state.lastSent);
  if (wait > 0) { setTimeout(sendFrame, wait); return; }
  const w = video.videoWidth, h = video.videoHeight;
  if (!w || !h) { setTimeout(sendFrame, 50); return; }
  grab.width = w; grab.height = h;
  grab.getContext("2d").drawImage(video, 0, 0, w, h);
  state.busy = true;
  // The pace counts from the moment a frame leaves (JPEG encoding takes a variable time).
  state.grabbedAt = performance.now();
  grab.toBlob((blob) => blob.arrayBuffer().then((buf) => { state.lastSent = performance.now(); ws.send(buf); }), "image/jpeg", 0.8);
}

function onMessage(msg) {
  if (msg.type === "hello") {
    setLabels(msg.labels);
    state.maxFps = msg.max_fps;
    sendFrame();
  } else if (msg.type === "faces") {
    state.busy = false;
    // The round trip, from the frame's capture to its answer: JPEG encoding, the network and the server.
    window.ferliteStats.frames.push({ ms: performance.now() - state.grabbedAt, faces: msg.faces.length });
    showFaces(msg, `${msg.faces.length} face(s), ${msg.ms} ms on the server.`);
    sendFrame();
  } else if (msg.type === "personalized") {
    $("personal").textContent = (`Learned: this face is ${msg.label} (${msg.examples} correction(s); ` +
              (msg.active ? "applied to your faces" : "applied once two different expressions are corrected") +
              "). Kept for this visit only.");
  } else if (msg.type === "error") {
    state.busy = false;
    setStatus((state.mode === "device" ? "" : "Server: ") + msg.message);
    if (state.mode === "server") setTimeout(sendFrame, 200);
  }
}

function draw(msg) {
  view.width = msg.width; view.height = msg.height;
  ctx.drawImage(grab, 0, 0);
  const size = Math.max(18, Math.round(msg.width / 24));
  ctx.font = `bold ${size}px system-ui, sans-serif`;
  for (const f of msg.faces) {
    const { x1, y1, x2, y2 } = f, color = COLORS[f.label] || "#00ff00";
    ctx.lineWidth = 4; ctx.strokeStyle = color; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `#${f.tracker_id} ${f.label} ${Math.round(100 * f.scores[f.label])}%`;
    const tw = ctx.measureText(text).width, y = Math.max(size + 8, y1);
    ctx.fillStyle = "#000"; ctx.fillRect(x1, y - size - 8, tw + 12, size + 8);
    ctx.fillStyle = color; ctx.fillText(text, x1 + 6, y - 6);
  }
}

function updateMood(faces) {
  if (!faces.length) return;
  const weight = state.moodStarted ? SMOOTHING : 1;  // the first frame sets the bar, later ones move it
  state.moodStarted = true;
  for (const l of state.labels) {
    const mean = faces.reduce((s, f) => s + f.scores[l], 0) / faces.length;
    state.mood[l] = (1 - weight) * state.mood[l] + weight * mean;
  }
  const bar = $("moodbar");
  bar.replaceChildren(...state.labels.map((l) => {
    const seg = document.createElement("span");
    seg.style.width = `${100 * state.mood[l]}%`;
    seg.style.background = COLORS[l] || "#888";
    seg.title = `${l} ${Math.round(100 * state.mood[l])}%`;
    return seg;
  }));
  const dominant = state.labels.reduce((a, b) => (state.mood[a] >= state.mood[b] ? a : b));
  bar.setAttribute("aria-label", "Mood bar: " + state.labels.map((l) => `${l} ${Math.round(100 * state.mood[l])}%`).join(", "));
  if (dominant !== state.dominant) {
    state.dominant = dominant;
    document.body.dataset.mood = dominant;  // the emotion-aware theme
  }
}

function updateCaption(faces) {
  const caption = $("caption");
  const text = faces.length
    ? faces.map((f) => `Person ${f.tracker_id}: ${f.label}`).join(" · ")
    : "No face in view.";
  // Rewritten only when it changes: a screen reader announces each change of the aria-live caption once.
  if (caption.textContent !== text) caption.textContent = text;
  if ($("speech").checked && "speechSynthesis" in window && faces.length) {
    const cue = faces.map((f) => `person ${f.tracker_id} looks ${ADJECTIVES[f.label] || f.label}`).join(", ");
    const now = performance.now();
    if (cue !== state.spoken && now - state.lastSpoke > SPEAK_MIN_INTERVAL) {
      state.spoken = cue; state.lastSpoke = now;
      speechSynthesis.speak(new SpeechSynthesisUtterance(cue));
    }
  }
}

function buildLegend() {
  $("legend").replaceChildren(...state.labels.map((l) => {
    const li = document.createElement("li");
    li.textContent = l;
    li.style.setProperty("--swatch", COLORS[l] || "#888");
    return li;
  }));
}

function resizeCaptions(step) {
  state.captionSize = Math.min(5, Math.max(1.2, state.captionSize + step));
  document.documentElement.style.setProperty("--caption-size", `${state.captionSize}rem`);
}

$("start").addEventListener("click", start);
$("captions").addEventListener("change", (e) => { $("caption").hidden = !e.target.checked; });
$("smaller").addEventListener("click", () => resizeCaptions(-0.3));
$("larger").addEventListener("click", () => resizeCaptions(0.3));
document.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const tag = e.target.tagName;
  // Enter on a focused button or checkbox is that control's own; the letter keys work wherever focus is.
  if (e.key === "Enter") { if (tag !== "BUTTON" && tag !== "INPUT") start(); return; }
  if (tag === "TEXTAREA" || (tag === "INPUT" && e.target.type === "text")) return;
  if (e.key === "c") $("captions").click();
  else if (e.key === "s") $("speech").click();
  else if (e.key === "+" || e.key === "=") resizeCaptions(0.3);
  else if (e.key === "-") resizeCaptions(-0.3);
  else if (/^[1-9]$/.test(e.key) && state.labels[+e.key - 1]) {
    // "This face is <label>": learned for this visit (the largest face of the last frame), in the page or the server.
    const label = state.labels[+e.key - 1];
    if (state.mode === "device" && state.device) state.device.correct(label).then(onMessage);
    else if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "correct", label }));
  }
});
document.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", (e) => setMode(e.target.value)));
$("start").focus();
init();
