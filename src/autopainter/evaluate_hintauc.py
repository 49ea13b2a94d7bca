"""The Hint-AUC protocol: ``autopainter evaluate --protocol hintauc``.

Hint-AUC (K. Madono et al., "Hint-AUC: Deterministic Region-based Hint Generation for Line Art Colorization
Evaluation", IEEE TVCG 2026, doi:10.1109/TVCG.2026.3738401) scores a hinted colorizer over the whole range of
hint amounts rather than at a few stroke counts. Its reference package ``hintauc`` (MIT) supplies every part
that defines the figures:

* hints (``hintauc.generate_hints``): the target is cut into Felzenszwalb regions, the region map is brought to
  a 64 x 64 hint map, and each region gets one scribble, the longest path of its skeleton, in the region's mean
  color. We use ``path_method="geodesic"``, which breaks every tie in raster order, so the hints are the same on
  every run and machine (the paper's FilFinder path breaks ties with an unseeded generator; hintauc warns not
  to mix the two, so compare our figures with figures made the same way only);
* at hint ratio a, the largest ``int(n_regions * a)`` regions keep their scribbles (``hintauc.hint_inputs``,
  equal areas in label order: ``tie_break="stable"``), upsampled (nearest) to the pair's size;
* the model colors the sketch at every ratio of the paper's grid (``hintauc.DEFAULT_ALPHAS``: 0, 0.01, 0.03,
  0.05, 0.10, 0.25, 0.50, 1); PSNR and SSIM come from ``hintauc.Evaluator`` (both images resized to 256 x 256,
  values in [0, 1]) and are averaged over the images at each ratio;
* the Hint-AUC of a metric is the trapezoid integral of that curve over a in [0, 1]: a mean over the ratio,
  in the metric's unit (dB for PSNR). Higher is better for both.

The loop over the pairs is this module's (``hint_auc_curve``: the steps of ``hintauc.evaluate_colorizer``,
which tests/test_evaluate_hintauc.py checks against the package when it is installed), so that it reads our
datasets, skips an unreadable pair as ``evaluate`` does (at every ratio: each ratio scores the same images),
and can be tested without the package. The report carries hintauc's protocol record: the grid, the hint
settings, the metric backend in use (resize: torchvision or Pillow; SSIM: torchmetrics or scikit-image) and
library versions. Figures are comparable only at the same backend.

hintauc is an optional install (``INSTALL``, README "How good is it?"); it is imported when the protocol
runs, never when this module is.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from PIL import Image

from .data.hints import hints_to_rgba
from .data.pairs import PairDataset
from .evaluate import EvalError, _overlay, open_split, report_head, write_report
from .imageio import ImageError

__all__ = ["evaluate_hintauc", "hint_auc_curve", "hints_from_hintauc", "trapezoid_auc", "protocol_hints",
           "protocol_scores", "require_hintauc", "format_hintauc", "backend_text", "INSTALL"]

HINTAUC_VERSION = "0.3.3"  # the release the install command pins (hintauc goes in without its requirements)
INSTALL = f'make install-hintauc, or: pip install -e ".[hintauc]" && pip install --no-deps hintauc=={HINTAUC_VERSION}'
PROTOCOL = "hint-auc/v1"  # hintauc.PROTOCOL_VERSION this module implements
HINT_TYPE = "scribble"  # the paper's main hint type (the other: one dot per region)
HINT_MAP_SIZE = 64  # px: the hint map's side, as in the paper
PATH_METHOD = "geodesic"  # deterministic longest path (the paper's "filfinder" is not, and needs astropy<6)
DOT_METHOD = "medoid"  # placement of dot hints; unused by scribbles, recorded with the protocol
TIE_BREAK = "stable"  # equal-area regions in label order: the same on every NumPy build and CPU
METRICS = ("psnr", "ssim")

Colorize = Callable[[Image.Image, np.ndarray, np.ndarray], np.ndarray]
HintsAt = Callable[[float], "tuple[np.ndarray, np.ndarray]"]


def require_hintauc():
    """The ``hintauc`` module, or an ``EvalError`` naming the install command."""
    try:
        import hintauc
    except ImportError as e:  # not installed, or one of its own imports failed
        raise EvalError(f"--protocol hintauc needs the hintauc package ({e}); install it with: {INSTALL}") from None
    if getattr(hintauc, "PROTOCOL_VERSION", None) != PROTOCOL:
        raise EvalError(f"hintauc {getattr(hintauc, '__version__', '?')} implements protocol "
                        f"{getattr(hintauc, 'PROTOCOL_VERSION', '?')}, this evaluation {PROTOCOL}; install it with: {INSTALL}")
    return hintauc


def hints_from_hintauc(hint_color: np.ndarray, hint_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hintauc's hints as ours (``data.hints``: ``hint_rgb`` (H, W, 3) uint8, ``hint_mask`` (H, W) bool).

    Args:
        hint_color: (H, W, 3) uint8 in BGR order (OpenCV's, as everything in hintauc): each scribble pixel
            holds its region's mean color, 0 elsewhere.
        hint_mask: (H, W) uint8 {0, 255} (or bool): where a hint is. A black hint is a hint: the mask decides.

    Returns:
        hint_rgb (H, W, 3) uint8 RGB, 0 where there is no hint; hint_mask (H, W) bool.
    """
    color, mask = np.asarray(hint_color), np.asarray(hint_mask)
    if color.dtype != np.uint8 or color.ndim != 3 or color.shape[2] != 3:
        raise ValueError(f"hint_color must be an (H, W, 3) uint8 BGR image, got {color.dtype} {color.shape}")
    if mask.shape != color.shape[:2]:
        raise ValueError(f"hint_mask must be (H, W) = {color.shape[:2]}, got {mask.shape}")
    on = mask > 0  # (H, W) bool
    rgb = np.where(on[:, :, None], color[:, :, ::-1], 0).astype(np.uint8)  # BGR -> RGB
    return rgb, on


def _check_grid(alphas: Sequence[float]) -> list[float]:
    """The hint ratios as floats: strictly increasing, from 0 to 1 (the protocol integrates over [0, 1])."""
    xs = [float(a) for a in alphas]
    if len(xs) < 2 or xs[0] != 0.0 or xs[-1] != 1.0 or any(b <= a for a, b in zip(xs, xs[1:])):
        raise ValueError(f"hint ratios must rise strictly from 0 to 1, got {xs}")
    return xs


def trapezoid_auc(curve: Mapping[float, float]) -> float:
    """Hint-AUC of one metric: the trapezoid integral of ``{hint ratio: value}`` over the ratio, 0 to 1.

    The range has length 1, so this is the curve's mean over the ratio, in the metric's unit."""
    xs = _check_grid(sorted(curve))
    ys = [float(curve[x]) for x in xs]
    return float(sum((x1 - x0) * (y0 + y1) / 2.0 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:])))


def hint_auc_curve(
    colorize: Colorize,
    pairs: Sequence,
    make_hints: Callable[[np.ndarray], "tuple[HintsAt, int]"],
    score: Callable[[np.ndarray, np.ndarray], Mapping[str, float]],
    alphas: Sequence[float],
    progress: Callable | None = None,
    examples: int = 0,
) -> dict:
    """The protocol's loop: every pair colored and scored at every hint ratio, then integrated.

    Args:
        colorize: (sketch, hint_rgb (H, W, 3) uint8, hint_mask (H, W) bool) -> (H, W, 3) uint8 RGB output.
        pairs: ``pairs[i]`` is (name, sketch PIL image, target (H, W, 3) uint8 RGB); it may raise
            ``ImageError`` (an unreadable pair is skipped).
        make_hints: target -> (``at(ratio)`` -> (hint_rgb, hint_mask) at the target's size, region count).
        score: (output, target) RGB uint8 -> {metric: value}, higher is better.
        alphas: the hint ratios, rising from 0 to 1.
        examples: keep the images of this many pairs for a grid (``example_rows``).

    A pair that fails anywhere (unreadable, too large for the colorizer: ``ValueError``) is skipped at every
    ratio, so each ratio averages the same images. Returns ``per_alpha`` ({ratio: {metric: mean}}),
    ``hint_auc`` ({metric: AUC}), ``per_image`` (name, regions, its own AUCs: their mean is ``hint_auc``,
    since the integral is linear), ``names``, ``images``, ``skipped`` and ``example_rows``.
    """
    alphas = _check_grid(alphas)
    sums: dict[float, dict[str, float]] = {a: {} for a in alphas}
    per_image: list[dict] = []
    rows: list[list[Image.Image]] = []
    skipped = 0
    items = range(len(pairs))
    for i in progress(items) if progress else items:
        try:
            name, sketch, target = pairs[i]
            target = np.asarray(target)
            at, regions = make_hints(target)
            scores: dict[float, Mapping[str, float]] = {}
            outputs: list[Image.Image] = []
            for a in alphas:
                hint_rgb, hint_mask = at(a)
                out = np.asarray(colorize(sketch, hint_rgb, hint_mask))
                if out.dtype != np.uint8 or out.shape != target.shape:
                    raise ValueError(f"{name}: the colorizer returned {out.dtype} {out.shape}, want uint8 {target.shape}")
                scores[a] = {k: float(v) for k, v in score(out, target).items()}
                if len(rows) < examples:
                    outputs.append(Image.fromarray(out))
        except (ImageError, ValueError):  # unreadable, too large for the colorizer, too small for SSIM ...
            skipped += 1
            continue
        for a in alphas:
            for k, v in scores[a].items():
                sums[a][k] = sums[a].get(k, 0.0) + v
        metrics = list(scores[alphas[0]])
        per_image.append({"name": name, "regions": int(regions),
                          "hint_auc": {k: trapezoid_auc({a: scores[a][k] for a in alphas}) for k in metrics}})
        if len(rows) < examples:
            hint_rgb, hint_mask = at(alphas[-1])
            rows.append([sketch.convert("RGB"), _overlay(sketch, hints_to_rgba(hint_rgb, hint_mask)), *outputs,
                         Image.fromarray(target)])
    n = len(per_image)
    if n == 0:
        raise EvalError(f"no readable pair to score ({skipped} skipped)")
    per_alpha = {a: {k: v / n for k, v in sums[a].items()} for a in alphas}
    metrics = list(per_alpha[alphas[0]])
    return {
        "alphas": alphas,
        "images": n,
        "skipped": skipped,
        "names": [r["name"] for r in per_image],
        "per_alpha": per_alpha,
        "hint_auc": {k: trapezoid_auc({a: per_alpha[a][k] for a in alphas}) for k in metrics},
        "per_image": per_image,
        "example_rows": rows,
    }


def protocol_hints(hintauc, target: np.ndarray) -> tuple[HintsAt, int]:
    """hintauc's deterministic hints of ``target`` ((H, W, 3) uint8 RGB) at this protocol's settings, for
    ``hint_auc_curve``: (``at(ratio)`` -> our (hint_rgb, hint_mask) at the target's size, region count)."""
    bgr = np.ascontiguousarray(target[:, :, ::-1])  # hintauc reads arrays as OpenCV BGR
    hints = hintauc.generate_hints(bgr, size=HINT_MAP_SIZE, path_method=PATH_METHOD, dot_method=DOT_METHOD)
    h, w = target.shape[:2]

    def at(alpha: float) -> tuple[np.ndarray, np.ndarray]:
        return hints_from_hintauc(*hintauc.hint_inputs(hints, alpha, HINT_TYPE, h, w, tie_break=TIE_BREAK))

    return at, hints.n_regions()


def protocol_scores(evaluator, out: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """``hintauc.Evaluator`` scores of ``out`` against ``target`` (both (H, W, 3) uint8 RGB)."""
    with warnings.catch_warnings():  # the scikit-image SSIM fallback warns on every call; the report names it
        warnings.filterwarnings("ignore", message="torchmetrics is not installed")
        return evaluator(out, target)


class _Pairs:
    """A split's pairs as ``hint_auc_curve`` reads them: (file name, sketch, target RGB array)."""

    def __init__(self, ds: PairDataset, n: int):
        self.ds, self.n = ds, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        sketch, target = self.ds.pair(i)
        return Path(self.ds.paths[i]).name, sketch, np.asarray(target)


def evaluate_hintauc(
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
) -> dict:
    """Hint-AUC of a model folder (None: the bundled model; "none": the hints-only baseline) on ``data_dir``'s
    ``split``, colored as ``evaluate`` colors (``Colorizer``, ``style`` flat or soft).

    Returns the report, also written as ``out_dir/metrics.json`` with ``out_dir/examples.png`` (per pair:
    sketch, the ratio-1 hints over it, the output at each ratio, target). Needs hintauc (``INSTALL``).
    """
    hintauc = require_hintauc()
    ds, colorizer = open_split(model_dir, data_dir, split, layout, sketch_side, device, size, style, hint_scope=hint_scope)
    n_items = len(ds) if limit <= 0 else min(limit, len(ds))
    if n_items < 1:
        raise EvalError(f"{ds.root} holds no pairs")
    evaluator = hintauc.Evaluator(metrics=METRICS)
    alphas = hintauc.check_alphas(hintauc.DEFAULT_ALPHAS, full_range=True)

    def colorize(sketch: Image.Image, hint_rgb: np.ndarray, hint_mask: np.ndarray) -> np.ndarray:
        hints = Image.fromarray(hints_to_rgba(hint_rgb, hint_mask)) if hint_mask.any() else None
        return np.asarray(colorizer(sketch, hints).convert("RGB"))

    t0 = time.perf_counter()
    curve = hint_auc_curve(colorize, _Pairs(ds, n_items), lambda target: protocol_hints(hintauc, target),
                           lambda out, target: protocol_scores(evaluator, out, target), alphas, progress=progress,
                           examples=examples)
    record = hintauc.protocol_record(evaluator, alphas, HINT_TYPE, HINT_MAP_SIZE, PATH_METHOD, DOT_METHOD,
                                     oracle=False, tie_break=TIE_BREAK)
    rows = curve.pop("example_rows")
    report = {
        **report_head("hintauc", model_dir, colorizer, ds, split),
        "images": curve["images"],
        "skipped": curve["skipped"],
        "working_size": colorizer.size,
        "seconds": round(time.perf_counter() - t0, 1),
        "hint_auc": curve["hint_auc"],
        "curve": [{"ratio": a, **curve["per_alpha"][a]} for a in curve["alphas"]],
        "hintauc": record,  # protocol, grid, hint settings, metric backend, versions
        "per_image": curve["per_image"],
    }
    write_report(report, out_dir, rows)
    return report


def backend_text(record: Mapping) -> str:
    """hintauc's protocol record in one line: protocol, hint settings, metric backend, versions."""
    b, v = record.get("backend", {}), record.get("versions", {})

    def named(kind: str) -> str:  # "torchmetrics 1.4.0": the backend and its version (the record keys both)
        name = b.get(kind, "?")
        return f"{name} {b[name]}" if b.get(name) else name

    resize, ssim = named("resize"), named("ssim")
    libs = ", ".join(f"{k} {v[k]}" for k in ("hintauc", "opencv", "scikit-image", "numpy", "torch") if v.get(k))
    return (f"{record.get('protocol')}: {record.get('hint_type')} hints, {record.get('path_method')} paths, "
            f"{record.get('hint_map_size')} px hint maps, {record.get('tie_break')} ties; metrics at "
            f"{record.get('metric_resize')} px, resize {resize}, SSIM {ssim}; {libs}")


def format_hintauc(report: Mapping) -> str:
    """The curve and its Hint-AUC as a Markdown table, then the figure with the backend that made it."""
    lines = ["| hint ratio | PSNR (dB) ↑ | SSIM ↑ |", "|---:|---:|---:|"]
    for r in report["curve"]:
        a = r["ratio"]
        lines.append(f"| {a:.2f} | {r['psnr']:.2f} | {r['ssim']:.4f} |" if round(a, 2) == a else
                     f"| {a:g} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    auc = report["hint_auc"]
    lines.append(f"| **Hint-AUC** | **{auc['psnr']:.2f}** | **{auc['ssim']:.4f}** |")
    lines.append(f"Hint-AUC PSNR {auc['psnr']:.2f} dB, SSIM {auc['ssim']:.4f} "
                 f"(N={report['images']}; {backend_text(report['hintauc'])})")
    return "\n".join(lines)
