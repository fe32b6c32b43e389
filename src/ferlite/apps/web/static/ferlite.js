// ferlite in the browser: the Python runtime's pipeline (ferlite.runtime), written once in JavaScript, run with
// onnxruntime-web. Frames never leave the page: YuNet finds the faces, the bundled int8 emotion model classifies them.
//
//   detect   - the frame shrunk (OpenCV's INTER_AREA) so that its longer side is at most config.detector.max_side,
//              padded to a multiple of 32, YuNet's 12 outputs decoded and merged by NMS (cv2.FaceDetectorYN's way)
//   align    - a square around each box with a margin, eyes levelled (runtime/align.py: one affine warp), gray for
//              gray models, each of R, G and B for colour (rgb) ones
//   classify - (pixel / 255 - mean) / std on three channels, logits / temperature + bias, softmax (runtime/classifier.py)
//   track    - the two-stage ByteTrack-style tracker and the per-track moving average (runtime/tracker.py)
//   personal - a viewer's corrections fitted as a small logistic head on the embeddings (runtime/personalize.py)
//
// Every constant comes from /config.json, which the Python side writes from its own (ferlite.apps.web.web_config),
// so that the two pipelines cannot drift apart. tests/test_apps_web.py checks parity against Python on real frames.
// No DOM in this module: it runs on ImageData-like {data: RGBA bytes, width, height}.
"use strict";

const YUNET_STRIDES = [8, 16, 32];
const YUNET_DIVISOR = 32;

// ---------- image operations ----------

/** OpenCV's INTER_AREA shrink of RGBA pixels to dw x dh: each output pixel is the area-weighted mean of the input
 *  pixels it covers, rounded (exact box means for an integer factor, as cv2.resize). Returns RGBA bytes. */
export function resizeArea(src, w, h, dw, dh) {
  if (w % dw === 0 && h % dh === 0) return resizeAreaByInteger(src, w, h, w / dw, h / dh);
  const out = new Uint8ClampedArray(dw * dh * 4);
  const sx = w / dw, sy = h / dh;
  const acc = new Float64Array(4);
  for (let y = 0; y < dh; y++) {
    const y0 = y * sy, y1 = Math.min(h, (y + 1) * sy);
    for (let x = 0; x < dw; x++) {
      const x0 = x * sx, x1 = Math.min(w, (x + 1) * sx);
      acc.fill(0);
      for (let yy = Math.floor(y0); yy < y1; yy++) {
        const wy = Math.min(yy + 1, y1) - Math.max(yy, y0);
        if (wy <= 0) continue;
        for (let xx = Math.floor(x0); xx < x1; xx++) {
          const wx = Math.min(xx + 1, x1) - Math.max(xx, x0);
          if (wx <= 0) continue;
          const k = (yy * w + xx) * 4, wgt = wx * wy;
          acc[0] += src[k] * wgt; acc[1] += src[k + 1] * wgt; acc[2] += src[k + 2] * wgt;
        }
      }
      const area = (x1 - x0) * (y1 - y0), o = (y * dw + x) * 4;
      out[o] = Math.round(acc[0] / area); out[o + 1] = Math.round(acc[1] / area); out[o + 2] = Math.round(acc[2] / area);
      out[o + 3] = 255;
    }
  }
  return out;
}

/** resizeArea for whole-number factors kx, ky (a 640x480 camera frame to 320x240): box means, rounded half up as
 *  OpenCV's fast path does, in a quarter of the general path's time. */
function resizeAreaByInteger(src, w, h, kx, ky) {
  const dw = w / kx, dh = h / ky, area = kx * ky, half = area >> 1, out = new Uint8ClampedArray(dw * dh * 4);
  const sums = new Uint32Array(dw * 3);
  for (let y = 0; y < dh; y++) {
    sums.fill(0);
    for (let yy = y * ky; yy < (y + 1) * ky; yy++) {
      for (let x = 0, k = yy * w * 4; x < w; x++, k += 4) {
        const o = Math.floor(x / kx) * 3;
        sums[o] += src[k]; sums[o + 1] += src[k + 1]; sums[o + 2] += src[k + 2];
      }
    }
    for (let x = 0; x < dw; x++) {
      const o = (y * dw + x) * 4;
      out[o] = Math.floor((sums[3 * x] + half) / area); out[o + 1] = Math.floor((sums[3 * x + 1] + half) / area);
      out[o + 2] = Math.floor((sums[3 * x + 2] + half) / area); out[o + 3] = 255;
    }
  }
  return out;
}

/** 8-bit gray of RGBA pixels with cv2.COLOR_BGR2GRAY's fixed-point weights (0.299 R + 0.587 G + 0.114 B). */
export function toGray(rgba, w, h) {
  const gray = new Uint8Array(w * h);
  for (let i = 0, k = 0; i < gray.length; i++, k += 4) {
    gray[i] = (rgba[k] * 4899 + rgba[k + 1] * 9617 + rgba[k + 2] * 1868 + 8192) >> 14;
  }
  return gray;
}

/** The R, G and B planes of RGBA pixels: a colour model's crops are each plane warped alike, as cv2.warpAffine
 *  warps each channel of a colour frame. */
export function toPlanes(rgba, w, h) {
  const planes = [new Uint8Array(w * h), new Uint8Array(w * h), new Uint8Array(w * h)];
  for (let i = 0, k = 0; i < w * h; i++, k += 4) {
    planes[0][i] = rgba[k];
    planes[1][i] = rgba[k + 1];
    planes[2][i] = rgba[k + 2];
  }
  return planes;
}

/** cv2.getRotationMatrix2D: rotation by `angle` degrees about (cx, cy), then scaling; a 2x3 matrix as 6 numbers. */
export function rotationMatrix(cx, cy, angle, scale) {
  const a = (angle * Math.PI) / 180, alpha = scale * Math.cos(a), beta = scale * Math.sin(a);
  return [alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy];
}

/** cvRound: to the nearest integer, ties to even (as OpenCV's saturate_cast<int> of a double). */
function cvRound(v) {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** cv2.warpAffine(plane, m, (size, size), INTER_LINEAR, BORDER_REPLICATE) on one 8-bit plane, bit-exact: OpenCV inverts the matrix,
 *  steps through the input in fixed point (1/1024 pixel, then 1/32 for the interpolation tables) and blends the four
 *  neighbours with integer weights. A float version differs by a few gray levels on a few hundred pixels of a crop,
 *  which the int8 emotion model turns into visibly different scores. */
export function warpAffinePlane(plane, w, h, m, size) {
  const det = m[0] * m[4] - m[1] * m[3], d = det !== 0 ? 1 / det : 0;
  const i0 = m[4] * d, i1 = -m[1] * d, i3 = -m[3] * d, i4 = m[0] * d;
  const i2 = -i0 * m[2] - i1 * m[5], i5 = -i3 * m[2] - i4 * m[5];
  const AB = 1024, ROUND = 16;  // AB_SCALE, and AB_SCALE / INTER_TAB_SIZE / 2
  const adelta = new Int32Array(size), bdelta = new Int32Array(size);
  for (let x = 0; x < size; x++) { adelta[x] = cvRound(i0 * x * AB); bdelta[x] = cvRound(i3 * x * AB); }
  const out = new Uint8Array(size * size);
  const px = (x, y) => plane[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  for (let y = 0; y < size; y++) {
    const X0 = cvRound((i1 * y + i2) * AB) + ROUND, Y0 = cvRound((i4 * y + i5) * AB) + ROUND;
    for (let x = 0; x < size; x++) {
      const X = (X0 + adelta[x]) >> 5, Y = (Y0 + bdelta[x]) >> 5;
      const xi = X >> 5, yi = Y >> 5, fx = X & 31, fy = Y & 31;
      const sum = px(xi, yi) * (32 - fx) * (32 - fy) + px(xi + 1, yi) * fx * (32 - fy)
        + px(xi, yi + 1) * (32 - fx) * fy + px(xi + 1, yi + 1) * fx * fy;
      out[y * size + x] = (sum * 32 + 16384) >> 15;
    }
  }
  return out;
}

// ---------- detection ----------

/** YuNet's input: BGR float 0-255, NCHW, zero-padded on the right and bottom to a multiple of 32. */
export function yunetInput(rgba, w, h) {
  const pw = Math.ceil(w / YUNET_DIVISOR) * YUNET_DIVISOR, ph = Math.ceil(h / YUNET_DIVISOR) * YUNET_DIVISOR;
  const plane = pw * ph, data = new Float32Array(3 * plane);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const k = (y * w + x) * 4, o = y * pw + x;
      data[o] = rgba[k + 2]; data[plane + o] = rgba[k + 1]; data[2 * plane + o] = rgba[k];
    }
  }
  return { data, width: pw, height: ph };
}

const f32 = Math.fround;  // OpenCV's detector and numpy compute these in float32: so does this pipeline, for parity

/** Faces from YuNet's outputs (cls, obj, bbox, kps at strides 8, 16, 32) on a padded input of pw x ph pixels, as
 *  cv2.FaceDetectorYN decodes them (in float32): [{box: [x, y, w, h], landmarks: [[x, y] x 5], confidence}] in the
 *  input's pixels, scores above scoreThreshold, after NMS. */
export function decodeYuNet(outputs, pw, ph, scoreThreshold, nmsThreshold) {
  const faces = [];
  for (const stride of YUNET_STRIDES) {
    const cls = outputs[`cls_${stride}`], obj = outputs[`obj_${stride}`];
    const bbox = outputs[`bbox_${stride}`], kps = outputs[`kps_${stride}`];
    const cols = pw / stride, n = cls.length;
    for (let i = 0; i < n; i++) {
      const score = f32(Math.sqrt(f32(Math.min(1, Math.max(0, cls[i])) * Math.min(1, Math.max(0, obj[i])))));
      if (score <= scoreThreshold) continue;
      const r = Math.floor(i / cols), c = i % cols;
      const cx = f32(f32(c + bbox[4 * i]) * stride), cy = f32(f32(r + bbox[4 * i + 1]) * stride);
      const bw = f32(f32(Math.exp(bbox[4 * i + 2])) * stride), bh = f32(f32(Math.exp(bbox[4 * i + 3])) * stride);
      const landmarks = [];
      for (let p = 0; p < 5; p++) {
        landmarks.push([f32(f32(kps[10 * i + 2 * p] + c) * stride), f32(f32(kps[10 * i + 2 * p + 1] + r) * stride)]);
      }
      faces.push({ xywh: [f32(cx - f32(bw / 2)), f32(cy - f32(bh / 2)), bw, bh], landmarks, confidence: score });
    }
  }
  return nms(faces, nmsThreshold);
}

/** cv2.dnn.NMSBoxes as FaceDetectorYN calls it: boxes truncated to integer rectangles, best score first (a stable
 *  sort), a box dropped when it overlaps a kept one by more than `threshold`. */
export function nms(faces, threshold) {
  const rect = (f) => f.xywh.map(Math.trunc);
  const overlap = (a, b) => {
    const iw = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
    const ih = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
    const inter = iw * ih;
    return inter / (a[2] * a[3] + b[2] * b[3] - inter);
  };
  const order = [...faces].sort((a, b) => b.confidence - a.confidence), kept = [];
  for (const f of order) if (kept.every((k) => !(overlap(rect(k), rect(f)) > threshold))) kept.push(f);
  return kept;
}

/** Intersection over union of two xyxy boxes. */
export function iou(a, b) {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih, union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return inter / Math.max(union, 1e-9);
}

// ---------- classification ----------

/** The classifier's size x size crop of one face from one plane (gray, or one colour channel): a square of the box's longer side times (1 + margin) about
 *  its centre, rotated so that the eyes are level (runtime/align.py align_crops). */
export function alignCrop(plane, w, h, face, size, margin, align) {
  const [x1, y1, x2, y2] = face.box;  // float32 values, computed in float32 as numpy does in align_crops
  const cx = f32(f32(x1 + x2) / 2), cy = f32(f32(y1 + y2) / 2);
  const side = f32(Math.max(f32(x2 - x1), f32(y2 - y1), 1) * f32(1 + margin));
  let angle = 0;
  if (align && face.landmarks) {
    const [[rx, ry], [lx, ly]] = face.landmarks;
    angle = Math.atan2(f32(ly - ry), f32(lx - rx)) * (180 / Math.PI);
  }
  const m = rotationMatrix(cx, cy, angle, f32(size / side));
  m[2] += f32(size / 2 - cx);
  m[5] += f32(size / 2 - cy);
  return warpAffinePlane(plane, w, h, m, size);
}

/** Crops, each a list of planes ([gray], or [R, G, B] for colour models) -> float32 (N, 3, S, S):
 *  (pixel / 255 - mean) / std per channel, a gray plane repeated (runtime/classifier.py preprocess_faces). */
export function preprocessCrops(crops, size, mean, std) {
  const plane = size * size, out = new Float32Array(crops.length * 3 * plane);
  crops.forEach((planes, n) => {
    for (let c = 0; c < 3; c++) {
      const base = (n * 3 + c) * plane, src = planes[planes.length === 3 ? c : 0];
      for (let i = 0; i < plane; i++) out[base + i] = (src[i] / 255 - mean[c]) / std[c];
    }
  });
  return out;
}

/** Softmax of one row of logits. */
export function softmax(logits) {
  const top = Math.max(...logits), e = logits.map((v) => Math.exp(v - top)), sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function logSoftmax(z) {
  const top = Math.max(...z), lse = top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0));
  return z.map((v) => v - lse);
}

// ---------- tracking and smoothing ----------

function greedyMatch(scores, threshold) {
  const cells = [];
  scores.forEach((row, r) => row.forEach((v, c) => cells.push([v, r, c])));
  cells.sort((a, b) => b[0] - a[0]);
  const rows = new Set(), cols = new Set(), pairs = [];
  for (const [v, r, c] of cells) {
    if (v < threshold) break;
    if (rows.has(r) || cols.has(c)) continue;
    rows.add(r); cols.add(c); pairs.push([r, c]);
  }
  return pairs;
}

/** The ByteTrack-style tracker of runtime/tracker.py (FaceTracker): confident faces matched first by the overlap
 *  with each track's predicted box, low-confidence ones for the tracks left over; lost tracks kept a while. */
export class FaceTracker {
  constructor({ iou_threshold = 0.3, lost_track_buffer = 30, high_threshold = 0.7, low_threshold = 0.4,
                low_iou_threshold = 0.5, motion = true } = {}) {
    Object.assign(this, { iou_threshold, lost_track_buffer, high_threshold, low_threshold, low_iou_threshold, motion });
    this.reset();
  }

  reset() { this.tracks = []; this.nextId = 1; }

  update(faces) {
    const tracks = this.tracks;
    const boxes = tracks.map((t) => (this.motion ? t.xyxy.map((v, i) => v + t.velocity[i] * (t.lost + 1)) : t.xyxy));
    const high = [], low = [];
    faces.forEach((f, i) => {
      if (f.confidence >= this.high_threshold) high.push(i);
      else if (f.confidence >= this.low_threshold) low.push(i);
    });
    const faceTrack = new Map();
    for (const [r, c] of greedyMatch(boxes.map((b) => high.map((i) => iou(b, faces[i].box))), this.iou_threshold)) {
      faceTrack.set(high[c], r);
    }
    const used = new Set(faceTrack.values()), left = tracks.map((_, i) => i).filter((i) => !used.has(i));
    for (const [r, c] of greedyMatch(left.map((ti) => low.map((i) => iou(boxes[ti], faces[i].box))), this.low_iou_threshold)) {
      faceTrack.set(low[c], left[r]);
    }
    const keep = [...new Set([...faceTrack.keys(), ...high])].sort((a, b) => a - b);
    const seen = new Set(), out = [];
    for (const fi of keep) {
      const box = faces[fi].box;
      let t;
      if (faceTrack.has(fi)) {
        t = tracks[faceTrack.get(fi)];
        const step = box.map((v, i) => (v - t.xyxy[i]) / (t.lost + 1));
        t.velocity = t.hits > 1 ? step.map((v, i) => 0.5 * v + 0.5 * t.velocity[i]) : step;
        t.xyxy = box; t.lost = 0; t.hits += 1;
        seen.add(faceTrack.get(fi));
      } else {
        t = { trackId: this.nextId++, xyxy: box, velocity: [0, 0, 0, 0], lost: 0, hits: 1 };
        tracks.push(t);
        seen.add(tracks.length - 1);
      }
      out.push({ ...faces[fi], trackId: t.trackId });
    }
    tracks.forEach((t, i) => { if (!seen.has(i)) t.lost += 1; });
    this.tracks = tracks.filter((t) => t.lost <= this.lost_track_buffer);
    return out;
  }
}

/** Each track's exponential moving average of its probabilities (runtime/tracker.py ScoreSmoother). */
export class ScoreSmoother {
  constructor({ smoothing = 0.3, forget_after = 60 } = {}) {
    this.smoothing = smoothing; this.forgetAfter = forget_after;
    this.reset();
  }

  reset() { this.average = new Map(); this.seen = new Map(); this.step = 0; }

  update(faces) {
    this.step += 1;
    for (const [track, step] of [...this.seen]) {
      if (this.step - step > this.forgetAfter) { this.average.delete(track); this.seen.delete(track); }
    }
    return faces.map((f) => {
      const previous = this.average.get(f.trackId);
      const scores = previous && previous.length === f.scores.length
        ? f.scores.map((s, i) => this.smoothing * s + (1 - this.smoothing) * previous[i]) : f.scores;
      this.average.set(f.trackId, scores); this.seen.set(f.trackId, this.step);
      return { ...f, scores };
    });
  }
}

/** A viewer's corrections, as runtime/personalize.py's Personalization: a logistic layer on the standardized
 *  embeddings of the corrected faces, blended with the shipped head for the classes corrected. */
export class Personalization {
  constructor(labels, { blend = 0.5, l2 = 1e-2, steps = 300 } = {}) {
    Object.assign(this, { labels, blend, l2, steps });
    this.embeddings = []; this.targets = []; this.weight = null;
  }

  add(embedding, label) {
    this.embeddings.push(Float64Array.from(embedding));
    this.targets.push(this.labels.indexOf(label));
    if (new Set(this.targets).size >= 2) this.fit();
  }

  fit() {
    const x = this.embeddings, n = x.length, d = x[0].length;
    this.seen = [...new Set(this.targets)].sort((a, b) => a - b);
    this.mean = new Float64Array(d); this.scale = new Float64Array(d);
    for (const e of x) for (let j = 0; j < d; j++) this.mean[j] += e[j] / n;
    let stdMean = 0;
    const std = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      let v = 0;
      for (const e of x) v += (e[j] - this.mean[j]) ** 2;
      std[j] = Math.sqrt(v / n); stdMean += std[j] / d;
    }
    // Near-constant features (ReLU outputs that are almost always 0) are not blown up into noise.
    for (let j = 0; j < d; j++) this.scale[j] = Math.max(std[j], 1e-2 * stdMean + 1e-12);
    const z = x.map((e) => e.map((v, j) => (v - this.mean[j]) / this.scale[j]));
    const y = this.targets.map((t) => this.seen.indexOf(t)), k = this.seen.length;
    // Nesterov-accelerated gradient descent with a step of one over the gradient's Lipschitz bound, as in
    // Personalization.fit: half the largest eigenvalue of z z' / n (power iteration on the small Gram matrix; at
    // least 1, the bias's), plus l2.
    const gram = z.map((zi) => z.map((zj) => dot(zi, zj) / n));
    let v = new Float64Array(n).fill(1 / Math.sqrt(n)), eigen = 1;
    for (let it = 0; it < 100; it++) {
      const u = gram.map((row) => dot(row, v));
      eigen = Math.sqrt(dot(u, u));
      if (eigen === 0) break;
      v = u.map((ui) => ui / eigen);
    }
    const step = 1 / (0.5 * Math.max(eigen, 1) + this.l2);
    let w = Array.from({ length: k }, () => new Float64Array(d)), b = new Float64Array(k);
    let wPrev = w, bPrev = b;
    for (let t = 0; t < this.steps; t++) {
      const momentum = t / (t + 3);
      const vw = w.map((wc, c) => wc.map((wcj, j) => wcj + momentum * (wcj - wPrev[c][j])));
      const vb = b.map((bc, c) => bc + momentum * (bc - bPrev[c]));
      const g = z.map((zi, i) => softmax(vw.map((wc, c) => dot(wc, zi) + vb[c])).map((p, c) => (p - (y[i] === c)) / n));
      wPrev = w; bPrev = b;
      w = vw.map((vwc, c) => vwc.map((vwcj, j) => {
        let grad = this.l2 * vwcj;
        for (let i = 0; i < n; i++) grad += g[i][c] * z[i][j];
        return vwcj - step * grad;
      }));
      b = vb.map((vbc, c) => vbc - step * g.reduce((s, gi) => s + gi[c], 0));
    }
    this.weight = w; this.bias = b;
  }

  /** Blended log-probabilities for one face's calibrated logits and embedding (Personalization.apply). */
  apply(logits, embedding) {
    if (!this.weight || this.blend === 0) return logits;
    const logp = logSoftmax(logits), seen = this.seen;
    const seenMass = seen.reduce((s, c) => s + Math.exp(logp[c]), 0);
    const target = (1 - this.blend) * seenMass + this.blend;
    const shift = Math.log(Math.max(1 - target, 1e-12) / Math.max(1 - seenMass, 1e-12));
    logp.forEach((_, c) => { if (!seen.includes(c)) logp[c] += shift; });
    const z = Array.from(embedding, (v, j) => (v - this.mean[j]) / this.scale[j]);
    const shipped = logSoftmax(seen.map((c) => logp[c]));
    const personal = logSoftmax(this.weight.map((wc, c) => dot(wc, z) + this.bias[c]));
    const mixed = logSoftmax(shipped.map((s, i) => (1 - this.blend) * s + this.blend * personal[i]));
    seen.forEach((c, i) => { logp[c] = Math.log(target) + mixed[i]; });
    return logp;
  }
}

function dot(a, b) {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}

// ---------- the pipeline ----------

/** onnxruntime-web from the files ferlite serves (`baseUrl`: their folder, ending in "/"): the WebGPU build where
 *  the browser offers an adapter, else the WebAssembly one (SIMD; threads where the page is cross-origin isolated).
 *  Returns {ort, providers}: the execution providers to try, best first. */
export async function loadOnnxRuntime(baseUrl, { threads } = {}) {
  const gpu = typeof navigator !== "undefined" && navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  const ort = await import(new URL(gpu ? "ort.webgpu.min.mjs" : "ort.wasm.min.mjs", baseUrl).href);
  ort.env.wasm.wasmPaths = baseUrl;
  // onnxruntime-web would take half the cores; two threads ran more frames per second than one on 2 cores in each
  // of three runs (benchmarks/web_fps.py, docs/EDGE.md). Without cross-origin isolation WebAssembly has one thread.
  const isolated = typeof crossOriginIsolated !== "undefined" && crossOriginIsolated;
  ort.env.wasm.numThreads = threads || (isolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1);
  return { ort, providers: gpu ? ["webgpu", "wasm"] : ["wasm"] };
}

/** The on-device recognizer: `await Recognizer.create(ort, config)`, then `analyze(image)` per still frame or
 *  `update(image)` per video frame (tracked and smoothed), as the Python Recognizer's predict-like and update. */
export class Recognizer {
  static async create(ort, config, { providers = ["wasm"] } = {}) {
    const rec = new Recognizer(ort, config);
    rec.provider = null;
    for (const ep of providers) {  // a provider that cannot run a model falls back to the next
      try {
        rec.detector = await ort.InferenceSession.create(config.detector.model_url, { executionProviders: [ep] });
        rec.classifier = await ort.InferenceSession.create(config.classifier.model_url, { executionProviders: [ep] });
        rec.provider = ep;
        break;
      } catch (err) {
        if (ep === providers[providers.length - 1]) throw err;
      }
    }
    return rec;
  }

  constructor(ort, config) {
    this.ort = ort; this.config = config; this.labels = config.classifier.labels;
    this.tracker = new FaceTracker(config.tracker);
    this.smoother = new ScoreSmoother(config.smoother);
    this.personal = null;
    this.last = null;
  }

  /** Faces found in one frame: the detector at config.detector.max_side, boxes and landmarks in the frame's pixels. */
  async detect(image, scoreThreshold = this.config.detector.score_threshold) {
    const { width: w, height: h } = image, det = this.config.detector;
    const scale = Math.min(1, det.max_side / Math.max(w, h));
    let pixels = image.data, dw = w, dh = h;
    if (scale < 1) {
      dw = Math.max(1, Math.round(w * scale)); dh = Math.max(1, Math.round(h * scale));
      pixels = resizeArea(image.data, w, h, dw, dh);
    }
    const input = yunetInput(pixels, dw, dh);
    const feeds = { [this.detector.inputNames[0]]: new this.ort.Tensor("float32", input.data, [1, 3, input.height, input.width]) };
    const results = await this.detector.run(feeds);
    const outputs = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.data]));
    const s = f32(scale);  // back to the frame's pixels, in float32 as YuNetDetector.detect does
    return decodeYuNet(outputs, input.width, input.height, scoreThreshold, det.nms_threshold).map((f) => {
      const [x, y, bw, bh] = f.xywh.map((v) => f32(v / s));
      return {
        box: [x, y, f32(x + bw), f32(y + bh)].map((v, i) => Math.min(i % 2 ? h : w, Math.max(0, v))),
        landmarks: f.landmarks.map(([lx, ly]) => [f32(lx / s), f32(ly / s)]),
        confidence: f.confidence,
      };
    });
  }

  /** Calibrated logits and embeddings of the faces (each face's crop as the Python runtime makes it). */
  async logits(image, faces) {
    const clf = this.config.classifier, size = clf.input_size;
    if (!faces.length) return { logits: [], embeddings: [] };
    const planes = clf.color_mode === "rgb" ? toPlanes(image.data, image.width, image.height) : [toGray(image.data, image.width, image.height)];
    const crops = faces.map((f) => planes.map((p) => alignCrop(p, image.width, image.height, f, size, clf.margin, clf.align)));
    const batch = preprocessCrops(crops, size, clf.mean, clf.std);
    const views = [batch];
    if (clf.tta === "flip") views.push(flipBatch(batch, faces.length, size));
    const runs = [];
    for (const v of views) {
      runs.push(await this.classifier.run({ [this.classifier.inputNames[0]]: new this.ort.Tensor("float32", v, [faces.length, 3, size, size]) }));
    }
    const [logitName, embName] = this.classifier.outputNames, c = this.labels.length;
    const mean = (name, width) => faces.map((_, n) => Array.from({ length: width }, (_, j) =>
      runs.reduce((s, r) => s + r[name].data[n * width + j], 0) / runs.length));
    const logits = mean(logitName, c).map((row) => row.map((v, j) => v / clf.temperature + (clf.bias.length ? clf.bias[j] : 0)));
    const embeddings = embName ? mean(embName, runs[0][embName].dims[1]) : [];
    return { logits, embeddings };
  }

  /** Emotion probabilities for given faces: [{...face, scores: [..], label}]. */
  async classify(image, faces) {
    const { logits, embeddings } = await this.logits(image, faces);
    return faces.map((f, i) => {
      const z = this.personal && this.personal.weight ? this.personal.apply(logits[i], embeddings[i]) : logits[i];
      return this.withScores(f, softmax(z));
    });
  }

  withScores(face, scores) {
    return { ...face, scores, label: this.labels[scores.indexOf(Math.max(...scores))] };
  }

  /** One still frame: the confident faces (config.detector.photo_min_confidence) and their emotions. */
  async analyze(image) {
    const faces = (await this.detect(image)).filter((f) => f.confidence >= this.config.detector.photo_min_confidence);
    return this.classify(image, faces);
  }

  /** The next video frame: detect, track, classify, smooth (FaceStream.update), keeping it for corrections. */
  async update(image) {
    const tracked = this.tracker.update(await this.detect(image));
    const faces = this.smoother.update(await this.classify(image, tracked)).map((f) => this.withScores(f, f.scores));
    this.last = { image, faces: tracked };
    return faces;
  }

  /** "The largest face of the last frame is `label`" (keys 1-8): a reply as the server's StreamPersonalization's. */
  async correct(label) {
    if (!this.labels.includes(label)) return { type: "error", message: `unknown class '${label}'` };
    if (!this.last || !this.last.faces.length) return { type: "error", message: "no face in the last frame to correct" };
    const area = (f) => (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]);
    const largest = this.last.faces.reduce((a, b) => (area(b) > area(a) ? b : a));
    const { embeddings } = await this.logits(this.last.image, [largest]);
    if (!embeddings.length) return { type: "error", message: "this model has no embedding output to learn from" };
    this.personal = this.personal || new Personalization(this.labels, this.config.personalization);
    this.personal.add(embeddings[0], label);
    return { type: "personalized", label, examples: this.personal.targets.length, active: Boolean(this.personal.weight) };
  }

  reset() { this.tracker.reset(); this.smoother.reset(); this.last = null; }
}

function flipBatch(batch, n, size) {
  const out = new Float32Array(batch.length);
  for (let p = 0; p < n * 3; p++) {
    for (let y = 0; y < size; y++) {
      const row = p * size * size + y * size;
      for (let x = 0; x < size; x++) out[row + x] = batch[row + size - 1 - x];
    }
  }
  return out;
}
