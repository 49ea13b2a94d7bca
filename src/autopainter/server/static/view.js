// Zoom and pan, shared by the two panels: one view (a scale, and the sketch point at the center of the
// stages) applied to each stage's content by a CSS transform, so the sketch and the result stay in sync.
// Gestures: the wheel (and a trackpad pinch) zooms around the pointer, two fingers pinch and pan, and a drag
// pans when the panel asks for it (Space held, the middle button, a drag on the result). Whatever a finger began
// (a stroke, a tap that fills or picks) is cancelled when a second finger lands, on the stage or anywhere else.

const MAX_SCALE = 32;
const MARGIN = 8; // px around the sketch in the fit view

export class SharedView extends EventTarget {
  constructor() {
    super();
    this.stages = []; // [{stage, content}]
    this.width = 0; this.height = 0; // the sketch's size
    this.scale = 1; this.cx = 0; this.cy = 0; // the sketch point at the stages' center
    this.fitted = true; // follow the stages' size until the user zooms or pans
  }

  /** Show `content` (an element of the sketch's pixel size) in `stage` under this view. */
  addStage(stage, content) {
    this.stages.push({ stage, content });
    new ResizeObserver(() => (this.fitted ? this.fit() : this.apply())).observe(stage);
  }

  setImage(width, height) {
    this.width = width; this.height = height;
    for (const { content } of this.stages) { content.style.width = `${width}px`; content.style.height = `${height}px`; }
    this.fit();
  }

  _sizes() {
    return this.stages.map(({ stage }) => [stage.clientWidth, stage.clientHeight]).filter(([w, h]) => w > 0 && h > 0);
  }

  fitScale() {
    if (!this.width) return 1;
    const fits = this._sizes().map(([w, h]) => Math.min((w - 2 * MARGIN) / this.width, (h - 2 * MARGIN) / this.height));
    return fits.length ? Math.max(0.01, Math.min(...fits)) : 1;
  }

  get minScale() { return Math.min(1, this.fitScale()) / 4; }

  fit() {
    this.scale = this.fitScale();
    this.cx = this.width / 2; this.cy = this.height / 2;
    this.fitted = true;
    this.apply();
  }

  /** Zoom by `factor` keeping the sketch point under (px, py) of `stage` (default: its center) in place. */
  zoomBy(factor, stage, px, py) {
    const target = Math.min(MAX_SCALE, Math.max(this.minScale, this.scale * factor));
    this.zoomTo(target, stage, px, py);
  }

  zoomTo(scale, stage, px, py) {
    stage = stage || this.stages[0].stage;
    const sw = stage.clientWidth, sh = stage.clientHeight;
    if (px === undefined) { px = sw / 2; py = sh / 2; }
    const ix = this.cx + (px - sw / 2) / this.scale, iy = this.cy + (py - sh / 2) / this.scale;
    this.scale = scale;
    this.cx = ix - (px - sw / 2) / scale; this.cy = iy - (py - sh / 2) / scale;
    this.fitted = false;
    this.apply();
  }

  /** Move the view by (dx, dy) screen pixels. */
  panBy(dx, dy) {
    this.cx -= dx / this.scale; this.cy -= dy / this.scale;
    this.fitted = false;
    this.apply();
  }

  /** The sketch point under a client (page) position over `stage`. */
  toImage(stage, clientX, clientY) {
    const [px, py] = stagePoint(stage, clientX, clientY);
    return { x: this.cx + (px - stage.clientWidth / 2) / this.scale, y: this.cy + (py - stage.clientHeight / 2) / this.scale };
  }

  /** The stage position (px from its padding box) of sketch point (x, y). */
  toStage(stage, x, y) {
    return { x: stage.clientWidth / 2 + (x - this.cx) * this.scale, y: stage.clientHeight / 2 + (y - this.cy) * this.scale };
  }

  apply() {
    this.cx = Math.min(this.width, Math.max(0, this.cx)); // some of the sketch always stays in view
    this.cy = Math.min(this.height, Math.max(0, this.cy));
    for (const { stage, content } of this.stages) {
      const o = this.toStage(stage, 0, 0);
      content.style.transform = `translate(${o.x}px, ${o.y}px) scale(${this.scale})`;
      content.classList.toggle("pixelated", this.scale >= 2); // zoomed in: show the real pixels
    }
    this.dispatchEvent(new Event("change"));
  }

  /**
   * Gestures on `stage`: wheel zoom, two-finger pinch and pan, drag to pan when `pans(event)` says so; any
   * other one-pointer drag goes to `tool` ({down, move, up, cancel}, each given the event and the sketch point).
   */
  attach(stage, tool, pans) {
    const pointers = new Map(); // pointerId -> [clientX, clientY]
    let gesture = null; // {kind: "tool" | "pan" | "pinch" | "void" (a gesture that does nothing until the fingers lift), ...}
    let touching = false; // a finger began the gesture under way
    const capture = (id) => { try { stage.setPointerCapture(id); } catch (_) { /* a pointer no longer active (or synthetic) */ } };

    stage.addEventListener("wheel", (e) => {
      if (!this.width) return;
      e.preventDefault();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
      const k = e.ctrlKey ? 0.01 : 0.0015; // a trackpad pinch comes as ctrl+wheel with small steps
      const [px, py] = stagePoint(stage, e.clientX, e.clientY);
      this.zoomBy(Math.exp(-e.deltaY * unit * k), stage, px, py);
    }, { passive: false });

    const pinchStart = () => {
      const [a, b] = [...pointers.values()];
      return { kind: "pinch", d0: Math.hypot(a[0] - b[0], a[1] - b[1]) || 1, m0: mid(a, b), scale0: this.scale, cx0: this.cx, cy0: this.cy };
    };

    stage.addEventListener("pointerdown", (e) => {
      if (!this.width) return;
      if (!pointers.size && e.target.closest && e.target.closest("[data-own-pointer]")) return; // a control over the stage
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      capture(e.pointerId);
      if (pointers.size === 2) { // a second finger: the stroke (or tap) it began is a pinch after all
        if (gesture && gesture.kind === "tool") tool.cancel(e);
        gesture = pinchStart();
        e.preventDefault();
        return;
      }
      if (pointers.size > 2 || gesture) return;
      e.preventDefault();
      touching = e.pointerType === "touch";
      const active = document.activeElement; // keys are shortcuts again once the pointer is on a stage
      if (active && active !== document.body && active.matches("input:not([type=range]):not([type=checkbox]):not([type=radio])")) active.blur();
      if (e.button === 1 || pans(e)) {
        gesture = { kind: "pan", last: [e.clientX, e.clientY] };
        stage.classList.add("grabbing");
      } else if (e.button === 0) {
        gesture = { kind: "tool" };
        if (tool.down(e, this.toImage(stage, e.clientX, e.clientY)) === false) gesture = null;
      }
    });

    stage.addEventListener("pointermove", (e) => {
      if (!pointers.has(e.pointerId)) {
        if (tool.hover) tool.hover(e, this.toImage(stage, e.clientX, e.clientY));
        return;
      }
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      if (!gesture) return;
      if (gesture.kind === "tool") {
        const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
        for (const c of events.length ? events : [e]) tool.move(c, this.toImage(stage, c.clientX, c.clientY));
      } else if (gesture.kind === "pan") {
        this.panBy(e.clientX - gesture.last[0], e.clientY - gesture.last[1]);
        gesture.last = [e.clientX, e.clientY];
      } else if (gesture.kind === "pinch" && pointers.size >= 2) {
        const [a, b] = [...pointers.values()];
        const g = gesture, m = mid(a, b);
        const scale = Math.min(MAX_SCALE, Math.max(this.minScale, g.scale0 * Math.hypot(a[0] - b[0], a[1] - b[1]) / g.d0));
        const [p0x, p0y] = stagePoint(stage, g.m0[0], g.m0[1]), [p1x, p1y] = stagePoint(stage, m[0], m[1]);
        const sw = stage.clientWidth, sh = stage.clientHeight;
        const ix = g.cx0 + (p0x - sw / 2) / g.scale0, iy = g.cy0 + (p0y - sh / 2) / g.scale0; // under the fingers at the start
        this.scale = scale;
        this.cx = ix - (p1x - sw / 2) / scale; this.cy = iy - (p1y - sh / 2) / scale;
        this.fitted = false;
        this.apply();
      }
    });

    // A second finger that lands off this stage (a pinch half on the toolbar, the other panel) still makes the
    // gesture two-fingered: what the first finger began is cancelled, never painted, filled or picked. Off the
    // stages it joins the pinch (captured here); on the other stage the gesture just waits for the fingers to lift.
    window.addEventListener("pointerdown", (e) => {
      if (!pointers.size || pointers.has(e.pointerId) || stage.contains(e.target)) return;
      if (!(touching || e.pointerType === "touch")) return; // a mouse click elsewhere while a pen draws: not a pinch
      if (gesture && gesture.kind === "tool") tool.cancel(e);
      if (!gesture) return;
      const free = !this.stages.some((s) => s.stage.contains(e.target));
      if (free && pointers.size === 1) {
        pointers.set(e.pointerId, [e.clientX, e.clientY]);
        capture(e.pointerId);
        gesture = pinchStart();
      } else {
        gesture = { kind: "void" };
      }
    }, true);

    const end = (e) => {
      if (!pointers.delete(e.pointerId)) return;
      if (!gesture) return;
      if (gesture.kind === "tool") {
        if (e.type === "pointercancel") tool.cancel(e); else tool.up(e, this.toImage(stage, e.clientX, e.clientY));
        gesture = null;
      } else if (pointers.size === 0) {
        gesture = null;
      } else if (gesture.kind === "void") {
        // the fingers lift one by one: nothing until the last
      } else if (gesture.kind === "pinch" && pointers.size === 1) { // one finger lifted: the other goes on panning
        const [p] = pointers.values();
        gesture = { kind: "pan", last: p };
      }
      if (!gesture) stage.classList.remove("grabbing");
    };
    stage.addEventListener("pointerup", end);
    stage.addEventListener("pointercancel", end);
    for (const type of ["pointerup", "pointercancel"]) { // a pointer that ends off the stage (its capture lost) ends here too
      window.addEventListener(type, (e) => { if (pointers.has(e.pointerId) && !stage.contains(e.target)) end(e); }, true);
    }
    stage.addEventListener("pointerleave", (e) => { if (tool.leave && !pointers.size) tool.leave(e); });
  }
}

function mid(a, b) { return [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]; }

/** A client position as px from `stage`'s padding box. */
function stagePoint(stage, clientX, clientY) {
  const r = stage.getBoundingClientRect();
  return [clientX - r.left - stage.clientLeft, clientY - r.top - stage.clientTop];
}
