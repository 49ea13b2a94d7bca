// Auto-Painter page: load a sketch, paint color hints on a layer over it, colorize through the REST API.
// Plain JavaScript, no build step, nothing from a CDN.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const els = {
    fileInput: $("file-input"), urlForm: $("url-form"), urlInput: $("url-input"), extractBtn: $("extract-btn"),
    stage: $("stage"), placeholder: $("placeholder"), wrap: $("canvas-wrap"), sketchImg: $("sketch-img"),
    canvas: $("hint-canvas"), picker: $("color-picker"), swatches: $("swatches"), size: $("brush-size"),
    eraser: $("eraser-btn"), undo: $("undo-btn"), redo: $("redo-btn"), clear: $("clear-btn"),
    toggle: $("hints-toggle"), flat: $("flat-toggle"), colorize: $("colorize-btn"), download: $("download-link"), status: $("status"),
    result: $("result-img"), resultPlaceholder: $("result-placeholder"), error: $("error"),
    errorText: $("error-text"), errorClose: $("error-close"), examples: $("example-list"), visitors: $("visitors"),
  };
  const ctx = els.canvas.getContext("2d", { willReadFrequently: true });
  const SWATCHES = ["#e4572e", "#f3a712", "#ffd23f", "#76b041", "#2e933c", "#17bebb", "#2d7dd2", "#3a3db0",
                    "#8e44ad", "#f06ca8", "#8b5a2b", "#f2d0a4", "#9e9e9e", "#222222"];
  const HINT_LONG_SIDE = 768; // the hint layer's resolution; the server stretches it over the sketch
  const MAX_UNDO = 25;

  const state = {
    sketch: null, // Blob of the sketch as loaded
    name: "sketch",
    width: 0, height: 0,
    sketchUrl: null,
    version: 0, // changes with every new sketch
    hintsVersion: 0, // changes with every stroke, undo, redo, clear
    undo: [], redo: [],
    drawing: false, last: null,
    eraser: false,
    cache: new Map(), // "version:hintsVersion|none" -> result object URL
    limits: null,
    busy: false,
  };

  // ------------------------------------------------------------------ messages
  function showError(message) {
    els.errorText.textContent = message;
    els.error.hidden = false;
  }
  function clearError() { els.error.hidden = true; els.errorText.textContent = ""; }
  els.errorClose.addEventListener("click", clearError);

  function setStatus(text, busy = false) {
    els.status.textContent = text;
    els.status.classList.toggle("busy", busy);
  }

  async function errorOf(response) {
    try {
      const body = await response.json();
      if (body && body.error) return body.error;
    } catch (_) { /* not JSON */ }
    return `the server answered ${response.status} ${response.statusText}`.trim();
  }

  function setBusy(busy) {
    state.busy = busy;
    for (const b of [els.colorize, els.extractBtn]) b.disabled = busy || !state.sketch;
  }

  // Send a form; retry when the server is busy (503 + Retry-After), up to three times.
  async function post(url, form, what) {
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, { method: "POST", body: form });
      } catch (_) {
        throw new Error(`${what}: cannot reach the server; is autopainter serve still running?`);
      }
      if (response.status === 503 && attempt < 3) {
        const wait = Math.min(10, parseFloat(response.headers.get("Retry-After") || "2") || 2);
        setStatus(`server busy, retrying in ${wait} s…`, true);
        await new Promise((r) => setTimeout(r, wait * 1000));
        continue;
      }
      if (!response.ok) throw new Error(`${what}: ${await errorOf(response)}`);
      return response.blob();
    }
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

  async function loadSketch(blob, name) {
    clearError();
    if (!blob) return;
    if (blob.type && !blob.type.startsWith("image/")) {
      showError(`${name || "file"} is not an image (it is ${blob.type})`);
      return;
    }
    if (state.limits && blob.size > state.limits.max_upload_bytes) {
      showError(`${name || "the image"} is ${(blob.size / 1048576).toFixed(1)} MB; the server takes up to ` +
                `${(state.limits.max_upload_bytes / 1048576).toFixed(0)} MB`);
      return;
    }
    const url = URL.createObjectURL(blob);
    let img;
    try {
      img = await loadImage(url);
    } catch (e) {
      URL.revokeObjectURL(url);
      showError(e.message);
      return;
    }
    const w = img.naturalWidth, h = img.naturalHeight;
    if (state.limits && w * h > state.limits.max_pixels) {
      URL.revokeObjectURL(url);
      showError(`${w}×${h} is too large: the server takes up to ${state.limits.max_pixels.toLocaleString()} pixels`);
      return;
    }
    if (state.sketchUrl) URL.revokeObjectURL(state.sketchUrl);
    Object.assign(state, { sketch: blob, name: (name || "sketch").replace(/\.[^.]*$/, ""), width: w, height: h,
                           sketchUrl: url, version: state.version + 1, undo: [], redo: [] });
    els.sketchImg.src = url;
    const scale = Math.min(1, HINT_LONG_SIDE / Math.max(w, h));
    els.canvas.width = Math.max(1, Math.round(w * scale));
    els.canvas.height = Math.max(1, Math.round(h * scale));
    ctx.clearRect(0, 0, els.canvas.width, els.canvas.height);
    hintsChanged();
    els.wrap.hidden = false;
    els.placeholder.hidden = true;
    els.stage.classList.remove("empty");
    clearResult();
    setBusy(false);
    setStatus(`${w}×${h}`);
  }

  function clearResult() {
    for (const url of state.cache.values()) URL.revokeObjectURL(url);
    state.cache.clear();
    els.result.hidden = true;
    els.result.removeAttribute("src");
    delete els.result.dataset.ready;
    els.resultPlaceholder.hidden = false;
    els.download.hidden = true;
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
    setStatus("fetching…", true);
    try {
      const blob = await post("/api/v1/fetch", form, "image URL");
      const name = decodeURIComponent(url.split(/[?#]/)[0].split("/").pop() || "image");
      await loadSketch(blob, name);
    } catch (e) {
      setStatus("");
      showError(e.message);
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
    setBusy(true);
    setStatus("extracting the sketch…", true);
    try {
      const blob = await post("/api/v1/sketchify", form, "extract sketch");
      await loadSketch(blob, `${state.name}-sketch`);
    } catch (e) {
      setStatus("");
      showError(e.message);
    } finally {
      setBusy(false);
    }
  });

  // ------------------------------------------------------------------ the hint brush
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
    setEraser(false);
    for (const b of els.swatches.children) b.setAttribute("aria-pressed", String(b.dataset.color === color));
  }
  els.picker.addEventListener("input", () => selectColor(els.picker.value));
  selectColor(els.picker.value);

  function setEraser(on) {
    state.eraser = on;
    els.eraser.setAttribute("aria-pressed", String(on));
  }
  els.eraser.addEventListener("click", () => setEraser(!state.eraser));

  function snapshot() { return ctx.getImageData(0, 0, els.canvas.width, els.canvas.height); }
  function pushUndo() {
    state.undo.push(snapshot());
    if (state.undo.length > MAX_UNDO) state.undo.shift();
    state.redo = [];
  }
  function hintsChanged() {
    state.hintsVersion++;
    els.undo.disabled = state.undo.length === 0;
    els.redo.disabled = state.redo.length === 0;
    els.clear.disabled = !state.sketch;
  }
  function undo() {
    if (!state.undo.length) return;
    state.redo.push(snapshot());
    ctx.putImageData(state.undo.pop(), 0, 0);
    hintsChanged();
  }
  function redo() {
    if (!state.redo.length) return;
    state.undo.push(snapshot());
    ctx.putImageData(state.redo.pop(), 0, 0);
    hintsChanged();
  }
  els.undo.addEventListener("click", undo);
  els.redo.addEventListener("click", redo);
  els.clear.addEventListener("click", () => {
    pushUndo();
    ctx.clearRect(0, 0, els.canvas.width, els.canvas.height);
    hintsChanged();
  });
  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.target instanceof HTMLInputElement) return;
    const k = e.key.toLowerCase();
    if (k === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
    else if ((k === "z" && e.shiftKey) || k === "y") { e.preventDefault(); redo(); }
  });

  function canvasPoint(e) {
    const r = els.canvas.getBoundingClientRect();
    return { x: (e.clientX - r.left) * (els.canvas.width / r.width), y: (e.clientY - r.top) * (els.canvas.height / r.height),
             scale: els.canvas.width / r.width };
  }
  function strokeTo(p) {
    ctx.save();
    ctx.globalCompositeOperation = state.eraser ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = els.picker.value;
    ctx.lineWidth = Number(els.size.value) * p.scale; // brush size in screen pixels, whatever the zoom
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(state.last.x, state.last.y);
    ctx.lineTo(p.x + 0.01, p.y); // a zero-length line draws nothing: nudge it so a click leaves a dot
    ctx.stroke();
    ctx.restore();
    state.last = p;
  }
  els.canvas.addEventListener("pointerdown", (e) => {
    if (!state.sketch || e.button > 0) return;
    e.preventDefault();
    els.canvas.setPointerCapture(e.pointerId);
    pushUndo();
    state.drawing = true;
    state.last = canvasPoint(e);
    strokeTo(state.last);
  });
  els.canvas.addEventListener("pointermove", (e) => { if (state.drawing) strokeTo(canvasPoint(e)); });
  const endStroke = () => {
    if (!state.drawing) return;
    state.drawing = false;
    hintsChanged();
  };
  els.canvas.addEventListener("pointerup", endStroke);
  els.canvas.addEventListener("pointercancel", endStroke);

  function hasHints() {
    const a = snapshot().data;
    for (let i = 3; i < a.length; i += 4) if (a[i] >= 128) return true; // the server's hint threshold
    return false;
  }

  els.toggle.addEventListener("change", () => {
    els.canvas.classList.toggle("off", !els.toggle.checked);
    els.toggle.parentElement.lastChild.textContent = els.toggle.checked ? " Hints on" : " Hints off";
    if (!els.result.hidden) colorize(); // compare: with and without hints (both kept, so it is instant)
  });

  els.flat.addEventListener("change", () => {
    els.flat.parentElement.lastChild.textContent = els.flat.checked ? " Flat" : " Soft";
    if (!els.result.hidden) colorize(); // both styles are kept, so switching back is instant
  });

  // ------------------------------------------------------------------ colorize
  function canvasBlob() {
    return new Promise((resolve) => els.canvas.toBlob(resolve, "image/png"));
  }

  function showResult(url) {
    els.result.onload = () => {
      els.result.dataset.ready = "1";
      setStatus(`${els.result.naturalWidth}×${els.result.naturalHeight}`);
    };
    delete els.result.dataset.ready;
    els.result.src = url;
    els.result.hidden = false;
    els.resultPlaceholder.hidden = true;
    els.download.href = url;
    els.download.download = `${state.name}-colored.png`;
    els.download.hidden = false;
  }

  async function colorize() {
    if (!state.sketch) return showError("load a sketch first");
    if (state.busy) return;
    clearError();
    const useHints = els.toggle.checked && hasHints();
    const style = els.flat.checked ? "flat" : "soft";
    const key = `${state.version}:${useHints ? state.hintsVersion : "none"}:${style}`;
    if (state.cache.has(key)) return showResult(state.cache.get(key));
    const version = state.version;
    const form = new FormData();
    form.append("sketch", state.sketch, `${state.name}.png`);
    if (useHints) form.append("hints", await canvasBlob(), "hints.png");
    form.append("style", style);
    setBusy(true);
    setStatus(useHints ? "coloring with your hints…" : "coloring…", true);
    try {
      const blob = await post("/api/v1/colorize", form, "colorize");
      if (version !== state.version) return; // another sketch was loaded meanwhile
      const url = URL.createObjectURL(blob);
      state.cache.set(key, url);
      showResult(url);
      // panels stacked (phones): bring the result into view
      if (window.matchMedia("(max-width: 899px)").matches) els.result.scrollIntoView({ behavior: "smooth", block: "nearest" });
    } catch (e) {
      setStatus("");
      showError(e.message);
    } finally {
      setBusy(false);
    }
  }
  els.colorize.addEventListener("click", colorize);

  // ------------------------------------------------------------------ examples, limits, visitors
  async function getJSON(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(await errorOf(r));
    return r.json();
  }

  getJSON("/api/v1/health").then((h) => { state.limits = h.limits; }).catch(() => {});
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
})();
