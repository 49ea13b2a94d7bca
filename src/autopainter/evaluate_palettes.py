"""The palettes protocol: ``autopainter evaluate --protocol palettes``. Do the no-hint colors hold per material?

A model with a part head and a material head colors each material of a sketch with one palette color when no
hint is given (``inference.palettes``; ``Colorizer.colorize(sketch, variant=N)``). This protocol asks, for every
pair of a split (``--limit N``), at 0 hints in the flat style (the product's default), for each palette variant
asked (``--variants 0,1,2``), whether those colors name the right parts, hold within a material, keep materials
apart, give skin a skin tone, and how colorful and how close to the target they are. The target's material map
(``data.materials``) is the truth. *Ink* is every sketch pixel darker than ``ink.MATERIAL_INK_BELOW`` (128),
as the maps have it (``data.materials.ink_of``); every figure below reads non-ink pixels only. A *true material*
is a map label > 0 that is not named paper and holds at least ``MIN_PIXELS`` (64) non-ink pixels.

1. **mIoU of material naming** (``part_overlap``), on maps that name a part besides paper: per part name of
   ``PARTS`` (skin, hair, eyes, clothing, accessory, other), the IoU between the true pixels of that part (an
   unnamed material of such a map is "other", as ``data.materials.part_targets`` teaches the part head) and the
   pixels the result's materials name that part (``ColorizeResult.material_labels()`` through
   ``materials.parts``). Intersections and unions are summed over the split per part; mIoU is the mean IoU over
   the parts present in truth or prediction. None for a model that names nothing or data without part names.
2. **Within-material consistency**: the share of a true material's area within ``CONSISTENT_DE`` (ΔE 10, CIE76
   on ``colorspace.lab``) of its dominant output color. The dominant color (``dominant_colors``) is the mode of
   the material's output pixels on a ``QUANT_BITS``-bit-per-channel RGB grid (5 bits: 32 levels), read as the
   per-channel median CIELAB of the pixels in that bin. Area-weighted over all true materials of the split (the
   sum of pixels within, over the sum of their pixels).
3. **Material distinctness**: the share of pairs of true materials (of one image) whose target median colors
   are at least ``TARGET_APART_DE`` (ΔE 20) apart that are at least ``OUTPUT_APART_DE`` (ΔE 10) apart in their
   dominant output colors; pooled over the pairs of the split. One color everywhere scores 0.
4. **Skin check** (below): the share of true skin pixels (map name "skin") whose output lies in the range.
   None where no skin is labelled.
5. **Colorfulness** (Hasler and Süsstrunk, "Measuring colourfulness in natural images", SPIE 2003):
   ``M = sqrt(σ_rg² + σ_yb²) + 0.3 sqrt(μ_rg² + μ_yb²)`` with ``rg = R - G`` and ``yb = (R + G) / 2 - B`` over
   every pixel of the 8-bit image; the mean over images of the output and of the target, and their ratio.
6. **PSNR** (``evaluate.psnr``'s definition: 8-bit RGB, capped at ``evaluate.PSNR_CAP``, mean over images) and
   **FD-Lite0** (``evaluate.FrechetLite0``: outputs against targets; ``fd=False``/``--no-fd`` skips it).

The target itself is scored as if it were the output (``reference``: consistency, skin check, colorfulness):
the ceiling set by the lines' anti-aliased fringe and by the data. ``measure_image`` does 1-5 for one output
(tests pass synthetic arrays); ``evaluate_palettes`` runs the generator once per pair, finishes it in every
variant, and writes ``metrics.json`` and ``examples.png`` (sketch, target, one column per variant).

The skin range and every threshold here were fixed before the part head's training run and before any output
was looked at.

**Skin check**: the share of true skin pixels whose output lies in a CIELAB range of human skin tones. The range
comes from the characters *train* split's skin pixels (every third pair whose map names skin: 1,148 pairs, 1.44 M
pixels, CIELAB of ``colorspace.lab_8bit``): L* from its 0.5th percentile (20.8, rounded up to 25) to its 99.5th
(92.5, up to 95); hue angle atan2(b*, a*) from 33.0 degrees (1st percentile, down to 30) to 92.0 (99.5th, up to 95);
chroma from 17.5 (1st percentile, down to 12) to 49.4 (99.5th, up to 55). OpenMoji's yellow (#fcea2b: chroma about
80) lies outside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from . import colorspace
from .data.materials import OTHER, PAPER, MaterialMap, ink_of, part_targets
from .evaluate import (PSNR_CAP, EvalError, FeatureNet, FrechetLite0, MetricContext, _thumbnail, open_split,
                       report_head, write_report)
from .evaluate_locality import _region_stats
from .imageio import ImageError
from .ink import MATERIAL_INK_BELOW
from .inference.palettes import COLORED_PARTS, MAX_VARIANT

__all__ = ["evaluate_palettes", "format_palettes", "measure_image", "ImageFigures", "parse_variants",
           "colorfulness", "psnr", "in_skin_range", "names_parts", "true_parts", "predicted_parts", "part_overlap",
           "dominant_colors", "PARTS", "MIN_PIXELS", "CONSISTENT_DE", "TARGET_APART_DE", "OUTPUT_APART_DE",
           "QUANT_BITS", "SKIN_L", "SKIN_HUE", "SKIN_CHROMA"]

SKIN_L = (25.0, 95.0)  # CIELAB L* of human skin tones (characters train split; module doc)
SKIN_HUE = (30.0, 95.0)  # degrees, atan2(b*, a*)
SKIN_CHROMA = (12.0, 55.0)  # sqrt(a*^2 + b*^2)

PARTS = COLORED_PARTS  # the part names scored by mIoU: skin, hair, eyes, clothing, accessory, other
MIN_PIXELS = 64  # non-ink pixels a true material needs to be scored (consistency, distinctness)
CONSISTENT_DE = 10.0  # ΔE within which a material's pixel counts as its dominant output color
TARGET_APART_DE = 20.0  # target median colors this far apart make a pair that should stay apart
OUTPUT_APART_DE = 10.0  # ... and it does when the output's dominant colors are this far apart
QUANT_BITS = 5  # bits per RGB channel of the grid whose fullest bin is a material's dominant color


# ------------------------------------------------------------------------------ the parts
def parse_variants(text: str | Sequence[int]) -> list[int]:
    """"0,1,2" (or a sequence of ints) -> [0, 1, 2]: whole numbers 0..``MAX_VARIANT``, each once, in order given.
    ValueError otherwise."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    try:
        out = [int(s) for s in items if s != ""]
    except (TypeError, ValueError):
        raise ValueError(f"variants are whole numbers separated by commas, e.g. 0,1,2; got {text!r}") from None
    if not out or any(not 0 <= v <= MAX_VARIANT for v in out):
        raise ValueError(f"variants are whole numbers from 0 to {MAX_VARIANT}, e.g. 0,1,2; got {text!r}")
    return list(dict.fromkeys(out))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Süsstrunk's colorfulness M of an (H, W, 3) uint8 RGB image (module doc, 5); 0 for a gray one."""
    x = np.asarray(rgb, np.float64).reshape(-1, 3)  # (N, 3)
    rg = x[:, 0] - x[:, 1]
    yb = 0.5 * (x[:, 0] + x[:, 1]) - x[:, 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def psnr(output: np.ndarray, target: np.ndarray) -> float:
    """PSNR (dB) of two (H, W, 3) uint8 images with peak 255, capped at ``PSNR_CAP`` (``evaluate.psnr``)."""
    mse = float(np.mean((np.asarray(output, np.float64) - np.asarray(target, np.float64)) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10.0 * np.log10(255.0 ** 2 / mse))


def in_skin_range(lab: np.ndarray) -> np.ndarray:
    """(..., 3) CIELAB -> (...) bool: L* in ``SKIN_L``, hue angle atan2(b*, a*) (degrees) in ``SKIN_HUE`` and
    chroma in ``SKIN_CHROMA``, bounds included."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    hue, chroma = np.degrees(np.arctan2(b, a)), np.hypot(a, b)
    return ((SKIN_L[0] <= L) & (L <= SKIN_L[1]) & (SKIN_HUE[0] <= hue) & (hue <= SKIN_HUE[1])
            & (SKIN_CHROMA[0] <= chroma) & (chroma <= SKIN_CHROMA[1]))


def names_parts(mm: MaterialMap) -> bool:
    """Whether the map names a part besides the paper (there, an unnamed material is ``OTHER``)."""
    return any(n and n != PAPER for n in mm.names.values())


def true_parts(mm: MaterialMap, ink: np.ndarray) -> np.ndarray:
    """(H, W) int64: each non-ink pixel's true part as an index into ``PARTS`` (-1: ink, paper, background, a
    pixel of no material; everything on a map that names no part)."""
    if not names_parts(mm):
        return np.full(mm.labels.shape, -1, np.int64)
    return np.where(ink, -1, part_targets(mm, PARTS))


def predicted_parts(material_labels: np.ndarray, parts: Sequence[str], ink: np.ndarray) -> np.ndarray:
    """(H, W) int64: the part each non-ink pixel's material is named (index into ``PARTS``; -1: no material, ink).
    material_labels: (H, W) int, 1..M (``ColorizeResult.material_labels()``); parts: the M materials' part names."""
    index = {p: i for i, p in enumerate(PARTS)}
    lut = np.asarray([-1] + [index.get(p, index[OTHER]) for p in parts], np.int64)  # (M + 1,)
    return np.where(ink, -1, lut[np.asarray(material_labels)])


def part_overlap(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per part of ``PARTS``: (intersections (K,), unions (K,)) int64 pixel counts of two (H, W) part maps
    (index into ``PARTS``, -1 none)."""
    K = len(PARTS)
    t, p = truth.ravel() + 1, pred.ravel() + 1  # 0: none
    inter = np.bincount(t[(t == p) & (t > 0)], minlength=K + 1)[1:]
    union = np.bincount(t, minlength=K + 1)[1:] + np.bincount(p, minlength=K + 1)[1:] - inter
    return inter.astype(np.int64), union.astype(np.int64)


def dominant_colors(rgb: np.ndarray, labels: np.ndarray, valid: np.ndarray, n: int) -> np.ndarray:
    """(n + 1, 3) float64 CIELAB: per label 0..n, its dominant color over the ``valid`` pixels (module doc, 2):
    the fullest bin of a ``QUANT_BITS``-bit RGB grid (the lowest bin among equals), read as the per-channel
    (lower) median CIELAB of its pixels; NaN for a label without valid pixels.
    rgb: (H, W, 3) uint8; labels: (H, W) int 0..n; valid: (H, W) bool."""
    shift, side = 8 - QUANT_BITS, 1 << QUANT_BITS
    q = (np.asarray(rgb) >> shift).astype(np.int64)
    bins = (q[..., 0] * side + q[..., 1]) * side + q[..., 2]  # (H, W) 0..side^3 - 1
    keys, counts = np.unique(labels[valid].astype(np.int64) * side ** 3 + bins[valid], return_counts=True)
    lab_of = keys // side ** 3
    order = np.lexsort((-counts, lab_of))  # per label, its fullest bin first (lowest bin among equals)
    first = np.ones(order.size, bool)
    first[1:] = lab_of[order][1:] != lab_of[order][:-1]
    top = np.full(n + 1, -1, np.int64)  # (n + 1,) each label's dominant bin
    top[lab_of[order][first]] = (keys % side ** 3)[order][first]
    in_top = valid & (bins == top[labels])
    return _region_stats(labels, n, in_top, colorspace.lab(np.asarray(rgb)))[1]


@dataclass
class ImageFigures:
    """One output's counts, to be pooled over a split: ``consistent``/``area`` (pixels of the true materials
    within ``CONSISTENT_DE`` of their dominant color / all their pixels), ``apart``/``pairs`` (pairs of true
    materials apart in the output / apart in the target), ``skin_in``/``skin`` (true skin pixels in the skin
    range / all of them), ``inter``/``union`` per part of ``PARTS`` (None: no part names or no prediction),
    ``colorfulness`` and ``psnr`` of the image, and ``dominant`` (T, 3) CIELAB of its true materials."""

    consistent: int
    area: int
    apart: int
    pairs: int
    skin_in: int
    skin: int
    inter: np.ndarray | None
    union: np.ndarray | None
    colorfulness: float
    psnr: float
    dominant: np.ndarray

    @property
    def miou(self) -> float | None:
        return miou(self.inter, self.union)


def miou(inter: np.ndarray | None, union: np.ndarray | None) -> float | None:
    """Mean IoU over the parts with a non-empty union (present in truth or prediction); None without any."""
    if inter is None or union is None or not (union > 0).any():
        return None
    return float(np.mean(inter[union > 0] / union[union > 0]))


def measure_image(output: np.ndarray, target: np.ndarray, sketch: np.ndarray, mm: MaterialMap,
                  material_labels: np.ndarray | None = None, parts: Sequence[str] = ()) -> ImageFigures:
    """Figures 1-5 of the module doc (and PSNR) for one output.

    Args:
        output, target: (H, W, 3) uint8 RGB. sketch: (H, W) uint8 gray, 255 paper. mm: the target's map at (H, W).
        material_labels: (H, W) int, the output's materials 1..M (0: none), or None for a model that names
            none; parts: the M materials' part names.
    """
    output, target, sketch = np.asarray(output), np.asarray(target), np.asarray(sketch)
    labels = np.asarray(mm.labels)
    if output.shape != target.shape or target.shape[:2] != sketch.shape or labels.shape != sketch.shape:
        raise ValueError(f"output {output.shape}, target {target.shape}, sketch {sketch.shape} and map "
                         f"{labels.shape} must be one size")
    ink = ink_of(sketch)
    n = int(labels.max(initial=0))
    area = np.bincount(labels[~ink].ravel(), minlength=n + 1)  # (n + 1,) non-ink pixels per label
    scored = area >= MIN_PIXELS
    scored[0] = False
    scored[[k for k, v in mm.names.items() if v == PAPER and 0 < k <= n]] = False
    valid = ~ink & scored[labels]  # (H, W) the pixels of the true materials
    ids = np.flatnonzero(scored)  # (T,)

    out_lab = colorspace.lab(output)  # (H, W, 3)
    dom = dominant_colors(output, labels, valid, n)  # (n + 1, 3)
    near = np.linalg.norm(out_lab - dom[labels], axis=-1) <= CONSISTENT_DE  # (H, W); NaN rows compare False
    consistent = int((near & valid).sum())

    tgt_med = _region_stats(labels, n, valid, colorspace.lab(target))[1]  # (n + 1, 3)
    iu = np.triu_indices(ids.size, 1)
    d_tgt = np.linalg.norm(tgt_med[ids][:, None] - tgt_med[ids][None], axis=-1)[iu]  # (T (T - 1) / 2,)
    d_out = np.linalg.norm(dom[ids][:, None] - dom[ids][None], axis=-1)[iu]
    should = d_tgt >= TARGET_APART_DE

    skin_labels = [k for k, v in mm.names.items() if v == "skin"]
    skin = ~ink & np.isin(labels, skin_labels) & (labels > 0)
    inter = union = None
    if material_labels is not None and names_parts(mm):
        inter, union = part_overlap(true_parts(mm, ink), predicted_parts(material_labels, parts, ink))
    return ImageFigures(
        consistent=consistent, area=int(valid.sum()),
        apart=int((d_out[should] >= OUTPUT_APART_DE).sum()), pairs=int(should.sum()),
        skin_in=int(in_skin_range(out_lab[skin]).sum()), skin=int(skin.sum()),
        inter=inter, union=union, colorfulness=colorfulness(output), psnr=psnr(output, target),
        dominant=dom[ids])


# ------------------------------------------------------------------------------ over a split
class _Pool:
    """The sums of ``ImageFigures`` over a split, and their figures."""

    def __init__(self):
        self.c = dict.fromkeys(("consistent", "area", "apart", "pairs", "skin_in", "skin"), 0)
        self.inter = np.zeros(len(PARTS), np.int64)
        self.union = np.zeros(len(PARTS), np.int64)
        self.named = 0  # images with a part prediction on a map that names parts
        self.cf: list[float] = []
        self.psnr: list[float] = []

    def add(self, f: ImageFigures) -> None:
        for k in self.c:
            self.c[k] += getattr(f, k)
        if f.inter is not None:
            self.inter += f.inter
            self.union += f.union
            self.named += 1
        self.cf.append(f.colorfulness)
        self.psnr.append(f.psnr)

    def share(self, num: str, den: str) -> float | None:
        return self.c[num] / self.c[den] if self.c[den] else None

    def figures(self) -> dict:
        return {"miou": miou(self.inter, self.union) if self.named else None,
                "part_iou": ({p: (float(i / u) if u else None) for p, i, u in zip(PARTS, self.inter, self.union)}
                             if self.named else None),
                "consistency": self.share("consistent", "area"), "distinctness": self.share("apart", "pairs"),
                "skin_in_range": self.share("skin_in", "skin"),
                "colorfulness": float(np.mean(self.cf)) if self.cf else None,
                "psnr": float(np.mean(self.psnr)) if self.psnr else None}


def evaluate_palettes(
    model_dir: str | Path | None,
    data_dir: str | Path,
    split: str = "test",
    variants: Sequence[int] | str = (0,),
    layout: str = "auto",
    sketch_side: str = "right",
    out_dir: str | Path | None = None,
    limit: int = 0,
    size: int | None = None,
    examples: int = 8,
    device: str = "cpu",
    progress: Callable | None = None,
    hint_scope: str = "local",
    fd: bool = True,
    fd_size: int = 256,
    feature_net: FeatureNet | None = None,
    keep: Callable[[int, str, dict[int, np.ndarray]], None] | None = None,
) -> dict:
    """The palettes protocol (module doc) for a model folder (None or "bundled": the bundled model; "none": the
    hints-only fill) on ``data_dir``'s ``split``, for each palette ``variant``, in the flat style at 0 hints.

    ``fd``: FD-Lite0 too (``feature_net``: its network, None: EfficientNet-Lite0). ``keep(i, name, outputs)``,
    if given, sees every pair's outputs {variant: (H, W, 3) uint8} (the benchmark's figure). Returns the report,
    also written as ``out_dir/metrics.json`` with ``out_dir/examples.png`` (sketch, target, a column per variant).
    """
    try:
        variants = parse_variants(variants)
    except ValueError as e:
        raise EvalError(str(e)) from None
    ds, colorizer = open_split(model_dir, data_dir, split, layout, sketch_side, device, size, "flat",
                               hint_scope=hint_scope)
    n_items = len(ds) if limit <= 0 else min(limit, len(ds))
    if n_items < 1:
        raise EvalError(f"{ds.root} holds no pairs")
    fd_net = FrechetLite0(MetricContext(fd_size, feature_net)) if fd else None

    pools = {v: _Pool() for v in variants}
    reference = _Pool()  # the target scored as the output
    sources: dict[str, int] = {}
    maps_naming = materials = skipped = 0
    per_image, rows = [], []
    t0 = time.perf_counter()
    items = range(n_items)
    for i in progress(items) if progress else items:
        try:
            sketch, target = ds.pair(i)
            tgt = np.asarray(target.convert("RGB"))  # (H, W, 3)
            gray = np.asarray(sketch.convert("L"))  # (H, W)
            mm = ds.materials(i, size=target.size)
            prep = {v: colorizer.prepare(sketch, variant=v) for v in variants}
            generated = colorizer.generate(prep[variants[0]].x)  # one generator run; the variants differ in the flats
            figs, outs, palettes = {}, {}, {}
            for v in variants:
                res = colorizer.finish(prep[v], generated, style="flat")
                outs[v] = np.asarray(res.image.convert("RGB"))
                mats = res.materials
                figs[v] = measure_image(outs[v], tgt, gray, mm, res.material_labels(),
                                        mats.parts if mats is not None else ())
                palettes[v] = res.palette
            ref = measure_image(tgt, tgt, gray, mm)
        except (ImageError, ValueError):  # unreadable, too large for the colorizer ...
            skipped += 1
            continue
        sources[mm.source] = sources.get(mm.source, 0) + 1
        maps_naming += names_parts(mm)
        materials += len(ref.dominant)
        reference.add(ref)
        for v in variants:
            pools[v].add(figs[v])
            if fd_net is not None:  # the collector reads index, hints (here: the variant), output and target
                fd_net.add(SimpleNamespace(index=i, hints=v, output=outs[v], target=tgt))
        name = Path(ds.paths[i]).name
        if keep is not None:
            keep(i, name, outs)
        per_image.append({
            "name": name, "materials": len(ref.dominant), "pairs": ref.pairs, "skin_pixels": ref.skin,
            "variants": {str(v): {"palette": palettes[v], "miou": _r(figs[v].miou),
                                  "consistency": _r(figs[v].consistent / figs[v].area if figs[v].area else None),
                                  "apart": figs[v].apart, "skin_in_range": _r(figs[v].skin_in / ref.skin
                                                                               if ref.skin else None),
                                  "colorfulness": _r(figs[v].colorfulness), "psnr": _r(figs[v].psnr)}
                         for v in variants},
        })
        if len(rows) < examples:
            rows.append([_thumbnail(im) for im in (sketch.convert("RGB"), target.convert("RGB"),
                                                   *(Image.fromarray(outs[v]) for v in variants))])
    n_done = n_items - skipped
    if n_done < 1:
        raise EvalError(f"no readable pair in {ds.root}")
    ref_fig = reference.figures()
    results = {}
    for v in variants:
        r = pools[v].figures()
        fd_value = None
        if fd_net is not None:
            try:
                fd_value = fd_net.result(v)
            except EvalError:  # fewer than 2 images
                fd_value = None
        r["colorfulness_ratio"] = (r["colorfulness"] / ref_fig["colorfulness"]
                                   if r["colorfulness"] is not None and ref_fig["colorfulness"] else None)
        results[str(v)] = {"variant": v, **r, "fd_lite0": fd_value}
    report = {
        **report_head("palettes", model_dir, colorizer, ds, split),
        "variants": variants,
        "names_materials": bool(colorizer.names_materials),  # False: no palettes; every variant is one image
        "palette_library": len(colorizer.palettes) if getattr(colorizer, "palettes", None) is not None else None,
        "images": n_done,
        "skipped": skipped,
        "working_size": colorizer.size,
        "seconds": round(time.perf_counter() - t0, 1),
        "maps": sources,  # how many maps came from the source's parts, how many were derived from colors
        "maps_naming_parts": maps_naming,
        "materials": materials,  # true materials scored (not paper, >= MIN_PIXELS non-ink pixels)
        "pairs": reference.c["pairs"],  # of them, pairs >= TARGET_APART_DE apart in the target
        "skin_pixels": reference.c["skin"],
        **(fd_net.report() if fd_net is not None else {}),  # "fd": FD-Lite0's network, N, resolution
        # the target scored as if it were the output: the ceiling the lines' fringe and the data leave
        "reference": {k: ref_fig[k] for k in ("consistency", "distinctness", "skin_in_range", "colorfulness")},
        "settings": {"parts": list(PARTS), "min_pixels": MIN_PIXELS, "consistent_de": CONSISTENT_DE,
                     "target_apart_de": TARGET_APART_DE, "output_apart_de": OUTPUT_APART_DE, "quant_bits": QUANT_BITS,
                     "skin_l": list(SKIN_L), "skin_hue": list(SKIN_HUE), "skin_chroma": list(SKIN_CHROMA),
                     "ink_below": MATERIAL_INK_BELOW, "psnr_cap": PSNR_CAP, "style": "flat", "hints": 0},
        "results": results,
        "per_image": per_image,
    }
    write_report(report, out_dir, rows)
    return report


def _r(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(float(v), digits)


def format_palettes(report: Mapping) -> str:
    """The report as a Markdown table (a row per variant) and one line of counts."""

    def f(v, spec=".3f"):
        return "–" if v is None else format(v, spec)

    ref, fd = report["reference"], report.get("fd")
    heads = ["variant", "mIoU ↑", f"consistency ↑ (target {f(ref['consistency'])})", "distinctness ↑",
             f"skin ↑ (target {f(ref['skin_in_range'])})", f"colorfulness (target {f(ref['colorfulness'], '.1f')})",
             "ratio", "PSNR ↑", "FD-Lite0 ↓" + (f" (N={fd['n']}, {fd['resolution']} px)" if fd else "")]
    lines = [
        "| " + " | ".join(heads) + " |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"].values():
        lines.append(f"| {r['variant']} | {f(r['miou'])} | {f(r['consistency'])} | {f(r['distinctness'])} "
                     f"| {f(r['skin_in_range'])} | {f(r['colorfulness'], '.1f')} | {f(r['colorfulness_ratio'], '.2f')} "
                     f"| {f(r['psnr'], '.2f')} | {f(r['fd_lite0'], '.2f')} |")
    lines.append(f"{report['images']} images ({report['maps_naming_parts']} maps name parts), {report['materials']} "
                 f"true materials, {report['pairs']} pairs ≥ ΔE {TARGET_APART_DE:g} apart, {report['skin_pixels']} "
                 f"skin pixels; the model {'names' if report['names_materials'] else 'names no'} materials"
                 + (f" (palette library: {report['palette_library']})" if report.get('palette_library') else "")
                 + "; maps: " + ", ".join(f"{n} {src}" for src, n in sorted(report["maps"].items())))
    return "\n".join(lines)
