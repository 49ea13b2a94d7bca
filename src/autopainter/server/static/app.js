// Auto-Painter page: load a sketch, paint color hints on a layer of the sketch's own size, and see the result
// follow through the REST API. Plain JavaScript modules, no build step, nothing from a CDN:
//   hints.js   the hint layer (the model of the hints: edits, undo, as a PNG), the region map for Fill, and one
//              undo order over the hint, closing-line and leave-empty layers
//   regions.js what the page draws from the region map: the gap preview, the region under the pointer, marks
//   view.js    zoom and pan shared by both panels, and the pointer gestures
//   recolor.js live re-color: debounced, one request in flight, stale answers dropped, results cached
//   api.js     requests, errors as one line, waiting out a busy server
//   saved.js   the sketch and its work kept in the browser (IndexedDB) across reloads; the work in a hints PNG
// This file wires them to the page: loading, tools, palette variants, the reference, downloads, keys, messages.

import { Aborted, errorOf, getJSON, post } from "./api.js";
import { HINT_ALPHA, HintLayer, History, RegionMap, drawOutline, readPixels } from "./hints.js";
import { Recolorer } from "./recolor.js";
import { checkOutlines, closingLines, markCenters, outline, paperMask } from "./regions.js";
import { Autosave, pngWithWork, workOfPNG } from "./saved.js";
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
  gap: $("gap"), gapValue: $("gap-value"), regionsToggle: $("regions-toggle"), clearMarks: $("clear-marks-btn"),
  closingCanvas: $("closing-canvas"), emptyCanvas: $("empty-canvas"), gapCanvas: $("gap-canvas"),
  outlineCanvas: $("outline-canvas"), marks: $("empty-marks"),
  variantsBtn: $("variants-btn"), variants: $("variants"), palette: $("palette"),
  referenceInput: $("reference-input"), referenceLabel: $("reference-label"), reference: $("reference"),
  referenceImg: $("reference-img"), referenceClear: $("reference-clear"), referenceName: $("reference-name"),
  referenceFit: $("reference-fit"), referencePalette: $("reference-palette"), checkLegend: $("check-legend"),
  checkToggle: $("check-toggle"), checkText: $("check-text"), checkCanvas: $("check-canvas"),
  hintOutline: $("hint-outline"), pip: $("result-pip"), pipImg: $("pip-img"),
  sketchWarning: $("sketch-warning"), warningExtract: $("warning-extract"), warningClose: $("warning-close"),
};
const SWATCHES = ["#e4572e", "#f3a712", "#ffd23f", "#76b041", "#2e933c", "#17bebb", "#2d7dd2", "#3a3db0",
                  "#8e44ad", "#f06ca8", "#8b5a2b", "#f2d0a4", "#9e9e9e", "#222222"];
const PAINT_TOOLS = ["brush", "fill"]; // the eyedropper goes back to the last of these
const LINE_TOOLS = ["closing", "unmark"]; // these have their own size (thin lines), the others the brush's
const REGION_TOOLS = ["fill", "empty"]; // these take a whole region: it is outlined under the pointer
const CLOSING_RGB = [0, 200, 255], EMPTY_RGB = [194, 24, 91];
const HOLD_MS = 400; // a press this long on a touch screen shows the region instead of filling it
const VARIANTS = [0, 1, 2, 3]; // the palette variants the Variants button offers (0: closest to the model's colors)
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
  sizes: { paint: 14, lines: 3 }, // the brush's size, and the closing line's
  gap: "auto", // the gap closing: "auto" (the server picks it) or px
  maxGap: 40,
  maps: new Map(), // region map key -> {key, promise of RegionMap, ready}; the few last ones
  paper: null, // {version, mask}: the sketch's paper, for the gap preview
  stroke: null, // the layers a drag paints into and how
  press: null, // a touch press with a region tool: {p, start, held, timer}
  hovered: 0, // the label outlined under the pointer
  variant: 0, // the palette variant every re-color asks for (a model that names materials: /api/v1/health variants)
  maxVariant: 1000000,
  variantsRun: null, // the Variants button's requests under way: {controller}
  minFit: 0.35, // a reference fit under it: another drawing (/api/v1/health's reference.min_fit)
  reference: null, // the reference drawing every re-color sends: {blob, name, url, version, palette: ["#rrggbb"] | null}
  references: 0, // references loaded so far (each one's version)
  shownJob: null, // the job of the result on show (for the regions to check)
  resultPick: null, // a finger's eyedropper pick on the result, taken when it lifts
  outline: { rect: undefined, frame: 0, radius: 0 }, // the hints' display outline: what to draw again at the next frame
  coloredSketch: 0, // the sketch version the server said looks like a colored picture (X-Sketch-Warning), or 0
  warningDismissed: 0, // the sketch version whose warning the user closed
};

const layer = new HintLayer(els.canvas);
const closing = new HintLayer(els.closingCanvas); // alpha 255: a closing line (ink for the regions only)
const empty = new HintLayer(els.emptyCanvas); // alpha 255: a leave-empty mark
const history = new History([layer, closing, empty]);
const asPart = (l) => ({ png: () => l.toPNG(), pngNow: () => l.toPNGNow() });
const autosave = new Autosave({ parts: { hints: asPart(layer), closing: asPart(closing), empty: asPart(empty),
                                         settings: { value: () => ({ gap: state.gap, variant: state.variant }) },
                                         reference: { value: () => state.reference && { blob: state.reference.blob, name: state.reference.name } } },
                              limits: () => state.limits });
const view = new SharedView();
view.addStage(els.stage, els.sketchView);
view.addStage(els.resultStage, els.resultView);

// Side by side (wide screens), the stages end at the bottom of the window: the room from the sketch stage's top
// (where the toolbars above it end, however they wrap) to the window's bottom, as --stage-room for the CSS, so
// the whole sketch is in reach of a stroke without scrolling. The stage's height does not move its top: one pass.
const STAGE_BOTTOM_MARGIN = 8; // px between the stage and the window's bottom
function fitStagesToWindow() {
  const top = els.stage.getBoundingClientRect().top + window.scrollY;
  const room = Math.floor(window.innerHeight - top - STAGE_BOTTOM_MARGIN);
  const value = `${room}px`;
  if (document.documentElement.style.getPropertyValue("--stage-room") !== value) document.documentElement.style.setProperty("--stage-room", value);
}
{
  const above = new ResizeObserver(fitStagesToWindow); // the header and the toolbars over the sketch stage
  above.observe(document.querySelector("header.top"));
  for (const bar of els.stage.parentElement.querySelectorAll(".toolbar")) {
    if (bar.compareDocumentPosition(els.stage) & Node.DOCUMENT_POSITION_FOLLOWING) above.observe(bar);
  }
  window.addEventListener("resize", fitStagesToWindow);
  fitStagesToWindow();
}

// ------------------------------------------------------------------ messages: toasts at the bottom of the screen
let noticeTimer = null;
/** An error toast; `keep`: it stays when the next result comes (which otherwise clears it). */
function showError(message, keep = false) {
  els.errorText.textContent = message;
  els.error.hidden = false;
  els.error.dataset.keep = keep ? "1" : "";
}
function clearError() { els.error.hidden = true; els.errorText.textContent = ""; els.error.dataset.keep = ""; }
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

/** An image file the server would take, shown in this browser: {url (an object URL, the caller's), width,
 * height}; throws an Error saying why not (not an image, over the server's limits). */
async function checkedImage(blob, name) {
  if (blob.type && !blob.type.startsWith("image/")) throw new Error(`${name || "file"} is not an image (it is ${blob.type})`);
  if (state.limits && blob.size > state.limits.max_upload_bytes) {
    throw new Error(`${name || "the image"} is ${(blob.size / 1048576).toFixed(1)} MB; the server takes up to ` +
                    `${(state.limits.max_upload_bytes / 1048576).toFixed(0)} MB`);
  }
  const url = URL.createObjectURL(blob);
  let img;
  try {
    img = await loadImage(url);
  } catch (e) {
    URL.revokeObjectURL(url);
    throw e;
  }
  const w = img.naturalWidth, h = img.naturalHeight;
  if (state.limits && w * h > state.limits.max_pixels) {
    URL.revokeObjectURL(url);
    throw new Error(`${w}×${h} is too large: the server takes up to ${state.limits.max_pixels.toLocaleString()} pixels`);
  }
  return { url, width: w, height: h };
}

/** Show a new sketch (a blank hint layer); `saved` is the work kept in the browser, {sketch, hints, closing,
 * empty, settings, reference}, when restoring it. Resolves with whether the sketch is on show. The reference (a
 * drawing of the character) stays for the next sketch. */
async function loadSketch(blob, name, saved = null) {
  clearError();
  if (!blob) return false;
  let url, w, h;
  try {
    ({ url, width: w, height: h } = await checkedImage(blob, name));
  } catch (e) {
    showError(e.message);
    return false;
  }
  forgetVariants();
  recolor.reset();
  forgetDownloads();
  if (state.sketchUrl) URL.revokeObjectURL(state.sketchUrl);
  const version = state.version + 1;
  showSketchWarning(false); // the warning was about the last picture
  Object.assign(state, { sketch: blob, name: saved ? name : (name || "sketch").replace(/\.[^.]*$/, ""), width: w, height: h,
                         sketchUrl: url, version, regions: null });
  els.sketchImg.src = els.beforeImg.src = url;
  layer.reset(w, h); // the hint layer has the sketch's own pixel size
  closing.reset(w, h); // and so have the closing lines and the leave-empty marks
  empty.reset(w, h);
  forgetRegions();
  setGap(saved && saved.settings ? saved.settings.gap : "auto", false);
  setVariant(saved && saved.settings ? saved.settings.variant : 0, false); // a variant is per sketch: a new one starts at 0
  if (saved && saved.reference && saved.reference.blob instanceof Blob) {
    await setReference(saved.reference.blob, saved.reference.name, { restoring: true });
    if (version !== state.version) return false;
  }
  for (const [part, l] of saved ? [["hints", layer], ["closing", closing], ["empty", empty]] : []) {
    if (!saved[part]) continue;
    try {
      await l.fromPNG(saved[part], { history: false });
    } catch (e) {
      news(`The saved ${part === "hints" ? "hints" : part === "closing" ? "closing lines" : "leave-empty marks"} could not be read (${e.message}); the sketch is back without them`);
    }
    if (version !== state.version) return false; // another sketch came meanwhile
  }
  if (saved) autosave.restored(saved.sketch);
  else {
    autosave.sketch(blob, state.name, w, h);
    if (state.reference) autosave.changed("reference"); // kept with the new sketch
  }
  setTool("brush"); // an eraser left on from the last picture would silently paint nothing
  if (!state.sizeTouched) state.sizes.paint = Math.round(Math.max(w, h) / 40); // about the same on screen for any size
  state.sizes.lines = Math.max(2, Math.round(Math.max(w, h) / 300)); // a closing line: about a line's width
  setSize(sizeOf(state.tool));
  els.sketchView.hidden = false;
  els.placeholder.hidden = true;
  els.stage.classList.remove("empty");
  clearResult();
  for (const s of [els.stage, els.resultStage]) s.style.setProperty("--sketch-ratio", `${w} / ${h}`); // no empty bands
  view.setImage(w, h);
  for (const b of [els.colorize, els.extractBtn, els.startOver]) b.disabled = false;
  showVariantsButton();
  workChanged();
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
  state.shownJob = null;
  showPalette(null);
  showReferenceResult(null);
  showPip();
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

/** Extract sketch: the picture loaded (a colored one) turned into line art by the server, loaded as the sketch. */
async function extractSketch() {
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
}
els.extractBtn.addEventListener("click", extractSketch);

// ------------------------------------------------------------------ tools, color, size
function setTool(tool) {
  state.tool = tool;
  if (PAINT_TOOLS.includes(tool)) state.paintTool = tool;
  for (const b of els.tools) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  els.stage.dataset.tool = els.resultStage.dataset.tool = tool;
  if (REGION_TOOLS.includes(tool) && state.sketch) regionMap().catch(() => {}); // ready by the first click
  if (!hasCursor(tool)) els.cursor.hidden = true;
  if (!REGION_TOOLS.includes(tool)) hideOutline();
  setSize(sizeOf(tool));
}
const hasCursor = (tool) => ["brush", "eraser", ...LINE_TOOLS].includes(tool);
const sizeOf = (tool) => state.sizes[LINE_TOOLS.includes(tool) ? "lines" : "paint"];
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
  for (const b of [...els.swatches.children, ...els.referencePalette.children]) {
    b.setAttribute("aria-pressed", String(b.dataset.color === els.picker.value));
  }
}
els.picker.addEventListener("input", () => selectColor(els.picker.value));
selectColor(els.picker.value);

const rgbOf = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const hexOf = (rgb) => `#${rgb.slice(0, 3).map((v) => v.toString(16).padStart(2, "0")).join("")}`;

/** The size of the tool on show (the brush's, or the closing line's), in sketch pixels. */
function setSize(px) {
  els.size.value = String(Math.min(Number(els.size.max), Math.max(Number(els.size.min), Math.round(px))));
  els.sizeValue.textContent = `${els.size.value} px`;
  state.sizes[LINE_TOOLS.includes(state.tool) ? "lines" : "paint"] = Number(els.size.value);
}
const touchSize = () => { if (!LINE_TOOLS.includes(state.tool)) state.sizeTouched = true; };
els.size.addEventListener("input", () => { touchSize(); setSize(Number(els.size.value)); });
function stepSize(direction) {
  const now = Number(els.size.value);
  touchSize();
  setSize(now + direction * Math.max(1, Math.round(now * 0.15)));
}

// ------------------------------------------------------------------ painting on the hint stage
// A drag paints into the layers of `state.stroke`: the brush and the eraser into the hints, the closing line
// into its own layer, the line eraser out of the closing lines and the leave-empty marks (one undo step).
function strokeFor(tool) {
  if (tool === "closing") return { layers: [closing], color: CLOSING_RGB };
  if (tool === "unmark") return { layers: [closing, empty], color: null };
  return { layers: [layer], color: tool === "eraser" ? null : rgbOf(els.picker.value) };
}

function paint(p) {
  const { layers, color } = state.stroke, size = Number(els.size.value);
  for (const l of layers) l.line(state.last.x, state.last.y, p.x, p.y, size, color);
  state.last = p;
}

const hintTool = {
  down(e, p) {
    if (!state.sketch) return false;
    if (e.altKey || state.tool === "picker") {
      if (e.pointerType !== "touch") { pickColor(p, true); return false; }
      state.press = { p, start: p, pick: true }; // a finger picks where it lifts, unless a second one came (a pinch)
      return true;
    }
    if (REGION_TOOLS.includes(state.tool)) {
      if (e.pointerType !== "touch") { regionClick(p); return false; }
      // a finger: a tap takes the region when it lifts (a second finger makes it a pinch, which takes nothing);
      // held still, it shows the region instead
      const press = { p, start: p, held: false, moved: false };
      press.timer = setTimeout(() => { press.held = true; showOutlineAt(press.p); }, HOLD_MS);
      state.press = press;
      return true;
    }
    state.stroke = strokeFor(state.tool);
    history.begin();
    for (const l of state.stroke.layers) l.begin();
    state.last = p;
    paint(p);
    return true;
  },
  move(e, p) {
    const press = state.press;
    if (press) {
      press.p = p;
      if (press.pick) return;
      if (press.held) showOutlineAt(p);
      else if (Math.hypot(p.x - press.start.x, p.y - press.start.y) * view.scale > 12) { press.moved = true; clearTimeout(press.timer); }
      return;
    }
    paint(p);
    dodgePip(e);
    this.hover(e, p);
  },
  up() {
    const press = state.press;
    if (press) {
      state.press = null;
      clearTimeout(press.timer);
      if (press.pick) pickColor(press.p, true);
      else if (press.held) setTimeout(() => { if (!state.press) hideOutline(); }, 1500); // a moment to see it
      else if (!press.moved) regionClick(press.start);
      return;
    }
    for (const l of state.stroke.layers) l.commit();
    history.end();
    state.stroke = null;
  },
  cancel() {
    if (state.press) { clearTimeout(state.press.timer); state.press = null; hideOutline(); return; }
    if (!state.stroke) return;
    for (const l of state.stroke.layers) l.cancel();
    history.end();
    state.stroke = null;
  },
  hover(e, p) {
    if (e.pointerType === "touch" || !state.sketch) return;
    if (REGION_TOOLS.includes(state.tool) && !e.altKey) { showOutlineAt(p); return; }
    if (!hasCursor(state.tool)) return;
    // the brush's outline at its size in sketch pixels, at the current zoom
    const d = Number(els.size.value) * view.scale, at = view.toStage(els.stage, p.x, p.y);
    Object.assign(els.cursor.style, { width: `${d}px`, height: `${d}px`, transform: `translate(${at.x - d / 2}px, ${at.y - d / 2}px)` });
    els.cursor.hidden = false;
  },
  leave() { els.cursor.hidden = true; hideOutline(); },
};
view.attach(els.stage, hintTool, () => state.space);

// the result panel: a drag pans, the eyedropper (or Alt+click) takes its color
// (a finger picks where it lifts: a second finger makes it a pinch, which picks nothing)
view.attach(els.resultStage, {
  down(e, p) {
    if (els.result.hidden) return false;
    if (e.pointerType !== "touch") { pickColor(p, false); return false; }
    state.resultPick = p;
    return true;
  },
  move(e, p) { if (state.resultPick) state.resultPick = p; },
  up() { const p = state.resultPick; state.resultPick = null; if (p) pickColor(p, false); },
  cancel() { state.resultPick = null; },
}, (e) => state.space || !(state.tool === "picker" || e.altKey));

for (const s of [els.stage, els.resultStage]) {
  s.addEventListener("pointerenter", () => { state.overStage = true; });
  s.addEventListener("pointerleave", () => { state.overStage = false; });
}

/** After any change of the work (hints, closing lines, marks, gap): the buttons, the result, the autosave. */
function workChanged() {
  els.undo.disabled = !history.canUndo();
  els.redo.disabled = !history.canRedo();
  els.clear.disabled = !state.sketch;
  els.clearMarks.disabled = !state.sketch || !(closing.hasPixels() || empty.hasPixels());
  els.saveHints.disabled = !state.sketch || !(layer.hasHints() || closing.hasPixels() || empty.hasPixels() || state.gap !== "auto" ||
                                               state.variant !== 0 || state.reference !== null);
}
layer.addEventListener("change", () => { workChanged(); recolor.changed(); autosave.changed("hints"); });
closing.addEventListener("change", () => { // new walls: new regions
  workChanged(); recolor.changed(); autosave.changed("closing");
  regionsChanged();
});
empty.addEventListener("change", () => { workChanged(); recolor.changed(); autosave.changed("empty"); showMarks(); });
for (const l of [layer, closing, empty]) l.addEventListener("reset", workChanged);
history.addEventListener("change", workChanged);
els.undo.addEventListener("click", () => history.undo());
els.redo.addEventListener("click", () => history.redo());
els.clear.addEventListener("click", () => layer.clear());
els.clearMarks.addEventListener("click", () => {
  history.begin();
  closing.clear();
  empty.clear();
  history.end();
});

// ------------------------------------------------------------------ regions: the map for Fill, the gap, the previews
/** The region map asked for now: this sketch, at this gap, with these closing lines. */
const regionKey = () => `${state.version}:${state.gap}:${closing.hasPixels() ? closing.revision : "none"}`;

/** The region map of the current sketch, gap and closing lines (asked for once per key; the last few kept). */
function regionMap() {
  const key = regionKey();
  if (!state.maps.has(key)) {
    const form = new FormData();
    form.append("sketch", state.sketch, `${state.name}.png`);
    if (state.gap !== "auto") form.append("gap", String(state.gap));
    const { width, height } = state, lines = closing.hasPixels() ? closing.toPNG() : null;
    const promise = Promise.resolve(lines).then((png) => {
      if (png) form.append("closing", png, "closing.png");
      return post("/api/v1/regions", form, { what: "regions", onBusy: busyNotice });
    }).then(async (r) => {
      const map = await RegionMap.fromPNG(await r.blob());
      if (map.width !== width || map.height !== height) throw new Error(`fill: the region map is ${map.width}×${map.height}, not ${width}×${height}`);
      const used = parseInt(r.headers.get("X-Region-Gap"), 10);
      map.gap = Number.isFinite(used) ? used : null; // the gap the server used (auto: what it picked)
      map.key = key;
      map.outlines = new Map(); // `${label}:${thickness}` -> a canvas of the region's box
      return map;
    });
    const entry = { key, version: state.version, promise, ready: false };
    promise.then((map) => { entry.ready = true; entry.map = map; regionsArrived(map); },
                 () => { if (state.maps.get(key) === entry) state.maps.delete(key); }); // the next click tries again
    state.maps.set(key, entry);
    while (state.maps.size > 3) state.maps.delete(state.maps.keys().next().value); // ~4 bytes a pixel each
  }
  const entry = state.maps.get(key);
  state.regions = entry;
  return entry.promise;
}

/** The newest region map at hand without waiting: the current one, else the last one of this sketch. */
function mapAtHand() {
  const entry = state.maps.get(regionKey());
  if (entry && entry.ready) return entry.map;
  const ready = [...state.maps.values()].filter((e) => e.ready && e.version === state.version);
  return ready.length ? ready.at(-1).map : null;
}

function forgetRegions() {
  clearTimeout(state.regionsTimer);
  state.maps.clear();
  state.regions = null;
  state.paper = null;
  state.usedGap = null;
  state.hovered = 0;
  hideOutline();
  els.gapCanvas.hidden = true;
  els.gapCanvas.dataset.key = "";
  showMarks();
}

/** The gap or the closing lines changed: ask for the new regions after a pause (a slider drag costs one). */
function regionsChanged() {
  clearTimeout(state.regionsTimer);
  state.hovered = 0;
  if (!state.sketch) return;
  const wanted = previewOn() || REGION_TOOLS.includes(state.tool);
  if (wanted) state.regionsTimer = setTimeout(() => regionMap().catch(reportError), 250);
}

function regionsArrived(map) {
  if (map.key !== regionKey()) return;
  showGapValue();
  if (previewOn()) showGapPreview();
  if (state.hoverAt) showOutlineAt(state.hoverAt);
}

async function regionClick(p) {
  const version = state.version, tool = state.tool, color = rgbOf(els.picker.value);
  let regions;
  const current = state.maps.get(regionKey()), waiting = !(current && current.ready);
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
  if (tool === "empty") return toggleEmpty(regions, label, p);
  layer.begin();
  layer.fillRegion(regions, label, color);
  layer.commit();
}

/** A leave-empty click: a mark (3×3 px, inside the region) on a region without one; on one with marks, they go. */
function toggleEmpty(regions, label, p) {
  empty.begin();
  if (!empty.clearRegion(regions, label)) {
    const x = Math.floor(p.x), y = Math.floor(p.y);
    empty.fillRegion(regions, label, EMPTY_RGB, [x - 1, y - 1, x + 1, y + 1]);
  }
  empty.commit();
}

/** A crossed marker over each leave-empty mark, at a constant size on screen. */
function showMarks() {
  const centers = state.sketch && empty.hasPixels() ? markCenters(empty.data, empty.width) : [];
  els.marks.replaceChildren(...centers.map(({ x, y }) => {
    const m = document.createElement("div");
    m.className = "empty-mark";
    Object.assign(m.style, { left: `${x}px`, top: `${y}px` });
    return m;
  }));
}

// the gap: "auto" (the slider's left end, -1) or 0..max px
function setGap(gap, changed = true) {
  gap = gap === "auto" || gap === null || gap === undefined || gap < 0 ? "auto" : Math.min(state.maxGap, Math.max(0, Math.round(Number(gap))));
  if (Number.isNaN(gap)) gap = "auto";
  const same = gap === state.gap;
  state.gap = gap;
  els.gap.value = String(gap === "auto" ? -1 : gap);
  els.gap.setAttribute("aria-valuetext", gap === "auto" ? "auto" : `${gap} px`);
  showGapValue();
  if (!changed || same) return;
  workChanged();
  recolor.changed();
  autosave.changed("settings");
  regionsChanged();
}

function showGapValue() {
  if (state.gap !== "auto") { els.gapValue.textContent = `${state.gap} px`; return; }
  const entry = state.maps.get(regionKey());
  const used = entry && entry.ready ? entry.map.gap : state.usedGap;
  els.gapValue.textContent = used === null || used === undefined ? "auto" : `auto: ${used} px`;
}

els.gap.addEventListener("input", () => {
  state.peeking = true; // the preview is wanted: the new gap's regions are asked for after the pause
  setGap(Number(els.gap.value));
  peekGap();
});
els.gap.addEventListener("pointerdown", () => { state.gapHeld = true; peekGap(); });
for (const t of ["pointerup", "pointercancel", "change"]) els.gap.addEventListener(t, () => { state.gapHeld = false; peekGap(); });

/** While the gap slider moves (and a moment after), the preview shows. */
function peekGap() {
  clearTimeout(state.peekTimer);
  state.peeking = true;
  if (state.sketch) { if (!mapAtHand()) regionMap().catch(reportError); showGapPreview(); } // a new gap's map: regionsChanged
  if (!state.gapHeld) state.peekTimer = setTimeout(() => { state.peeking = false; showGapPreview(); }, 1500);
}

const previewOn = () => Boolean(state.sketch) && (els.regionsToggle.checked || state.peeking);
els.regionsToggle.addEventListener("change", () => {
  if (els.regionsToggle.checked && state.sketch) regionMap().catch(reportError);
  showGapPreview();
});

/** Draw (or hide) the gap preview: the borders of the regions at hand that run through paper. */
function showGapPreview() {
  const map = previewOn() ? mapAtHand() : null;
  if (!map) { els.gapCanvas.hidden = true; return; }
  if (!state.paper || state.paper.version !== state.version) state.paper = { version: state.version, mask: paperMask(els.sketchImg) };
  const radius = Math.max(0, Math.min(8, Math.round(0.7 / view.scale - 0.5))); // about 1.5 screen px wide at any zoom
  const key = `${map.key}:${closing.revision}:${radius}`;
  if (els.gapCanvas.dataset.key !== key) {
    const { image, count } = closingLines(map, state.paper.mask, closing.hasPixels() ? closing.data : null, radius);
    els.gapCanvas.width = map.width;
    els.gapCanvas.height = map.height;
    els.gapCanvas.getContext("2d").putImageData(image, 0, 0);
    els.gapCanvas.dataset.key = key;
    els.gapCanvas.dataset.count = String(count);
  }
  els.gapCanvas.hidden = false;
}

/** Outline the region under sketch point p (the one a click takes), from the map at hand. */
function showOutlineAt(p) {
  state.hoverAt = p;
  const map = mapAtHand();
  if (!map) { if (state.sketch && REGION_TOOLS.includes(state.tool)) regionMap().catch(() => {}); return; }
  const label = map.labelAt(p.x, p.y);
  const thickness = Math.max(1, Math.min(12, Math.round(1.5 / view.scale)));
  const key = `${label}:${thickness}`;
  if (!label) return hideOutline();
  if (state.hovered === label && els.outlineCanvas.dataset.key === `${map.key}|${key}` && !els.outlineCanvas.hidden) return;
  let c = map.outlines.get(key);
  if (!c) {
    const o = outline(map, label, thickness);
    if (!o) return hideOutline();
    c = document.createElement("canvas");
    c.width = o.image.width; c.height = o.image.height;
    c.getContext("2d").putImageData(o.image, 0, 0);
    c.box = o.box;
    map.outlines.set(key, c);
    let bytes = 0; // keep up to ~64 MB of outlines per map, the newest
    for (const [k, v] of [...map.outlines].reverse()) { bytes += v.width * v.height * 4; if (bytes > 64e6) map.outlines.delete(k); }
  }
  const [left, top] = c.box, o = els.outlineCanvas;
  o.width = c.width; o.height = c.height;
  o.getContext("2d").drawImage(c, 0, 0);
  Object.assign(o.style, { left: `${left}px`, top: `${top}px`, width: `${c.width}px`, height: `${c.height}px` });
  o.dataset.key = `${map.key}|${key}`;
  o.dataset.label = String(label);
  o.hidden = false;
  state.hovered = label;
}

function hideOutline() {
  state.hovered = 0;
  state.hoverAt = null;
  els.outlineCanvas.hidden = true;
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
  els.sketchView.style.setProperty("--unscale", String(1 / view.scale)); // the markers keep their size on screen
  clearTimeout(state.zoomTimer); // the previews' line widths follow the zoom, once it settles
  state.zoomTimer = setTimeout(() => {
    if (!els.gapCanvas.hidden) showGapPreview();
    if (!els.outlineCanvas.hidden && state.hoverAt) { const p = state.hoverAt; state.hovered = 0; showOutlineAt(p); }
    if (!els.checkCanvas.hidden) showChecks();
    if (outlineRadius() !== state.outline.radius) outlineLater(null);
  }, 200);
});
els.zoomIn.addEventListener("click", () => view.zoomBy(1.25));
els.zoomOut.addEventListener("click", () => view.zoomBy(0.8));
els.zoomFit.addEventListener("click", () => view.fit());
els.zoomActual.addEventListener("click", () => view.zoomTo(1));

// ------------------------------------------------------------------ the result: live re-color, style, before/after
const currentStyle = () => els.styles.find((r) => r.checked).value;

/** What a result of the page as it is now, colored with palette `variant`, is made from: its key (the same
 * state, the same key: the cache's), and what its request sends. `base`: the key without the variant. */
function describeFor(variant) {
  if (!state.sketch) return null;
  const useHints = els.hintsToggle.checked && layer.hasHints();
  const style = currentStyle(), gap = state.gap;
  const useClosing = closing.hasPixels(), useEmpty = empty.hasPixels();
  // the key of a sketch without regions work or a variant stays as it was: `${version}:${hints}:${style}`
  const reference = state.reference;
  const work = (gap !== "auto" ? `:g${gap}` : "") + (useClosing ? `:c${closing.revision}` : "") + (useEmpty ? `:e${empty.revision}` : "") +
    (reference ? `:r${reference.version}` : "");
  const base = `${state.version}:${useHints ? layer.revision : "none"}:${style}${work}`;
  // the region map the result's region ids (X-Reference-Check) are labels of: regionKey() when it was made
  const regions = `${state.version}:${gap}:${useClosing ? closing.revision : "none"}`;
  return { key: base + (variant ? `:v${variant}` : ""), base, useHints, style, gap, useClosing, useEmpty, variant, reference, regions,
           version: state.version };
}

const recolor = new Recolorer({
  describe: () => describeFor(state.variant),
  async request(job, signal) {
    // the layers as they are now, at the sketch's size
    const pngs = [job.useHints && layer.toPNG(), job.useClosing && closing.toPNG(), job.useEmpty && empty.toPNG()];
    const [hints, lines, marks] = await Promise.all(pngs.map((p) => p || null));
    const what = { hints, closing: lines, empty: marks, style: job.style, gap: job.gap, variant: job.variant, reference: job.reference };
    remember(sent, job.key, what, 48); // for the downloads of this result
    let response;
    try {
      response = await post("/api/v1/colorize", workForm(what), { what: "colorize", signal, onBusy: busyNotice });
    } catch (e) {
      // a reference the server cannot use (line art, unreadable, too large): it goes, so the strokes color again
      if (job.reference && /^colorize: reference\b/.test(e.message)) {
        const message = `${e.message} (the reference is removed)`;
        if (state.reference === job.reference) setTimeout(() => { clearReference({ quiet: true }); showError(message, true); }, 0);
        throw new Aborted(message); // said once the reference is gone (and kept over the result that follows)
      }
      throw e;
    }
    if (response.headers.get("X-Sketch-Warning") === "colored" && job.version === state.version) {
      state.coloredSketch = job.version; // shown with the result (show() below)
    }
    const used = parseInt(response.headers.get("X-Region-Gap"), 10); // where the server says which gap it used
    if (Number.isFinite(used) && job.gap === "auto") { state.usedGap = used; showGapValue(); }
    remember(palettes, job.key, paletteOf(response.headers.get("X-Palette")), 48);
    if (job.reference) {
      const info = referenceInfoOf(response.headers);
      remember(matches, job.key, info, 48);
      if (info && info.palette.length && !job.reference.palette) { job.reference.palette = info.palette; showReference(); }
    }
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
    state.shownJob = job;
    showPalette(job.reference ? null : job.key); // with a reference its colors are the ones on show (its slot's swatches)
    showReferenceResult(job);
    if (!els.notice.dataset.news) hideNotice();
    if (!els.error.dataset.keep) clearError();
    placeCompareLine();
    showSketchWarning(state.coloredSketch === state.version && state.warningDismissed !== state.version);
    showPip();
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
  showPip();
  const job = recolor.describe(); // thumbnails made from other hints (or style, gap...) than those on show now
  els.variants.classList.toggle("stale", Boolean(job && els.variants.dataset.base && els.variants.dataset.base !== job.base));
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
  els.hintOutline.classList.toggle("off", !els.hintsToggle.checked);
  els.hintsToggle.nextElementSibling.textContent = els.hintsToggle.checked ? "Hints on" : "Hints off";
  resultChoiceChanged();
});
for (const r of els.styles) r.addEventListener("change", resultChoiceChanged);

function placeCompareLine() { // the result left of the line (at the slider's value), the sketch under it to the right
  const v = Number(els.compare.value);
  els.result.style.clipPath = els.checkCanvas.style.clipPath = v >= 100 ? "" : `inset(0 ${100 - v}% 0 0)`;
  const show = v < 100 && !els.result.hidden && state.width > 0;
  els.compareLine.hidden = !show;
  if (show) els.compareLine.style.transform = `translateX(${view.toStage(els.resultStage, (state.width * v) / 100, 0).x}px)`;
}
els.compare.addEventListener("input", placeCompareLine);

// ------------------------------------------------------------------ the result where a phone user looks
/** On a narrow screen (the CSS shows it there only), while the result panel is out of view: a small copy of the
 * result over the sketch's corner, dimmed while out of date. */
function showPip() {
  const src = els.result.getAttribute("src");
  const show = Boolean(src) && !els.result.hidden && !state.resultInView;
  els.pip.hidden = !show;
  if (!show) return;
  if (els.pipImg.getAttribute("src") !== src) els.pipImg.src = src;
  els.pip.classList.toggle("stale", recolor.stale);
  els.pip.classList.toggle("busy", recolor.busy);
}
/** A stroke that runs under the small result: it moves to the other top corner, out of the way. */
function dodgePip(e) {
  if (els.pip.hidden || els.pip.classList.contains("large")) return;
  const r = els.pip.getBoundingClientRect();
  if (e.clientX >= r.left - 8 && e.clientX <= r.right + 8 && e.clientY >= r.top - 8 && e.clientY <= r.bottom + 8) {
    els.pip.classList.toggle("left");
  }
}
els.pip.addEventListener("click", () => {
  const large = els.pip.classList.toggle("large");
  els.pip.setAttribute("aria-expanded", String(large));
  els.pip.setAttribute("aria-label", large ? "The result: tap to make it small again" : "The result, small: tap to see it larger");
});

/** The server said the sketch looks like a colored picture: say so near the result, with Extract sketch. On a
 * phone the notice stands above the sketch (where the small result is), else over the result. */
function showSketchWarning(show) {
  els.sketchWarning.hidden = !show;
  els.extractBtn.classList.toggle("suggest", show);
  placeSketchWarning();
}
function placeSketchWarning() {
  const home = PHONE.matches ? els.stage.parentElement : els.resultStage;
  if (els.sketchWarning.parentElement === home) return;
  if (PHONE.matches) home.insertBefore(els.sketchWarning, els.stage); else home.appendChild(els.sketchWarning);
}
PHONE.addEventListener("change", placeSketchWarning);
placeSketchWarning();
els.warningExtract.addEventListener("click", extractSketch);
els.warningClose.addEventListener("click", () => { state.warningDismissed = state.version; showSketchWarning(false); });

// ------------------------------------------------------------------ the hints' display outline
// A light outline around dark hints and a gray one around near-white ones (which the multiply hides), about 1.5
// screen px wide at any zoom, drawn again around what a stroke changes at the next frame (hints.js drawOutline).
const outlineRadius = () => Math.max(1, Math.min(13, Math.round(1.5 / view.scale)));
function outlineLater(rect) {
  const o = state.outline; // o.rect: undefined (nothing to draw), null (all of it) or the box [x, y, w, h] to draw
  if (rect === null || o.rect === null) o.rect = null;
  else if (o.rect === undefined) o.rect = rect;
  else {
    const [a, b, c, d] = o.rect, [x, y, w, h] = rect, x0 = Math.min(a, x), y0 = Math.min(b, y);
    o.rect = [x0, y0, Math.max(a + c, x + w) - x0, Math.max(b + d, y + h) - y0];
  }
  if (o.frame) return;
  o.frame = requestAnimationFrame(() => {
    const box = o.rect, radius = outlineRadius();
    o.frame = 0;
    o.rect = undefined;
    drawOutline(els.hintOutline, layer, radius, radius === o.radius ? box : null);
    o.radius = radius;
  });
}
layer.addEventListener("paint", (e) => outlineLater(e.detail));
layer.addEventListener("reset", () => outlineLater(null));

// ------------------------------------------------------------------ palette variants and the palette on show
// With a model that names materials (hair, skin, clothing...), each material of a sketch without hints takes one
// color of a palette from the training pictures; `variant` picks which (0: the one closest to the model's own
// colors). Variants colors the sketch as it is (hints and all) with VARIANTS, one request after another, and
// shows them as thumbnails; a click makes one the variant every later re-color sends, kept with the sketch.

/** The variant every re-color asks for (a whole number, 0..max; anything else: 0). */
function setVariant(v, changed = true) {
  v = Number(v);
  if (!Number.isInteger(v) || v < 0 || v > state.maxVariant) v = 0;
  const same = v === state.variant;
  state.variant = v;
  els.variantsBtn.textContent = v ? `Variants: ${v}` : "Variants";
  for (const b of els.variants.querySelectorAll("[data-variant]")) b.setAttribute("aria-pressed", String(Number(b.dataset.variant) === v));
  if (!changed || same) return;
  workChanged();
  autosave.changed("settings");
  resultChoiceChanged(); // a thumbnail's result is cached: it shows at once
}

/** The thumbnails go (a new sketch, start over), and their requests under way with them. */
function forgetVariants() {
  if (state.variantsRun) state.variantsRun.controller.abort();
  state.variantsRun = null;
  els.variants.replaceChildren();
  els.variants.hidden = true;
  delete els.variants.dataset.base;
  els.variants.classList.remove("stale");
  els.variantsBtn.setAttribute("aria-expanded", "false");
}

async function makeVariants() {
  if (!state.sketch) return showError("load a sketch first");
  clearError();
  forgetVariants();
  const run = { controller: new AbortController() };
  state.variantsRun = run;
  const thumbs = VARIANTS.map((v) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "variant";
    b.dataset.variant = String(v);
    b.setAttribute("aria-pressed", String(v === state.variant));
    b.title = v === 0 ? "Variant 0: the palette closest to the model's own colors" : `Variant ${v}: another palette`;
    b.setAttribute("aria-label", `palette variant ${v}`);
    const img = document.createElement("img");
    img.alt = "";
    img.draggable = false;
    const label = document.createElement("span");
    label.textContent = String(v);
    b.append(img, label);
    b.addEventListener("click", () => setVariant(v));
    return b;
  });
  els.variants.replaceChildren(...thumbs);
  els.variants.dataset.base = describeFor(0).base;
  els.variants.hidden = false;
  els.variantsBtn.setAttribute("aria-expanded", "true");
  els.variantsBtn.disabled = true;
  showRecolorState();
  try {
    for (const [i, v] of VARIANTS.entries()) { // one after another: the server's bound is shared with live re-color
      const url = await recolor.fetch(describeFor(v), run.controller.signal);
      if (state.variantsRun !== run) return;
      thumbs[i].querySelector("img").src = url;
      thumbs[i].dataset.ready = "1";
    }
  } catch (e) {
    if (state.variantsRun === run) reportError(e);
  } finally {
    if (state.variantsRun === run) {
      state.variantsRun = null;
      showVariantsButton();
    }
  }
}
els.variantsBtn.addEventListener("click", makeVariants);

/** X-Palette's JSON as {name: "#rrggbb"} (colors only as the server writes them), or null. */
function paletteOf(header) {
  if (!header) return null;
  try {
    const p = JSON.parse(header);
    const entries = Object.entries(p || {}).filter(([, hex]) => /^#[0-9a-f]{6}$/i.test(hex));
    return entries.length ? Object.fromEntries(entries) : null;
  } catch (_) {
    return null;
  }
}

/** The palette of result `key` as labelled chips under the result; a click paints with the color. */
function showPalette(key) {
  const pal = key ? palettes.get(key) : null;
  if (!pal) { els.palette.hidden = true; els.palette.replaceChildren(); return; }
  const title = document.createElement("span");
  title.className = "palette-title";
  title.textContent = "Palette";
  els.palette.replaceChildren(title, ...Object.entries(pal).map(([name, hex]) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.dataset.color = hex;
    b.title = `${name}: ${hex}; click to paint with it`;
    const dot = document.createElement("span");
    dot.className = "chip-color";
    dot.style.backgroundColor = hex;
    b.append(dot, name);
    b.addEventListener("click", () => { selectColor(hex); notice(`Painting with the ${name} color ${hex}`, 1500); });
    return b;
  }));
  els.palette.hidden = false;
}

// ------------------------------------------------------------------ the reference: a colored drawing of the same character
// With a reference every re-color sends it (`reference`), and the server gives the sketch's regions the colors of
// the matching parts (flat style only: Soft is off meanwhile, and Variants, whose palettes it replaces). Its answer
// says how: X-Reference-Fit, X-Reference-Palette (the reference's colors: swatches the brush takes) and
// X-Reference-Check (the regions matched with little confidence: outlined on the result, from the region map).
// The reference stays for the next sketch (the same character in the next panel), is kept by autosave and
// rides in Save hints.

/** Use `blob` as the reference: checked like a sketch (an image within the server's limits), shown as a
 * thumbnail. `restoring`: brought back with the sketch (no re-color, nothing to save). Resolves with whether
 * it is set. */
async function setReference(blob, name, { restoring = false, quiet = false } = {}) {
  name = name || "reference";
  let url;
  try {
    ({ url } = await checkedImage(blob, name));
  } catch (e) {
    showError(`${name} cannot be the reference: ${e.message}`);
    return false;
  }
  if (state.reference) URL.revokeObjectURL(state.reference.url);
  state.references += 1;
  state.reference = { blob, name, url, version: state.references, palette: null };
  forgetVariants(); // made without it
  showReference();
  if (restoring) return true;
  autosave.changed("reference");
  workChanged();
  if (!quiet) news(state.sketch ? `Coloring with the colors of ${name}` : `${name} is the reference: open a sketch of the same character`);
  resultChoiceChanged();
  return true;
}

/** No reference: the model's colors again (the results with and without it are both kept). */
function clearReference({ quiet = false } = {}) {
  if (!state.reference) return;
  URL.revokeObjectURL(state.reference.url);
  state.reference = null;
  showReference();
  autosave.changed("reference");
  workChanged();
  if (!quiet) news("The reference is removed: the model colors again");
  resultChoiceChanged();
}

/** The reference's slot (thumbnail, name, its colors), and what it rules out (Soft, Variants). */
function showReference() {
  const ref = state.reference;
  els.reference.hidden = !ref;
  els.referenceLabel.textContent = ref ? "Reference ✓" : "Reference…";
  els.referenceLabel.classList.toggle("on", Boolean(ref));
  if (ref) {
    if (els.referenceImg.getAttribute("src") !== ref.url) els.referenceImg.src = ref.url;
    els.referenceName.textContent = ref.name;
    els.referenceName.title = ref.name;
  } else {
    els.referenceImg.removeAttribute("src");
  }
  showReferencePalette(ref && ref.palette);
  // a reference colors flat: Soft waits until it goes
  const soft = els.styles.find((r) => r.value === "soft"), flat = els.styles.find((r) => r.value === "flat");
  if (ref && soft.checked) {
    flat.checked = true;
    notice("A reference colors in the flat style: Soft is off while it is set", 5000, true);
  }
  soft.disabled = Boolean(ref);
  soft.parentElement.title = ref ? "A reference colors in the flat style only: remove it to color soft" : "";
  showVariantsButton();
}

/** The reference's colors (largest area first) as swatches; a click gives the brush that color. */
function showReferencePalette(colors) {
  els.referencePalette.replaceChildren(...(colors || []).map((hex) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "swatch";
    b.style.backgroundColor = hex;
    b.dataset.color = hex;
    b.title = `${hex}, a color of the reference: click to paint with it`;
    b.setAttribute("aria-label", `reference color ${hex}`);
    b.setAttribute("aria-pressed", String(hex === els.picker.value));
    b.addEventListener("click", () => { selectColor(hex); notice(`Painting with the reference's ${hex}`, 1500); });
    return b;
  }));
  els.referencePalette.hidden = !(colors && colors.length);
}

/** Variants is for the model's own palettes: off while a reference colors the sketch, or its requests run. */
function showVariantsButton() {
  els.variantsBtn.disabled = !state.sketch || Boolean(state.variantsRun) || Boolean(state.reference);
  els.variantsBtn.title = state.reference ? "Variants color with the model's palettes: remove the reference to use them"
    : "Color the sketch with four palettes (V): hair, skin, clothes as they go together in the training pictures; click one to keep it";
}

/** What a colorize answer says of its reference: {fit, palette, check: [region ids], count, truncated}, or null. */
function referenceInfoOf(headers) {
  const fit = parseFloat(headers.get("X-Reference-Fit"));
  if (!Number.isFinite(fit)) return null;
  let palette = [];
  try {
    palette = (JSON.parse(headers.get("X-Reference-Palette") || "[]") || []).filter((h) => /^#[0-9a-f]{6}$/i.test(h));
  } catch (_) { /* none */ }
  const check = (headers.get("X-Reference-Check") || "").split(",").map((x) => parseInt(x, 10)).filter((n) => n > 0);
  const count = parseInt(headers.get("X-Reference-Check-Count"), 10);
  return { fit, palette, check, count: Number.isFinite(count) ? count : check.length, truncated: headers.get("X-Reference-Check-Truncated") === "1" };
}

/** How the result on show matched its reference: the fit, the legend "N regions to check", the outlines. */
function showReferenceResult(job) {
  const info = job && job.reference ? matches.get(job.key) : null;
  if (!info) {
    els.referenceFit.textContent = "";
    els.checkLegend.hidden = true;
    els.checkCanvas.hidden = true;
    return;
  }
  const bad = info.fit < state.minFit;
  els.referenceFit.textContent = bad ? `fit ${info.fit.toFixed(2)}: another drawing? its colors are used only where they fit`
    : `fit ${info.fit.toFixed(2)}`;
  els.referenceFit.classList.toggle("bad", bad);
  els.referenceFit.title = "How well the reference's lines lie over the sketch's once moved, scaled and turned (0-1)";
  const n = info.count;
  els.checkText.textContent = n === 0 ? "Every region matched the reference" : `${n} region${n === 1 ? "" : "s"} to check` +
    (info.truncated ? ` (the first ${info.check.length} outlined)` : "");
  els.checkToggle.disabled = n === 0;
  els.checkLegend.classList.toggle("none", n === 0);
  els.checkLegend.hidden = false;
  showChecks();
}

/** Outline the regions to check of the result on show over it (dashed), from the region map its ids are labels of. */
function showChecks() {
  const job = state.shownJob, info = job && job.reference ? matches.get(job.key) : null;
  const c = els.checkCanvas;
  if (!info || !info.check.length || !els.checkToggle.checked) { c.hidden = true; return; }
  const entry = state.maps.get(job.regions);
  if (!(entry && entry.ready)) {
    c.hidden = true;
    if (job.regions === regionKey()) { // the map of what is on the page now: ask for it (once), then draw
      regionMap().then(() => { if (state.shownJob === job) showChecks(); }, () => {});
    }
    return;
  }
  const map = entry.map;
  if (map.width !== state.width || map.height !== state.height) { c.hidden = true; return; }
  // about 4 screen px wide (half of it on the line: a region's edge runs along the middle of its outline), dashes of 8
  const radius = Math.max(2, Math.min(24, Math.round(4 / view.scale)));
  const dash = Math.max(3, Math.round(8 / view.scale));
  const key = `${job.key}|${map.key}|${radius}`;
  if (c.dataset.key !== key) {
    const { image, count } = checkOutlines(map, info.check, radius, dash);
    c.width = map.width;
    c.height = map.height;
    c.getContext("2d").putImageData(image, 0, 0);
    c.dataset.key = key;
    c.dataset.count = String(count);
    c.dataset.regions = info.check.join(",");
  }
  c.hidden = false;
}
els.checkToggle.addEventListener("change", showChecks);

els.referenceInput.addEventListener("change", () => {
  const f = els.referenceInput.files[0];
  els.referenceInput.value = ""; // the same file again must trigger a change
  if (f) setReference(f, f.name);
});
els.referenceClear.addEventListener("click", () => clearReference());

/** A reference dropped (a file, or an image link fetched through the server) on the result or the slot. */
async function dropReference(e) {
  e.preventDefault();
  const f = e.dataTransfer.files && e.dataTransfer.files[0];
  if (f) return setReference(f, f.name);
  const uri = (e.dataTransfer.getData("text/uri-list") || e.dataTransfer.getData("text/plain") || "").split("\n")[0].trim();
  if (!/^https?:\/\//i.test(uri)) return showError("drop an image file or an image link to use it as the reference");
  const form = new FormData();
  form.append("url", uri);
  notice("Fetching the reference…", 0);
  try {
    const blob = await (await post("/api/v1/fetch", form, { what: "reference URL", onBusy: busyNotice })).blob();
    hideNotice();
    await setReference(blob, decodeURIComponent(uri.split(/[?#]/)[0].split("/").pop() || "reference"));
  } catch (err) {
    reportError(err);
  }
}
for (const target of [els.resultStage, els.reference, els.referenceLabel]) {
  ["dragenter", "dragover"].forEach((t) => target.addEventListener(t, (e) => {
    e.preventDefault();
    els.resultStage.classList.add("dragging");
  }));
  target.addEventListener("dragleave", () => els.resultStage.classList.remove("dragging"));
  target.addEventListener("drop", (e) => { els.resultStage.classList.remove("dragging"); dropReference(e); });
}

// ------------------------------------------------------------------ downloads: the result on show, its layers, OpenRaster
// Every download is of the result on show: the layers and the .ora are asked for with the hints and style that
// result was made from (a stale result gives its own layers, not those of hints painted since). The result PNG
// is the one already here; the layers come in one request for the three, the .ora in one; both are kept.
const sent = new Map(); // result key -> {hints, closing, empty: Blob | null, style, gap, variant, reference}: what its request carried
const palettes = new Map(); // result key -> its palette {material name: "#rrggbb"} (the X-Palette header), or null
const matches = new Map(); // result key -> how it matched its reference {fit, palette, check, count, truncated}, or null
const extras = new Map(); // `${key}|${format}` -> Promise of the layers {color, lines, flats} or the .ora Blob

/** Keep `value` under `key` in `map`, the oldest dropped beyond `size`. */
function remember(map, key, value, size) {
  map.delete(key);
  map.set(key, value);
  while (map.size > size) map.delete(map.keys().next().value);
}

/** The colorize form of a result: the sketch, and the hints, style, gap, closing lines, marks, palette variant and
 * reference it was made with. */
function workForm({ hints, closing: lines, empty: marks, style, gap, variant, reference }) {
  const form = new FormData();
  form.append("sketch", state.sketch, `${state.name}.png`);
  if (hints) form.append("hints", hints, "hints.png");
  form.append("style", style);
  if (gap !== undefined && gap !== "auto") form.append("gap", String(gap));
  if (variant) form.append("variant", String(variant));
  if (lines) form.append("closing", lines, "closing.png");
  if (marks) form.append("empty", marks, "empty.png");
  if (reference) form.append("reference", reference.blob, reference.name || "reference.png");
  return form;
}

function forgetDownloads() {
  sent.clear();
  extras.clear();
  palettes.clear();
  matches.clear();
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
    const form = workForm(sent.get(key));
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
    saveFile(await workPNG(), downloadName("hints"));
  } catch (e) {
    showError(e.message);
  }
});

/** The hint layer as a PNG; with closing lines, leave-empty marks or a chosen gap, those ride along in it
 * (saved.js pngWithWork: chunks that every other reader skips, so the file stays the CLI's --hints). */
async function workPNG() {
  const hints = await layer.toPNG();
  if (!closing.hasPixels() && !empty.hasPixels() && state.gap === "auto" && state.variant === 0 && !state.reference) return hints;
  return pngWithWork(hints, { closing: closing.hasPixels() ? await closing.toPNG() : null,
                              empty: empty.hasPixels() ? await empty.toPNG() : null, gap: state.gap, variant: state.variant,
                              reference: state.reference && { blob: state.reference.blob, name: state.reference.name } });
}

/** Load the regions work a hints file carries (null: a plain hint layer, the rest stays as it is), as part
 * of the open history step. Returns what came, for the message. */
async function loadWork(work) {
  if (!work) return [];
  const came = [];
  for (const [l, blob, what] of [[closing, work.closing, "closing lines"], [empty, work.empty, "leave-empty marks"]]) {
    if (blob) { await l.fromPNG(blob, { stretch: true }); came.push(what); } else if (l.hasPixels()) l.clear();
  }
  if (work.gap !== state.gap) setGap(work.gap);
  if (work.gap !== "auto") came.push(`gap ${state.gap} px`);
  if (work.variant !== state.variant) setVariant(work.variant);
  if (work.variant) came.push(`palette variant ${state.variant}`);
  if (work.reference && await setReference(work.reference.blob, work.reference.name, { quiet: true })) came.push("reference");
  return came;
}

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
    const work = await workOfPNG(f);
    let came;
    history.begin(); // one step: Undo takes it back
    try {
      await layer.fromPNG(f, { stretch: true, requireTransparent: true });
      came = await loadWork(work);
    } finally {
      history.end();
    }
    const also = came.length ? ` (with its ${came.join(", ")})` : "";
    news(size.width === width && size.height === height ? `Loaded the hints of ${f.name}${also}`
      : `Loaded the hints of ${f.name}${also}, stretched from ${size.width}×${size.height} to the sketch's ${width}×${height}`);
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
  const lines = closing.hasPixels() || empty.hasPixels() ? " and closing lines" : "";
  const ref = state.reference ? ", with its reference" : "";
  news((kept.hints ? `Restored your last sketch${lines ? ", hints" : " and hints"}${lines}` : `Restored your last sketch${lines}`) + ref);
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
  forgetVariants();
  recolor.reset();
  forgetDownloads();
  clearError();
  if (state.sketchUrl) URL.revokeObjectURL(state.sketchUrl);
  Object.assign(state, { sketch: null, name: "sketch", width: 0, height: 0, sketchUrl: null,
                         version: state.version + 1, regions: null, resultPixels: null });
  clearReference({ quiet: true }); // nothing is kept: the reference neither
  els.sketchImg.removeAttribute("src");
  els.beforeImg.removeAttribute("src");
  layer.reset(1, 1);
  closing.reset(1, 1);
  empty.reset(1, 1);
  forgetRegions();
  setGap("auto", false);
  setVariant(0, false);
  clearResult();
  els.sketchView.hidden = true;
  els.placeholder.hidden = false;
  els.stage.classList.add("empty");
  els.cursor.hidden = true;
  for (const s of [els.stage, els.resultStage]) s.style.removeProperty("--sketch-ratio");
  for (const b of [els.colorize, els.extractBtn, els.startOver]) b.disabled = true;
  showVariantsButton();
  showSketchWarning(false);
  setStatus("");
  news("Started over: nothing is kept");
}

// ------------------------------------------------------------------ keyboard
const TOOL_KEYS = { b: "brush", f: "fill", e: "eraser", i: "picker", l: "closing", x: "empty", u: "unmark" };
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
    if (k === "z" && !e.shiftKey) history.undo();
    else if ((k === "z" && e.shiftKey) || k === "y") history.redo();
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
  else if ((k === "{" || k === "}") || (e.shiftKey && (k === "[" || k === "]"))) { // the gap, a px at a time
    const up = k === "}" || k === "]", now = state.gap === "auto" ? -1 : state.gap;
    state.peeking = true;
    setGap(Math.max(-1, Math.min(state.maxGap, now + (up ? 1 : -1))));
    peekGap();
  } else if (k === "[" || k === "]") stepSize(k === "]" ? 1 : -1);
  else if (k === "v" && !els.variantsBtn.hidden && !els.variantsBtn.disabled) makeVariants();
  else if (k === "r" && !els.referenceLabel.hidden) els.referenceInput.click();
  else if (k === "g") { els.regionsToggle.checked = !els.regionsToggle.checked; els.regionsToggle.dispatchEvent(new Event("change")); }
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
getJSON("/api/v1/health").then((h) => {
  state.limits = h.limits;
  addLayerDownloads(h.output_layers || []);
  if (h.gap && Number.isFinite(h.gap.max)) { state.maxGap = h.gap.max; els.gap.max = String(h.gap.max); }
  // Variants only where a variant changes something: a model that names materials
  if (h.variants && Number.isInteger(h.variants.max)) state.maxVariant = h.variants.max;
  els.variantsBtn.hidden = !(h.variants && h.variants.materials);
  els.referenceLabel.hidden = !h.reference; // a server without reference coloring
  if (h.reference && Number.isFinite(h.reference.min_fit)) state.minFit = h.reference.min_fit;
}).catch(() => {});
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
window.autopainter = { layer, closing, empty, history, view, recolor, autosave, restored, state, loadSketch, regionMap, setGap,
                       setVariant, makeVariants, setReference, clearReference };
