// Saved work: the sketch on show and its hint layer are kept in the browser (IndexedDB), so a reload or a
// closed tab loses nothing. One sketch at a time: a new sketch replaces the one kept, "Start over" empties the
// store. The hints are saved a moment after each change (one write for a run of strokes) and at once when
// the page goes away. Without IndexedDB (storage blocked, some private windows) the page works and keeps
// nothing; a full disk is said once per sketch, never a broken page.

const DB_NAME = "autopainter";
const STORE = "work"; // records "sketch" {id, blob, name, width, height} and "hints" {id: the sketch's, blob}
const OPEN_TIMEOUT_MS = 3000;
// kept when the server's limits are not known yet (its defaults): a sketch the server takes is kept
const DEFAULT_LIMITS = { max_pixels: 4096 * 4096, max_upload_bytes: 20 * 1000 * 1000 };

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
 * Keeps the current sketch and its hints. Events: "problem" (detail: a message for the user) when what is on
 * the page will not survive a reload.
 */
export class Autosave extends EventTarget {
  /**
   * @param hints {png(): Promise<Blob>, pngNow(): Blob} the hint layer as an RGBA PNG, encoded later or at once
   * @param limits () => server limits {max_pixels, max_upload_bytes} or null: the largest sketch kept
   */
  constructor({ hints, limits, delayMs = 300 }) {
    super();
    Object.assign(this, { hints, limits, delayMs });
    this.db = null;
    this.current = null; // the sketch on the page {id, blob, name, width, height}; null: none, or not kept
    this.changes = 0; // hint changes of this sketch so far
    this.written = 0; // how many of them the last write holds (an older encoding never overwrites a newer one)
    this.timer = null;
    this.writes = new Set(); // transactions under way
    this.warned = null; // the sketch a problem was told for (once per sketch)
    /** Resolves with what was kept, {sketch, hints: Blob | null} or null, once the store is open. */
    this.ready = openDB().then(async (db) => {
      this.db = db;
      if (!db) return null;
      const kept = await transact(db, "readonly", (s) => ({ sketch: done(s.get("sketch")), hints: done(s.get("hints")) }))
        .then(async (r) => ({ sketch: await r.sketch, hints: await r.hints }))
        .catch(() => null);
      if (this.current) { // a sketch loaded while the store was opening
        this._writeSketch();
        if (this.dirty) this.save();
      }
      if (!kept || !kept.sketch || !(kept.sketch.blob instanceof Blob)) return null;
      const hints = kept.hints && kept.hints.id === kept.sketch.id ? kept.hints.blob : null;
      return { sketch: kept.sketch, hints };
    });
  }

  get available() { return this.db !== null; }

  /** Whether the hints changed since they were last written. */
  get dirty() { return this.current !== null && this.changes > this.written; }

  /** A new sketch on the page: keep it (with no hints yet), in place of the one kept. */
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

  /** The hints changed: write them after a pause. */
  hintsChanged() {
    if (!this.current) return;
    this.changes++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), this.delayMs);
  }

  /** Write the hints now, if they changed. */
  async save() {
    clearTimeout(this.timer);
    this.timer = null;
    const sketch = this.current, n = this.changes;
    if (!this.dirty || !this.db) return;
    let blob;
    try {
      blob = await this.hints.png(); // the layer as it is now, encoded meanwhile
    } catch (_) {
      return; // the layer could not be encoded: the next change tries again
    }
    if (this.current !== sketch || n <= this.written) return; // another sketch, or a newer write (flush)
    this.written = n;
    this._write((s) => s.put({ id: sketch.id, blob }, "hints"));
  }

  /** The page is going away: write pending hints within this call (an encode that waits might never end). */
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.dirty || !this.db) return;
    this.written = this.changes;
    const id = this.current.id, blob = this.hints.pngNow();
    this._write((s) => s.put({ id, blob }, "hints"));
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
    this.changes = this.written = 0;
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
    this._write((s) => { s.put({ id, blob, name, width, height }, "sketch"); s.delete("hints"); });
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
