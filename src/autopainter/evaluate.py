"""Measure a model on a paired split: L1, PSNR, SSIM and FD-Lite0, with 0 or more simulated hints.

``evaluate(model_dir, data_dir, hints=(0, 20))`` colors every pair's sketch the way a user's sketch is
colored (``Colorizer``: working resolution, then back to the pair's own size) and compares the result
with the pair's colored image:

* L1: mean absolute error on [0, 1] RGB (lower is better);
* PSNR in dB on 8-bit RGB, the mean over images, each capped at 60 dB so that an exact result (a blank
  flag, say) counts as 60 rather than infinity (higher is better);
* SSIM on 8-bit RGB (scikit-image, Gaussian window as in Wang et al. 2004), the mean over images;
* FD-Lite0: the Fréchet distance between the pooled EfficientNet-Lite0 ImageNet features (1280-d) of
  the results and of the targets, both resized to ``fd_size`` squared. It is FID's formula on another
  network, so its values are not comparable with published FIDs, and with a few hundred images it is
  biased upward: compare models only at the same N and resolution (both are stored with it);
* hint ΔE, hint-region ΔE and spread (``color_metrics``): whether hints are obeyed, whether each reaches
  its whole region and stops at its lines, and how flat the output is inside the target's flat areas
  (against the target's own spread, stored as ``target_spread``).

``model_dir="none"`` scores the hints-only baseline (``Colorizer.hints_only``); ``style`` is the
Colorizer's ``flat`` or ``soft``.

Hints are drawn from the target with ``simulate_hints`` and a generator keyed by (seed, image, count):
every model sees the same hints, and ``--hints 5`` always means the same five strokes.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from . import color_metrics as cm
from .config import DataConfig
from .data.hints import hints_to_rgba, simulate_hints
from .data.pairs import PairDataset
from .imageio import ImageError, atomic_write_bytes, save_image
from .inference.regions import REGION_INK

__all__ = ["evaluate", "frechet_distance", "hue_wheel", "EvalError"]


PSNR_CAP = 60.0  # dB: an exact result would otherwise make the mean infinite


class EvalError(ValueError):
    """Evaluation cannot run (missing dependency, empty split, bad argument)."""


@dataclass
class _Totals:
    l1: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    feats: list[np.ndarray] = field(default_factory=list)
    hint_de: list[float] = field(default_factory=list)
    hint_region_de: list[float] = field(default_factory=list)
    spread: list[float] = field(default_factory=list)


def _metric_fns():
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    except ImportError:
        raise EvalError('evaluate needs scikit-image: pip install "autopainter[eval]"') from None
    return peak_signal_noise_ratio, structural_similarity


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise EvalError("the Fréchet distance needs at least 2 images")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # fewer images than dimensions: the product is singular, as usual for FD
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # nudge both as the FID reference does
            eps = np.eye(s1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


class _Features:
    """Pooled EfficientNet-Lite0 features of uint8 RGB images at fd_size x fd_size."""

    def __init__(self, fd_size: int):
        from .models.features import FeatureWeightsError, build_feature_extractor

        try:
            self.net = build_feature_extractor("efficientnet-lite0").eval()
        except (FeatureWeightsError, ImportError) as e:
            raise EvalError(f"FD-Lite0 needs the EfficientNet-Lite0 weights: {e}") from None
        self.size = fd_size

    @torch.no_grad()
    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        arr = np.stack([np.asarray(im.convert("RGB").resize((self.size, self.size), Image.Resampling.BICUBIC)) for im in images])
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return self.net.pooled(x).double().numpy()


def _overlay(sketch: Image.Image, rgba: np.ndarray) -> Image.Image:
    """Hints drawn over the sketch, for the example grid."""
    base = sketch.convert("RGBA")
    base.alpha_composite(Image.fromarray(rgba))
    return base.convert("RGB")



def open_split(model_dir: str | Path | None, data_dir: str | Path, split: str, layout: str, sketch_side: str,
               device: str, size: int | None, style: str, seed: int = 0):
    """(the split's ``PairDataset`` in eval mode, the model's ``Colorizer``): what every protocol starts from.
    Raises EvalError for a missing split."""
    from .inference import Colorizer

    if not (Path(data_dir) / split).is_dir():
        raise EvalError(f"{data_dir} has no {split}/ split: evaluate needs held-out pairs in DATA/{split}/ (or --split NAME)")
    cfg = DataConfig(path=str(data_dir), layout=layout, sketch_side=sketch_side)  # checks layout, sketch_side
    ds = PairDataset(cfg, split=split, train=False, seed=seed)
    return ds, Colorizer.from_pretrained(model_dir, device=device, size=size, style=style)


def report_head(protocol: str, model_dir: str | Path | None, colorizer, ds: PairDataset, split: str) -> dict:
    """The fields every protocol's report begins with: which protocol, model, style and data."""
    return {
        "protocol": protocol,  # which `autopainter evaluate --protocol` made this report (cli/evaluate.py PROTOCOLS)
        "model": str(model_dir) if model_dir is not None else "bundled",
        "style": colorizer.style,
        "model_trained": colorizer.info.trained or None,
        "data": str(ds.root),
        "split": split,
        "layout": ds.layout.name,
        "fallback": ds.fallback,
    }

def evaluate(
    model_dir: str | Path | None,
    data_dir: str | Path,
    hints: Sequence[int] = (0,),
    split: str = "test",
    layout: str = "auto",
    sketch_side: str = "right",
    out_dir: str | Path | None = None,
    seed: int = 0,
    limit: int = 0,
    size: int | None = None,
    fd_size: int = 256,
    examples: int = 8,
    device: str = "cpu",
    progress: Callable | None = None,
    style: str = "flat",
) -> dict:
    """Evaluate a model folder (None: the bundled model) on ``data_dir``'s ``split``.

    ``layout`` is a ``DataConfig.layout``; "auto" detects side_by_side or two_folders as ``prepare check``
    does, and the report's ``layout`` names the one read. A split that is not there is an error, never a
    silent score of the training images (the report's ``fallback`` is therefore always False).

    Returns the report (also written as ``out_dir/metrics.json``, with ``out_dir/examples.png``).
    """
    hints = sorted(set(int(n) for n in hints))
    if not hints or hints[0] < 0:
        raise EvalError("hint counts must be >= 0")
    ds, colorizer = open_split(model_dir, data_dir, split, layout, sketch_side, device, size, style, seed)
    psnr_fn, ssim_fn = _metric_fns()
    n_items = len(ds) if limit <= 0 else min(limit, len(ds))
    if n_items < 2:
        raise EvalError(f"{ds.root} holds {n_items} pair(s): evaluate needs at least 2")
    features = _Features(fd_size)

    totals = {n: _Totals() for n in hints}
    target_feats: list[np.ndarray] = []
    target_spreads: list[float] = []
    grid_rows: list[list[Image.Image]] = []
    batch_targets: list[Image.Image] = []
    batch_outputs: dict[int, list[Image.Image]] = {n: [] for n in hints}
    skipped = 0
    t0 = time.perf_counter()

    def flush():
        if batch_targets:
            target_feats.append(features(batch_targets))
            batch_targets.clear()
        for n in hints:
            if batch_outputs[n]:
                totals[n].feats.append(features(batch_outputs[n]))
                batch_outputs[n].clear()

    items = range(n_items)
    for i in progress(items) if progress else items:
        try:
            sketch, target = ds.pair(i)
        except ImageError:
            skipped += 1
            continue
        tgt = np.asarray(target)
        row = [sketch.convert("RGB")]
        ink = np.asarray(sketch.convert("L")) < round(255 * (1.0 - REGION_INK))
        tgt_regions = cm.target_regions(tgt, ink)
        tgt_lab = cm.lab(tgt)
        t_spread = cm.spread(tgt_lab, tgt_regions)
        try:
            scored = []
            for n in hints:
                rgb, mask = simulate_hints(tgt, np.random.default_rng([seed, i, n]), n=n)
                rgba = hints_to_rgba(rgb, mask)
                out = colorizer(sketch, Image.fromarray(rgba) if n > 0 else None)
                o = np.asarray(out)
                o_lab = cm.lab(o)
                colour = (cm.hint_de(o_lab, rgb, mask, ink) if n > 0 else None,
                          cm.hint_region_de(o_lab, tgt_lab, mask, tgt_regions) if n > 0 else None,
                          cm.spread(o_lab, tgt_regions))
                with np.errstate(divide="ignore"):
                    psnr = min(PSNR_CAP, float(psnr_fn(tgt, o, data_range=255)))
                ssim = float(ssim_fn(tgt, o, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False))
                scored.append((n, rgba, out, float(np.abs(o.astype(np.float32) - tgt.astype(np.float32)).mean() / 255.0), psnr, ssim, colour))
        except (ImageError, ValueError):  # too large for the colorizer, too small for SSIM's window ...
            skipped += 1
            continue
        if t_spread is not None:
            target_spreads.append(t_spread)
        for n, rgba, out, l1_err, psnr, ssim, colour in scored:
            for values, v in zip((totals[n].hint_de, totals[n].hint_region_de, totals[n].spread), colour):
                if v is not None:
                    values.append(v)
            totals[n].l1.append(l1_err)
            totals[n].psnr.append(psnr)
            totals[n].ssim.append(ssim)
            batch_outputs[n].append(out)
            if len(grid_rows) < examples:
                if n > 0:
                    row.append(_overlay(sketch, rgba))
                row.append(out)
        batch_targets.append(target)
        if len(grid_rows) < examples:
            row.append(target)
            grid_rows.append(row)
        if len(batch_targets) >= 32:
            flush()
    flush()
    n_done = n_items - skipped
    if n_done < 2:
        raise EvalError(f"only {n_done} readable pair(s) in {ds.root}")
    tf = np.concatenate(target_feats)
    report = {
        **report_head("strokes", model_dir, colorizer, ds, split),
        "images": n_done,
        "skipped": skipped,
        "seed": seed,
        "working_size": colorizer.size,
        "fd": {"name": "FD-Lite0", "features": "EfficientNet-Lite0 ImageNet, global-average-pooled, 1280-d", "n": n_done, "resolution": fd_size},
        "seconds": round(time.perf_counter() - t0, 1),
        "target_spread": _mean(target_spreads),
        "results": {
            str(n): {
                "hints": n,
                "l1": float(np.mean(totals[n].l1)),
                "psnr": float(np.mean(totals[n].psnr)),
                "ssim": float(np.mean(totals[n].ssim)),
                "fd_lite0": frechet_distance(np.concatenate(totals[n].feats), tf),
                "hint_de": _mean(totals[n].hint_de),
                "hint_region_de": _mean(totals[n].hint_region_de),
                "spread": _mean(totals[n].spread),
            }
            for n in hints
        },
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "metrics.json", (json.dumps(report, indent=2) + "\n").encode())
        if grid_rows:
            save_image(_grid(grid_rows), out / "examples.png")
    return report


HUE_WHEEL_SIZE = 256


def hue_wheel(colorize: Callable[[Image.Image, Image.Image], Image.Image], hues: Sequence[float] = range(0, 360, 30),
              ) -> tuple[list[dict], list[np.ndarray]]:
    """Do hints of every hue steer? A ring sketch with one hint stroke inside it, once per hue.

    ``colorize(sketch, hints_rgba)`` colors it (e.g. a Colorizer with ``style="soft"``: the generator's
    own colors, no region fill). For each hue (HSV hue, saturation 0.8, value 0.85) the mean CIELAB color
    inside the ring, the stroke itself left out, is compared with the hint: ΔE, hue and chroma. A hue
    *steers* when the region's hue is within 30 degrees of the hint's and its chroma is at least 15
    (clearly colored, not gray). Returns (one dict per hue, the colored images).
    """
    import colorsys

    from PIL import ImageDraw, ImageFilter

    size = HUE_WHEEL_SIZE
    ring = Image.new("L", (size, size), 255)
    ImageDraw.Draw(ring).ellipse((40, 40, size - 40, size - 40), outline=0, width=6)
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2 - 52) ** 2  # inside the ring's ink

    def hue_chroma(v: np.ndarray) -> tuple[float, float]:
        return float(np.degrees(np.arctan2(v[2], v[1])) % 360), float(np.hypot(v[1], v[2]))

    rows, images = [], []
    for deg in hues:
        rgb = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(deg / 360.0, 0.8, 0.85))
        hint = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        ImageDraw.Draw(hint).line((100, size // 2, 156, size // 2), fill=(*rgb, 255), width=8)
        stroke = np.asarray(hint)[..., 3] > 0
        out = np.asarray(colorize(ring, hint).convert("RGB"))
        images.append(out)
        grown = np.asarray(Image.fromarray(stroke).filter(ImageFilter.MaxFilter(9)))
        mean = cm.lab(out[inside & ~grown].reshape(-1, 1, 3)).reshape(-1, 3).mean(0)
        want = cm.lab(np.array([[rgb]], np.uint8)).reshape(3)
        (got_h, got_c), (want_h, _) = hue_chroma(mean), hue_chroma(want)
        dh = abs((got_h - want_h + 180) % 360 - 180)
        rows.append({"hue": deg, "hint_rgb": rgb, "delta_e": round(float(np.linalg.norm(mean - want)), 2),
                     "region_hue": round(got_h, 1), "hint_hue": round(want_h, 1), "chroma": round(got_c, 1),
                     "steers": bool(dh <= 30 and got_c >= 15)})
    return rows, images


def _grid(rows: list[list[Image.Image]], cell: int = 192) -> Image.Image:
    """Rows of images, each scaled to fit a cell x cell square, on white."""
    cols = max(len(r) for r in rows)
    canvas = Image.new("RGB", (cols * cell, len(rows) * cell), "white")
    for y, row in enumerate(rows):
        for x, im in enumerate(row):
            im = im.copy()
            im.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            canvas.paste(im, (x * cell + (cell - im.width) // 2, y * cell + (cell - im.height) // 2))
    return canvas


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def format_table(report: dict) -> str:
    """The report as a Markdown table."""
    fd = report["fd"]

    def f(v, spec=".2f"):
        return "–" if v is None else format(v, spec)

    lines = [
        f"| hints | L1 ↓ | PSNR (dB) ↑ | SSIM ↑ | FD-Lite0 ↓ (N={fd['n']}, {fd['resolution']} px) | hint ΔE ↓ | hint-region ΔE ↓ "
        f"| spread ↓ (target {f(report.get('target_spread'))}) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"].values():
        lines.append(f"| {r['hints']} | {r['l1']:.4f} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['fd_lite0']:.2f} "
                     f"| {f(r.get('hint_de'))} | {f(r.get('hint_region_de'))} | {f(r.get('spread'))} |")
    return "\n".join(lines)
