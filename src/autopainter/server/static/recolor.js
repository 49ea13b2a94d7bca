// Keeping the result up to date: after each change (a pause of `delayMs` first, so a run of strokes costs one
// request), one colorize request at a time, answers for a state the user has since left dropped, and results
// cached by what they were made from, so undo, hints off and a style switch come back at once.

import { Aborted } from "./api.js";

export class Recolorer extends EventTarget {
  /**
   * @param describe () => ({key, ...}) | null: the state the result should show now (null: nothing to color)
   * @param request (job, signal) => Promise<Blob>: color that state
   * @param show (job, url) => void: show a result (an object URL, owned by this cache)
   */
  constructor({ describe, request, show, delayMs = 150, cacheSize = 24 }) {
    super();
    Object.assign(this, { describe, request, show, delayMs, cacheSize });
    this.live = true; // color after every change; off: only now()
    this.cache = new Map(); // key -> object URL, oldest first
    this.shownKey = null; this.shownUrl = null;
    this.inFlight = null; this.controller = null;
    this.again = false; // a request was wanted while one was in flight
    this.timer = null;
    this.dropped = 0; // answers that came for a state already left
  }

  get busy() { return this.inFlight !== null; }
  get waiting() { return this.timer !== null; }

  /** Whether the result on show was made from another state than the current one. */
  get stale() {
    if (this.shownKey === null) return false;
    const job = this.describe();
    return !job || job.key !== this.shownKey;
  }

  /** The state changed: a cached result shows at once; otherwise, when live, color after the pause. */
  changed() {
    clearTimeout(this.timer);
    this.timer = null;
    const job = this.describe();
    if (job && this.cache.has(job.key)) this._show(job, this.cache.get(job.key));
    else if (job && this.live) this.timer = setTimeout(() => this.now(), this.delayMs);
    this._emit("state");
  }

  /** Color the current state now (or as soon as the request in flight is answered). */
  async now() {
    clearTimeout(this.timer);
    this.timer = null;
    const job = this.describe();
    if (!job) return this._emit("state");
    if (this.cache.has(job.key)) return this._show(job, this.cache.get(job.key));
    if (this.inFlight) { this.again = job.key !== this.inFlight.key; return this._emit("state"); }
    const controller = new AbortController();
    Object.assign(this, { inFlight: job, controller, again: false });
    this._emit("state");
    try {
      const blob = await this.request(job, controller.signal);
      if (controller.signal.aborted) return;
      const url = URL.createObjectURL(blob);
      this._remember(job.key, url);
      const current = this.describe();
      if (current && current.key === job.key) this._show(job, url);
      else { this.dropped++; this._emit("dropped"); } // a newer state is on show or on its way
    } catch (e) {
      if (!(e instanceof Aborted) && !controller.signal.aborted) this.dispatchEvent(new CustomEvent("error", { detail: e }));
    } finally {
      if (this.controller === controller) {
        this.inFlight = null; this.controller = null;
        this._emit("state");
        if (this.again) { this.again = false; this.now(); }
      }
    }
  }

  /** A result for `job` without showing it (the palette variants' thumbnails): the one cached, or one request,
   * kept in the cache so that choosing it later shows it at once. Resolves with its object URL. */
  async fetch(job, signal) {
    if (this.cache.has(job.key)) return this.cache.get(job.key);
    const blob = await this.request(job, signal);
    if (signal && signal.aborted) throw new Aborted("aborted");
    if (this.cache.has(job.key)) return this.cache.get(job.key); // the live re-color brought it meanwhile
    const url = URL.createObjectURL(blob);
    this._remember(job.key, url);
    return url;
  }

  /** A new sketch: the request in flight is abandoned and every result forgotten. */
  reset() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.controller) this.controller.abort();
    Object.assign(this, { inFlight: null, controller: null, again: false, shownKey: null });
    for (const url of this.cache.values()) URL.revokeObjectURL(url);
    if (this.shownUrl) URL.revokeObjectURL(this.shownUrl);
    this.cache.clear();
    this.shownUrl = null;
    this._emit("state");
  }

  _show(job, url) {
    if (this.shownUrl && this.shownUrl !== url && ![...this.cache.values()].includes(this.shownUrl)) URL.revokeObjectURL(this.shownUrl);
    this.shownKey = job.key; this.shownUrl = url;
    this.show(job, url);
    this._emit("state");
  }

  _remember(key, url) {
    this.cache.set(key, url);
    while (this.cache.size > this.cacheSize) {
      const [oldKey, oldUrl] = this.cache.entries().next().value;
      this.cache.delete(oldKey);
      if (oldUrl !== this.shownUrl) URL.revokeObjectURL(oldUrl);
    }
  }

  _emit(type) { this.dispatchEvent(new Event(type)); }
}
