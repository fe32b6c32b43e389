// ferlite live page: camera -> JPEG frames over a WebSocket -> faces and emotions drawn back.
"use strict";

// Each reaches at least 4.5:1 contrast against the black behind the labels (WCAG AA).
const COLORS = { angry: "#ff6b6b", disgust: "#5fd36f", fear: "#d48bff", happy: "#ffc800", sad: "#5fa8ff",
                 surprise: "#00c8e6", neutral: "#b4b4b4", contempt: "#d7a0a0" };
const ADJECTIVES = { disgust: "disgusted", fear: "afraid", surprise: "surprised", contempt: "contemptuous" };
const SMOOTHING = 0.3;          // weight of the newest frame in the mood bar's moving average
const SPEAK_MIN_INTERVAL = 4000; // ms between two spoken cues

const $ = (id) => document.getElementById(id);
const video = $("video"), view = $("view"), ctx = view.getContext("2d");
const grab = document.createElement("canvas");
const state = { ws: null, stream: null, labels: [], maxFps: 10, busy: false, lastSent: 0, mood: null,
                dominant: "none", spoken: "", lastSpoke: 0, captionSize: 2.2 };

function setStatus(text) { $("status").textContent = text; }

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
  connect();
}

function stop() {
  if (state.ws) state.ws.close();
  state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("start").textContent = "Start camera";
  setStatus("Stopped.");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
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
  grab.toBlob((blob) => blob.arrayBuffer().then((buf) => { state.lastSent = performance.now(); ws.send(buf); }), "image/jpeg", 0.8);
}

function onMessage(msg) {
  if (msg.type === "hello") {
    state.labels = msg.labels;
    state.maxFps = msg.max_fps;
    state.mood = Object.fromEntries(msg.labels.map((l) => [l, 0]));
    buildLegend();
    sendFrame();
  } else if (msg.type === "faces") {
    state.busy = false;
    draw(msg);
    updateMood(msg.faces);
    updateCaption(msg.faces);
    setStatus(`${msg.faces.length} face(s), ${msg.ms} ms on the server.`);
    sendFrame();
  } else if (msg.type === "personalized") {
    $("personal").textContent = (`Learned: this face is ${msg.label} (${msg.examples} correction(s); ` +
              (msg.active ? "applied to your faces" : "applied once two different expressions are corrected") +
              "). Kept for this visit only.");
  } else if (msg.type === "error") {
    state.busy = false;
    setStatus("Server: " + msg.message);
    setTimeout(sendFrame, 200);
  }
}

function draw(msg) {
  view.width = msg.width; view.height = msg.height;
  ctx.drawImage(grab, 0, 0);
  const size = Math.max(18, Math.round(msg.width / 24));
  ctx.font = `bold ${size}px system-ui, sans-serif`;
  for (const f of msg.faces) {
    const [x1, y1, x2, y2] = f.box, color = COLORS[f.label] || "#00ff00";
    ctx.lineWidth = 4; ctx.strokeStyle = color; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `#${f.track_id} ${f.label} ${Math.round(100 * f.scores[f.label])}%`;
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
    ? faces.map((f) => `Person ${f.track_id}: ${f.label}`).join(" · ")
    : "No face in view.";
  // Rewritten only when it changes: a screen reader announces each change of the aria-live caption once.
  if (caption.textContent !== text) caption.textContent = text;
  if ($("speech").checked && "speechSynthesis" in window && faces.length) {
    const cue = faces.map((f) => `person ${f.track_id} looks ${ADJECTIVES[f.label] || f.label}`).join(", ");
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
  else if (/^[1-9]$/.test(e.key) && state.labels[+e.key - 1] && state.ws && state.ws.readyState === WebSocket.OPEN) {
    // "This face is <label>": the server learns it for this visit (the largest face of the last frame).
    state.ws.send(JSON.stringify({ type: "correct", label: state.labels[+e.key - 1] }));
  }
});
$("start").focus();
