"""Reference coloring: a new drawing of a character takes the colors of a colored drawing of the same character.

The colorist's *paint* step (the same character in every panel or frame, colored from its color sheet),
done the way a colorist matches regions by eye rather than by a network trained for it:

1. **The reference** (``ReferenceDrawing.build``): the colored picture and its line art (the user's, else
   ``data.sketch.extract_sketch``'s XDoG of it) at ``MATCH_SIZE`` px; the line art is cut into regions
   (``regions.segment``); each region's color is its most common color over its paper, off the lines
   (``paper_colors``), and colors within ``PALETTE_DE`` are one palette color (the largest region's color, so
   the flats are the reference's own). With a model that names parts, each region's part probabilities come from the
   part head run on the reference's line art.
2. **Alignment** (``align``): the similarity transform (move, scale, rotate) that lays the reference's line
   art over the new one: Chamfer matching (the mean distance from each line pixel of one drawing to the
   nearest line of the other, both ways) plus the overlap of the two silhouettes, at ``ALIGN_SIZE`` px, from
   moment-based starts at several angles and scales refined by Nelder-Mead (scipy); lines of the reference that
   fall off the new canvas do not count (a frame may crop the character). Its residual says how alike the two
   drawings are (``Alignment.fit``).
3. **Matching** (``match``): every region of the new drawing against every region of the reference. The cost
   adds what a colorist looks at: where the region lies after alignment (relative to the figure's size), how
   much of it the aligned reference region covers, its size, and what the model takes it for (the part head's
   probabilities: skin, hair, clothing, ...). Each palette color's cost is its best region's; the region takes
   the cheapest color, and its confidence grows with the margin to the next color and falls with the cost.
4. **Fallbacks**: a region matched with a confidence under ``MIN_CONFIDENCE`` takes the reference's color for
   the part the model names it (the reference's palette per part), and failing that keeps the model's own
   color. A reference that does not fit the drawing (``Alignment.fit`` under ``MIN_FIT``) lowers every
   confidence, to 0 at ``NO_FIT``, so a wrong reference leaves the model's colors.

Hints win over all of it (``flats.flat_layer`` paints them over the matched colors) and the lines are always
the new sketch's own. ``match`` returns the flat colors per region and a report (region, the matched reference
region and its part, confidence, where the color came from) that the CLI writes as JSON and the page draws.

Sequences (``Colorizer.colorize_sequence``) match each frame to the reference and to the previous colored frame;
the reference (and every frame the user corrected with hints) wins where it is confident, so errors do not
drift from frame to frame.

The weights and thresholds were chosen on the val pairs of ``benchmarks/reference_pairs.py`` (seed 1) and are
reported on its test pairs (seed 2), ``benchmarks/bench_reference.py`` (docs/RESULTS.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..colorspace import lab
from ..data.sketch import looks_like_line_art
from ..ink import ink_mask
from .flats import border_labels, region_colors
from .regions import Regions, _cv2, segment

__all__ = ["ReferenceDrawing", "Alignment", "Match", "align", "match", "looks_like_line_art", "region_means", "paper_colors",
           "MATCH_SIZE", "ALIGN_SIZE", "PALETTE_DE", "MIN_CONFIDENCE", "MIN_FIT", "CHECK_BELOW", "SOURCES"]

MATCH_SIZE = 512  # the reference is read at this long side (px): regions of a character sheet are large
ALIGN_SIZE = 160  # both line arts are aligned at this long side (px)
PALETTE_DE = 4.0  # reference region colors within this ΔE are one palette color
MIN_REF_AREA = 30  # reference regions smaller than this (px at MATCH_SIZE: specks, anti-aliased seams) give no color
ALIGN_ANGLES = (-30.0, -15.0, 0.0, 15.0, 30.0)  # starting rotations (degrees) of the alignment search
ALIGN_SCALES = (0.8, 1.0, 1.25)  # ... and scales (times the moments' estimate: a cropped frame fools moments)
ALIGN_REFINED = 3  # the best starts refined by Nelder-Mead
CHAMFER_CAP = 12.0  # a line pixel farther than this (px at ALIGN_SIZE) from the other drawing's lines counts this much
SILHOUETTE_WEIGHT = 4.0  # the silhouettes' non-overlap (1 - IoU) against the Chamfer distance (px) in the fit
W_POSITION = 2.0  # cost per figure size of distance between a region and a reference region after alignment
W_AREA = 1.2  # cost per unit of |log area ratio|
W_OVERLAP = 4.0  # cost taken off per unit of overlap (Ochiai: shared / sqrt(area x area))
W_PART = 0.5  # cost per unit of part disagreement (1 - histogram intersection of the part probabilities)
MARGIN = 0.5  # the cost margin to the next palette color at which confidence is 1 - 1/e
MIN_CONFIDENCE = 0.25  # a match under this confidence gives way to the reference's color for the region's part
CHECK_BELOW = 0.5  # regions matched with less confidence are the ones to check (the page outlines them)
MIN_FIT = 0.4  # an alignment whose fit is under this is likely another drawing: confidences fall ...
NO_FIT = 0.25  # ... linearly to 0 at this fit (the reference then gives no color by matching)
MAX_ANGLE = 45.0  # degrees: a turn beyond this costs more in the alignment (a frame is rarely upside down)
SOURCES = ("reference", "part", "model", "hint")  # where a region's color came from, in the report


@dataclass
class RegionStats:
    """Per-region geometry: (n,) arrays over region ids 0..count (row 0 unused)."""

    area: np.ndarray
    cy: np.ndarray
    cx: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray, n: int) -> "RegionStats":
        flat = labels.ravel()
        area = np.bincount(flat, minlength=n).astype(np.float64)
        H, W = labels.shape
        ys = np.bincount(flat, weights=np.repeat(np.arange(H, dtype=np.float64), W), minlength=n)
        xs = np.bincount(flat, weights=np.tile(np.arange(W, dtype=np.float64), H), minlength=n)
        a = np.maximum(area, 1.0)
        return cls(area, ys / a, xs / a)


def region_means(regions: Regions, maps: np.ndarray) -> np.ndarray:
    """(count + 1, C) float64: each region's mean of ``maps`` ((h, w, C) at any working resolution, sampled at
    the nearest pixel), over its samples off the ink; a region too small for a sample takes the mean of every
    sample under it, ink included, and a region with none at all its centroid's value."""
    from .palettes import _samples

    n = regions.count + 1
    lab_s, off = _samples(regions, maps.shape[:2])
    keys = lab_s[off]
    seen = np.bincount(keys, minlength=n).astype(np.float64)
    out = np.stack([np.bincount(keys, weights=maps[..., k][off], minlength=n) for k in range(maps.shape[2])], 1)
    out /= np.maximum(seen, 1.0)[:, None]
    unseen = seen == 0
    unseen[0] = False
    if unseen.any():
        keys_all = lab_s.ravel()
        cnt = np.bincount(keys_all, minlength=n).astype(np.float64)
        allm = np.stack([np.bincount(keys_all, weights=maps[..., k].ravel(), minlength=n)
                         for k in range(maps.shape[2])], 1) / np.maximum(cnt, 1.0)[:, None]
        out[unseen] = allm[unseen]
        still = unseen & (cnt == 0)
        if still.any():  # smaller than a sample: the value at its centroid
            st = RegionStats.of(regions.labels, n)
            h, w = maps.shape[:2]
            H, W = regions.labels.shape
            yy = np.clip((st.cy[still] * h / H).astype(np.int64), 0, h - 1)
            xx = np.clip((st.cx[still] * w / W).astype(np.int64), 0, w - 1)
            out[still] = maps[yy, xx]
    return out


def _resize(a: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """``a`` resized to (w, h) with OpenCV (area for shrinking images, nearest for labels)."""
    cv2 = _cv2()
    if a.shape[1] == size[0] and a.shape[0] == size[1]:
        return a
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if size[0] < a.shape[1] else cv2.INTER_LINEAR)
    return cv2.resize(a, size, interpolation=interp)


def _fit_size(h: int, w: int, long_side: int) -> tuple[int, int]:
    s = long_side / max(h, w)
    return max(1, round(w * s)), max(1, round(h * s))


# ------------------------------------------------------------------------------ alignment
@dataclass
class _Shape:
    """A line art at ``ALIGN_SIZE``: its ink, the distance to it, its silhouette, and the scale to full size."""

    ink: np.ndarray  # (h, w) bool
    dist: np.ndarray  # (h, w) float32 distance to the nearest ink (px), capped
    silhouette: np.ndarray  # (h, w) bool: the ink and everything it encloses
    scale: float  # full-size px per ALIGN_SIZE px

    @classmethod
    def of(cls, gray: np.ndarray) -> "_Shape":
        cv2 = _cv2()
        from scipy.ndimage import binary_fill_holes

        H, W = gray.shape
        size = _fit_size(H, W, ALIGN_SIZE)
        small = _resize(gray, size)
        ink = ink_mask(small, 0.25)
        closed = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
        sil = binary_fill_holes(closed)
        dist = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, 3)
        return cls(ink, np.minimum(dist, CHAMFER_CAP).astype(np.float32), sil, max(H, W) / ALIGN_SIZE)


@dataclass
class Alignment:
    """A similarity transform taking the reference's ``MATCH_SIZE`` coordinates to the new drawing's full size.

    ``matrix``: (2, 3) float64 (x, y) -> (x', y'); ``scale`` its scale factor; ``fit`` in 0..1, how well the two
    line arts agree once aligned (1: the same lines; 0: nothing in common)."""

    matrix: np.ndarray
    scale: float
    angle: float
    fit: float

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = self.matrix
        return m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]


def _moments(mask: np.ndarray) -> tuple[float, float, float]:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        h, w = mask.shape
        return h / 2.0, w / 2.0, 1.0
    return float(ys.mean()), float(xs.mean()), float(ys.size)


def _turn_cost(angle: float) -> float:
    """What a turn beyond ``MAX_ANGLE`` adds to the alignment's cost (Nelder-Mead is unbounded)."""
    return 0.2 * max(0.0, abs(angle) - MAX_ANGLE)


def _matrix(p: np.ndarray, c_ref: tuple[float, float], c_new: tuple[float, float]) -> np.ndarray:
    """(2, 3): ref (x, y) -> new (x, y) for params (angle deg, log scale, tx, ty) about the two centroids."""
    a, ls, tx, ty = p
    s = float(np.exp(ls))
    c, sn = s * np.cos(np.radians(a)), s * np.sin(np.radians(a))
    cy_r, cx_r = c_ref
    cy_n, cx_n = c_new
    return np.array([[c, -sn, cx_n + tx - (c * cx_r - sn * cy_r)],
                     [sn, c, cy_n + ty - (sn * cx_r + c * cy_r)]], np.float64)


def _cost(m: np.ndarray, ref: _Shape, new: _Shape) -> float:
    """The alignment's cost for ``m`` (2, 3: ref px -> new px at ``ALIGN_SIZE``): the mean Chamfer distance both
    ways (the reference's lines moved off the new canvas are not counted: a frame may crop the character) plus
    ``SILHOUETTE_WEIGHT`` x (1 - IoU) of the silhouettes."""
    cv2 = _cv2()
    h, w = new.ink.shape
    d_ref = cv2.warpAffine(ref.dist, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=CHAMFER_CAP)
    moved = cv2.warpAffine(ref.ink.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
    a = float(d_ref[new.ink].mean()) if new.ink.any() else CHAMFER_CAP
    b = float(new.dist[moved].mean()) if moved.any() else CHAMFER_CAP
    sil = cv2.warpAffine(ref.silhouette.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
    union = np.count_nonzero(sil | new.silhouette)
    iou = np.count_nonzero(sil & new.silhouette) / union if union else 0.0
    return 0.5 * (a + b) + SILHOUETTE_WEIGHT * (1.0 - iou)


def align(ref_lines: np.ndarray, new_lines: np.ndarray, ref_shape: Optional[_Shape] = None) -> Alignment:
    """The similarity transform laying ``ref_lines`` ((h, w) uint8 gray at ``MATCH_SIZE``) over ``new_lines``
    ((H, W) uint8 gray, full size): see the module doc."""
    from scipy.optimize import minimize

    ref = ref_shape or _Shape.of(ref_lines)
    new = _Shape.of(new_lines)
    starts = []  # (cost, params, centres): the silhouettes' and the inks' moments, at several angles and scales
    for mask_r, mask_n in ((ref.silhouette, new.silhouette), (ref.ink, new.ink)):
        cy_r, cx_r, a_r = _moments(mask_r)
        cy_n, cx_n, a_n = _moments(mask_n)
        ls0 = 0.5 * np.log(max(a_n, 1.0) / max(a_r, 1.0))
        centres = ((cy_r, cx_r), (cy_n, cx_n))
        for ds in ALIGN_SCALES:
            for ang in ALIGN_ANGLES:
                p = np.array([ang, ls0 + np.log(ds), 0.0, 0.0])
                starts.append((_cost(_matrix(p, *centres), ref, new) + _turn_cost(ang), p, centres))
    starts.sort(key=lambda t: t[0])
    best_p, best_c, best_centres = None, np.inf, None
    for _, p0, centres in starts[:ALIGN_REFINED]:
        simplex = p0 + np.array([[0, 0, 0, 0], [6, 0, 0, 0], [0, 0.08, 0, 0], [0, 0, 4, 0], [0, 0, 0, 4]])
        r = minimize(lambda p: _cost(_matrix(p, *centres), ref, new) + _turn_cost(p[0]), p0, method="Nelder-Mead",
                     options={"initial_simplex": simplex, "maxfev": 160, "xatol": 0.05, "fatol": 1e-3})
        if r.fun < best_c:
            best_p, best_c, best_centres = r.x, float(r.fun), centres
    m = _matrix(best_p, *best_centres)  # ALIGN ref px -> ALIGN new px
    # MATCH_SIZE ref px -> full-size new px: scale in, transform, scale out
    k_ref = ALIGN_SIZE / max(ref_lines.shape)
    full = m.copy()
    full[:, :2] *= k_ref * new.scale
    full[:, 2] *= new.scale
    best_c -= _turn_cost(best_p[0])
    fit = float(np.clip(1.0 - best_c / (CHAMFER_CAP * 0.5 + SILHOUETTE_WEIGHT * 0.5), 0.0, 1.0))
    return Alignment(full, float(np.exp(best_p[1])) * k_ref * new.scale, float(best_p[0]), fit)


# ------------------------------------------------------------------------------ the reference
@dataclass
class ReferenceDrawing:
    """A colored reference read, segmented and summarized at ``MATCH_SIZE`` (``build``): what ``match`` needs.

    ``rgb`` (h, w, 3) uint8 and ``lines`` (h, w) uint8 at that size; ``regions`` its regions; ``color``
    (count + 1, 3) uint8 each region's flat color; ``color_id`` (count + 1,) each region's palette color (-1:
    none); ``palette`` (K, 3) uint8; ``parts`` (count + 1, P) part probabilities or None (a model that names no
    parts); ``part_names``; ``key``: a digest of the picture and lines (caches)."""

    rgb: np.ndarray
    lines: np.ndarray
    regions: Regions
    color: np.ndarray
    color_id: np.ndarray
    palette: np.ndarray
    stats: RegionStats
    shape: _Shape
    parts: Optional[np.ndarray] = None
    part_names: Sequence[str] = ()
    key: bytes = b""
    zoom: float = 1.0  # MATCH_SIZE px per px of the reference as given
    outside: int = 0  # the region label standing for "outside the reference's canvas"

    @classmethod
    def build(cls, rgb: np.ndarray, lines: Optional[np.ndarray] = None, gap: Optional[int] = None) -> "ReferenceDrawing":
        """``rgb``: (H, W, 3) uint8 the colored reference; ``lines``: (H', W') uint8 its line art (any size,
        stretched over it), or None to extract it (XDoG). Raises ValueError for a picture with no colors."""
        from ..data.sketch import extract_sketch

        if looks_like_line_art(rgb):
            raise ValueError("reference: this picture has almost no colors (it looks like line art); "
                             "give the colored drawing as the reference, and its line art as the reference's lines")
        H, W = rgb.shape[:2]
        size = _fit_size(H, W, MATCH_SIZE)
        small = np.ascontiguousarray(_resize(rgb, size))
        if lines is None:
            gray = extract_sketch(small)
        else:
            gray = np.ascontiguousarray(_resize(lines, size))
        regions = segment(gray, gap)
        n = regions.count + 1
        color = paper_colors(regions, small)
        stats = RegionStats.of(regions.labels, n)
        color_id, palette = _palette(color, stats.area)
        rim = border_labels(regions)
        key = hashlib.blake2b(small.tobytes() + gray.tobytes(), digest_size=16).digest()
        outside = int(np.bincount(rim).argmax()) if rim.size else 0
        return cls(small, gray, regions, color, color_id, palette, stats, _Shape.of(gray), key=key,
                   outside=outside, zoom=size[0] / W)

    def with_parts(self, probs: np.ndarray, part_names: Sequence[str]) -> "ReferenceDrawing":
        """Itself with each region's part probabilities from ``probs`` ((h, w, P), the part head's softmax on
        its line art at any working resolution)."""
        self.parts = region_means(self.regions, probs)
        self.part_names = tuple(part_names)
        return self

    def part_palette(self) -> dict[str, int]:
        """{part name: the palette color covering most of the regions the model gives that part}."""
        if self.parts is None:
            return {}
        name = self.parts[1:].argmax(1)
        out: dict[str, int] = {}
        for k, part in enumerate(self.part_names):
            ids = np.flatnonzero(name == k) + 1
            ids = ids[self.color_id[ids] >= 0]
            if ids.size:
                w = np.bincount(self.color_id[ids], weights=self.stats.area[ids])
                out[part] = int(w.argmax())
        return out


def paper_colors(regions: Regions, rgb: np.ndarray) -> np.ndarray:
    """(count + 1, 3) uint8: each region's color over its paper, off the lines (the ink's dark, anti-aliased pixels
    do not tint a small region): the most common exact color where it covers half the paper (a flat fill),
    else the CIELAB median (``flats.region_colors``); a region all on ink, the median over all its pixels."""
    n = regions.count + 1
    paper_labels = np.where(regions.ink, 0, regions.labels)
    masked = Regions(paper_labels, regions.count, regions.ink, regions.gap, regions.line_width)
    color = region_colors(masked, rgb)
    none = np.bincount(paper_labels.ravel(), minlength=n) == 0
    none[0] = False
    if none.any():
        color[none] = region_colors(regions, rgb)[none]
    _exact_colors(color, paper_labels, rgb)
    return color


def _exact_colors(color: np.ndarray, labels: np.ndarray, rgb: np.ndarray, share: float = 0.5) -> None:
    """Each region whose most common exact color covers ``share`` of its pixels (a flat fill) takes that color
    instead of its median (a CIELAB median rounds through 8 bits): the flats are the reference's own colors.
    ``color`` (n, 3) is changed in place; ``labels`` 0 is not counted."""
    m = labels > 0
    if not m.any():
        return
    code = (rgb[m].astype(np.int64) * [65536, 256, 1]).sum(1)
    key = labels[m].astype(np.int64) << 24 | code
    u, counts = np.unique(key, return_counts=True)
    lab_u = u >> 24
    total = np.bincount(lab_u, weights=counts, minlength=len(color))
    # the largest count per label: sort by (label, count), the last of each label
    order = np.lexsort((counts, lab_u))
    last = np.r_[lab_u[order][1:] != lab_u[order][:-1], True]
    top = order[last]
    ok = counts[top] >= share * total[lab_u[top]]
    ids, c = lab_u[top][ok], u[top][ok] & 0xFFFFFF
    color[ids] = np.stack([c >> 16, (c >> 8) & 255, c & 255], 1).astype(np.uint8)


def _palette(color: np.ndarray, area: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each region's palette color (greedy, largest regions first, within ``PALETTE_DE``) and the palette."""
    n = len(color)
    L = lab(color[:, None, :])[:, 0, :].astype(np.float64)
    order = np.argsort(-area[1:], kind="stable") + 1
    cid = np.full(n, -1, np.int64)
    centres: list[np.ndarray] = []
    rgb: list[np.ndarray] = []
    for r in order:
        if area[r] <= 0:
            continue
        if centres:
            d = np.linalg.norm(np.asarray(centres) - L[r], axis=1)
            k = int(d.argmin())
            if d[k] <= PALETTE_DE:
                cid[r] = k
                continue
        cid[r] = len(centres)
        centres.append(L[r])
        rgb.append(color[r])
    return cid, np.asarray(rgb, np.uint8).reshape(-1, 3)


# ------------------------------------------------------------------------------ matching
@dataclass
class Match:
    """What ``match`` found: ``lut`` (count + 1, 3) uint8 each region's flat color; ``confidence`` (count + 1,)
    float in 0..1; ``matched`` (count + 1,) the reference region each took its color from (0: none); ``source``
    (count + 1,) index into ``SOURCES``; ``color_id`` (count + 1,) the reference palette color (-1: none: the
    model's color); ``alignment``; ``reference`` (for the report's part names)."""

    lut: np.ndarray
    confidence: np.ndarray
    matched: np.ndarray
    source: np.ndarray
    color_id: np.ndarray
    alignment: Alignment
    reference: ReferenceDrawing = field(repr=False)

    @classmethod
    def first_confident(cls, matches: Sequence["Match"]) -> "Match":
        """Several matches of one sketch (to the reference, corrected frames, the previous frame) as one: each
        region from the first match that matched it confidently, else the first that gave it its part's color,
        else the first's (the model's color). Palette ids are offset so each reference's colors stay apart."""
        first = matches[0]
        out = cls(first.lut.copy(), first.confidence.copy(), first.matched.copy(), first.source.copy(),
                  first.color_id.copy(), first.alignment, first.reference)
        offset = len(first.reference.palette)
        done = first.source == SOURCES.index("reference")
        for m in matches[1:]:
            take = ~done & (m.source == SOURCES.index("reference"))
            out.lut[take] = m.lut[take]
            out.confidence[take] = m.confidence[take]
            out.matched[take] = 0  # another drawing's region: not the report's reference
            out.source[take] = m.source[take]
            out.color_id[take] = m.color_id[take] + offset
            offset += len(m.reference.palette)
            done |= take
        return out

    def materials(self) -> np.ndarray:
        """(count + 1,) int: regions that took one reference color are one material (ids 1..; 0: none, the model's
        colors), so a hint on one re-colors every region of that color, as ``flats.flat_layer``'s ``materials``."""
        out = np.zeros(len(self.lut), np.int64)
        has = self.color_id >= 0
        if has.any():
            code = (self.lut[has].astype(np.int64) * [65536, 256, 1]).sum(1)
            out[has] = np.unique(code, return_inverse=True)[1].ravel() + 1
        return out

    def report(self, min_area: int = 0, area: Optional[np.ndarray] = None, final: Optional[np.ndarray] = None) -> list[dict]:
        """One dict per region: region id, color "#rrggbb", source, confidence (0..1, 3 decimals), the
        matched reference region and its part (the model's name for it, when it names parts). ``final``: (count + 1,
        3) the regions' colors in the result; where a hint changed one, its source is "hint" (confidence 1)."""
        ref = self.reference
        part_of = None
        if ref.parts is not None:
            part_of = np.asarray(ref.part_names)[ref.parts.argmax(1)]
        out = []
        for r in range(1, len(self.lut)):
            if area is not None and area[r] < min_area:
                continue
            q = int(self.matched[r])
            hinted = final is not None and (final[r] != self.lut[r]).any()
            color = final[r] if hinted else self.lut[r]
            out.append({"region": r, "color": "#%02x%02x%02x" % tuple(int(v) for v in color),
                        "source": "hint" if hinted else SOURCES[int(self.source[r])],
                        "confidence": 1.0 if hinted else round(float(self.confidence[r]), 3),
                        "matched": None if hinted else (q or None),
                        "part": str(part_of[q]) if (part_of is not None and q and not hinted) else None})
        return out


def match(regions: Regions, ref: ReferenceDrawing, base: np.ndarray, parts: Optional[np.ndarray] = None,
          sketch: Optional[np.ndarray] = None, alignment: Optional[Alignment] = None) -> Match:
    """Each region of a new sketch matched to the reference (see the module doc).

    Args:
        regions: the new sketch's regions at full size.
        ref: the reference (``ReferenceDrawing.build``, ``with_parts`` for part agreement).
        base: (count + 1, 3) uint8 the model's own flat colors (the fallback).
        parts: (count + 1, P) the new regions' part probabilities (``region_means`` of the part head), or None.
        sketch: (H, W) uint8 the new sketch (for the alignment; default: the regions' ink).
        alignment: a known alignment (default: ``align``).
    """
    cv2 = _cv2()
    labels = regions.labels
    H, W = labels.shape
    n = regions.count + 1
    if alignment is None:
        gray = sketch if sketch is not None else np.where(regions.ink, 0, 255).astype(np.uint8)
        alignment = align(ref.lines, gray, ref.shape)
    st = RegionStats.of(labels, n)
    qn = ref.regions.count + 1
    # the reference's regions laid over the new sketch (outside its canvas: its outer region)
    warped = cv2.warpAffine(ref.regions.labels.astype(np.float32), alignment.matrix, (W, H), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=float(ref.outside)).astype(np.int64)
    joint = np.bincount(labels.ravel().astype(np.int64) * qn + warped.ravel(), minlength=n * qn).reshape(n, qn)
    s2 = alignment.scale ** 2
    area_q = ref.stats.area * s2  # (qn,) in new px
    overlap = joint / np.sqrt(np.maximum(st.area[:, None] * area_q[None, :], 1.0))
    qx, qy = alignment.apply(ref.stats.cx, ref.stats.cy)
    figure = np.sqrt(max(float(st.area[1:].sum() - st.area[np.unique(border_labels(regions))].sum()), H * W * 0.05))
    dist = np.hypot(st.cy[:, None] - qy[None, :], st.cx[:, None] - qx[None, :]) / figure
    figure = np.sqrt(max(float(st.area[1:].sum() - st.area[np.unique(border_labels(regions))].sum()), H * W * 0.05))
    size = np.abs(np.log((st.area[:, None] + 1.0) / (area_q[None, :] + 1.0)))
    cost = W_POSITION * dist + W_AREA * size - W_OVERLAP * overlap
    if parts is not None and ref.parts is not None and parts.shape[1] == ref.parts.shape[1]:
        cost += W_PART * (1.0 - np.minimum(parts[:, None, :], ref.parts[None, :, :]).sum(2))
    valid = (ref.color_id >= 0) & (ref.stats.area >= MIN_REF_AREA)
    valid[0] = False
    cost[:, ~valid] = np.inf
    K = len(ref.palette)
    # each palette color's cost: its best region's
    per_color = np.full((n, K), np.inf)
    best_q = np.zeros((n, K), np.int64)
    for k in range(K):
        ids = np.flatnonzero(ref.color_id == k)
        ids = ids[ids > 0]
        if ids.size:
            sub = cost[:, ids]
            j = sub.argmin(1)
            per_color[:, k] = sub[np.arange(n), j]
            best_q[:, k] = ids[j]
    order = np.argsort(per_color, axis=1)
    k1 = order[:, 0]
    c1 = per_color[np.arange(n), k1]
    c2 = per_color[np.arange(n), order[:, 1]] if K > 1 else np.full(n, np.inf)
    margin = np.where(np.isfinite(c2), c2 - c1, 10.0)
    conf = (1.0 - np.exp(-margin / MARGIN)) * np.exp(-np.maximum(c1, 0.0))
    conf *= float(np.clip((alignment.fit - NO_FIT) / (MIN_FIT - NO_FIT), 0.0, 1.0))
    conf[~np.isfinite(c1)] = 0.0
    lut = np.asarray(base, np.uint8).copy()
    color_id = np.full(n, -1, np.int64)
    source = np.full(n, SOURCES.index("model"), np.int64)
    matched = np.zeros(n, np.int64)
    good = conf >= MIN_CONFIDENCE
    good[0] = False
    lut[good] = ref.palette[k1[good]]
    color_id[good] = k1[good]
    matched[good] = best_q[good, k1[good]]
    source[good] = SOURCES.index("reference")
    if parts is not None and ref.parts is not None and alignment.fit >= NO_FIT:
        by_part = ref.part_palette()
        name = np.asarray(ref.part_names)[parts.argmax(1)]
        for r in np.flatnonzero(~good[1:]) + 1:
            k = by_part.get(str(name[r]))
            if k is not None:
                lut[r] = ref.palette[k]
                color_id[r] = k
                source[r] = SOURCES.index("part")
    return Match(lut, conf.astype(np.float32), matched, source, color_id, alignment, ref)
