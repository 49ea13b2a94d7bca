// The hint layer: an RGBA image of the sketch's own pixel size, transparent except where colors are painted.
//
// It is the page's model of the hints: the brush, the eraser and the fill write into `data` (straight RGBA,
// every pixel either transparent or an opaque color, so what is sent is exactly what was painted), a canvas
// shows it, and every edit is one undoable step. `toPNG()` and `fromPNG()` give the layer as the RGBA PNG
// the API takes (`hints` of POST /api/v1/colorize), for saving and restoring it.

export const HINT_ALPHA = 128; // the server's threshold: alpha at or above it is a hint
const TILE = 64; // undo keeps the tiles a step touched, before and after
const MAX_UNDO_STEPS = 100;
const MAX_UNDO_BYTES = 192 * 1024 * 1024;

export class HintLayer extends EventTarget {
  /** @param {HTMLCanvasElement} canvas shows the layer; it is resized to the sketch */
  constructor(canvas) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { willReadFrequently: true });
    this.reset(1, 1);
  }

  get width() { return this.image.width; }
  get height() { return this.image.height; }

  /** A blank layer of width × height (a new sketch): history cleared. */
  reset(width, height) {
    this.image = new ImageData(width, height);
    this.data = this.image.data; // (H, W, 4) straight RGBA, row by row
    this.canvas.width = width;
    this.canvas.height = height;
    this.undoStack = [];
    this.redoStack = [];
    this.step = null;
    this.revision = 0; // names the content: an undo brings the old name back (results are cached by it)
    this.lastRevision = 0;
    this._painted = { revision: 0, value: false };
    this._any = undefined;
    this._emit("reset");
  }

  // ---------------------------------------------------------------- edits: begin(), paint..., commit()
  /** Open an undoable step; edits until commit() (or cancel()) belong to it. */
  begin() {
    if (this.step) this.commit();
    this.step = { tiles: new Map() }; // tile index -> its pixels before the step
  }

  /** Close the step: one undo entry when something changed. Returns whether it did. */
  commit() {
    const step = this.step;
    this.step = null;
    if (!step) return false;
    const entry = { tiles: [], before: this.revision, after: 0, bytes: 0 };
    for (const [index, before] of step.tiles) {
      const after = this._readTile(index);
      if (!sameBytes(before, after)) entry.tiles.push({ index, before, after });
    }
    if (!entry.tiles.length) return false;
    entry.bytes = entry.tiles.reduce((n, t) => n + 2 * t.before.byteLength, 0);
    entry.after = ++this.lastRevision;
    this.revision = entry.after;
    this.undoStack.push(entry);
    this.redoStack = [];
    let bytes = this.undoStack.reduce((n, e) => n + e.bytes, 0);
    while (this.undoStack.length > 1 && (this.undoStack.length > MAX_UNDO_STEPS || bytes > MAX_UNDO_BYTES)) {
      bytes -= this.undoStack.shift().bytes;
    }
    this._emit("step"); // a new undoable step (a History over several layers orders them)
    this._emit("change");
    return true;
  }

  /** Drop the open step's edits (a stroke that turned into a two-finger pinch). */
  cancel() {
    const step = this.step;
    this.step = null;
    if (!step) return;
    for (const [index, before] of step.tiles) this._writeTile(index, before);
  }

  /** A round brush from (x0, y0) to (x1, y1), in sketch pixels; `color` [r, g, b], or null to erase. */
  line(x0, y0, x1, y1, size, color) {
    const r = Math.max(size / 2, 0.75); // at least the pixel under the pointer
    const left = Math.max(0, Math.floor(Math.min(x0, x1) - r)), right = Math.min(this.width - 1, Math.ceil(Math.max(x0, x1) + r));
    const top = Math.max(0, Math.floor(Math.min(y0, y1) - r)), bottom = Math.min(this.height - 1, Math.ceil(Math.max(y0, y1) + r));
    if (left > right || top > bottom) return;
    this._touch(left, top, right, bottom);
    const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy, r2 = r * r, d = this.data, w = this.width;
    const [cr, cg, cb, ca] = color ? [color[0], color[1], color[2], 255] : [0, 0, 0, 0];
    for (let y = top; y <= bottom; y++) {
      const py = y + 0.5;
      for (let x = left; x <= right; x++) {
        const px = x + 0.5; // the pixel's center, against the segment
        let t = len2 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
        if (ex * ex + ey * ey <= r2) {
          const i = (y * w + x) * 4;
          d[i] = cr; d[i + 1] = cg; d[i + 2] = cb; d[i + 3] = ca;
        }
      }
    }
    this._show(left, top, right - left + 1, bottom - top + 1);
  }

  /** Paint every pixel of region `label` of `regions` (a RegionMap) with `color` [r, g, b]; with `inside`,
   * only those within the box [left, top, right, bottom] (inclusive): a mark that stays in its region. */
  fillRegion(regions, label, color, inside = null) {
    let box = regions.box(label);
    if (!box) return;
    if (inside) box = [Math.max(box[0], inside[0]), Math.max(box[1], inside[1]), Math.min(box[2], inside[2]), Math.min(box[3], inside[3])];
    const [left, top, right, bottom] = box;
    if (left > right || top > bottom) return;
    this._touch(left, top, right, bottom);
    const d = this.data, labels = regions.labels, w = this.width;
    for (let y = top; y <= bottom; y++) {
      for (let x = left, i = y * w + left; x <= right; x++, i++) {
        if (labels[i] === label) {
          d[i * 4] = color[0]; d[i * 4 + 1] = color[1]; d[i * 4 + 2] = color[2]; d[i * 4 + 3] = 255;
        }
      }
    }
    this._show(left, top, right - left + 1, bottom - top + 1);
  }

  /** Erase the pixels of region `label` of `regions` that are on; with `inside`, only those within the box
   * [left, top, right, bottom] (inclusive). Returns how many were on. */
  clearRegion(regions, label, inside = null) {
    let box = regions.box(label);
    if (!box) return 0;
    if (inside) box = [Math.max(box[0], inside[0]), Math.max(box[1], inside[1]), Math.min(box[2], inside[2]), Math.min(box[3], inside[3])];
    const [left, top, right, bottom] = box;
    if (left > right || top > bottom) return 0;
    const d = this.data, labels = regions.labels, w = this.width;
    let n = 0;
    for (let y = top; y <= bottom; y++) {
      for (let i = y * w + left, end = y * w + right; i <= end; i++) if (labels[i] === label && d[i * 4 + 3]) n++;
    }
    if (!n) return 0;
    this._touch(left, top, right, bottom);
    for (let y = top; y <= bottom; y++) {
      for (let i = y * w + left, end = y * w + right; i <= end; i++) if (labels[i] === label) d.fill(0, i * 4, i * 4 + 4);
    }
    this._show(left, top, right - left + 1, bottom - top + 1);
    return n;
  }

  /** Whether any pixel is on (alpha above 0): what the API's `closing` and `empty` read. */
  hasPixels() {
    if (this._any === undefined || this._any.revision !== this.revision) {
      let found = false;
      const d = this.data;
      for (let i = 3; i < d.length; i += 4) if (d[i]) { found = true; break; }
      this._any = { revision: this.revision, value: found };
    }
    return this._any.value;
  }

  /** Erase everything, as one undoable step. */
  clear() {
    this.begin();
    this._touch(0, 0, this.width - 1, this.height - 1);
    this.data.fill(0);
    this._show(0, 0, this.width, this.height);
    return this.commit();
  }

  // ---------------------------------------------------------------- history
  canUndo() { return this.undoStack.length > 0; }
  canRedo() { return this.redoStack.length > 0; }
  undo() { return this._travel(this.undoStack, this.redoStack, "before"); }
  redo() { return this._travel(this.redoStack, this.undoStack, "after"); }

  _travel(from, to, side) {
    if (this.step) this.commit();
    const entry = from.pop();
    if (!entry) return false;
    for (const t of entry.tiles) this._writeTile(t.index, t[side]);
    this.revision = entry[side];
    to.push(entry);
    this._emit("change");
    return true;
  }

  // ---------------------------------------------------------------- reading
  /** [r, g, b, a] at sketch pixel (x, y), or null outside the layer. */
  pixel(x, y) {
    x = Math.floor(x); y = Math.floor(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return null;
    const i = (y * this.width + x) * 4;
    return Array.from(this.data.subarray(i, i + 4));
  }

  /** Whether any pixel is a hint (alpha at or above the server's threshold). */
  hasHints() {
    if (this._painted.revision !== this.revision) {
      let found = false;
      const d = this.data;
      for (let i = 3; i < d.length; i += 4) if (d[i] >= HINT_ALPHA) { found = true; break; }
      this._painted = { revision: this.revision, value: found };
    }
    return this._painted.value;
  }

  // ---------------------------------------------------------------- as a PNG (the API's `hints`)
  /** The layer as an RGBA PNG of the sketch's size. */
  toPNG() {
    return new Promise((resolve, reject) => this.canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error("the browser could not encode the hint layer"))), "image/png"));
  }

  /** The same PNG, encoded at once: for the last save as the page goes away, when there is no time to wait. */
  toPNGNow() {
    const url = this.canvas.toDataURL("image/png"), text = atob(url.slice(url.indexOf(",") + 1));
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new Blob([bytes], { type: "image/png" });
  }

  /** Replace the layer with an RGBA image: one undoable step, or with `history: false` the start of a new
   * history (a layer restored after a reload: nothing to undo). Alpha is made 0 or 255 at the server's
   * threshold, so the layer stays exactly what will be sent. An image of another size is refused, or with
   * `stretch` stretched over the layer (nearest neighbour, as the server stretches hints: the colors stay
   * exact). With `requireTransparent` an image without a transparent pixel is refused: it is a picture, not
   * a hint layer (every pixel of it would be a hint). Returns whether the layer changed. */
  async fromPNG(blob, { stretch = false, history = true, requireTransparent = false } = {}) {
    const decode = { premultiplyAlpha: "none", colorSpaceConversion: "none" };
    let bitmap = await createImageBitmap(blob, decode);
    try {
      if (bitmap.width !== this.width || bitmap.height !== this.height) {
        if (!stretch) throw new Error(`the hint layer is ${bitmap.width}×${bitmap.height}; this sketch is ${this.width}×${this.height}`);
        const stretched = await createImageBitmap(bitmap, { ...decode, resizeWidth: this.width, resizeHeight: this.height, resizeQuality: "pixelated" });
        bitmap.close();
        bitmap = stretched;
      }
      const src = readPixels(bitmap);
      if (requireTransparent && !hasTransparent(src)) {
        throw new Error("it has no transparent pixels: a hint layer is transparent except where colors are painted");
      }
      if (history) {
        this.begin();
        this._touch(0, 0, this.width - 1, this.height - 1);
      }
      const d = this.data;
      for (let i = 0; i < d.length; i += 4) {
        const on = src[i + 3] >= HINT_ALPHA;
        d[i] = on ? src[i] : 0; d[i + 1] = on ? src[i + 1] : 0; d[i + 2] = on ? src[i + 2] : 0; d[i + 3] = on ? 255 : 0;
      }
      this._show(0, 0, this.width, this.height);
      if (history) return this.commit();
      this.undoStack = [];
      this.redoStack = [];
      this.revision = ++this.lastRevision;
      this._emit("change");
      return true;
    } finally {
      bitmap.close();
    }
  }

  // ---------------------------------------------------------------- internals
  _emit(type) { this.dispatchEvent(new CustomEvent(type, { detail: { revision: this.revision } })); }

  _show(x, y, w, h) {
    this.ctx.putImageData(this.image, 0, 0, x, y, w, h);
    this.dispatchEvent(new CustomEvent("paint", { detail: [x, y, w, h] })); // what the display's outline redraws
  }

  /** Keep the tiles under the box as they were before the open step first changes them. */
  _touch(left, top, right, bottom) {
    if (!this.step) throw new Error("hint edits belong in begin() ... commit()");
    const cols = Math.ceil(this.width / TILE);
    for (let ty = Math.floor(top / TILE); ty <= Math.floor(bottom / TILE); ty++) {
      for (let tx = Math.floor(left / TILE); tx <= Math.floor(right / TILE); tx++) {
        const index = ty * cols + tx;
        if (!this.step.tiles.has(index)) this.step.tiles.set(index, this._readTile(index));
      }
    }
  }

  _tileBox(index) {
    const cols = Math.ceil(this.width / TILE);
    const x = (index % cols) * TILE, y = Math.floor(index / cols) * TILE;
    return [x, y, Math.min(TILE, this.width - x), Math.min(TILE, this.height - y)];
  }

  _readTile(index) {
    const [x, y, w, h] = this._tileBox(index);
    const out = new Uint8ClampedArray(w * h * 4);
    for (let row = 0; row < h; row++) {
      const start = ((y + row) * this.width + x) * 4;
      out.set(this.data.subarray(start, start + w * 4), row * w * 4);
    }
    return out;
  }

  _writeTile(index, pixels) {
    const [x, y, w, h] = this._tileBox(index);
    for (let row = 0; row < h; row++) this.data.set(pixels.subarray(row * w * 4, (row + 1) * w * 4), ((y + row) * this.width + x) * 4);
    this._show(x, y, w, h);
  }
}

function hasTransparent(rgba) {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] < HINT_ALPHA) return true;
  return false;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------- the outline of hints that look like the sketch
// The hint layer shows multiplied over the sketch, so a black hint over black ink (or on paper, where it looks like
// ink) cannot be seen, nor a white hint on paper. The display draws a thin contrasting outline around such hints,
// outside them, on a canvas of its own: light around dark hints, gray around near-white ones. It is never part of
// the layer: what is sent and saved stays exactly the painted colors.
const DARK_BELOW = 0.1, LIGHT_FROM = 0.8; // relative luminance of a hint that gets an outline
const OUTLINE_DARK = [255, 255, 255], OUTLINE_LIGHT = [122, 122, 122];
const LINEAR = Float32Array.from({ length: 256 }, (_, v) => { const c = v / 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
let scratch = null;

/**
 * Draw onto `out` the outline of `layer`'s dark and near-white hints: `radius` sketch px wide, around them and
 * never over a painted pixel. `rect` [x, y, w, h]: only the outline near these pixels is drawn again (null: all).
 * The ring is made by drawing the hints' mask shifted left, right, up and down (1, 3, 9 px at a time).
 */
export function drawOutline(out, layer, radius, rect = null) {
  const W = layer.width, H = layer.height, r = Math.max(1, Math.min(13, Math.round(radius)));
  if (out.width !== W || out.height !== H) { out.width = W; out.height = H; rect = null; }
  const [x, y, w, h] = rect || [0, 0, W, H];
  const x0 = Math.max(0, x - r), y0 = Math.max(0, y - r), x1 = Math.min(W, x + w + r), y1 = Math.min(H, y + h + r);
  if (x0 >= x1 || y0 >= y1) return;
  // the mask, over the box and a margin of r (what the ring inside the box is made of): each shift below reads
  // s px further out, and the shifts add up to r
  const ex0 = Math.max(0, x0 - r), ey0 = Math.max(0, y0 - r), ex1 = Math.min(W, x1 + r), ey1 = Math.min(H, y1 + r);
  const ew = ex1 - ex0, eh = ey1 - ey0, mask = new ImageData(ew, eh), m = mask.data, d = layer.data;
  let any = false;
  for (let row = 0; row < eh; row++) {
    for (let col = 0, i = ((ey0 + row) * W + ex0) * 4, j = row * ew * 4; col < ew; col++, i += 4, j += 4) {
      if (d[i + 3] < HINT_ALPHA) continue;
      const lum = 0.2126 * LINEAR[d[i]] + 0.7152 * LINEAR[d[i + 1]] + 0.0722 * LINEAR[d[i + 2]];
      const c = lum < DARK_BELOW ? OUTLINE_DARK : lum >= LIGHT_FROM ? OUTLINE_LIGHT : null;
      if (!c) continue;
      m[j] = c[0]; m[j + 1] = c[1]; m[j + 2] = c[2]; m[j + 3] = 255;
      any = true;
    }
  }
  const o = out.getContext("2d");
  o.clearRect(x0, y0, x1 - x0, y1 - y0);
  if (!any) return;
  if (!scratch) scratch = document.createElement("canvas");
  if (scratch.width < ew || scratch.height < eh) { scratch.width = Math.max(scratch.width, ew); scratch.height = Math.max(scratch.height, eh); }
  const t = scratch.getContext("2d");
  t.clearRect(0, 0, ew, eh);
  t.putImageData(mask, 0, 0);
  t.save();
  t.beginPath();
  t.rect(0, 0, ew, eh);
  t.clip();
  for (const [dx, dy] of [[1, 0], [0, 1]]) {
    for (let reach = 0; reach < r;) { // the mask grown by `reach` px along the axis; a shift of s <= 2·reach+1 keeps it whole
      const s = Math.min(2 * reach + 1, r - reach);
      t.drawImage(scratch, 0, 0, ew, eh, s * dx, s * dy, ew, eh);
      t.drawImage(scratch, 0, 0, ew, eh, -s * dx, -s * dy, ew, eh);
      reach += s;
    }
  }
  t.globalCompositeOperation = "destination-out"; // never over a hint, whatever its color
  t.drawImage(layer.canvas, ex0, ey0, ew, eh, 0, 0, ew, eh);
  t.restore();
  o.drawImage(scratch, x0 - ex0, y0 - ey0, x1 - x0, y1 - y0, x0, y0, x1 - x0, y1 - y0);
}

/** The straight RGBA pixels of an ImageBitmap or an image element, as they are in the file. */
export function readPixels(source) {
  const w = source.naturalWidth || source.width, h = source.naturalHeight || source.height;
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(source, 0, 0);
  return ctx.getImageData(0, 0, w, h).data;
}

/** The sketch's closed regions, as POST /api/v1/regions gives them: a label (1..count) per pixel. */
export class RegionMap {
  constructor(width, height, labels, count) {
    this.width = width; this.height = height; this.labels = labels; this.count = count;
    this._boxes = null;
  }

  /** From the API's PNG answer: label = R + 256·G + 65536·B. */
  static async fromPNG(blob) {
    const bitmap = await createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none" });
    const { width, height } = bitmap;
    const px = readPixels(bitmap);
    bitmap.close();
    const labels = new Uint32Array(width * height);
    let count = 0;
    for (let i = 0, j = 0; i < labels.length; i++, j += 4) {
      const v = px[j] + 256 * px[j + 1] + 65536 * px[j + 2];
      labels[i] = v;
      if (v > count) count = v;
    }
    return new RegionMap(width, height, labels, count);
  }

  labelAt(x, y) {
    x = Math.floor(x); y = Math.floor(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return 0;
    return this.labels[y * this.width + x];
  }

  /** [left, top, right, bottom] of region `label` (inclusive), or null. */
  box(label) {
    if (!this._boxes) {
      const n = this.count + 1, b = new Int32Array(n * 4);
      for (let l = 0; l < n; l++) b.set([this.width, this.height, -1, -1], l * 4);
      for (let y = 0, i = 0; y < this.height; y++) {
        for (let x = 0; x < this.width; x++, i++) {
          const k = this.labels[i] * 4;
          if (x < b[k]) b[k] = x;
          if (y < b[k + 1]) b[k + 1] = y;
          if (x > b[k + 2]) b[k + 2] = x;
          if (y > b[k + 3]) b[k + 3] = y;
        }
      }
      this._boxes = b;
    }
    if (!(label >= 1 && label <= this.count) || this._boxes[label * 4 + 2] < 0) return null;
    return Array.from(this._boxes.subarray(label * 4, label * 4 + 4));
  }
}

/**
 * One undo order over several layers (the hints, the closing lines, the leave-empty marks): Undo takes back the
 * last step whichever layer it was in, and a new step in one layer ends the redo of all. Steps taken between
 * begin() and end() (an eraser stroke over two layers, a file that loads three) are one entry.
 */
export class History extends EventTarget {
  constructor(layers) {
    super();
    this.layers = layers;
    this.done = []; this.undone = []; // entries: arrays of the layers that took a step
    this.group = null;
    for (const l of layers) {
      l.addEventListener("step", () => this._step(l));
      l.addEventListener("reset", () => { // a new sketch: that layer's steps are gone
        const drop = (list) => list.map((e) => e.filter((x) => x !== l)).filter((e) => e.length);
        this.done = drop(this.done); this.undone = drop(this.undone);
      });
    }
  }

  begin() { if (!this.group) this.group = new Set(); }

  end() {
    const g = this.group;
    this.group = null;
    if (g && g.size) this._push([...g]);
  }

  canUndo() { return this.done.some((e) => e.some((l) => l.canUndo())); }
  canRedo() { return this.undone.some((e) => e.some((l) => l.canRedo())); }
  undo() { return this._travel(this.done, this.undone, "undo"); }
  redo() { return this._travel(this.undone, this.done, "redo"); }

  _travel(from, to, how) {
    while (from.length) {
      const entry = from.pop();
      let moved = false;
      for (const l of entry) if (l[how]()) moved = true;
      if (moved) { to.push(entry); this.dispatchEvent(new Event("change")); return true; }
    }
    return false;
  }

  _step(layer) {
    if (this.group) this.group.add(layer); else this._push([layer]);
  }

  _push(entry) {
    this.done.push(entry);
    this.undone = [];
    for (const l of this.layers) if (!entry.includes(l)) l.redoStack = [];
    this.dispatchEvent(new Event("change")); // the layers' own "change" came before a group closed
  }
}
