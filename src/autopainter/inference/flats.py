"""Flats: one color per region of the sketch (``regions.segment``), the way a colorist lays them under the ink.

``flat_layer(regions, colors, hints)``:

* a region holding hint pixels takes the hint color exactly; a region holding several different hint
  colors is split between them (``_split_regions``): where the model colors a connected area like one of the
  hints (within ``SPLIT_AGREE``) and that area reaches a hint of that color, it takes it, so the split
  follows the borders the model drew where the sketch has no line (a flag's stripes); every other pixel takes
  its nearest hint's color (and without a model, every pixel does). Each color stays connected to its hints,
  and the cost does not grow with the number of hint colors;
* a region without hints takes the median, in CIELAB (``colorspace``'s 8-bit encoding), of the generator's
  colors over it (``colors``: the soft color layer at full size), so stray pixels and soft edges do not tint
  it; a median close to paper white (L* >= 95, chroma <= 5) is white: the paper stays paper when the
  generator says so;
* with ``colors=None`` (no generator: ``--model none``) a region without hints stays white, the
  classical hints-only fill.

**Local hints** (``plain=``: the model's colors for the same sketch without hints; what ``Colorizer`` does by
default): a hint changes its material and nothing else. The regions holding a hint take it; every other region
joins a hint's material when the model colors the two alike without hints, nearer regions more easily: the ΔE
between their no-hint flat colors plus ``GROUP_NEAR`` per % of the image diagonal between their centroids is at
most ``GROUP_DE`` (paper-white regions join only a white material). A region near two hint colors follows the
nearer hint (a material hinted twice is split), and takes that hint's color; all other regions keep their
no-hint colors exactly.
A stroke belongs to the region holding most of it (``stroke_regions``): the part of a sloppy stroke that
strays over a line neither colors the neighbour nor shows there. The open paper (``open_paper``) is the
border-touching regions the model leaves paper white, and only when they hold ``PAPER_BORDER`` (80 %) of the
border: it never joins a material, so it stays paper unless a hint is painted on it; any other region touching
the border (a garment running off the bottom edge) is a region like any other. The thresholds were chosen on
the val splits of the characters and the foreign Wesnoth sets (docs/RESULTS.md, "Locality at inference").

Without ``plain`` (``Colorizer(local=False)``) the hinted run's colors fill the unhinted regions, and the open
paper, a region touching the image's border, is shared by everything drawn with an open
outline (an ear drawn as a "C", a gap wider than the gap closing): there a hint does not flood the whole
page. With a model, its own color for the region competes with the hints at no distance
(``SHARED_PAPER``), so a hint claims only the part the model colors like it.

Which hints choose a region's color: pixels on a line or within ``NEAR_INK`` px of it do not (which side
they mean is not known, and a color picked there is often the line's own edge), nor do hint *marks*
(connected painted areas) that lie ``AMBIGUOUS`` or more on the lines. Every painted pixel off the lines
still shows its paint: a mark that does not fill a region stays visible where it was painted.
``NEAR_INK``, ``AMBIGUOUS`` and ``SHARED_PAPER`` were chosen on the OpenMoji val split
(docs/RESULTS.md).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..colorspace import from_lab8, lab8_to_lab, lab_8bit, to_lab8
from .regions import Regions, _cv2

__all__ = ["flat_layer", "leave_empty", "region_colors", "hints_at", "open_paper", "white_border_share", "border_labels", "stroke_regions", "material_of_hints", "SAMPLES", "WHITE_L", "WHITE_CHROMA", "NEAR_INK", "AMBIGUOUS",
           "SPLIT_AGREE"]

SAMPLES = 200_000  # about this many pixels (a regular grid) give each region's median color
HISTOGRAM_BINS = 1 << 22  # region medians by per-region histograms up to this many bins (16,384 regions), else by sort
WHITE_L, WHITE_CHROMA = 95.0, 5.0  # a region median this light and this gray becomes paper white
NEAR_INK = 1  # hint pixels this close to a line do not choose colors
AMBIGUOUS = 0.25  # a hint mark with this share of its pixels on or next to a line does not choose colors
SHARED_PAPER = True  # a region touching the image's border (the open paper) takes a hint only where the model agrees
# Locality (with a model; ``flat_layer(..., plain=...)``): a hint changes only its material, the regions the
# model's grouping assigns to it, and every other region keeps its no-hint color.
GROUP_DE = 45.0  # ΔE (plus nearness, below) within which two regions' no-hint colors make them one material
GROUP_NEAR = 1.1  # ΔE added per % of the image diagonal between two regions' centroids (far regions join less)
STRAY = 0.3  # a mark's part in another region under this share of its largest part is the stray end of a stroke
PAIR_BLOCK = 1 << 20  # (candidate, seed) region pairs compared at once
PAPER_BORDER = 0.8  # white border regions are the open paper only when they hold this share of the border


def hints_at(hints: Image.Image | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """An RGBA hint image stretched over a (W, H) sketch (nearest: painted colors stay exact) ->
    (hint_rgb (H, W, 3) uint8, hint_mask (H, W) bool), or None without hints."""
    from ..data.hints import hints_from_rgba

    if hints is None:
        return None
    rgba = hints.convert("RGBA")
    if rgba.size != tuple(size):
        rgba = rgba.resize(tuple(size), Image.Resampling.NEAREST)
    rgb, mask = hints_from_rgba(np.asarray(rgba))
    return (rgb, mask) if mask.any() else None


def region_colors(regions: Regions, colors: np.ndarray | None) -> np.ndarray:
    """(count + 1, 3) uint8: each region's color from the generator's ``colors`` (H, W, 3) uint8, or
    white for all when ``colors`` is None (row 0 is unused)."""
    n = regions.count + 1
    if colors is None:
        return np.full((n, 3), 255, np.uint8)
    labels = regions.labels
    H, W = labels.shape
    step = max(1, int(np.sqrt(H * W / SAMPLES)))
    lab_s = labels[::step, ::step].ravel()
    lab_px = to_lab8(colors[::step, ::step]).reshape(-1, 3)  # 8-bit CIELAB: a median is a sort of bytes
    med = np.zeros((n, 3), np.uint8)
    counts = np.bincount(lab_s, minlength=n)
    have = counts > 0
    for ch in range(3):  # per-region median of each Lab channel (the value at sorted position count // 2)
        key = lab_s.astype(np.int64) * 256 + lab_px[:, ch]
        if n * 256 <= HISTOGRAM_BINS:  # a histogram per region: linear, no sort
            cum = np.bincount(key, minlength=n * 256).reshape(n, 256).cumsum(1, dtype=np.int32)
            med[have, ch] = (cum[have] <= (counts[have] // 2)[:, None]).sum(1).astype(np.uint8)
            continue
        key = np.sort(key)  # many regions: sort by (label, value)
        first = np.searchsorted(key, np.arange(n, dtype=np.int64) * 256)
        last = np.searchsorted(key, np.arange(1, n + 1, dtype=np.int64) * 256)
        mid = np.minimum((first + last) // 2, key.size - 1)
        med[have, ch] = (key[mid[have]] % 256).astype(np.uint8)
    lut = from_lab8(med[:, None, :])[:, 0, :]
    missing = ~have
    missing[0] = False
    if missing.any():  # regions between the grid points: their mean color over all their pixels
        m = missing[labels]
        lab_m = labels[m]
        counts = np.bincount(lab_m, minlength=n)
        for ch in range(3):
            sums = np.bincount(lab_m, weights=colors[..., ch][m], minlength=n)
            lut[missing, ch] = np.rint(sums[missing] / np.maximum(counts[missing], 1)).astype(np.uint8)
    lab = lab_8bit(lut[:, None, :])[:, 0, :]
    light = lab[:, 0] >= WHITE_L
    gray = np.hypot(lab[:, 1], lab[:, 2]) <= WHITE_CHROMA
    lut[light & gray] = 255
    return lut


def border_labels(regions: Regions) -> np.ndarray:
    """The region of every non-ink pixel on the image's border (each border pixel once), (N,) int32."""
    labels, ink = regions.labels, regions.ink
    rim_labels = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]]) if labels.shape[0] > 1 else labels[0]
    rim_ink = np.concatenate([ink[0], ink[-1], ink[1:-1, 0], ink[1:-1, -1]]) if ink.shape[0] > 1 else ink[0]
    return rim_labels[~rim_ink]


def white_border_share(regions: Regions, lut: np.ndarray) -> float:
    """The share of the border's non-ink pixels in regions whose color in ``lut`` ((count + 1, 3) uint8) is
    paper white (0 for a border all ink): what ``open_paper`` compares with ``PAPER_BORDER``."""
    rim = border_labels(regions)
    return float((lut[rim] == 255).all(1).mean()) if rim.size else 0.0


def open_paper(regions: Regions, lut: np.ndarray) -> np.ndarray:
    """The regions that are the open paper: those touching the image's border whose color in ``lut`` (the
    no-hint flat colors, (count + 1, 3) uint8) is paper white, when together they hold at least
    ``PAPER_BORDER`` of the border's non-ink pixels (``white_border_share``); else none (a picture painted to its
    edges has no open paper: a garment running off the bottom edge is a region like any other). Sorted ids."""
    if white_border_share(regions, lut) < PAPER_BORDER:
        return np.zeros(0, np.int64)
    rim = border_labels(regions)
    return np.unique(rim[(lut[rim] == 255).all(1)]).astype(np.int64)


def _local_hints(regions: Regions, hints: tuple[np.ndarray, np.ndarray], base: np.ndarray,
                 materials: np.ndarray | None = None):
    """What local hints (``flat_layer`` with ``plain``, ``local_soft``) start from: the painted ``mask`` without
    stray stroke ends, the voting pixels, each (region, hint color) once, the open paper, the seeds (color code ->
    hinted regions off the paper) and the regions that join them (``material_of_hints``)."""
    rgb, mask = hints
    vote = _voting(mask, _near_ink(regions.ink, NEAR_INK))
    mask = stroke_regions(regions, mask, vote, rgb)
    vote &= mask
    px = rgb[vote].astype(np.int64)
    code = (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]
    pairs = np.unique(regions.labels[vote].astype(np.int64) << 24 | code)  # each (region, hint color) once
    lab_u, code_u = pairs >> 24, pairs & 0xFFFFFF
    paper = open_paper(regions, base)
    on_paper = set(paper.tolist())
    seeds: dict[int, list[int]] = {}
    for r, c in zip(lab_u.tolist(), code_u.tolist()):
        if r not in on_paper:  # a hint on the open paper colors the paper, not a material
            seeds.setdefault(c, []).append(r)
    return mask, vote, lab_u, code_u, paper, seeds, material_of_hints(regions, base, seeds, paper, materials)


def stroke_regions(regions: Regions, mask: np.ndarray, vote: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: the hint pixels that lie where their mark (a connected painted area of one color) was meant
    for. A mark's part in a region is a stray when it is under ``STRAY`` of the mark's largest part and covers
    under half of that region: the end of a sloppy stroke that crossed a line. Strays neither color their region
    nor show there; a mark that fills several regions keeps every part, and marks that vote for nothing keep
    their pixels."""
    if not vote.any():
        return mask
    cv2 = _cv2()
    labels = regions.labels
    n_regions = regions.count + 1
    n, marks = cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    px = rgb[mask].astype(np.int64)
    code = (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]
    # (mark, color) units, numbered 0..U-1 over the painted pixels only: memory follows the hints, not their ids
    _, unit = np.unique(marks[mask].astype(np.int64) << 24 | code, return_inverse=True)
    unit = unit.ravel().astype(np.int64)
    region = labels[mask].astype(np.int64)
    votes = vote[mask]
    key = unit * n_regions + region  # (painted pixels,)
    parts, counts = np.unique(key[votes], return_counts=True)
    part_unit, part_region = parts // n_regions, parts % n_regions
    biggest = np.zeros(int(unit.max()) + 1, np.int64)
    np.maximum.at(biggest, part_unit, counts)
    area = np.bincount(labels.ravel(), minlength=n_regions)
    stray = (counts < STRAY * biggest[part_unit]) & (counts < 0.5 * area[part_region])
    if not stray.any():
        return mask
    out = mask.copy()
    out[mask] = ~np.isin(key, parts[stray])
    return out


def material_of_hints(regions: Regions, plain: np.ndarray, seeds: dict[int, list[int]],
                      paper: np.ndarray, materials: np.ndarray | None = None) -> dict[int, int]:
    """Which hint color each unhinted region takes: {region: color code}, for the regions the model colors as
    one material with a hinted region: ``ΔE(no-hint flat colors) + GROUP_NEAR * centroid distance (% of the
    diagonal) <= GROUP_DE`` (``plain``: (count + 1, 3) uint8 no-hint flat colors; a paper-white region joins only
    a white hinted region). ``seeds``: color code -> the regions holding it. A region that two hint colors could
    claim follows the nearer hint (region centroids). The open ``paper`` never joins a material.

    With ``materials`` ((count + 1,) int, each region's material from ``palettes.find_materials``, 0: none) the
    model has named them: a region joins a hinted one exactly when both are one material (not 0)."""
    if not seeds:
        return {}
    count = regions.count
    lab_plain = lab_8bit(plain).astype(np.float32)
    labels = regions.labels
    H, W = labels.shape
    n = count + 1
    cy, cx = _centroids(labels, n)
    white = (plain == 255).all(1)  # regions the model leaves paper white (region_colors snaps them)
    free = np.ones(n, bool)
    free[0] = False
    free[paper] = False
    for regs in seeds.values():
        free[regs] = False
    cand = np.flatnonzero(free)
    if cand.size == 0:
        return {}
    per_percent = 100.0 / float(np.hypot(H, W))
    best_d = np.full(cand.size, np.inf)
    best_code = np.full(cand.size, -1, np.int64)
    for code, regs in seeds.items():
        regs = np.asarray(regs)
        step = max(1, PAIR_BLOCK // regs.size)  # (candidates x seeds) in blocks: memory stays bounded
        for b0 in range(0, cand.size, step):
            c = cand[b0 : b0 + step]
            de = np.linalg.norm(lab_plain[c][:, None, :] - lab_plain[regs][None, :, :], axis=2)  # (block, seeds)
            dist = np.hypot(cy[c][:, None] - cy[regs][None], cx[c][:, None] - cx[regs][None])
            if materials is not None:
                same = (materials[c][:, None] == materials[regs][None, :]) & (materials[c][:, None] > 0)
            else:
                same = de + GROUP_NEAR * per_percent * dist <= GROUP_DE
                same &= ~white[c][:, None] | white[regs][None, :]  # paper-white joins only a white material
            d = np.where(same, dist, np.inf).min(1)
            better = d < best_d[b0 : b0 + step]
            best_d[b0 : b0 + step][better] = d[better]
            best_code[b0 : b0 + step][better] = code
    return {int(r): int(c) for r, c in zip(cand, best_code) if c >= 0}


def _centroids(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(cy, cx): each region's centroid, (n,) float64, summed a band of rows at a time (no full-size grids)."""
    H, W = labels.shape
    sy, sx, area = np.zeros(n), np.zeros(n), np.zeros(n)
    rows = max(1, (1 << 20) // max(W, 1))
    xs = np.arange(W, dtype=np.float64)
    for y0 in range(0, H, rows):
        band = labels[y0 : y0 + rows]
        flat = band.ravel()
        area += np.bincount(flat, minlength=n)
        sy += np.bincount(flat, weights=np.repeat(np.arange(y0, y0 + band.shape[0], dtype=np.float64), W), minlength=n)
        sx += np.bincount(flat, weights=np.tile(xs, band.shape[0]), minlength=n)
    return sy / np.maximum(area, 1), sx / np.maximum(area, 1)


def flat_layer(regions: Regions, colors: np.ndarray | None,
               hints: tuple[np.ndarray, np.ndarray] | None = None, plain: np.ndarray | None = None,
               base: np.ndarray | None = None, materials: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8, one color per region (hinted regions in their hints' colors; see the module doc).

    Args:
        regions: the sketch's regions (full resolution).
        colors: (H, W, 3) uint8, the generator's colors at the same size, or None (hints only).
        hints: (hint_rgb (H, W, 3) uint8, hint_mask (H, W) bool) at the same size, or None.
        plain: (H, W, 3) uint8, the generator's colors for the same sketch without hints: with it, hints are
            local (``material_of_hints``): the regions the model groups with a hinted one take its hint, every
            other region keeps its no-hint color, and the open paper (``open_paper``) stays paper.
        base: (count + 1, 3) uint8, each region's no-hint color when it is not the median of the model's
            (``palettes``: one color per material; ``reference``: the reference's colors): the color every region
            without a hint keeps.
        materials: (count + 1,) int, each region's material (``palettes.find_materials``): with ``plain``, a hint
            reaches exactly the regions of its material (``material_of_hints``).
    """
    labels = regions.labels
    local = plain is not None and colors is not None and hints is not None
    if base is not None:
        lut = np.asarray(base, np.uint8).copy()
        if not local:
            materials = None
    else:
        lut = region_colors(regions, plain if local else colors)
        materials = None
    base = lut.copy()  # each region's own color before hints
    multi = np.zeros(0, np.int64)
    shared = np.zeros(0, np.int64)
    if hints is not None:
        rgb, mask = hints
        if local:
            mask, vote, lab_u, code_u, paper, _, joined = _local_hints(regions, hints, base, materials)
        else:
            vote = _voting(mask, _near_ink(regions.ink, NEAR_INK))
            px = rgb[vote].astype(np.int64)
            code = (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]
            pairs = np.unique(labels[vote].astype(np.int64) << 24 | code)  # each (region, hint color) once
            lab_u, code_u = pairs >> 24, pairs & 0xFFFFFF
        n_colors = np.bincount(lab_u, minlength=regions.count + 1)
        single = n_colors[lab_u] == 1
        lut[lab_u[single]] = np.stack([code_u[single] >> 16, (code_u[single] >> 8) & 255, code_u[single] & 255], 1)
        multi = np.flatnonzero(n_colors > 1)
        if local:
            shared = np.intersect1d(np.unique(lab_u), paper)
            for r, c in joined.items():
                lut[r] = (c >> 16, (c >> 8) & 255, c & 255)
        elif colors is not None and SHARED_PAPER:
            shared = np.intersect1d(np.unique(lab_u), np.unique(border_labels(regions)))  # paper at the border
    out = lut[labels]
    split = np.union1d(multi, shared)
    if split.size:
        # the hinted run decides the splits: where the model draws a hint's color on the paper, how a region of two
        # hint colors divides
        _split_regions(out, labels, split, rgb, vote, colors, {int(r): base[r] for r in shared})
    if hints is not None:
        painted = mask & ~regions.ink  # what was painted off the lines shows as painted (in its own region)
        out[painted] = rgb[painted]
    return out


def leave_empty(regions: Regions, layer: np.ndarray, empty: np.ndarray | None) -> np.ndarray:
    """``layer`` ((H, W, 3) uint8, changed in place and returned) with every region holding a leave-empty mark
    (``empty``: (H, W) bool) made paper white: the leave-empty key wins over hints and the model. Marks on a
    line count for the regions beside them only when the mark lies on nothing but lines."""
    if empty is None or not empty.any():
        return layer
    off_line = empty & ~regions.ink
    ids = np.unique(regions.labels[off_line if off_line.any() else empty])
    chosen = np.zeros(regions.count + 1, bool)
    chosen[ids] = True
    layer[chosen[regions.labels]] = 255
    return layer


def local_soft(regions: Regions, colors: np.ndarray, plain: np.ndarray,
               hints: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The soft style with local hints: (H, W, 3) uint8, the hinted run's ``colors`` over the regions that hold
    a hint or join one (``material_of_hints``, as ``flat_layer``), the no-hint run's ``plain`` colors elsewhere."""
    base = region_colors(regions, plain)
    _, _, lab_u, _, paper, seeds, joined = _local_hints(regions, hints, base)
    hinted = np.zeros(regions.count + 1, bool)
    # the hinted regions (on the open paper too: there the paper takes the hinted run's colors) and their materials
    hinted[np.concatenate([lab_u, np.fromiter(joined, np.int64, len(joined))])] = True
    out = plain.copy()
    take = hinted[regions.labels]
    out[take] = colors[take]
    return out


def _voting(mask: np.ndarray, near_ink: np.ndarray) -> np.ndarray:
    """The hint pixels that choose colors: off the lines, and only from marks (connected hint areas) that
    lie mostly off them; a mark with ``AMBIGUOUS`` or more of its pixels on a line does not say which
    side it means (and its color is often the line's edge)."""
    vote = mask & ~near_ink
    if AMBIGUOUS >= 1.0 or not vote.any():
        return vote
    cv2 = _cv2()
    n, marks = cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    total = np.bincount(marks[mask], minlength=n)
    on_line = np.bincount(marks[mask & near_ink], minlength=n)
    clear = on_line < AMBIGUOUS * np.maximum(total, 1)
    clear[0] = False
    return vote & clear[marks]


def _near_ink(ink: np.ndarray, reach: int) -> np.ndarray:
    """(H, W) bool: ink and the pixels within ``reach`` px of it."""
    if reach <= 0 or not ink.any():
        return ink
    cv2 = _cv2()
    return cv2.dilate(ink.view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)).view(bool)


def _split_regions(out: np.ndarray, labels: np.ndarray, multi: np.ndarray, rgb: np.ndarray, mask: np.ndarray,
                   colors: np.ndarray | None, own: dict[int, np.ndarray] | None = None) -> None:
    """Regions holding several hint colors, split between them in ``out`` (in place), on each region's
    bounding box, at a cost that does not grow with the number of colors (anti-aliased hints carry hundreds):

    * one labelled distance transform over all the region's hint pixels gives every pixel its nearest hint's
      color (the split at equal distance; without a model, the split itself);
    * with a model, each pixel's generated color picks the nearest hint color in CIELAB (a k-d tree over the
      region's palette) when it is within ``SPLIT_AGREE`` of it; the connected areas of one such choice that
      hold a hint of that color keep it. So the border follows the model's colors where the model agrees with
      the hints (a flag's stripes, where the sketch has no line), every color stays connected to its hints
      (no islands of another color, no blobs around the hint marks), and the rest falls back to the nearest hint.

    ``own``: regions whose model color also competes (the open paper, see ``SHARED_PAPER``): their pixels
    keep it unless a connected area the model colors like a hint reaches that hint."""
    from scipy.ndimage import find_objects

    cv2 = _cv2()
    is_multi = np.zeros(int(labels.max()) + 1, bool)
    is_multi[multi] = True
    boxes = find_objects(np.where(is_multi[labels], labels, 0))  # each split region's bounding box, no sort
    for region in np.flatnonzero(is_multi).tolist():
        if region - 1 >= len(boxes) or boxes[region - 1] is None:
            continue
        (ys, xs) = boxes[region - 1]
        y0, y1, x0, x1 = ys.start, ys.stop, xs.start, xs.stop
        inside = labels[y0:y1, x0:x1] == region
        seeds = inside & mask[y0:y1, x0:x1]
        if not seeds.any():
            continue
        seed_code = _codes(rgb[y0:y1, x0:x1][seeds])  # (S,) int32 24-bit colors
        mine = own.get(region) if own else None
        # every pixel's nearest hint pixel: one transform, however many colors
        _, near = cv2.distanceTransformWithLabels((~seeds).view(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        lut = np.zeros(int(near.max()) + 1, np.int32)
        lut[near[seeds]] = seed_code
        nearest = lut[near[inside]]  # (n,) the nearest hint's color per inside pixel
        del near
        if colors is None:
            out[y0:y1, x0:x1][inside] = _rgb_of(nearest)
            continue
        palette, seed_k = np.unique(seed_code, return_inverse=True)  # (P,), (S,)
        pal_rgb = _rgb_of(palette)
        if mine is not None:  # the model's own color for the region: a choice with no hints of its own
            pal_rgb = np.vstack([pal_rgb, np.asarray(mine, np.uint8)[None]])
        chosen = _model_choice(inside, seeds, seed_k.ravel().astype(np.int32), to_lab8(colors[y0:y1, x0:x1][inside]),
                               lab_8bit(pal_rgb), keep_last=mine is not None)
        fallback = np.full(nearest.shape, len(palette), np.int32) if mine is not None else np.searchsorted(palette, nearest).astype(np.int32)
        pick = np.where(chosen >= 0, chosen, fallback)
        out[y0:y1, x0:x1][inside] = pal_rgb[pick]


SPLIT_AGREE = 25.0  # ΔE within which a generated color counts as the model choosing that hint's color in a split
CHOICE_BITS = 5  # bits per 8-bit CIELAB channel of the grid on which a split's model choice is looked up


def _codes(px: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB -> (N,) int32 24-bit color codes."""
    px = px.astype(np.int32)
    return (px[:, 0] << 16) | (px[:, 1] << 8) | px[:, 2]


def _rgb_of(code: np.ndarray) -> np.ndarray:
    """(N,) 24-bit color codes -> (N, 3) uint8 RGB."""
    code = np.asarray(code)
    return np.stack([code >> 16, (code >> 8) & 255, code & 255], 1).astype(np.uint8)


def _model_choice(inside: np.ndarray, seeds: np.ndarray, seed_k: np.ndarray, gen_lab8: np.ndarray,
                  pal_lab: np.ndarray, keep_last: bool = False) -> np.ndarray:
    """For the ``inside`` pixels (a region's box), the palette index the model's colors choose, or -1: a pixel
    whose generated color (``gen_lab8``, (n, 3) uint8 8-bit CIELAB over ``inside``) is within ``SPLIT_AGREE`` of its
    nearest palette color (``pal_lab``, (P, 3)) chooses it, and keeps it when its 4-connected area of the same
    choice holds a seed of that color (``seeds``: (h, w) bool; ``seed_k``: each seed's palette index).
    ``keep_last``: the last palette entry (the region's own color) needs no seed.

    Cost, however many colors the palette holds: one k-d tree query over the generated colors in use, on a
    grid of ``CHOICE_BITS`` bits per 8-bit CIELAB channel (a lookup table: the cells are under 3 ΔE across, far
    below ``SPLIT_AGREE``), and one component labelling of the pixels that choose as their right and lower
    neighbours do (the others then join a neighbour's area of the same choice)."""
    from scipy.spatial import cKDTree

    cv2 = _cv2()
    shift = 8 - CHOICE_BITS
    cell = (gen_lab8[:, 0].astype(np.int32) >> shift) << (2 * CHOICE_BITS) | (gen_lab8[:, 1].astype(np.int32) >> shift) << CHOICE_BITS \
        | (gen_lab8[:, 2].astype(np.int32) >> shift)
    used = np.flatnonzero(np.bincount(cell, minlength=1 << (3 * CHOICE_BITS)))
    mask = (1 << CHOICE_BITS) - 1
    centres = np.stack([used >> (2 * CHOICE_BITS), (used >> CHOICE_BITS) & mask, used & mask], 1) << shift
    de, k_used = cKDTree(pal_lab.astype(np.float32)).query(lab8_to_lab((centres + (1 << shift) // 2).astype(np.uint8)))
    lut = np.full(1 << (3 * CHOICE_BITS), -1, np.int32)
    lut[used] = np.where(de <= SPLIT_AGREE, k_used, -1)
    k = lut[cell]  # (n,)
    del cell
    grid = np.full(inside.shape, -1, np.int32)  # the choice per box pixel (-1: none / outside)
    grid[inside] = k
    # areas of one choice: components of the pixels that choose as their right and lower neighbours do
    core = grid >= 0
    core[:, :-1] &= grid[:, :-1] == grid[:, 1:]
    core[:-1, :] &= grid[:-1, :] == grid[1:, :]
    _, comp = cv2.connectedComponents(core.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    del core
    for _ in range(2):  # the edge pixels of each area join a neighbour of the same choice
        for mine, theirs in (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                             ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
                             ((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                             ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
            c, g = comp[mine], grid[mine]
            take = (c == 0) & (g >= 0) & (grid[theirs] == g) & (comp[theirs] > 0)
            c[take] = comp[theirs][take]
    ok = np.zeros(int(comp.max()) + 1, bool)
    agree = grid[seeds] == seed_k  # a seed the model colors like its own hint anchors its area
    ok[comp[seeds][agree]] = True
    if keep_last:
        ok[comp[grid == pal_lab.shape[0] - 1]] = True
    ok[0] = False
    return np.where(ok[comp[inside]], k, -1)
