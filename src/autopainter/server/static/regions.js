// What the page shows of the sketch's regions (the RegionMap of POST /api/v1/regions, hints.js), drawn in the
// browser from the label map alone:
//   closingLines()  the gap preview (as Krita's): the region borders that run through paper, i.e. where the
//                   server closed a gap in a line; a border inside ink is an ordinary line, not shown
//   outline()       the region a Fill or a leave-empty click would take, tinted and outlined; built from the
//                   region's bounding box only and kept per label, so hovering a 3.7 MP sketch stays smooth
//   markCenters()   where the leave-empty marks are, to draw a marker over each
// and paperMask(), the sketch's paper by the server's own rule for region walls.

// The server's wall for the regions (ink.REGION_INK = 0.3 coverage): gray < round(255 * 0.7) = 178 is ink.
export const PAPER_FROM_GRAY = 178;

/** (H·W) Uint8Array, 1 where the sketch is paper: flattened on white, gray as PIL's convert("L"). */
export function paperMask(img) {
  const w = img.naturalWidth, h = img.naturalHeight, c = document.createElement("canvas");
  c.width = w; c.height = h;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, w, h).data, paper = new Uint8Array(w * h);
  for (let i = 0, j = 0; i < paper.length; i++, j += 4) {
    paper[i] = (px[j] * 299 + px[j + 1] * 587 + px[j + 2] * 114 + 500) / 1000 >= PAPER_FROM_GRAY ? 1 : 0;
  }
  return paper;
}

/**
 * The gap preview: an ImageData of the map's size, `color` where two 4-neighbours of different regions are
 * both paper (a border through open paper: a closed gap), transparent elsewhere; `closing` (a layer's RGBA
 * data, or null) counts as ink, since the user drew those borders. Widened by `radius` px each way so that
 * it shows at a small zoom. Returns {image, count} (count: border pixels before widening).
 */
export function closingLines(map, paper, closing = null, radius = 0, color = [236, 0, 140]) {
  const { width: w, height: h, labels } = map;
  const open = (i) => paper[i] && !(closing && closing[i * 4 + 3]);
  const on = new Uint8Array(w * h);
  let count = 0;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      if (!open(i)) continue;
      const l = labels[i];
      if (x + 1 < w && labels[i + 1] !== l && open(i + 1)) { on[i] = on[i + 1] = 1; }
      if (y + 1 < h && labels[i + w] !== l && open(i + w)) { on[i] = on[i + w] = 1; }
    }
  }
  for (let i = 0; i < on.length; i++) count += on[i];
  const near = radius > 0 ? within(on, w, h, radius) : on;
  const image = new ImageData(w, h), d = image.data;
  for (let i = 0; i < near.length; i++) {
    if (near[i]) { const k = i * 4; d[k] = color[0]; d[k + 1] = color[1]; d[k + 2] = color[2]; d[k + 3] = 255; }
  }
  return { image, count };
}

/** (w·h) Uint8Array: 1 within `r` px (a square) of a set pixel of `mask`, by two running passes (O(w·h)). */
function within(mask, w, h, r) {
  const rows = new Uint8Array(w * h), out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0, last = -1e9; x < w; x++) { if (mask[o + x]) last = x; if (x - last <= r) rows[o + x] = 1; }
    for (let x = w - 1, next = 1e9; x >= 0; x--) { if (mask[o + x]) next = x; if (next - x <= r) rows[o + x] = 1; }
  }
  for (let x = 0; x < w; x++) {
    for (let y = 0, last = -1e9; y < h; y++) { if (rows[y * w + x]) last = y; if (y - last <= r) out[y * w + x] = 1; }
    for (let y = h - 1, next = 1e9; y >= 0; y--) { if (rows[y * w + x]) next = y; if (next - y <= r) out[y * w + x] = 1; }
  }
  return out;
}

/**
 * Region `label` of `map` as a picture of its bounding box: a light tint inside and a `thickness` px border
 * along its edge (inside it). Returns {box: [left, top, right, bottom], image: ImageData} or null. Costs one
 * pass over the box (the region's bounding box, from RegionMap.box: one scan per map).
 */
export function outline(map, label, thickness = 1, color = [0, 110, 255]) {
  const box = map.box(label);
  if (!box) return null;
  const [left, top, right, bottom] = box, bw = right - left + 1, bh = bottom - top + 1, W = map.width, L = map.labels;
  const outside = new Uint8Array((bw + 2) * (bh + 2)).fill(1); // with a one-pixel frame: outside the box is outside
  const fw = bw + 2;
  for (let y = 0; y < bh; y++) {
    for (let x = 0, i = (top + y) * W + left, k = (y + 1) * fw + 1; x < bw; x++, i++, k++) if (L[i] === label) outside[k] = 0;
  }
  const edge = within(outside, fw, bh + 2, thickness);
  const image = new ImageData(bw, bh), d = image.data;
  for (let y = 0; y < bh; y++) {
    for (let x = 0, k = (y + 1) * fw + 1, j = y * bw * 4; x < bw; x++, k++, j += 4) {
      if (outside[k]) continue;
      d[j] = color[0]; d[j + 1] = color[1]; d[j + 2] = color[2]; d[j + 3] = edge[k] ? 255 : 56;
    }
  }
  return { box, image };
}

/** The centers of the marks of a layer (RGBA data, alpha > 0), marks closer than `apart` px counted once. */
export function markCenters(data, width, apart = 6) {
  const found = [];
  for (let i = 3, p = 0; i < data.length; i += 4, p++) {
    if (!data[i]) continue;
    const x = p % width, y = (p - x) / width;
    const near = found.find((m) => Math.abs(m.x - x) <= apart && Math.abs(m.y - y) <= apart);
    if (near) { near.n++; near.sx += x; near.sy += y; } else found.push({ x, y, n: 1, sx: x, sy: y });
  }
  return found.map((m) => ({ x: m.sx / m.n + 0.5, y: m.sy / m.n + 0.5 }));
}

/**
 * The regions to check of a reference coloring (X-Reference-Check), outlined for the result: an ImageData of the
 * map's size, a dashed border `radius` px wide inside each region whose label is in `ids` (`color` dashes with
 * white between, `dash` px each, along the diagonal, so it shows on any color); nothing over the region's inside,
 * whose color is what to check. Returns {image, count} (count: regions of `ids` the map holds).
 */
export function checkOutlines(map, ids, radius = 1, dash = 6, color = [230, 0, 126]) {
  const { width: w, height: h, labels } = map;
  const flagged = new Uint8Array(map.count + 1);
  let count = 0;
  for (const id of ids) if (id >= 1 && id <= map.count && !flagged[id]) { flagged[id] = 1; count++; }
  const edge = new Uint8Array(w * h), inside = new Uint8Array(w * h);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      const l = labels[i];
      if (!flagged[l]) continue;
      inside[i] = 1;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || labels[i - 1] !== l || labels[i + 1] !== l ||
          labels[i - w] !== l || labels[i + w] !== l) edge[i] = 1;
    }
  }
  const near = radius > 1 ? within(edge, w, h, radius - 1) : edge;
  const image = new ImageData(w, h), d = image.data, period = Math.max(2, Math.round(dash)) * 2;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      if (!inside[i]) continue;
      const k = i * 4;
      if (near[i]) {
        const on = (x + y) % period < period / 2;
        d[k] = on ? color[0] : 255; d[k + 1] = on ? color[1] : 255; d[k + 2] = on ? color[2] : 255; d[k + 3] = 255;
      }
    }
  }
  return { image, count };
}
