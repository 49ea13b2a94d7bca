"""Measure a model on a paired split, with metrics by name: L1, PSNR, SSIM, FD-Lite0, hint ΔE, hint-region ΔE,
spread; with 0 or more simulated hints.

``evaluate(model_dir, data_dir, hints=(0, 20))`` colors every pair's sketch the way a user's sketch is
colored (``Colorizer``: working resolution, then back to the pair's own size) and compares the result
with the pair's colored image. Each metric is registered by name in ``METRICS`` (the shape of stylegan2-ada's
``register_metric``) and reads one ``Sample``: one pair colored with one hint count, with its hints, the
sketch's ink, the target's regions and their CIELAB, computed once. The registered metrics, in report order:

* ``l1``: mean absolute error on [0, 1] RGB (lower is better);
* ``psnr``: PSNR in dB on 8-bit RGB, the mean over images, each capped at 60 dB so that an exact result (a
  blank flag, say) counts as 60 rather than infinity (higher is better);
* ``ssim``: SSIM on 8-bit RGB (scikit-image, Gaussian window as in Wang et al. 2004), the mean over images;
* ``fd_lite0``: FD-Lite0, the Fréchet distance between the pooled EfficientNet-Lite0 ImageNet features
  (1280-d) of the results and of the targets, both resized to ``fd_size`` squared. It is FID's formula on
  another network, so its values are not comparable with published FIDs, and with a few hundred images it is
  biased upward: compare models only at the same N and resolution (both are stored with it). It needs every
  image, so it is a *split* metric: it collects each sample, then reduces per hint count. Its network can be
  swapped (``feature_net=``: any module with ``pooled(x)``; the tests pass a tiny one);
* ``hint_de``, ``hint_region_de`` and ``spread`` (``color_metrics``): whether hints are obeyed, whether each
  reaches its whole region and stops at its lines, and how flat the output is inside the target's flat areas
  (``spread`` is also scored on the target itself, stored as ``target_spread``).

Adding a metric is one function: ``@register_metric("name")`` over a ``Sample`` returning a float (or None
where it does not apply: the mean skips it); it then appears in every report's ``results`` (docs/evaluate.md).
``evaluate(..., metrics=[...])`` picks some by name; an unknown name is an error that lists them.

``model_dir="none"`` scores the hints-only baseline (``Colorizer.hints_only``); ``style`` is the
Colorizer's ``flat`` or ``soft``.

Hints are drawn from the target with ``simulate_hints`` and a generator keyed by (seed, image, count):
every model sees the same hints, and ``--hints 5`` always means the same five strokes.
"""

from __future__ import annotations

import importlib
import json
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
from PIL import Image

from . import color_metrics as cm
from .colorspace import lab
from .config import DataConfig
from .data.hints import hints_to_rgba, simulate_hints
from .data.pairs import PairDataset
from .imageio import ImageError, atomic_write_bytes, save_image
from .ink import REGION_INK, ink_mask

__all__ = ["evaluate", "frechet_distance", "hue_wheel", "EvalError", "METRICS", "Metric", "Sample",
           "register_metric", "resolve_metrics", "default_feature_net", "format_table", "write_report"]


HINT_SCOPES = ("local", "global")  # Colorizer(local=True / False)
PSNR_CAP = 60.0  # dB: an exact result would otherwise make the mean infinite
FD_BATCH = 32  # images per feature-network call


class EvalError(ValueError):
    """Evaluation cannot run (missing dependency, empty split, bad argument)."""


# ------------------------------------------------------------------------------ what a metric reads
@dataclass
class Sample:
    """One pair of the split colored with one hint count: what every metric reads.

    The target's arrays (``target``, ``ink``, ``regions``, ``target_lab``) are computed once per pair and shared
    by its samples; ``output_lab`` once per sample, when a metric first reads it. All at the pair's own size.
    """

    index: int  # the pair's index in the split
    hints: int  # how many hint strokes were drawn (0: none)
    output: np.ndarray  # (H, W, 3) uint8 RGB, the colorizer's result
    target: np.ndarray  # (H, W, 3) uint8 RGB, the pair's colored image
    hint_rgb: np.ndarray  # (H, W, 3) uint8, the hint colors (0 where there is none)
    hint_mask: np.ndarray  # (H, W) bool, where a hint is
    ink: np.ndarray  # (H, W) bool, the sketch's lines (``ink.REGION_INK``: the region fill's walls)
    regions: np.ndarray  # (H, W) int32, the target's flat areas (``color_metrics.target_regions``; 0 unscored)
    target_lab: np.ndarray  # (H, W, 3) float32 CIELAB of the target (``colorspace.lab``)

    @cached_property
    def output_lab(self) -> np.ndarray:
        """(H, W, 3) float32 CIELAB of the output."""
        return lab(self.output)

    def of_target(self) -> Sample:
        """The target scored as if it were the output (a *reference* metric: ``target_spread``)."""
        ref = Sample(self.index, 0, self.target, self.target, self.hint_rgb, np.zeros_like(self.hint_mask),
                     self.ink, self.regions, self.target_lab)
        ref.output_lab = self.target_lab  # the target's own, computed already
        return ref


@dataclass
class MetricContext:
    """What a split metric is started with: the FD resolution and feature network (None: the default)."""

    fd_size: int = 256
    feature_net: FeatureNet | None = None


class Collector(Protocol):
    """A split metric's state over one evaluation."""

    def add(self, sample: Sample) -> None:
        """Collect one sample (every sample of a readable pair, pairs in order, all its hint counts)."""

    def result(self, hints: int) -> float | None:
        """Reduce: the figure at one hint count, once every sample has been added."""

    def report(self) -> dict:
        """Fields the report carries beside ``results`` (FD-Lite0: its ``fd`` record)."""


@dataclass(frozen=True)
class Metric:
    """A registered metric. ``score(sample)`` for a per-sample one (the report holds the mean over the samples
    where it is not None); ``start(context)`` -> ``Collector`` for a split one. ``reference``: also scored on
    the target itself (``target_<name>``); ``check``: raises ``EvalError`` before anything runs when a
    dependency is missing."""

    name: str
    score: Callable[[Sample], float | None] | None = None
    start: Callable[[MetricContext], Collector] | None = None
    reference: bool = False
    check: Callable[[], None] | None = None


METRICS: dict[str, Metric] = {}  # by name, in registration (= report) order


def register_metric(name: str, *, over: str = "sample", reference: bool = False,
                    check: Callable[[], None] | None = None) -> Callable:
    """Decorator: register a metric under ``name`` (the key in the report's ``results``).

    ``over="sample"``: the function takes a ``Sample`` and returns a float, or None where it does not apply.
    ``over="split"``: the object is called with a ``MetricContext`` and returns a ``Collector`` (``add`` each
    sample, then ``result(hints)``), for a figure that needs every image at once (FD).
    """
    if over not in ("sample", "split"):
        raise ValueError(f"over must be 'sample' or 'split', got {over!r}")
    if reference and over != "sample":
        raise ValueError("only a per-sample metric can be scored on the target (reference=True)")

    def add(fn: Callable) -> Callable:
        METRICS[name] = Metric(name, score=fn if over == "sample" else None, start=fn if over == "split" else None,
                               reference=reference, check=check)
        return fn

    return add


def resolve_metrics(names: Sequence[str] | None = None) -> list[Metric]:
    """The registered metrics called ``names`` (None: all of them, in registration order). An unknown name is
    an ``EvalError`` that lists the valid ones."""
    if names is None:
        return list(METRICS.values())
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise EvalError(f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                        f"the metrics are: {', '.join(METRICS)}")
    return [METRICS[n] for n in dict.fromkeys(names)]


# ------------------------------------------------------------------------------ the metrics
def _needs_skimage() -> None:
    try:
        importlib.import_module("skimage.metrics")
    except ImportError:
        raise EvalError('evaluate needs scikit-image: pip install "autopainter[eval]"') from None


@register_metric("l1")
def l1(s: Sample) -> float:
    """Mean absolute error on [0, 1] RGB."""
    return float(np.abs(s.output.astype(np.float32) - s.target.astype(np.float32)).mean() / 255.0)


@register_metric("psnr", check=_needs_skimage)
def psnr(s: Sample) -> float:
    """PSNR (dB) on 8-bit RGB, capped at ``PSNR_CAP``."""
    from skimage.metrics import peak_signal_noise_ratio

    with np.errstate(divide="ignore"):
        return min(PSNR_CAP, float(peak_signal_noise_ratio(s.target, s.output, data_range=255)))


@register_metric("ssim", check=_needs_skimage)
def ssim(s: Sample) -> float:
    """SSIM on 8-bit RGB, Gaussian window (sigma 1.5) as in Wang et al. 2004. ValueError below 7 px."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(s.target, s.output, channel_axis=2, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D).

    ``tr sqrt(S1 S2)`` is computed exactly from the small (N, M) matrix ``Ac Bc^T`` of the centered features
    when there are fewer images than dimensions (the usual case here): the non-zero eigenvalues of ``S1 S2``
    are the squared singular values of ``Ac Bc^T / sqrt((N-1)(M-1))``, so the trace is their sum. It needs
    no (D, D) matrix square root (scipy's ``sqrtm`` of a singular 1280x1280 product took 10-30 s and is
    numerically rough there); with more images than dimensions ``sqrtm`` is used, as FID's reference does."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise EvalError("the Fréchet distance needs at least 2 images")
    mu1, mu2 = a.mean(0), b.mean(0)
    ac, bc = a - mu1, b - mu2
    n, m, d = a.shape[0], b.shape[0], a.shape[1]
    tr1, tr2 = (ac ** 2).sum() / (n - 1), (bc ** 2).sum() / (m - 1)  # traces of the covariances
    if min(n, m) < d:
        tr_covmean = np.linalg.svd(ac @ bc.T, compute_uv=False).sum() / np.sqrt((n - 1) * (m - 1))
    else:
        from scipy import linalg

        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = linalg.sqrtm(s1 @ s2)
            if not np.isfinite(covmean).all():  # nudge both as the FID reference does
                eps = np.eye(d) * 1e-6
                covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
        tr_covmean = np.trace(np.real(covmean))
    return float(((mu1 - mu2) ** 2).sum() + tr1 + tr2 - 2.0 * tr_covmean)


class FeatureNet(Protocol):
    """What FD reads images with: ``pooled(x)``, x (B, 3, S, S) RGB in [-1, 1] -> (B, D) features."""

    def pooled(self, x: torch.Tensor) -> torch.Tensor: ...


LITE0_FEATURES = "EfficientNet-Lite0 ImageNet, global-average-pooled, 1280-d"


def default_feature_net() -> FeatureNet:
    """FD-Lite0's network: the frozen EfficientNet-Lite0 (ImageNet) of ``models.features``."""
    from .models.features import FeatureWeightsError, build_feature_extractor

    try:
        return build_feature_extractor("efficientnet-lite0").eval()
    except (FeatureWeightsError, ImportError) as e:
        raise EvalError(f"FD-Lite0 needs the EfficientNet-Lite0 weights: {e}") from None


@register_metric("fd_lite0", over="split")
class FrechetLite0:
    """FD-Lite0 (module doc): collects the pooled features of every output and target, ``FD_BATCH`` images per
    network call, and reduces each hint count's outputs against the targets with ``frechet_distance``."""

    def __init__(self, ctx: MetricContext):
        if ctx.feature_net is None:
            self.net, self.description = default_feature_net(), LITE0_FEATURES
        else:  # a network of the caller's (tests: a tiny one); the report says which
            self.net, self.description = ctx.feature_net, getattr(ctx.feature_net, "description", None)
            if hasattr(self.net, "eval"):
                self.net.eval()
        self.size = ctx.fd_size
        self.targets: list[np.ndarray] = []  # feature batches (B, D)
        self.outputs: dict[int, list[np.ndarray]] = {}
        self.waiting_targets: list[np.ndarray] = []  # resized images (S, S, 3) not yet through the network
        self.waiting: dict[int, list[np.ndarray]] = {}
        self.last: int | None = None
        self.images = 0

    def _resized(self, rgb: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(rgb).convert("RGB").resize((self.size, self.size), Image.Resampling.BICUBIC))

    @torch.no_grad()
    def _features(self, images: list[np.ndarray]) -> np.ndarray:
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, S, S)
        return self.net.pooled(x).double().numpy()  # (B, D)

    def _flush(self) -> None:
        if self.waiting_targets:
            self.targets.append(self._features(self.waiting_targets))
            self.waiting_targets.clear()
        for n, batch in self.waiting.items():
            if batch:
                self.outputs.setdefault(n, []).append(self._features(batch))
                batch.clear()

    def add(self, s: Sample) -> None:
        if s.index != self.last:  # a new pair: its target once, and a full batch goes through the network first
            if len(self.waiting_targets) >= FD_BATCH:
                self._flush()
            self.waiting_targets.append(self._resized(s.target))
            self.last = s.index
            self.images += 1
        self.waiting.setdefault(s.hints, []).append(self._resized(s.output))

    def result(self, hints: int) -> float:
        self._flush()
        return frechet_distance(np.concatenate(self.outputs[hints]), np.concatenate(self.targets))

    def report(self) -> dict:
        dims = self.targets[0].shape[1] if self.targets else 0
        return {"fd": {"name": "FD-Lite0", "features": self.description or f"{type(self.net).__name__}.pooled, {dims}-d",
                       "n": self.images, "resolution": self.size}}


@register_metric("hint_de")
def hint_de(s: Sample) -> float | None:
    """``color_metrics.hint_de``: output vs the hint colors on the hinted paper pixels (None without hints)."""
    return cm.hint_de(s.output_lab, s.hint_rgb, s.hint_mask, s.ink) if s.hints > 0 else None


@register_metric("hint_region_de")
def hint_region_de(s: Sample) -> float | None:
    """``color_metrics.hint_region_de``: output vs target over the target regions holding hints."""
    return cm.hint_region_de(s.output_lab, s.target_lab, s.hint_mask, s.regions) if s.hints > 0 else None


@register_metric("spread", reference=True)
def spread(s: Sample) -> float | None:
    """``color_metrics.spread``: RMS ΔE to the region mean inside the target's flat regions."""
    return cm.spread(s.output_lab, s.regions)


# ------------------------------------------------------------------------------ the strokes protocol
def _overlay(sketch: Image.Image, rgba: np.ndarray) -> Image.Image:
    """Hints drawn over the sketch, for the example grid."""
    base = sketch.convert("RGBA")
    base.alpha_composite(Image.fromarray(rgba))
    return base.convert("RGB")


def open_split(model_dir: str | Path | None, data_dir: str | Path, split: str, layout: str, sketch_side: str,
               device: str, size: int | None, style: str, seed: int = 0, hint_scope: str = "local"):
    """(the split's ``PairDataset`` in eval mode, the model's ``Colorizer``): what every protocol starts from.
    ``hint_scope``: ``local`` (the product's: a hint changes its material) or ``global`` (``Colorizer(local=
    False)``: the hinted run's colors everywhere, as before locality at inference). Raises EvalError for a
    missing split or scope."""
    if hint_scope not in HINT_SCOPES:
        raise EvalError(f"unknown hint scope {hint_scope!r}; valid: {', '.join(HINT_SCOPES)}")
    from .inference import Colorizer

    if not (Path(data_dir) / split).is_dir():
        raise EvalError(f"{data_dir} has no {split}/ split: evaluate needs held-out pairs in DATA/{split}/ (or --split NAME)")
    cfg = DataConfig(path=str(data_dir), layout=layout, sketch_side=sketch_side)  # checks layout, sketch_side
    ds = PairDataset(cfg, split=split, train=False, seed=seed)
    return ds, Colorizer.from_pretrained(model_dir, device=device, size=size, style=style, local=hint_scope == "local")


def report_head(protocol: str, model_dir: str | Path | None, colorizer, ds: PairDataset, split: str) -> dict:
    """The fields every protocol's report begins with: which protocol, model, style and data."""
    return {
        "protocol": protocol,  # which `autopainter evaluate --protocol` made this report (cli/evaluate.py PROTOCOLS)
        "model": str(model_dir) if model_dir is not None else "bundled",
        "style": colorizer.style,
        "hint_scope": "local" if getattr(colorizer, "local", True) else "global",
        "model_trained": colorizer.info.trained or None,
        "data": str(ds.root),
        "split": split,
        "layout": ds.layout.name,
        "fallback": ds.fallback,
    }


def write_report(report: dict, out_dir: str | Path | None, rows: list[list[Image.Image]]) -> None:
    """``out_dir/metrics.json`` (the report) and ``out_dir/examples.png`` (``rows`` as a grid), for every
    protocol; nothing when ``out_dir`` is None."""
    if out_dir is None:
        return
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "metrics.json", (json.dumps(report, indent=2) + "\n").encode())
    if rows:
        save_image(_grid(rows), out / "examples.png")


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
    hint_scope: str = "local",
    metrics: Sequence[str] | None = None,
    feature_net: FeatureNet | None = None,
) -> dict:
    """Evaluate a model folder (None: the bundled model) on ``data_dir``'s ``split``.

    ``layout`` is a ``DataConfig.layout``; "auto" detects side_by_side or two_folders as ``prepare check``
    does, and the report's ``layout`` names the one read. A split that is not there is an error, never a
    silent score of the training images (the report's ``fallback`` is therefore always False).
    ``metrics``: names from ``METRICS`` (None: all); ``feature_net``: FD's network (None: EfficientNet-Lite0).

    Returns the report (also written as ``out_dir/metrics.json``, with ``out_dir/examples.png``).
    """
    hints = sorted(set(int(n) for n in hints))
    if not hints or hints[0] < 0:
        raise EvalError("hint counts must be >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:  # numpy's generators take no negative seed
        raise EvalError(f"the hints' seed (--seed) must be a whole number >= 0, got {seed!r}")
    chosen = resolve_metrics(metrics)
    for m in chosen:
        if m.check is not None:
            m.check()
    ds, colorizer = open_split(model_dir, data_dir, split, layout, sketch_side, device, size, style, seed, hint_scope)
    n_items = len(ds) if limit <= 0 else min(limit, len(ds))
    if n_items < 2:
        raise EvalError(f"{ds.root} holds {n_items} pair(s): evaluate needs at least 2")
    per_sample = [m for m in chosen if m.score is not None]
    ctx = MetricContext(fd_size=fd_size, feature_net=feature_net)
    collectors = {m.name: m.start(ctx) for m in chosen if m.start is not None}

    values: dict[tuple[str, int | None], list[float]] = {}  # (metric, hint count; None: the target) -> values
    grid_rows: list[list[Image.Image]] = []
    skipped = 0
    t0 = time.perf_counter()
    items = range(n_items)
    for i in progress(items) if progress else items:
        try:
            sketch, target = ds.pair(i)
        except ImageError:
            skipped += 1
            continue
        tgt = np.asarray(target)
        ink = ink_mask(np.asarray(sketch.convert("L")), REGION_INK)
        regions = cm.target_regions(tgt, ink)
        tgt_lab = lab(tgt)
        try:  # every hint count is scored before anything is tallied: a pair that fails is left out of all figures
            samples, scores, outputs = [], [], []
            for n in hints:
                rgb, mask = simulate_hints(tgt, np.random.default_rng([seed, i, n]), n=n)
                rgba = hints_to_rgba(rgb, mask)
                out = colorizer(sketch, Image.fromarray(rgba) if n > 0 else None)
                s = Sample(i, n, np.asarray(out), tgt, rgb, mask, ink, regions, tgt_lab)
                scores.append({m.name: m.score(s) for m in per_sample})
                samples.append(s)
                outputs.append((rgba, out))
            scores.append({m.name: m.score(samples[0].of_target()) for m in per_sample if m.reference})
        except EvalError:
            raise
        except (ImageError, ValueError):  # too large for the colorizer, too small for SSIM's window ...
            skipped += 1
            continue
        for n, sc in zip([*hints, None], scores):  # the last: the target's own (reference) scores
            for name, v in sc.items():
                if v is not None:
                    values.setdefault((name, n), []).append(v)
        for s in samples:
            for c in collectors.values():
                c.add(s)
        if len(grid_rows) < examples:
            row = [sketch.convert("RGB")]
            for n, (rgba, out) in zip(hints, outputs):
                row += [_overlay(sketch, rgba), out] if n > 0 else [out]
            grid_rows.append([_thumbnail(im) for im in row + [target]])  # not full size: 8 rows of 8192² are GBs
    n_done = n_items - skipped
    if n_done < 2:
        raise EvalError(f"only {n_done} readable pair(s) in {ds.root}")
    seconds = round(time.perf_counter() - t0, 1)  # coloring and scoring; as before, not the split metrics' reduce
    results = {str(n): {"hints": n, **{m.name: collectors[m.name].result(n) if m.name in collectors
                                       else _mean(values.get((m.name, n), [])) for m in chosen}} for n in hints}
    report = {
        **report_head("strokes", model_dir, colorizer, ds, split),
        "images": n_done,
        "skipped": skipped,
        "seed": seed,
        "working_size": colorizer.size,
        **{k: v for c in collectors.values() for k, v in c.report().items()},  # FD-Lite0: "fd"
        "seconds": seconds,
        **{f"target_{m.name}": _mean(values.get((m.name, None), [])) for m in chosen if m.reference},
        "results": results,
    }
    write_report(report, out_dir, grid_rows)
    return report


# ------------------------------------------------------------------------------ the hue wheel
HUE_WHEEL_SIZE = 256


def hue_wheel(colorize: Callable[[Image.Image, Image.Image], Image.Image], hues: Sequence[float] = range(0, 360, 30),
              ) -> tuple[list[dict], list[np.ndarray]]:
    """Do hints of every hue steer? A ring sketch with one hint stroke inside it, once per hue.

    ``colorize(sketch, hints_rgba)`` colors it (e.g. a Colorizer with ``style="soft"``: the generator's
    own colors, no region fill). For each hue (HSV hue, saturation 0.8, value 0.85) the mean CIELAB color
    (``colorspace.lab``) inside the ring, the stroke itself left out, is compared with the hint: ΔE, hue and
    chroma. A hue *steers* when the region's hue is within 30 degrees of the hint's and its chroma is at least
    15 (clearly colored, not gray). Returns (one dict per hue, the colored images).
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
        mean = lab(out[inside & ~grown]).mean(0)
        want = lab(np.array(rgb, np.uint8))
        (got_h, got_c), (want_h, _) = hue_chroma(mean), hue_chroma(want)
        dh = abs((got_h - want_h + 180) % 360 - 180)
        rows.append({"hue": deg, "hint_rgb": rgb, "delta_e": round(float(np.linalg.norm(mean - want)), 2),
                     "region_hue": round(got_h, 1), "hint_hue": round(want_h, 1), "chroma": round(got_c, 1),
                     "steers": bool(dh <= 30 and got_c >= 15)})
    return rows, images


# ------------------------------------------------------------------------------ helpers
GRID_CELL = 192  # px: the side of one image of examples.png


def _thumbnail(im: Image.Image) -> Image.Image:
    """``im`` scaled to fit a GRID_CELL square (a copy): what the example grid keeps of each image."""
    im = im.copy() if max(im.size) <= GRID_CELL else im.resize(
        (max(1, round(im.width * GRID_CELL / max(im.size))), max(1, round(im.height * GRID_CELL / max(im.size)))),
        Image.Resampling.LANCZOS)
    return im


def _grid(rows: list[list[Image.Image]], cell: int | None = None) -> Image.Image:
    """Rows of images, each scaled to fit a cell x cell square (default GRID_CELL), on white."""
    cell = cell or GRID_CELL
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


# (metric, column header, format) of the table; a metric not in the report is left out, one not listed here is
# added at the end under its own name
_COLUMNS = (("l1", "L1 ↓", ".4f"), ("psnr", "PSNR (dB) ↑", ".2f"), ("ssim", "SSIM ↑", ".4f"),
            ("fd_lite0", "FD-Lite0 ↓ (N={n}, {resolution} px)", ".2f"), ("hint_de", "hint ΔE ↓", ".2f"),
            ("hint_region_de", "hint-region ΔE ↓", ".2f"), ("spread", "spread ↓ (target {target_spread})", ".2f"))


def format_table(report: dict) -> str:
    """The report as a Markdown table."""

    def f(v, spec=".2f"):
        return "–" if v is None else format(v, spec)

    results = list(report["results"].values())
    present = [k for k in (results[0] if results else {}) if k != "hints"]
    known = {name: (head, spec) for name, head, spec in _COLUMNS}
    fields = {**report.get("fd", {}), "target_spread": f(report.get("target_spread"))}
    cols = [(name, known[name][0].format(**fields), known[name][1]) for name, _, _ in _COLUMNS if name in present]
    cols += [(name, name, ".4g") for name in present if name not in known]
    lines = ["| hints | " + " | ".join(head for _, head, _ in cols) + " |",
             "|---:|" + "---:|" * len(cols)]
    for r in results:
        lines.append(f"| {r['hints']} | " + " | ".join(f(r.get(name), spec) for name, _, spec in cols) + " |")
    return "\n".join(lines)
