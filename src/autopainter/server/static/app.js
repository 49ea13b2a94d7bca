// Auto-Painter page: load a sketch, paint color hints on a layer of the sketch's own size, and see the result
// follow through the REST API. Plain JavaScript modules, no build step, nothing from a CDN:
//   hints.js   the hint layer (the model of the hints: edits, undo, as a PNG) and the region map for Fill
//   view.js    zoom and pan shared by both panels, and the pointer gestures
//   recolor.js live re-color: debounced, one request in flight, stale answers dropped, results cached
//   api.js     requests, errors as one line, waiting out a busy server
//   saved.js   the sketch and its hints kept in the browser (IndexedDB) across reloads
// This file wires them to the page: loading, tools, downloads, keys, messages.

import { Aborted, errorOf, getJSON, post } from "./api.js";
import { HINT_ALPHA, HintLayer, RegionMap, readPixels } from "./hints.js";
import { Recolorer } from "./recolor.js";
import { Autosave } from "./saved.js";
import { SharedView } from "./view.js";

const $ = (id) => document.getElementById(id);
const els = {
  fileInput: $("file-input"), urlForm: $("url-form"), urlInput: $("url-input"), extractBtn: $("extract-btn"),
  saveHints: $("save-hints-btn"), hintsInput: $("hints-input"), startOver: $("start-over-btn"),
  startOverDialog: $("start-over-dialog"), startOverCancel: $("start-over-cancel"), startOverConfirm: $("start-over-confirm"),
  stage: $("stage"), placeholder: $("placeholder"), sketchView: $("sketch-view"), sketchImg: $("sketch-img"),
  canvas: $("hint-canvas"), cursor: $("brush-cursor"), picker: $("color-picker"), swatches: $("swatches"),
  size: $("brush-size"), sizeValue: $("size-value"), undo: $("undo-btn"), redo: $("redo-btn"), clear: $("clear-btn"),
  hintsToggle: $("hints-toggle"), tools: [...document.querySelectorAll("button.tool")],
  zoomOut: $("zoom-out"), zoomIn: $("zoom-in"), zoomFit: $("zoom-fit"), zoomActual: $("zoom-actual"), zoomLevel: $("zoom-level"),
  colorize: $("colorize-btn"), live: $("live-toggle"), styles: [...document.querySelectorAll('input[name="style"]')],
  downloadMenu: $("download-menu"), status: $("status"),
  resultStage: $("result-stage"), resultPlaceholder: $("result-placeholder"), resultView: $("result-view"),
  beforeImg: $("before-img"), result: $("result-img"), compare: $("compare"), compareLine: $("compare-line"), staleBadge: $("stale-badge"),
  progress: $("progress"), notice: $("notice"), noticeText: $("notice-text"),
  error: $("error"), errorText: $("error-text"), errorClose: $("error-close"),
  keysDialog: $("keys-dialog"), keysBtn: $("keys-btn"), keysClose: $("keys-close"),
  examples: $("example-list"), visitors: $("visitors"),
};
const SWATCHES = ["#e4572e", "#f3a712", "#ffd23f", "#76b041", "#2e933c", "#17bebb", "#2d7dd2", "#3a3db0",
                  "#8e44ad", "#f06ca8", "#8b5a2b", "#f2d0a4", "#9e9e9e", "#222222"];
const PAINT_TOOLS = ["brush", "fill"]; // the eyedropper goes back to the last of these
const PHONE = window.matchMedia("(max-width: 899px)");

const state = {
  sketch: null, // Blob of the sketch as loaded
  name: "sketch",
  width: 0, height: 0,
  sketchUrl: null,
  version: 0, // changes with every new sketch
  tool: "brush", paintTool: "brush",
  last: null, // the stroke's last point, sketch pixels
  sizeTouched: false, // the user chose a brush size: keep it for the next sketch
  space: false, overStage: false, // Space held (pan), the pointer over a stage
  regions: null, // {version, promise of RegionMap}
  resultPixels: null, // {url, data} of the result on show, for the eyedropper
  scrollToResult: false,
  resultInView: true,
  limits: null,
};

const layer = new HintLayer(els.canvas);
const autosave = new Autosave({ hints: { png: () => layer.toPNG(), pngNow: () => layer.toPNGNow() }, limits: () => state.limits });
const view = new SharedView();
view.addStage(els.stage, els.sketchView);
view.addStage(els.resultStage, els.resultView);

// ------------------------------------------------------------------ messages: toasts at the bottom of the screen
let noticeTimer = null;
function showError(message) {
  els.errorText.textContent = message;
  els.error.hidden = false;
}
function clearError() { els.error.hidden = true; els.errorText.textContent = ""; }
els.errorClose.addEventListener("click", clearError);

/** A passing message (progress, a busy server); `ms` = 0 keeps it until hideNotice(). A `news` message (what
 * the page did for the user: restored, loaded) stays its time when a result comes; progress messages go. */
function notice(text, ms = 4000, news = false) {
  clearTimeout(noticeTimer);
  els.noticeText.textContent = text;
  els.notice.hidden = false;
  els.notice.dataset.news = news ? "1" : "";
  if (ms) noticeTimer = setTimeout(hideNotice, ms);
}
function hideNotice() { clearTimeout(noticeTimer); els.notice.hidden = true; }
const news = (text) => notice(text, 6000, true);

const busyNotice = (seconds) => notice(`The server is busy, retrying in ${seconds} s…`, (seconds + 1) * 1000);

function setStatus(text, busy = false) {
  els.status.textContent = text;
  els.status.classList.toggle("busy", busy);
}

function reportError(e) {
  if (e instanceof Aborted) return;
  hideNotice();
  showError(e.message);
}

// ------------------------------------------------------------------ loading a sketch
function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("this browser cannot show the file: is it an image (PNG, JPEG, WebP, GIF)?"));
    img.src = url;
  });
}

/** Show a new sketch (a blank hint layer); `saved` is the work kept in the browser, {sketch, hints}, when
 * restoring it. Resolves with whether the sketch is on show. */
async function loadSketch(blob, name, saved = null) {
  clearError();
  if (!blob) return false;
  const fail = (message) => { showError(message); return false; };
  if (blob.type && !blob.type.startsWith("image/")) return fail(`${name || "file"} is not an image (it is ${blob.type})`);
  if (state.limits && blob.size > state.limits.max_upload_bytes) {
    return fail(`${name || "the image"} is ${(blob.size / 1048576).toFixed(1)} MB; the server takes up to ` +
                `${(state.limits.max_upload_bytes / 1048576).toFixed(0)} MB`);
  }
  const url = URL.createObjectURL(blob);
  let img;
  try {
    img = await loadImage(url);
  } catch (e) {
    URL.revokeObjectURL(url);
    return fail(e.message);
  }
  const w = img.naturalWidth, h = img.naturalHeight;
  if (state.limits && w * h > state.limits.max_pixels) {
    URL.revokeObjectURL(url);
    return fail(`${w}×${h} is too large: the server takes up to ${state.limits.max_pixels.toLocaleString()} pixels`);
  }
  recolor.reset();
  forgetDownloads();
  if (state.sketchUrl) URL.revokeObjectURL(state.sketchUrl);
  const version = state.version + 1;
  Object.assign(state, { sketch: blob, name: saved ? name : (name || "sketch").replace(/\.[^.]*$/, ""), width: w, height: h,
                         sketchUrl: url, version, regions: null });
  els.sketchImg.src = els.beforeImg.src = url;
  layer.reset(w, h); // the hint layer has the sketch's own pixel size
  if (saved && saved.hints) {
    try {
      await layer.fromPNG(saved.hints, { history: false });
    } catch (e) {
      news(`The saved hints could not be read (${e.message}); the sketch is back without them`);
    }
    if (version !== state.version) return false; // another sketch came meanwhile
  }
  if (saved) autosave.restored(saved.sketch);
  else autosave.sketch(blob, state.name, w, h);
  setTool("brush"); // an eraser left on from the last picture would silently paint nothing
  if (!state.sizeTouched) setSize(Math.round(Math.max(w, h) / 40)); // about the same on screen for any size
  els.sketchView.hidden = false;
  els.placeholder.hidden = true;
  els.stage.classList.remove("empty");
  clearResult();
  for (const s of [els.stage, els.resultStage]) s.style.setProperty("--sketch-ratio", `${w} / ${h}`); // no empty bands
  view.setImage(w, h);
  for (const b of [els.colorize, els.extractBtn, els.startOver]) b.disabled = false;
  els.saveHints.disabled = !layer.hasHints();
  setStatus(`${w}×${h}`);
  if (els.live.checked) recolor.now(); else recolor.changed(); // live: the first result without waiting
  return true;
}

function clearResult() {
  els.result.hidden = true;
  els.result.removeAttribute("src");
  delete els.result.dataset.ready;
  delete els.result.dataset.key;
  els.resultView.hidden = true;
  els.compareLine.hidden = true;
  els.resultPlaceholder.hidden = false;
  els.downloadMenu.hidden = true;
  els.downloadMenu.open = false;
  state.resultPixels = null;
}

els.fileInput.addEventListener("change", () => {
  const f = els.fileInput.files[0];
  if (f) loadSketch(f, f.name);
  els.fileInput.value = ""; // the same file again must trigger a change
});

async function loadUrl(url) {
  clearError();
  const form = new FormData();
  form.append("url", url);
  notice("Fetching the image…", 0);
  try {
    const blob = await (await post("/api/v1/fetch", form, { what: "image URL", onBusy: busyNotice })).blob();
    const name = decodeURIComponent(url.split(/[?#]/)[0].split("/").pop() || "image");
    hideNotice();
    await loadSketch(blob, name);
  } catch (e) {
    reportError(e);
  }
}
els.urlForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const url = els.urlInput.value.trim();
  if (url) loadUrl(url);
});

// drag and drop: files, or a link dragged from another page
["dragenter", "dragover"].forEach((t) => els.stage.addEventListener(t, (e) => {
  e.preventDefault();
  els.stage.classList.add("dragging");
}));
["dragleave", "drop"].forEach((t) => els.stage.addEventListener(t, () => els.stage.classList.remove("dragging")));
els.stage.addEventListener("drop", (e) => {
  e.preventDefault();
  const f = e.dataTransfer.files && e.dataTransfer.files[0];
  if (f) return loadSketch(f, f.name);
  const uri = (e.dataTransfer.getData("text/uri-list") || e.dataTransfer.getData("text/plain") || "").split("\n")[0].trim();
  if (/^https?:\/\//i.test(uri)) return loadUrl(uri);
  showError("drop an image file or an image link");
});
// paste an image from the clipboard (text pastes into the URL field stay text)
document.addEventListener("paste", (e) => {
  const items = (e.clipboardData && e.clipboardData.items) || [];
  for (const item of items) {
    if (item.kind === "file" && item.type.startsWith("image/")) {
      e.preventDefault();
      loadSketch(item.getAsFile(), "pasted");
      return;
    }
  }
});

els.extractBtn.addEventListener("click", async () => {
  if (!state.sketch) return showError("load a colored picture first");
  clearError();
  const form = new FormData();
  form.append("image", state.sketch, `${state.name}.png`);
  els.extractBtn.disabled = true;
  notice("Extracting the sketch…", 0);
  try {
    const blob = await (await post("/api/v1/sketchify", form, { what: "extract sketch", onBusy: busyNotice })).blob();
    hideNotice();
    await loadSketch(blob, `${state.name}-sketch`);
  } catch (e) {
    reportError(e);
  } finally {
    els.extractBtn.disabled = !state.sketch;
  }
});

// ------------------------------------------------------------------ tools, color, size
function setTool(tool) {
  state.tool = tool;
  if (PAINT_TOOLS.includes(tool)) state.paintTool = tool;
  for (const b of els.tools) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  els.stage.dataset.tool = els.resultStage.dataset.tool = tool;
  if (tool === "fill" && state.sketch) regionMap().catch(() => {}); // ready by the first click
  if (tool !== "brush" && tool !== "eraser") els.cursor.hidden = true;
}
for (const b of els.tools) b.addEventListener("click", () => setTool(b.dataset.tool));

for (const color of SWATCHES) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "swatch";
  b.style.backgroundColor = color;
  b.title = color;
  b.setAttribute("aria-label", `color ${color}`);
  b.dataset.color = color;
  b.addEventListener("click", () => selectColor(color));
  els.swatches.appendChild(b);
}
function selectColor(color) {
  els.picker.value = color;
  if (!PAINT_TOOLS.includes(state.tool)) setTool(state.paintTool); // a color is for painting
  for (const b of els.swatches.children) b.setAttribute("aria-pressed", String(b.dataset.color === els.picker.value));
}
els.picker.addEventListener("input", () => selectColor(els.picker.value));
selectColor(els.picker.value);

const rgbOf = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const hexOf = (rgb) => `#${rgb.slice(0, 3).map((v) => v.toString(16).padStart(2, "0")).join("")}`;

function setSize(px) {
  els.size.value = String(Math.min(Number(els.size.max), Math.max(Number(els.size.min), Math.round(px))));
  els.sizeValue.textContent = `${els.size.value} px`;
}
els.size.addEventListener("input", () => { state.sizeTouched = true; setSize(Number(els.size.value)); });
function stepSize(direction) {
  const now = Number(els.size.value);
  state.sizeTouched = true;
  setSize(now + direction * Math.max(1, Math.round(now * 0.15)));
}

// ------------------------------------------------------------------ painting on the hint stage
function paint(p) {
  layer.line(state.last.x, state.last.y, p.x, p.y, Number(els.size.value), state.tool === "eraser" ? null : rgbOf(els.picker.value));
  state.last = p;
}

const hintTool = {
  down(e, p) {
    if (!state.sketch) return false;
    if (e.altKey || state.tool === "picker") { pickColor(p, true); return false; }
    if (state.tool === "fill") { fillAt(p); return false; }
    layer.begin();
    state.last = p;
    paint(p);
    return true;
  },
  move(e, p) { paint(p); this.hover(e, p); },
  up() { layer.commit(); },
  cancel() { layer.cancel(); },
  hover(e, p) { // the brush's outline at its size in sketch pixels, at the current zoom
    if (e.pointerType === "touch" || !(state.tool === "brush" || state.tool === "eraser") || !state.sketch) return;
    const d = Number(els.size.value) * view.scale, at = view.toStage(els.stage, p.x, p.y);
    Object.assign(els.cursor.style, { width: `${d}px`, height: `${d}px`, transform: `translate(${at.x - d / 2}px, ${at.y - d / 2}px)` });
    els.cursor.hidden = false;
  },
  leave() { els.cursor.hidden = true; },
};
view.attach(els.stage, hintTool, () => state.space);

// the result panel: a drag pans, the eyedropper (or Alt+click) takes its color
view.attach(els.resultStage, {
  down(e, p) { if (!els.result.hidden) pickColor(p, false); return false; },
  move() {}, up() {}, cancel() {},
}, (e) => state.space || !(state.tool === "picker" || e.altKey));

for (const s of [els.stage, els.resultStage]) {
  s.addEventListener("pointerenter", () => { state.overStage = true; });
  s.addEventListener("pointerleave", () => { state.overStage = false; });
}

layer.addEventListener("change", hintsChanged);
function hintsChanged() {
  els.undo.disabled = !layer.canUndo();
  els.redo.disabled = !layer.canRedo();
  els.clear.disabled = !state.sketch;
  els.saveHints.disabled = !state.sketch || !layer.hasHints();
  recolor.changed();
  autosave.hintsChanged();
}
layer.addEventListener("reset", () => {
  els.undo.disabled = els.redo.disabled = els.saveHints.disabled = true;
  els.clear.disabled = !state.sketch;
});
els.undo.addEventListener("click", () => layer.undo());
els.redo.addEventListener("click", () => layer.redo());
els.clear.addEventListener("click", () => layer.clear());

// ------------------------------------------------------------------ fill: the clicked region of the region map
function regionMap() {
  if (!state.regions || state.regions.version !== state.version) {
    const form = new FormData();
    form.append("sketch", state.sketch, `${state.name}.png`);
    const { width, height } = state;
    const promise = post("/api/v1/regions", form, { what: "fill", onBusy: busyNotice })
      .then((r) => r.blob()).then(RegionMap.fromPNG).then((map) => {
        if (map.width !== width || map.height !== height) throw new Error(`fill: the region map is ${map.width}×${map.height}, not ${width}×${height}`);
        return map;
      });
    const entry = { version: state.version, promise, ready: false };
    promise.then(() => { entry.ready = true; },
                 () => { if (state.regions === entry) state.regions = null; }); // the next click tries again
    state.regions = entry;
  }
  return state.regions.promise;
}

async function fillAt(p) {
  const version = state.version, color = rgbOf(els.picker.value);
  let regions;
  const waiting = !(state.regions && state.regions.version === state.version && state.regions.ready);
  if (waiting) notice("Finding the sketch's closed regions…", 0);
  try {
    regions = await regionMap();
  } catch (e) {
    return reportError(e);
  }
  if (waiting) hideNotice();
  if (version !== state.version) return;
  const label = regions.labelAt(p.x, p.y);
  if (!label) return;
  layer.begin();
  layer.fillRegion(regions, label, color);
  layer.commit();
}

// ------------------------------------------------------------------ eyedropper
function resultPixel(p) {
  if (els.result.hidden || !els.result.dataset.ready) return null;
  const x = Math.floor(p.x), y = Math.floor(p.y), w = els.result.naturalWidth;
  if (x < 0 || y < 0 || x >= w || y >= els.result.naturalHeight) return null;
  if (!state.resultPixels || state.resultPixels.url !== els.result.src) {
    state.resultPixels = { url: els.result.src, data: readPixels(els.result) };
  }
  const i = (y * w + x) * 4;
  return Array.from(state.resultPixels.data.subarray(i, i + 4));
}

/** Take the color under p: on the hint stage a painted hint first, else the result there. */
function pickColor(p, fromHints) {
  const hint = fromHints ? layer.pixel(p.x, p.y) : null;
  const rgba = hint && hint[3] >= HINT_ALPHA ? hint : resultPixel(p);
  if (!rgba) return notice("Nothing to pick there yet: paint a hint or wait for the result.");
  selectColor(hexOf(rgba));
  notice(`Picked ${hexOf(rgba)}`, 1500);
}

// ------------------------------------------------------------------ zoom and pan (both panels)
view.addEventListener("change", () => {
  els.zoomLevel.textContent = `${Math.round(view.scale * 100)}%`;
  placeCompareLine();
  els.cursor.hidden = true;
});
els.zoomIn.addEventListener("click", () => view.zoomBy(1.25));
els.zoomOut.addEventListener("click", () => view.zoomBy(0.8));
els.zoomFit.addEventListener("click", () => view.fit());
els.zoomActual.addEventListener("click", () => view.zoomTo(1));

// ------------------------------------------------------------------ the result: live re-color, style, before/after
const currentStyle = () => els.styles.find((r) => r.checked).value;

const recolor = new Recolorer({
  describe() {
    if (!state.sketch) return null;
    const useHints = els.hintsToggle.checked && layer.hasHints();
    const style = currentStyle();
    return { key: `${state.version}:${useHints ? layer.revision : "none"}:${style}`, useHints, style };
  },
  async request(job, signal) {
    const hints = job.useHints ? layer.toPNG() : null; // the layer as it is now, at the sketch's size
    const form = new FormData();
    form.append("sketch", state.sketch, `${state.name}.png`);
    const sentHints = hints ? await hints : null;
    if (sentHints) form.append("hints", sentHints, "hints.png");
    form.append("style", job.style);
    remember(sent, job.key, { hints: sentHints, style: job.style }, 48); // for the downloads of this result
    const response = await post("/api/v1/colorize", form, { what: "colorize", signal, onBusy: busyNotice });
    return response.blob();
  },
  show(job, url) {
    const loaded = () => {
      els.result.dataset.ready = "1";
      setStatus(`${els.result.naturalWidth}×${els.result.naturalHeight}`);
      if (state.scrollToResult && PHONE.matches) els.resultStage.scrollIntoView({ behavior: "smooth", block: "nearest" });
      state.scrollToResult = false;
    };
    if (els.result.getAttribute("src") === url && els.result.dataset.ready) loaded(); // the same picture: no new load
    else {
      delete els.result.dataset.ready;
      els.result.onload = loaded;
      els.result.src = url;
    }
    els.result.dataset.key = job.key;
    els.result.hidden = els.resultView.hidden = false;
    els.resultPlaceholder.hidden = true;
    for (const b of downloadButtons()) b.querySelector("[data-file]").textContent = downloadName(b.dataset.download);
    els.downloadMenu.hidden = false;
    state.resultPixels = null;
    if (!els.notice.dataset.news) hideNotice();
    clearError();
    placeCompareLine();
  },
});
recolor.addEventListener("state", showRecolorState);
recolor.addEventListener("error", (e) => { state.scrollToResult = false; reportError(e.detail); });
recolor.addEventListener("dropped", () => { els.resultStage.dataset.dropped = String(recolor.dropped); });

function showRecolorState() {
  const stale = recolor.stale, busy = recolor.busy;
  els.resultStage.classList.toggle("stale", stale);
  els.resultStage.classList.toggle("busy", busy);
  els.resultStage.setAttribute("aria-busy", String(busy));
  els.staleBadge.hidden = !stale;
  els.staleBadge.textContent = busy || recolor.waiting ? "Out of date: updating…"
    : els.live.checked ? "Out of date" : "Out of date: press Colorize (Ctrl+Enter)";
  if (busy) setStatus("coloring…", true);
  else if (els.status.classList.contains("busy")) setStatus(els.result.dataset.ready ? `${els.result.naturalWidth}×${els.result.naturalHeight}` : "");
  els.progress.hidden = !(busy && !state.resultInView); // in view wherever the user has scrolled to
}
new IntersectionObserver(([entry]) => {
  state.resultInView = entry.intersectionRatio >= 0.4;
  showRecolorState();
}, { threshold: [0, 0.4, 1] }).observe(els.resultStage);
els.progress.addEventListener("click", () => els.resultStage.scrollIntoView({ behavior: "smooth", block: "nearest" }));

function colorizeNow() {
  if (!state.sketch) return showError("load a sketch first");
  clearError();
  state.scrollToResult = true; // on a phone the result is below: bring it into view when it comes
  recolor.now();
}
els.colorize.addEventListener("click", colorizeNow);

const LIVE_KEY = "autopainter.live";
try { els.live.checked = localStorage.getItem(LIVE_KEY) !== "off"; } catch (_) { /* storage blocked */ }
recolor.live = els.live.checked;
els.live.addEventListener("change", () => {
  recolor.live = els.live.checked;
  try { localStorage.setItem(LIVE_KEY, els.live.checked ? "on" : "off"); } catch (_) { /* storage blocked */ }
  recolor.changed();
});

/** A choice about the result (hints on/off, style): both are kept, so switching back is instant. */
function resultChoiceChanged() {
  if (!state.sketch) return;
  if (els.live.checked || !els.result.hidden) recolor.now(); else recolor.changed();
}
els.hintsToggle.addEventListener("change", () => {
  els.canvas.classList.toggle("off", !els.hintsToggle.checked);
  els.hintsToggle.nextElementSibling.textContent = els.hintsToggle.checked ? "Hints on" : "Hints off";
  resultChoiceChanged();
});
for (const r of els.styles) r.addEventListener("change", resultChoiceChanged);

function placeCompareLine() { // the result left of the line (at the slider's value), the sketch under it to the right
  const v = Number(els.compare.value);
  els.result.style.clipPath = v >= 100 ? "" : `inset(0 ${100 - v}% 0 0)`;
  const show = v < 100 && !els.result.hidden && state.width > 0;
  els.compareLine.hidden = !show;
  if (show) els.compareLine.style.transform = `translateX(${view.toStage(els.resultStage, (state.width * v) / 100, 0).x}px)`;
}
els.compare.addEventListener("input", placeCompareLine);

// ------------------------------------------------------------------ downloads: the result on show, its layers, OpenRaster
// Every download is of the result on show: the layers and the .ora are asked for with the hints and style that
// result was made from (a stale result gives its own layers, not those of hints painted since). The result PNG
// is the one already here; the layers come in one request for the three, the .ora in one; both are kept.
const sent = new Map(); // result key -> {hints: Blob | null, style}: what its request carried
const extras = new Map(); // `${key}|${format}` -> Promise of the layers {color, lines, flats} or the .ora Blob

/** Keep `value` under `key` in `map`, the oldest dropped beyond `size`. */
function remember(map, key, value, size) {
  map.delete(key);
  map.set(key, value);
  while (map.size > size) map.delete(map.keys().next().value);
}

function forgetDownloads() {
  sent.clear();
  extras.clear();
}

const DOWNLOADS = { // what -> [file name suffix, what it is called in messages]; the layers come from the server
  result: ["_colored.png", "the result"], ora: [".ora", "the OpenRaster file"], hints: ["_hints.png", "the hints"],
};
const downloadButtons = () => els.downloadMenu.querySelectorAll("[data-download]");

/** One menu button per output layer the server makes (/api/v1/health's output_layers), above the OpenRaster one. */
function addLayerDownloads(layers) {
  const ora = els.downloadMenu.querySelector('[data-download="ora"]');
  for (const { name, label, title, description, suffix } of layers) {
    if (DOWNLOADS[name]) continue;
    DOWNLOADS[name] = [`${suffix}.png`, title];
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.download = name;
    b.title = description;
    const small = document.createElement("small");
    small.dataset.file = "";
    if (state.sketch) small.textContent = downloadName(name);
    b.append(`${label} PNG `, small);
    ora.before(b);
  }
}
const fileStem = () => state.name.replace(/[\\/:*?"<>|\u0000-\u001f]+/g, "_") || "sketch";
const downloadName = (what) => fileStem() + DOWNLOADS[what][0];

/** Save `blob` (or an object URL) as a file named `name`. */
function saveFile(blob, name) {
  const a = document.createElement("a");
  a.href = typeof blob === "string" ? blob : URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  if (typeof blob !== "string") setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

const blobOf64 = (b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: "image/png" });

/** The layers ("json") or the .ora ("ora") of result `key`: asked for once. */
function extraFor(key, format) {
  const id = `${key}|${format}`;
  if (!extras.has(id)) {
    const { hints, style } = sent.get(key);
    const form = new FormData();
    form.append("sketch", state.sketch, `${state.name}.png`);
    if (hints) form.append("hints", hints, "hints.png");
    form.append("style", style);
    form.append("format", format);
    if (format === "json") form.append("layers", "true");
    const what = format === "ora" ? "OpenRaster" : "layers";
    const promise = post("/api/v1/colorize", form, { what, onBusy: busyNotice }).then(async (r) => {
      if (format === "ora") return r.blob();
      const layers = (await r.json()).layers || {};
      return Object.fromEntries(Object.entries(layers).map(([k, v]) => [k, blobOf64(v)]));
    });
    promise.catch(() => { if (extras.get(id) === promise) extras.delete(id); }); // the next click asks again
    remember(extras, id, promise, 8);
  }
  return extras.get(id);
}

async function download(what) {
  els.downloadMenu.open = false;
  const key = recolor.shownKey, version = state.version;
  if (!key || !sent.has(key)) return showError("nothing to download yet: the result is still coming");
  const name = downloadName(what), label = DOWNLOADS[what][1];
  if (what === "result") return saveFile(recolor.shownUrl, name);
  const format = what === "ora" ? "ora" : "json";
  if (!extras.has(`${key}|${format}`)) notice(`Preparing ${label}…`, 0);
  try {
    const answer = await extraFor(key, format);
    if (version !== state.version) return hideNotice(); // another sketch meanwhile
    const blob = format === "ora" ? answer : answer[what];
    if (!blob) throw new Error(`the server sent no ${what} layer`);
    hideNotice();
    saveFile(blob, name);
  } catch (e) {
    reportError(e);
  }
}
els.downloadMenu.addEventListener("click", (e) => {
  const b = e.target.closest("[data-download]");
  if (b) download(b.dataset.download);
});
document.addEventListener("pointerdown", (e) => { // a click elsewhere closes the menu
  if (els.downloadMenu.open && !els.downloadMenu.contains(e.target)) els.downloadMenu.open = false;
});

// ------------------------------------------------------------------ saved work: hints as a file, autosave, start over
els.saveHints.addEventListener("click", async () => {
  if (!state.sketch) return;
  try {
    saveFile(await layer.toPNG(), downloadName("hints"));
  } catch (e) {
    showError(e.message);
  }
});

els.hintsInput.addEventListener("change", async () => {
  const f = els.hintsInput.files[0];
  els.hintsInput.value = ""; // the same file again must trigger a change
  if (!f) return;
  if (!state.sketch) return showError("load a sketch first, then its hints");
  clearError();
  const version = state.version, { width, height } = state;
  try {
    const size = await imageSize(f);
    if (version !== state.version) return;
    await layer.fromPNG(f, { stretch: true, requireTransparent: true }); // one step: Undo takes it back
    news(size.width === width && size.height === height ? `Loaded the hints of ${f.name}`
      : `Loaded the hints of ${f.name}, stretched from ${size.width}×${size.height} to the sketch's ${width}×${height}`);
  } catch (e) {
    showError(`${f.name} cannot be loaded as hints: ${e.message}`);
  }
});

async function imageSize(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch (_) {
    throw new Error("it is not an image this browser can read (a hint layer is an RGBA PNG)");
  }
  const size = { width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return size;
}

autosave.addEventListener("problem", (e) => notice(e.detail, 8000, true));
/** Resolves with whether the work kept in the browser was brought back. */
const restored = autosave.ready.then(async (kept) => {
  if (!kept || state.sketch) return false; // nothing kept, or a sketch was opened meanwhile
  if (!(await loadSketch(kept.sketch.blob, kept.sketch.name, kept))) return false;
  news(kept.hints ? "Restored your last sketch and hints" : "Restored your last sketch");
  return true;
});
// the last change is written as the page goes away (a reload, a closed tab, a phone switching apps)
window.addEventListener("pagehide", () => autosave.flush());
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") autosave.flush(); });

els.startOver.addEventListener("click", () => els.startOverDialog.showModal());
els.startOverCancel.addEventListener("click", () => els.startOverDialog.close());
els.startOverConfirm.addEventListener("click", () => {
  els.startOverDialog.close();
  startOver();
});

/** Back to an empty page, and nothing kept in the browser. */
function startOver() {
  autosave.clear();
  recolor.reset();
  forgetDownloads();
  clearError();
  if (state.sketchUrl) URL.revokeObjectURL(state.sketchUrl);
  Object.assign(state, { sketch: null, name: "sketch", width: 0, height: 0, sketchUrl: null,
                         version: state.version + 1, regions: null, resultPixels: null });
  els.sketchImg.removeAttribute("src");
  els.beforeImg.removeAttribute("src");
  layer.reset(1, 1);
  clearResult();
  els.sketchView.hidden = true;
  els.placeholder.hidden = false;
  els.stage.classList.add("empty");
  els.cursor.hidden = true;
  for (const s of [els.stage, els.resultStage]) s.style.removeProperty("--sketch-ratio");
  for (const b of [els.colorize, els.extractBtn, els.startOver]) b.disabled = true;
  setStatus("");
  news("Started over: nothing is kept");
}

// ------------------------------------------------------------------ keyboard
const TOOL_KEYS = { b: "brush", f: "fill", e: "eraser", i: "picker" };
const typing = (t) => t instanceof HTMLTextAreaElement || t.isContentEditable ||
  (t instanceof HTMLInputElement && !["range", "checkbox", "radio", "color", "button"].includes(t.type));

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && els.downloadMenu.open) {
    els.downloadMenu.open = false;
    els.downloadMenu.querySelector("summary").focus();
    return;
  }
  if (typing(e.target) || els.keysDialog.open || els.startOverDialog.open) return;
  const k = e.key.toLowerCase();
  if (e.ctrlKey || e.metaKey) {
    if (k === "z" && !e.shiftKey) layer.undo();
    else if ((k === "z" && e.shiftKey) || k === "y") layer.redo();
    else if (k === "enter") colorizeNow();
    else return;
    e.preventDefault();
    return;
  }
  if (e.altKey) return;
  if (k === " ") { // Space-drag pans; on a button not under the pointer, Space still presses the button
    if (!state.overStage && e.target instanceof HTMLButtonElement) return;
    e.preventDefault();
    if (!state.space) { state.space = true; document.body.classList.add("space-pan"); els.cursor.hidden = true; }
    return;
  }
  if (TOOL_KEYS[k]) setTool(TOOL_KEYS[k]);
  else if (k === "[" || k === "]") stepSize(k === "]" ? 1 : -1);
  else if (e.key === "?") els.keysDialog.showModal();
  else if (k === "+" || k === "=") view.zoomBy(1.25);
  else if (k === "-") view.zoomBy(0.8);
  else if (k === "0") view.fit();
  else if (k === "1") view.zoomTo(1);
  else return;
  e.preventDefault();
});
document.addEventListener("keyup", (e) => {
  if (e.key === " " && state.space) {
    state.space = false;
    document.body.classList.remove("space-pan");
    e.preventDefault();
  }
});
window.addEventListener("blur", () => { state.space = false; document.body.classList.remove("space-pan"); });
els.keysBtn.addEventListener("click", () => els.keysDialog.showModal());
els.keysClose.addEventListener("click", () => els.keysDialog.close());

// ------------------------------------------------------------------ examples, limits, visitors
getJSON("/api/v1/health").then((h) => { state.limits = h.limits; addLayerDownloads(h.output_layers || []); }).catch(() => {});
getJSON("/api/v1/visitors").then((v) => {
  els.visitors.textContent = `${v.visitors.toLocaleString()} visitor${v.visitors === 1 ? "" : "s"}`;
}).catch(() => {});
getJSON("/api/v1/examples").then(({ examples }) => {
  for (const ex of examples) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "example";
    b.title = ex.name;
    const img = document.createElement("img");
    img.src = ex.url;
    img.alt = `example: ${ex.name}`;
    img.loading = "lazy";
    b.appendChild(img);
    b.addEventListener("click", async () => {
      try {
        const r = await fetch(ex.url);
        if (!r.ok) throw new Error(await errorOf(r));
        await loadSketch(await r.blob(), ex.name);
      } catch (e) {
        showError(`example ${ex.name}: ${e.message}`);
      }
    });
    els.examples.appendChild(b);
  }
}).catch((e) => showError(`could not list the examples: ${e.message}`));

// for scripts and tests: the page's parts
window.autopainter = { layer, view, recolor, autosave, restored, state, loadSketch };
