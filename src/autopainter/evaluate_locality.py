"""The locality protocol: ``autopainter evaluate --protocol locality``. Does a hint change its material, and only it?

A user who paints one stroke on the hair means *the hair*: every strand, across the lines between them, and
nothing else; locality is a number, and this protocol is it (docs/evaluate.md). The target's material map
(``data.materials``: one source part x one fill color; derived from flat colors where a dataset has none)
says which pixels are one material. For every pair of the split (``--limit N``):

1. **Materials hinted**: up to ``K`` (3) of the largest materials of the map (by non-ink pixels) that are not
   paper (``MaterialMap.is_paper``) and that span at least two sketch regions. The regions are the product's
   (``Colorizer.regions``: ``inference.regions.segment`` with the colorizer's gap, what the flat style fills);
   a region belongs to the material holding the majority (over half) of its non-ink pixels.
2. **Ink**: map label 0, and every sketch pixel the product counts as line (``compose.paper_mask`` at
   ``ink.LINE_INK``, alias ``compose.INK_THRESHOLD``). A material's pixels are its non-ink pixels.
3. **One stroke per material** (``hint_stroke``): a straight line ``STROKE_LENGTH`` of the shorter image side
   long (20 px at 256) and ``STROKE_WIDTH`` wide (3 px at 256), centred on the material's deepest point
   (``deepest_point``: the pixel farthest from its boundary, Euclidean distance transform, the image border
   counting as boundary), at the one of 8 angles that keeps most of it inside, then clipped to the material
   (the connected part through the point): a hint never leaves its material.
4. **Runs**: one without hints per image, and per material two runs of its own: the stroke in the material's
   median target color, and in that color turned ``HUE_TURN`` (120) degrees in HSV hue (a gray stays gray, so
   its turned run repeats the median one; the report counts them as ``gray_materials``). The generator runs
   1 + 2 K times per image; each run is finished in every requested style (flat, soft) from the same output.
5. **Off-material change**: the share of non-ink pixels outside the material whose output moved by more than
   ``OFF_DE`` (ΔE 10, CIE76 on ``colorspace.lab``) against the no-hint run. Mean over runs, per hint color.
   Goal: 0 (only the hinted material changes).
6. **Material reach**: the share of the material's pixels within ``REACH_DE`` (ΔE 12) of the hint color.
   Mean over runs, per hint color. Goal: 1 (the hint reaches every strand).
7. **Material AUC**: over pairs of nearby sketch regions (adjacent in the region map, whose line pixels belong
   to the nearest region, so two regions either side of one line are neighbours; or within ``NEAR`` px of each
   other over the paper: 3 px at 256), a pair is *same* when both regions lie (by majority of their non-ink
   pixels) in one material, *different* when their target median colors (CIELAB, per channel) differ by more
   than ``DIFFERENT_DE`` (ΔE 25); pairs in between are left out. Each pair is scored by a *cue* (``CUES``):
   ``output_color`` (today's cue: minus the ΔE between the two regions' median colors in the no-hint output of
   the style) and ``centroid`` (minus the distance between the regions' centroids, per image diagonal). The
   ROC AUC of the scores for same against different, pooled over all pairs of all images (``roc_auc``: the
   Mann-Whitney U statistic). Goal: 0.85. A cue is a function of ``PairContext``, so a future material head
   plugs in as one more entry.

8. **Paper kept** (``target_open_paper``): the share of the target's open paper (its white pixels connected to
   the image's border) whose output stays within ``PAPER_DE`` (ΔE 5) of white, in each hinted run. Mean over the
   runs of images that have open paper (``paper_runs``). Goal: ``PAPER_GOAL`` (0.95): a hint on the character
   does not tint the sheet.

``measure_image`` does 1-8 for one image with any ``colorize`` function (tests pass fakes);
``evaluate_locality`` runs it over a split with a ``Colorizer`` and writes ``metrics.json`` and
``examples.png`` (sketch, no-hint output, the largest material's median stroke and output, turned stroke and
output, target).
"""

from __future__ import annotations

import colorsys
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from . import colorspace
from .data.hints import hints_to_rgba
from .data.materials import MaterialMap
from .evaluate import EvalError, _overlay, open_split, report_head, write_report
from .imageio import ImageError
from .inference.compose import paper_mask
from .ink import LINE_INK

__all__ = ["evaluate_locality", "measure_image", "format_locality", "roc_auc", "deepest_point", "hint_stroke",
           "turn_hue", "material_ink", "hinted_materials", "region_pairs", "PairContext", "CUES",
           "output_color_cue", "centroid_cue", "material_head_cue", "K", "OFF_DE", "REACH_DE", "DIFFERENT_DE", "HUE_TURN", "AUC_GOAL"]

K = 3  # materials hinted per image, the largest first
OFF_DE = 10.0  # ΔE above which an off-material pixel counts as changed by the hint
REACH_DE = 12.0  # ΔE within which a material pixel counts as reached by the hint color
DIFFERENT_DE = 25.0  # target region colors this far apart make a "different" pair for the material AUC
HUE_TURN = 120.0  # degrees: the second hint color of each material
AUC_GOAL = 0.85
REFERENCE = 256  # px: the sizes below are given at this shorter side and scale with it
STROKE_LENGTH = 0.08  # of the shorter side (20 px at 256)
STROKE_WIDTH = 3  # px at 256
NEAR = 3  # px at 256: regions this close over the paper are a pair
ANGLES = 8  # stroke directions tried (every 22.5 degrees)
HINT_COLORS = ("median", "turned")
PAPER_DE = 5.0  # ΔE from white within which the target's open paper counts as kept
PAPER_GOAL = 0.95


# ------------------------------------------------------------------------------ the parts
def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC of ``scores`` (higher: more likely positive) for the bool labels ``positive``: the chance that
    a random positive outscores a random negative, ties counting half (Mann-Whitney U / (n1 n0)). None
    without both classes."""
    from scipy.stats import rankdata

    s, pos = np.asarray(scores, np.float64).ravel(), np.asarray(positive, bool).ravel()
    if s.shape != pos.shape:
        raise ValueError(f"scores {s.shape} and labels {pos.shape} differ in length")
    n1 = int(pos.sum())
    n0 = pos.size - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(s)  # ties get their mean rank
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def scaled(px_at_256: float, shape: tuple[int, int], least: int = 1) -> int:
    """A size given at a 256 px shorter side, for an image of ``shape`` (H, W)."""
    return max(least, round(px_at_256 * min(shape[:2]) / REFERENCE))


def material_ink(sketch: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: the protocol's ink, map label 0 or a sketch pixel the product counts as line
    (``compose.paper_mask`` at ``LINE_INK``). sketch: (H, W) uint8, 255 paper; labels: (H, W) int."""
    return (np.asarray(labels) == 0) | ~paper_mask(np.asarray(sketch), LINE_INK)


def target_open_paper(target: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """(H, W) bool: the target's open paper, its white (within ``PAPER_DE`` of white) non-ink pixels connected
    (4-neighbours) to the image's border: what a hint on the character must leave white."""
    import cv2

    white = colorspace.lab(np.array([255, 255, 255], np.uint8))
    near = (np.linalg.norm(colorspace.lab(target) - white, axis=-1) <= PAPER_DE) & ~ink
    n, comp = cv2.connectedComponents(near.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    rim = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
    keep = np.zeros(n, bool)
    keep[rim[rim > 0]] = True
    return keep[comp]


def deepest_point(mask: np.ndarray) -> tuple[int, int]:
    """(y, x) of the pixel of ``mask`` (H, W) bool farthest from its boundary (Euclidean distance transform;
    outside the image counts as boundary). The first in raster order among equals. ValueError when empty."""
    import cv2

    if not mask.any():
        raise ValueError("deepest_point: empty mask")
    padded = np.pad(np.asarray(mask, np.uint8), 1)
    d = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(y), int(x)


def hint_stroke(mask: np.ndarray, point: tuple[int, int], length: int, width: int) -> np.ndarray:
    """(H, W) bool: a straight stroke ``length`` px long and ``width`` px wide centred on ``point`` (inside
    ``mask``), at the one of ``ANGLES`` directions that keeps most of it inside ``mask``, clipped to ``mask``
    and to its connected part (8-neighbours) through ``point``."""
    import cv2

    H, W = mask.shape
    py, px = point
    if not mask[py, px]:
        raise ValueError(f"hint_stroke: the point {point} is not in the mask")
    r = length // 2 + width  # a window around the point that holds every direction
    y0, y1, x0, x1 = max(0, py - r), min(H, py + r + 1), max(0, px - r), min(W, px + r + 1)
    win = mask[y0:y1, x0:x1]
    cy, cx = py - y0, px - x0
    best, best_in = None, -1
    for k in range(ANGLES):
        a = math.pi * k / ANGLES
        dx, dy = 0.5 * length * math.cos(a), 0.5 * length * math.sin(a)
        canvas = Image.new("1", (win.shape[1], win.shape[0]), 0)
        ImageDraw.Draw(canvas).line((cx - dx, cy - dy, cx + dx, cy + dy), fill=1, width=width)
        line = np.asarray(canvas, bool).copy()
        line[cy, cx] = True
        inside = int((line & win).sum())
        if inside > best_in:
            best, best_in = line, inside
    clipped = (best & win).astype(np.uint8)
    _, comp = cv2.connectedComponents(clipped, connectivity=8)
    out = np.zeros((H, W), bool)
    out[y0:y1, x0:x1] = comp == comp[cy, cx]
    return out


def turn_hue(rgb: Sequence[int], degrees: float = HUE_TURN) -> tuple[int, int, int]:
    """An RGB color (0..255) with its HSV hue turned by ``degrees``; saturation and value kept (grays stay)."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def _region_stats(labels: np.ndarray, count: int, valid: np.ndarray, values: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per region 0..count over the ``valid`` pixels: (pixel counts (n,), lower-median of each channel of
    ``values`` (H, W, C) as (n, C) float64, NaN for a region without valid pixels)."""
    n = count + 1
    idx = labels[valid].astype(np.int64)
    vals = values[valid].astype(np.float64)  # (P, C)
    counts = np.bincount(idx, minlength=n)
    med = np.full((n, vals.shape[1]), np.nan)
    have = counts > 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mid = starts + (counts - 1) // 2
    for ch in range(vals.shape[1]):
        order = np.lexsort((vals[:, ch], idx))  # by region, then by value
        med[have, ch] = vals[order, ch][mid[have]]
    return counts, med


def region_materials(regions: np.ndarray, count: int, mat_labels: np.ndarray, free: np.ndarray) -> np.ndarray:
    """(count + 1,) int: the material holding over half of each region's ``free`` pixels (0: none does)."""
    n, m = count + 1, int(mat_labels.max(initial=0)) + 1
    reg = regions[free].astype(np.int64)
    keys, px = np.unique(reg * m + mat_labels[free], return_counts=True)  # (region, material) -> pixels
    total = np.bincount(reg, minlength=n)
    best = np.zeros(n, np.int64)
    best_px = np.zeros(n, np.int64)
    order = np.lexsort((-px, keys // m))  # per region, its largest material first
    first = np.ones(order.size, bool)
    first[1:] = (keys // m)[order][1:] != (keys // m)[order][:-1]
    r, lab, cnt = (keys // m)[order][first], (keys % m)[order][first], px[order][first]
    best[r], best_px[r] = lab, cnt
    return np.where((best_px * 2 > total) & (best > 0), best, 0)


@dataclass
class Material:
    """A material chosen for hints: its map ``label`` and part ``name``, ``pixels`` (non-ink), how many sketch
    ``regions`` it holds, and its ``median`` target RGB."""

    label: int
    name: str
    pixels: int
    regions: int
    median: tuple[int, int, int]


def hinted_materials(mm: MaterialMap, ink: np.ndarray, region_material: np.ndarray, target: np.ndarray,
                     k: int = K) -> tuple[list[Material], dict[str, int]]:
    """Up to ``k`` of the largest materials that are not paper and hold at least two regions (by majority),
    and the counts of those left out (``paper``, ``single_region``; ``small``: the rest beyond ``k``)."""
    labels = mm.labels
    areas = np.bincount(labels[~ink].ravel(), minlength=mm.count + 1)
    held = np.bincount(region_material[region_material > 0], minlength=mm.count + 1)
    chosen, left = [], {"paper": 0, "single_region": 0, "beyond_k": 0}
    for lab in np.argsort(-areas[1:], kind="stable") + 1:
        if areas[lab] == 0:
            break
        if mm.is_paper(int(lab)):
            left["paper"] += 1
        elif held[lab] < 2:
            left["single_region"] += 1
        elif len(chosen) >= k:
            left["beyond_k"] += 1
        else:
            px = target[(labels == lab) & ~ink]
            chosen.append(Material(int(lab), mm.names.get(int(lab), ""), int(areas[lab]), int(held[lab]),
                                   tuple(int(c) for c in np.median(px, axis=0).round())))
    return chosen, left


def region_pairs(labels: np.ndarray, free: np.ndarray, near: int) -> np.ndarray:
    """(P, 2) int64 pairs (a < b) of nearby regions: 4-neighbours in the full region map (line pixels belong to
    the nearest region, so regions either side of one line meet), or ``free`` pixels within ``near`` px."""
    labels = labels.astype(np.int64)
    H, W = labels.shape
    n = int(labels.max()) + 1
    keys = []

    def add(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> None:
        a, b = a[m], b[m]
        keys.append(np.unique(np.minimum(a, b) * n + np.maximum(a, b)))

    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        add(a, b, a != b)
    for dy in range(near + 1):
        for dx in range(-near, near + 1):
            if (dy == 0 and dx <= 0) or dy * dy + dx * dx > near * near:
                continue
            xa0, xa1 = max(0, -dx), W - max(0, dx)
            if xa1 <= xa0 or dy >= H:
                continue
            a, b = labels[: H - dy, xa0:xa1], labels[dy:, xa0 + dx : xa1 + dx]
            add(a, b, (a != b) & free[: H - dy, xa0:xa1] & free[dy:, xa0 + dx : xa1 + dx])
    k = np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
    return np.stack([k // n, k % n], axis=1)


@dataclass
class PairContext:
    """What a cue may look at for one image: the nearby region pairs ``a[i]``, ``b[i]`` (region labels), the
    sketch (H, W) uint8, the regions (H, W) int, the no-hint ``output`` (H, W, 3) uint8 of the style and its
    per-region median CIELAB ``output_lab`` (count + 1, 3), the regions' ``centroids`` (count + 1, 2) (y, x)
    in px, and the image ``diagonal`` in px."""

    a: np.ndarray
    b: np.ndarray
    sketch: np.ndarray
    regions: np.ndarray
    output: np.ndarray
    output_lab: np.ndarray
    centroids: np.ndarray
    diagonal: float
    embedding: np.ndarray | None = None  # (H, W, D) the material head's no-hint embedding (None: no head)


Cue = Callable[[PairContext], np.ndarray]  # (P,) scores, higher: the two regions are more likely one material


def output_color_cue(ctx: PairContext) -> np.ndarray:
    """Today's cue: regions the model colors alike belong together (minus ΔE of their median output colors)."""
    return -np.linalg.norm(ctx.output_lab[ctx.a] - ctx.output_lab[ctx.b], axis=1)


def centroid_cue(ctx: PairContext) -> np.ndarray:
    """Nearness alone: minus the distance between the regions' centroids, per image diagonal."""
    return -np.linalg.norm(ctx.centroids[ctx.a] - ctx.centroids[ctx.b], axis=1) / ctx.diagonal


def material_head_cue(ctx: PairContext) -> np.ndarray:
    """The material head (``model.material_dim``): cosine of the two regions' mean embeddings off the lines."""
    if ctx.embedding is None:
        raise ValueError("the material_head cue needs a model with a material head (model.material_dim)")
    count = int(ctx.regions.max())
    free = paper_mask(ctx.sketch, LINE_INK)
    rl = ctx.regions[free]
    e = ctx.embedding[free]  # (N, D)
    sums = np.stack([np.bincount(rl, weights=e[:, d], minlength=count + 1) for d in range(e.shape[1])], 1)
    means = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-8)  # (count + 1, D)
    return np.einsum("pd,pd->p", means[ctx.a], means[ctx.b])


CUES: dict[str, Cue] = {"output_color": output_color_cue, "centroid": centroid_cue}

Colorize = Callable[[Image.Image, "np.ndarray | None"], Mapping[str, np.ndarray]]


@dataclass
class ImageResult:
    """One image's figures: per material (``materials``), per style and hint color, the off-material share
    and the reach (``runs[style][color]``: lists, one per material); the scored pairs (``same``: bool (P,),
    ``scores[style][cue]``: (P,)); counts of materials left out; the images for the example grid."""

    materials: list[Material]
    left_out: dict[str, int]
    runs: dict[str, dict[str, dict[str, list[float]]]]
    same: np.ndarray
    scores: dict[str, dict[str, np.ndarray]]
    example: list[Image.Image]


def measure_image(colorize: Colorize, sketch: Image.Image, target: np.ndarray, mm: MaterialMap,
                  regions: np.ndarray, styles: Sequence[str] = ("flat",), cues: Mapping[str, Cue] = CUES,
                  k: int = K) -> ImageResult:
    """The protocol (module doc, steps 1-7) on one image.

    Args:
        colorize: ``colorize(sketch, hints)`` with ``hints`` an (H, W, 4) uint8 RGBA array or None -> the
            outputs {style: (H, W, 3) uint8} for every style in ``styles``.
        sketch: the line art (any PIL mode; read as gray), (W, H) the target's size.
        target: (H, W, 3) uint8. mm: its material map at (H, W).
        regions: (H, W) int, the sketch regions (``Colorizer.regions(sketch).labels``), 1..count.
    """
    gray = np.asarray(sketch.convert("L"))
    labels = mm.labels
    if labels.shape != gray.shape or target.shape[:2] != gray.shape or regions.shape != gray.shape:
        raise ValueError(f"sketch {gray.shape}, target {target.shape[:2]}, map {labels.shape} and regions "
                         f"{regions.shape} must be one size")
    H, W = gray.shape
    ink = material_ink(gray, labels)
    paper = paper_mask(gray, LINE_INK)  # the sketch's own paper: pairs and region colors are read there
    count = int(regions.max())
    region_material = region_materials(regions, count, labels, ~ink)  # map label 0 has no vote
    chosen, left_out = hinted_materials(mm, ink, region_material, target, k)

    # the region pairs and their ground truth
    counts, tgt_med = _region_stats(regions, count, paper, colorspace.lab(target))
    pairs = region_pairs(regions, paper, scaled(NEAR, (H, W)))
    a, b = pairs[:, 0], pairs[:, 1]
    ok = (counts[a] > 0) & (counts[b] > 0)
    a, b = a[ok], b[ok]
    same = (region_material[a] > 0) & (region_material[a] == region_material[b])
    different = ~same & (np.linalg.norm(tgt_med[a] - tgt_med[b], axis=1) > DIFFERENT_DE)
    a, b, same = a[same | different], b[same | different], same[same | different]
    ys, xs = np.nonzero(paper)
    rl = regions[paper]
    cen = np.stack([np.bincount(rl, weights=w, minlength=count + 1) for w in (ys, xs)], 1)  # (count + 1, 2)
    cen /= np.maximum(counts, 1)[:, None]

    base = colorize(sketch, None)
    base_lab = {s: colorspace.lab(base[s]) for s in styles}
    scores: dict[str, dict[str, np.ndarray]] = {}
    for s in styles:
        _, out_med = _region_stats(regions, count, paper, base_lab[s])
        ctx = PairContext(a, b, gray, regions, base[s], out_med, cen, float(math.hypot(H, W)), base.get("embedding"))
        scores[s] = {name: np.asarray(cue(ctx), np.float64) for name, cue in cues.items()}

    runs = {s: {c: {"off_material": [], "reach": [], "paper_kept": []} for c in HINT_COLORS} for s in styles}
    open_paper_px = target_open_paper(target, ink)
    white = colorspace.lab(np.array([255, 255, 255], np.uint8))
    length, width = scaled(STROKE_LENGTH * REFERENCE, (H, W), 2), scaled(STROKE_WIDTH, (H, W))
    example = [sketch.convert("RGB"), Image.fromarray(base[styles[0]])]
    for j, mat in enumerate(chosen):
        inside = (labels == mat.label) & ~ink
        outside = ~ink & ~inside
        stroke = hint_stroke(inside, deepest_point(inside), length, width)
        for c, rgb in zip(HINT_COLORS, (mat.median, turn_hue(mat.median))):
            hint_rgb = np.zeros((H, W, 3), np.uint8)
            hint_rgb[stroke] = rgb
            rgba = hints_to_rgba(hint_rgb, stroke)
            outs = colorize(sketch, rgba)
            want = colorspace.lab(np.array(rgb, np.uint8))
            for s in styles:
                o_lab = colorspace.lab(outs[s])
                moved = np.linalg.norm(o_lab[outside] - base_lab[s][outside], axis=1) > OFF_DE
                near_hint = np.linalg.norm(o_lab[inside] - want, axis=1) <= REACH_DE
                runs[s][c]["off_material"].append(float(moved.mean()) if moved.size else 0.0)
                runs[s][c]["reach"].append(float(near_hint.mean()))
                if open_paper_px.any():
                    kept = np.linalg.norm(o_lab[open_paper_px] - white, axis=1) <= PAPER_DE
                    runs[s][c]["paper_kept"].append(float(kept.mean()))
            if j == 0:
                example += [_overlay(sketch, rgba), Image.fromarray(outs[styles[0]])]
    example.append(Image.fromarray(target))
    return ImageResult(chosen, left_out, runs, same, scores, example)


# ------------------------------------------------------------------------------ over a split
def _colorize_with(colorizer, styles: Sequence[str]) -> Colorize:
    """A ``Colorize`` from a ``Colorizer``: the generator once per call, finished in every style."""

    def colorize(sketch: Image.Image, hints: np.ndarray | None) -> dict[str, np.ndarray]:
        prep = colorizer.prepare(sketch, Image.fromarray(hints, "RGBA") if hints is not None else None)
        generated = colorizer.generate(prep.x)  # (h, w, 3) uint8, or None without a generator
        out = {s: np.asarray(colorizer.finish(prep, generated, style=s).image) for s in styles}
        if hints is None and (emb := colorizer.material_embedding(prep)) is not None:
            out["embedding"] = emb  # (H, W, D), for the material_head cue
        return out

    return colorize


def evaluate_locality(
    model_dir: str | Path | None,
    data_dir: str | Path,
    split: str = "test",
    layout: str = "auto",
    sketch_side: str = "right",
    out_dir: str | Path | None = None,
    limit: int = 0,
    size: int | None = None,
    examples: int = 8,
    device: str = "cpu",
    progress: Callable | None = None,
    style: str = "flat",
    hint_scope: str = "local",
    styles: Sequence[str] | None = None,
    cues: Mapping[str, Cue] = CUES,
    k: int = K,
) -> dict:
    """The locality protocol (module doc) for a model folder (None or "bundled": the bundled model; "none":
    the hints-only fill) on ``data_dir``'s ``split``.

    ``style`` is the style reported first (``report["style"]``); ``styles`` (default: just ``style``) are all
    the styles measured, each from the same generator runs. Returns the report, also written as
    ``out_dir/metrics.json`` with ``out_dir/examples.png``.
    """
    styles = tuple(dict.fromkeys([style, *(styles or ())]))  # ``style`` first, each once
    if k < 1:
        raise EvalError(f"k must be >= 1, got {k}")
    ds, colorizer = open_split(model_dir, data_dir, split, layout, sketch_side, device, size, style, hint_scope=hint_scope)
    if colorizer.generator is None and styles != ("flat",):
        raise EvalError("without a model (--model none) only the flat style exists")
    colorize = _colorize_with(colorizer, styles)
    if colorizer.generator is not None and colorizer.generator.material_head is not None:
        cues = {**cues, "material_head": material_head_cue}  # the model's own grouping, beside today's cues
    n_items = len(ds) if limit <= 0 else min(limit, len(ds))
    if n_items < 1:
        raise EvalError(f"{ds.root} holds no pairs")

    runs = {s: {c: {"off_material": [], "reach": [], "paper_kept": []} for c in HINT_COLORS} for s in styles}
    same: list[np.ndarray] = []
    scores = {s: {name: [] for name in cues} for s in styles}
    left = {"paper": 0, "single_region": 0, "beyond_k": 0}
    sources: dict[str, int] = {}
    n_materials = gray = skipped = 0
    per_image, rows = [], []
    t0 = time.perf_counter()
    items = range(n_items)
    for i in progress(items) if progress else items:
        try:
            sketch, target = ds.pair(i)
            mm = ds.materials(i, size=target.size)
            res = measure_image(colorize, sketch, np.asarray(target), mm, colorizer.regions(sketch).labels,
                                styles, cues, k)
        except (ImageError, ValueError):  # unreadable, too large for the colorizer ...
            skipped += 1
            continue
        sources[mm.source] = sources.get(mm.source, 0) + 1
        for s in styles:
            for c in HINT_COLORS:
                for key in ("off_material", "reach", "paper_kept"):
                    runs[s][c][key] += res.runs[s][c][key]
            for name in cues:
                scores[s][name].append(res.scores[s][name])
        same.append(res.same)
        for key, v in res.left_out.items():
            left[key] += v
        n_materials += len(res.materials)
        gray += sum(turn_hue(m.median) == m.median for m in res.materials)
        per_image.append({
            "name": Path(ds.paths[i]).name,
            "materials": [{"label": m.label, "name": m.name, "pixels": m.pixels, "regions": m.regions,
                           "median_rgb": list(m.median), "turned_rgb": list(turn_hue(m.median)),
                           **{s: {c: {key: round(res.runs[s][c][key][j], 4) for key in ("off_material", "reach")}
                                  for c in HINT_COLORS} for s in styles}}
                          for j, m in enumerate(res.materials)],
            "pairs": {"same": int(res.same.sum()), "different": int((~res.same).sum())},
        })
        if len(rows) < examples:
            rows.append(res.example)
    n_done = n_items - skipped
    if n_done < 1:
        raise EvalError(f"no readable pair in {ds.root}")
    same_all = np.concatenate(same)

    def mean(v: list[float]) -> float | None:
        return float(np.mean(v)) if v else None

    results = {}
    for s in styles:
        results[s] = {
            "off_material": {c: mean(runs[s][c]["off_material"]) for c in HINT_COLORS},
            "reach": {c: mean(runs[s][c]["reach"]) for c in HINT_COLORS},
            # over the hinted runs of images whose target has open paper (paper_runs of them)
            "paper_kept": {c: mean(runs[s][c]["paper_kept"]) for c in HINT_COLORS},
            "paper_runs": len(runs[s][HINT_COLORS[0]]["paper_kept"]),
            "material_auc": {name: roc_auc(np.concatenate(scores[s][name]), same_all) for name in cues},
        }
    report = {
        **report_head("locality", model_dir, colorizer, ds, split),
        "style": styles[0],
        "styles": list(styles),
        "images": n_done,
        "skipped": skipped,
        "working_size": colorizer.size,
        "seconds": round(time.perf_counter() - t0, 1),
        "maps": sources,  # how many maps came from the source's parts, how many were derived from colors
        "materials": n_materials,
        "gray_materials": int(gray),  # their turned hint is their median color
        "materials_left_out": left,
        "runs": n_done + 2 * n_materials,  # generator runs; each finished in every style
        "hinted_runs": 2 * n_materials,  # per style: the runs the off-material and reach means are over
        "pairs": {"same": int(same_all.sum()), "different": int((~same_all).sum())},
        "settings": {"k": k, "off_de": OFF_DE, "reach_de": REACH_DE, "different_de": DIFFERENT_DE,
                     "hue_turn": HUE_TURN, "stroke_length": f"{STROKE_LENGTH:g} of the shorter side",
                     "stroke_width_at_256": STROKE_WIDTH, "near_at_256": NEAR, "ink_threshold": LINE_INK,
                     "auc_goal": AUC_GOAL, "cues": list(cues),
                     "paper_de": PAPER_DE, "paper_goal": PAPER_GOAL},
        "results": results,
        "per_image": per_image,
    }
    write_report(report, out_dir, rows)
    return report


def format_locality(report: Mapping) -> str:
    """The report as a Markdown table (a row per style) and one line of counts."""

    def f(v, spec=".3f"):
        return "–" if v is None else format(v, spec)

    cues = report["settings"]["cues"]
    lines = [
        "| style | off-material ↓ median | off-material ↓ 120° | reach ↑ median | reach ↑ 120° | paper kept ↑ median "
        "| paper kept ↑ 120° | " + " | ".join(f"material AUC ↑ {c}" for c in cues) + " |",
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(cues),
    ]
    for s in report["styles"]:
        r = report["results"][s]
        kept = r.get("paper_kept", {})
        lines.append(f"| {s} | {f(r['off_material']['median'])} | {f(r['off_material']['turned'])} "
                     f"| {f(r['reach']['median'])} | {f(r['reach']['turned'])} "
                     f"| {f(kept.get('median'))} | {f(kept.get('turned'))} | "
                     + " | ".join(f(r["material_auc"][c]) for c in cues) + " |")
    lo, p = report["materials_left_out"], report["pairs"]
    lines.append(f"{report['images']} images, {report['materials']} materials hinted "
                 f"({report['gray_materials']} gray), "
                 f"{report['hinted_runs']} hinted runs, {report['runs']} model runs; left out: {lo['paper']} paper, "
                 f"{lo['single_region']} single-region, {lo['beyond_k']} beyond K={report['settings']['k']}; "
                 f"AUC over {p['same']} same / {p['different']} different region pairs (goal "
                 f"{report['settings']['auc_goal']}); maps: "
                 + ", ".join(f"{n} {src}" for src, n in sorted(report["maps"].items())))
    return "\n".join(lines)
