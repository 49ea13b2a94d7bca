// Saved work: the sketch on show and its hint layer (with the closing lines, the leave-empty marks, the
// gap, the palette variant and the reference drawing) are kept in the browser (IndexedDB), so a reload or a
// closed tab loses nothing. One sketch at a time: a new sketch replaces the one kept, "Start over" empties the
// store. The hints are saved a moment after each change (one write for a run of strokes) and at once when
// the page goes away. Without IndexedDB (storage blocked, some private windows) the page works and keeps
// nothing; a full disk is said once per sketch, never a broken page.

const DB_NAME = "autopainter";
const STORE = "work"; // records "sketch" {id, blob, name, width, height}, and per part ("hints", "closing",
// "empty", "settings", "reference") {id: the sketch's, blob} or {id, value}
const OPEN_TIMEOUT_MS = 3000;
// kept when the server's limits are not known yet (its defaults): a sketch the server takes is kept
const DEFAULT_LIMITS = { max_pixels: 8192 * 8192, max_upload_bytes: 20 * 1000 * 1000 };

const done = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

/** The database, or null when this browser keeps nothing (no IndexedDB, blocked, or no answer in time). */
async function openDB() {
  try {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    const timeout = new Promise((resolve) => setTimeout(resolve, OPEN_TIMEOUT_MS, null));
    return await Promise.race([done(req), timeout]);
  } catch (_) {
    return null;
  }
}

/** One transaction on the store: `work(store)` issues its requests; resolves when it is committed. */
function transact(db, mode, work) {
  return new Promise((resolve, reject) => {
    let tx;
    try {
      tx = db.transaction(STORE, mode);
      const out = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(out);
      tx.onabort = tx.onerror = () => reject(tx.error || new Error("the browser's storage refused the write"));
      // no more requests: commit now rather than when this task ends (a page going away may not see it end)
      if (tx.commit) tx.commit();
    } catch (e) {
      reject(e);
    }
  });
}

const isQuota = (e) => e && (e.name === "QuotaExceededError" || /quota/i.test(e.message || ""));
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/**
 * Keeps the current sketch and its work: the parts named in `parts` (the hint layer, the closing lines, the
 * leave-empty marks as PNGs; the gap as a value), each in its own record, written a moment after it changes.
 * Events: "problem" (detail: a message for the user) when what is on the page will not survive a reload.
 */
export class Autosave extends EventTarget {
  /**
   * @param parts {name: {png(): Promise<Blob>, pngNow(): Blob} | {value(): object}}: what is kept besides the
   *   sketch; a layer as an RGBA PNG (encoded later, or at once as the page goes away), a setting as a value
   * @param hints the old name of parts.hints
   * @param limits () => server limits {max_pixels, max_upload_bytes} or null: the largest sketch kept
   */
  constructor({ parts = {}, hints = null, limits, delayMs = 300 }) {
    super();
    if (hints) parts = { hints, ...parts };
    Object.assign(this, { parts, limits, delayMs });
    this.db = null;
    this.current = null; // the sketch on the page {id, blob, name, width, height}; null: none, or not kept
    this.changes = {}; // part -> changes of this sketch so far
    this.written = {}; // part -> how many of them the last write holds (an older encoding never overwrites a newer one)
    this.timer = null;
    this.writes = new Set(); // transactions under way
    this.warned = null; // the sketch a problem was told for (once per sketch)
    /** Resolves with what was kept, {sketch, hints, closing, ...: Blob | value | null} or null, once the store is open. */
    this.ready = openDB().then(async (db) => {
      this.db = db;
      if (!db) return null;
      const names = ["sketch", ...Object.keys(this.parts)];
      const kept = await transact(db, "readonly", (s) => names.map((n) => done(s.get(n))))
        .then(async (r) => Object.fromEntries(await Promise.all(r.map(async (x, i) => [names[i], await x]))))
        .catch(() => null);
      if (this.current) { // a sketch loaded while the store was opening
        this._writeSketch();
        if (this.dirty) this.save();
      }
      if (!kept || !kept.sketch || !(kept.sketch.blob instanceof Blob)) return null;
      const out = { sketch: kept.sketch };
      for (const n of Object.keys(this.parts)) {
        const r = kept[n];
        out[n] = r && r.id === kept.sketch.id ? ("blob" in r ? r.blob : r.value) : null;
      }
      return out;
    });
  }

  get available() { return this.db !== null; }

  _dirty(name) { return (this.changes[name] || 0) > (this.written[name] || 0); }

  /** Whether some part changed since it was last written. */
  get dirty() { return this.current !== null && Object.keys(this.parts).some((n) => this._dirty(n)); }

  /** A new sketch on the page: keep it (with nothing else yet), in place of the one kept. */
  sketch(blob, name, width, height) {
    this._cancel();
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    this.current = { id, blob, name, width, height };
    if (this.db) this._writeSketch();
  }

  /** The sketch on the page is the one kept (restored after a reload). */
  restored(sketch) {
    this._cancel();
    this.current = sketch;
  }

  /** Part `name` changed: write it after a pause. */
  changed(name = "hints") {
    if (!this.current) return;
    this.changes[name] = (this.changes[name] || 0) + 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), this.delayMs);
  }

  hintsChanged() { this.changed("hints"); }

  /** Write the parts that changed, now. */
  async save() {
    clearTimeout(this.timer);
    this.timer = null;
    const sketch = this.current;
    if (!this.dirty || !this.db) return;
    const records = [];
    for (const [name, part] of Object.entries(this.parts)) {
      const n = this.changes[name] || 0;
      if (!this._dirty(name)) continue;
      let record;
      try {
        record = part.value ? { id: sketch.id, value: part.value() } : { id: sketch.id, blob: await part.png() }; // as it is now
      } catch (_) {
        continue; // the layer could not be encoded: the next change tries again
      }
      if (this.current !== sketch || n <= (this.written[name] || 0)) continue; // another sketch, or a newer write (flush)
      this.written[name] = n;
      records.push([name, record]);
    }
    if (records.length) this._write((s) => { for (const [name, record] of records) s.put(record, name); });
  }

  /** The page is going away: write pending parts within this call (an encode that waits might never end). */
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.dirty || !this.db) return;
    const id = this.current.id, records = [];
    for (const [name, part] of Object.entries(this.parts)) {
      if (!this._dirty(name)) continue;
      this.written[name] = this.changes[name];
      records.push([name, part.value ? { id, value: part.value() } : { id, blob: part.pngNow() }]);
    }
    this._write((s) => { for (const [name, record] of records) s.put(record, name); });
  }

  /** Start over: keep nothing. */
  clear() {
    this._cancel();
    this.current = null;
    if (this.db) this._write((s) => s.clear());
  }

  /** Resolves when the writes under way (and a pending save) are done: for tests and scripts. */
  async settled() {
    if (this.timer) await this.save();
    while (this.writes.size) await Promise.allSettled([...this.writes]);
  }

  _cancel() {
    clearTimeout(this.timer);
    this.timer = null;
    this.changes = {};
    this.written = {};
  }

  _writeSketch() {
    const { id, blob, name, width, height } = this.current;
    const limits = this.limits() || DEFAULT_LIMITS;
    if (blob.size > limits.max_upload_bytes || width * height > limits.max_pixels) {
      this.current = null;
      this._write((s) => s.clear()); // not an older sketch either: a reload would bring back the wrong one
      return this._problem(id, `This sketch (${mb(blob.size)}, ${width}×${height}) is too large to keep in the browser: ` +
                               "after a reload it will be gone");
    }
    this._write((s) => { s.put({ id, blob, name, width, height }, "sketch"); for (const n of Object.keys(this.parts)) s.delete(n); });
  }

  _write(work) {
    const id = this.current && this.current.id;
    const write = transact(this.db, "readwrite", work).catch((e) => {
      this._problem(id, isQuota(e)
        ? "The browser has no room left to keep your work: after a reload it will be gone (Save hints keeps the hints in a file)"
        : `The browser could not keep your work (${e.name || e.message}): after a reload it will be gone`);
    }).finally(() => this.writes.delete(write));
    this.writes.add(write);
  }

  _problem(id, message) {
    if (id && this.warned === id) return;
    this.warned = id;
    this.dispatchEvent(new CustomEvent("problem", { detail: message }));
  }
}

// ------------------------------------------------------------------ the work in one hints file
// "Save hints" writes the hint layer as the RGBA PNG that `autopainter colorize --hints` takes; the rest of the
// work rides in chunks that every PNG reader skips: the closing lines and the leave-empty marks as PNGs in
// private ancillary chunks (apCl, apEm), the reference drawing as its own file (PNG, JPEG, ...) in apRf, the gap
// and the palette variant in a tEXt chunk "autopainter" (JSON {"gap": "auto" | px, "variant": n, "reference":
// {"name", "type"}}; the variant only when it is not 0, the reference only with one).
export const WORK_CHUNKS = { closing: "apCl", empty: "apEm", reference: "apRf" };
const TEXT_KEY = "autopainter";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length), view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** `png` (a Blob) with the work's chunks put before its end: `extra` {closing: Blob, empty: Blob, gap, variant,
 * reference: {blob, name} | null}. */
export async function pngWithWork(png, { closing = null, empty = null, gap = "auto", variant = 0, reference = null } = {}) {
  const bytes = new Uint8Array(await png.arrayBuffer()), end = bytes.length - 12; // IEND is the last chunk
  const parts = [bytes.subarray(0, end)];
  const text = variant ? { gap, variant } : { gap };
  if (reference) text.reference = { name: reference.name, type: reference.blob.type || "" };
  // JSON with \u escapes: a tEXt chunk is Latin-1, and a file name may be anything
  const json = JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  parts.push(chunk("tEXt", new TextEncoder().encode(`${TEXT_KEY}\0${json}`)));
  for (const [name, blob] of Object.entries({ closing, empty, reference: reference && reference.blob })) {
    if (blob) parts.push(chunk(WORK_CHUNKS[name], new Uint8Array(await blob.arrayBuffer())));
  }
  parts.push(bytes.subarray(end));
  return new Blob(parts, { type: "image/png" });
}

/** The work a hints PNG carries: null when it is a plain hint layer, else {gap, variant (0 when it names
 * none), closing: Blob | null, empty: Blob | null, reference: {blob, name} | null}. */
export async function workOfPNG(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer()), view = new DataView(bytes.buffer);
  if (bytes.length < 8 || bytes[1] !== 0x50 || bytes[2] !== 0x4e || bytes[3] !== 0x47) return null; // not a PNG
  let work = null;
  const layers = {};
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at), type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "tEXt") {
      const text = new TextDecoder("latin1").decode(data), zero = text.indexOf("\0");
      if (text.slice(0, zero) === TEXT_KEY) {
        try { work = JSON.parse(text.slice(zero + 1)); } catch (_) { work = {}; }
      }
    }
    for (const [name, t] of Object.entries(WORK_CHUNKS)) if (type === t) layers[name] = new Blob([data], { type: "image/png" });
    if (type === "IEND") break;
    at += 12 + length;
  }
  if (!work) return null;
  const variant = Number.isInteger(work.variant) && work.variant >= 0 ? work.variant : 0;
  let reference = null;
  if (layers.reference) {
    const about = work.reference && typeof work.reference === "object" ? work.reference : {};
    const type = typeof about.type === "string" && /^image\/[\w.+-]+$/.test(about.type) ? about.type : "";
    const name = typeof about.name === "string" && about.name ? about.name.slice(0, 200) : "reference";
    reference = { blob: new Blob([layers.reference], { type }), name };
  }
  return { gap: work.gap === undefined ? "auto" : work.gap, variant, closing: layers.closing || null, empty: layers.empty || null,
           reference };
}
