"""Color hints: sparse user colors that steer the colorization.

A hint is a pair ``(hint_rgb, hint_mask)``: ``hint_rgb`` (H, W, 3) uint8 holds colors, ``hint_mask``
(H, W) bool is True where a color was given (``hint_rgb`` is 0 elsewhere). The generator sees them as
two extra inputs (``models.inputs.encode_inputs``): the hint colors in [-1, 1] with 0 where there is
none, and the 0/1 mask, which tells "no hint" apart from a mid-gray hint.

Users give hints as an RGBA image, transparent except where they painted (``hints_from_rgba``,
``hints_to_rgba``). At train time ``simulate_hints`` draws them from the target image: short color
strokes, as the Auto-Painter paper (Liu et al. 2017) draws color lines on the sketch, and small square
patches holding the patch's mean color, as in interactive colorization (Zhang et al., "Real-Time
User-Guided Image Colorization with Learned Deep Priors", SIGGRAPH 2017). A share of samples gets no
hints at all, so one model serves both uses.

``simulate_material_hints`` is the training default (``data.hint_materials``): with the pair's material
map (``data.materials``) it hints some materials and not others, each stroke inside its own material,
and gives each hinted material, by chance, a color of its own in both the target and its hints
(``recolor_material``), while every unhinted material keeps its color. So a hint decides its own
material, all of it, and nothing else: the global hue turn (``data.hint_hue_jitter``) taught the
opposite, that any hint sets the palette of the whole picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..ink import TARGET_LINE_MAX

__all__ = ["simulate_hints", "simulate_material_hints", "recolor_material", "empty_hints", "hints_from_rgba",
           "hints_to_rgba"]

# Simulation constants; sizes are in pixels at 256 px and scale with the image's shorter side.
_REFERENCE_SIZE = 256
_COUNT_P = 0.2  # hint count ~ geometric(0.2) truncated to [1, max_strokes]: mean about 4-5, few favoured
_STROKE_PROB = 0.5  # share of hints that are strokes (the rest are square patches)
_STROKE_SEGMENTS = (1, 4)  # segments per stroke polyline (inclusive)
_SEGMENT_LENGTH = (0.03, 0.10)  # segment length as a fraction of the shorter side
_STROKE_WIDTH = (1, 5)  # stroke width in px at 256 px (inclusive)
_PATCH_SIZE = (1, 9)  # patch side in px at 256 px (inclusive)
_STROKE_TOLERANCE = 24  # a stroke keeps the pixels within this (max over RGB) of its start color
_WHITE_MIN = 235  # pixels with all channels above this are background paper
_BLACK_MAX = TARGET_LINE_MAX  # pixels with all channels below this (40) are lines
_BACKGROUND_WEIGHT = 0.02  # relative chance of starting a hint on paper or line pixels


def empty_hints(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """No hints: ((H, W, 3) uint8 zeros, (H, W) bool False)."""
    return np.zeros((height, width, 3), np.uint8), np.zeros((height, width), bool)


def simulate_hints(
    color: np.ndarray,
    rng: np.random.Generator,
    max_strokes: int = 20,
    none_prob: float = 0.3,
    n: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated user hints taken from the target image.

    Args:
        color: (H, W, 3) uint8 target image.
        rng: the only source of randomness: the same generator state gives the same hints.
        max_strokes: most hints per image; the count follows a geometric law on [1, max_strokes]
            that favours few hints.
        none_prob: chance of giving no hints at all (ignored when ``n`` is given).
        n: exactly this many hints (0: none).

    Returns:
        hint_rgb: (H, W, 3) uint8, the target's colors where hinted, 0 elsewhere.
        hint_mask: (H, W) bool, True where hinted.

    Each hint is, with equal chance, a stroke or a square patch, started at a position drawn with a
    strong preference for colored pixels over white paper and black lines:

    * stroke: a polyline of 1-4 segments, 1-5 px wide (at 256 px; sizes scale with the image), in one
      color: the median target color of the stroke pixels near the target color where it starts.
      Pixels that differ from it (another region across a line) are left out, like a user's stroke
      that stays inside a region.
    * patch: a square of 1-9 px holding the mean target color of the patch.

    Later hints paint over earlier ones where they overlap.
    """
    color = np.asarray(color)
    if color.dtype != np.uint8 or color.ndim != 3 or color.shape[2] != 3:
        raise ValueError(f"color must be an (H, W, 3) uint8 image, got {color.dtype} {color.shape}")
    h, w = color.shape[:2]
    hint_rgb, hint_mask = empty_hints(h, w)
    if n is None:
        if max_strokes < 1 or rng.random() < none_prob:
            return hint_rgb, hint_mask
        counts = np.arange(1, max_strokes + 1)
        probs = (1.0 - _COUNT_P) ** (counts - 1)
        n = int(rng.choice(counts, p=probs / probs.sum()))
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0 or h == 0 or w == 0:
        return hint_rgb, hint_mask

    scale = min(h, w) / _REFERENCE_SIZE
    starts = _sample_positions(color, rng, n)  # (n, 2) int (y, x)
    for y, x in starts:
        if rng.random() < _STROKE_PROB:
            _add_stroke(color, hint_rgb, hint_mask, rng, int(y), int(x), scale)
        else:
            _add_patch(color, hint_rgb, hint_mask, rng, int(y), int(x), scale)
    return hint_rgb, hint_mask


_MATERIAL_P = 0.35  # hinted materials ~ geometric(0.35) on [1, materials]: mean about 2.5
_STROKES_PER_MATERIAL = (1, 3)  # strokes or patches per hinted material (inclusive)
_MIN_MATERIAL_PX = 12  # materials smaller than this (at 256 px, scaled by area) are never hinted


def simulate_material_hints(
    color: np.ndarray,
    materials,
    rng: np.random.Generator,
    max_strokes: int = 20,
    none_prob: float = 0.3,
    recolor: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hints per material, with hinted materials recolored by chance (see the module doc).

    Args:
        color: (H, W, 3) uint8 target image.
        materials: its ``data.materials.MaterialMap`` (labels (H, W), 0 = ink).
        rng: the only source of randomness.
        max_strokes: most strokes in all; none_prob: chance of no hints at all.
        recolor: chance that a hinted material gets a new color (``recolor_material``).

    Returns:
        color: (H, W, 3) uint8, the target with the hinted materials' new colors (a copy when changed).
        hint_rgb: (H, W, 3) uint8; hint_mask: (H, W) bool.
    """
    color = np.asarray(color)
    labels = np.asarray(materials.labels)
    if labels.shape != color.shape[:2]:
        raise ValueError(f"material map {labels.shape} and color {color.shape[:2]} differ in size")
    h, w = labels.shape
    hint_rgb, hint_mask = empty_hints(h, w)
    draw_none = rng.random()
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    min_px = max(2, round(_MIN_MATERIAL_PX * h * w / _REFERENCE_SIZE**2))
    present = np.flatnonzero(counts >= min_px)
    if max_strokes < 1 or draw_none < none_prob or present.size == 0:
        return color, hint_rgb, hint_mask
    k_max = min(present.size, max_strokes)
    ks = np.arange(1, k_max + 1)
    probs = (1.0 - _MATERIAL_P) ** (ks - 1)
    k = int(rng.choice(ks, p=probs / probs.sum()))
    weights = np.sqrt(counts[present].astype(np.float64))  # large materials first, small ones still chosen
    chosen = rng.choice(present, size=k, replace=False, p=weights / weights.sum())
    scale = min(h, w) / _REFERENCE_SIZE
    out = color
    used = 0
    for i, lab in enumerate(chosen):
        inside = labels == lab  # (H, W) bool
        if rng.random() < recolor:
            if out is color:
                out = color.copy()
            out[inside] = recolor_material(color[inside], rng)
        n = int(rng.integers(_STROKES_PER_MATERIAL[0], _STROKES_PER_MATERIAL[1] + 1))
        n = max(1, min(n, max_strokes - used - (k - 1 - i)))  # every chosen material gets at least one
        used += n
        ys, xs = np.nonzero(inside)
        picks = rng.integers(0, ys.size, n)
        for y, x in zip(ys[picks], xs[picks]):
            if rng.random() < _STROKE_PROB:
                _add_stroke(out, hint_rgb, hint_mask, rng, int(y), int(x), scale, within=inside)
            else:
                _add_patch(out, hint_rgb, hint_mask, rng, int(y), int(x), scale, within=inside)
    return out, hint_rgb, hint_mask


def recolor_material(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) uint8 pixels of one material -> the same material in a new color, its shading kept.

    The new color is the material's median color turned in hue, saturation and lightness (or, one time
    in three, any color). Each pixel keeps its brightness relative to the median, so anti-aliased edges
    toward the ink (fill x coverage) stay edges of the new fill.
    """
    import colorsys

    px = pixels.astype(np.float32)
    median = np.median(px, axis=0)  # (3,)
    hh, ll, ss = colorsys.rgb_to_hls(*(median / 255.0))
    if rng.random() < 1 / 3:
        hh, ll, ss = rng.random(), rng.uniform(0.15, 0.92), rng.uniform(0.0, 1.0)
    else:
        hh = (hh + rng.uniform(0.08, 0.92)) % 1.0
        ss = float(np.clip(ss + rng.uniform(-0.3, 0.5), 0.0, 1.0)) if ss > 0.08 else rng.uniform(0.2, 0.9)
        ll = float(np.clip(ll + rng.uniform(-0.25, 0.25), 0.12, 0.92))
    new = np.array(colorsys.hls_to_rgb(hh, ll, ss), np.float32) * 255.0  # (3,)
    luma = px @ np.array([0.299, 0.587, 0.114], np.float32)  # (N,)
    base = float(median @ np.array([0.299, 0.587, 0.114], np.float32))
    coverage = np.clip(luma / base, 0.0, 1.25) if base > 8 else np.ones_like(luma)
    return np.clip(coverage[:, None] * new, 0, 255).round().astype(np.uint8)


def _sample_positions(color: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 2) int (y, x) positions, mostly on colored pixels rather than paper or lines."""
    lo = color.min(axis=2)
    hi = color.max(axis=2)
    plain = (lo > _WHITE_MIN) | (hi < _BLACK_MAX)  # (H, W) paper or line
    weights = np.where(plain, _BACKGROUND_WEIGHT, 1.0).ravel()
    cdf = np.cumsum(weights)
    flat = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    flat = np.minimum(flat, weights.size - 1)
    return np.stack(np.unravel_index(flat, lo.shape), axis=1)


def _add_stroke(
    color: np.ndarray,
    hint_rgb: np.ndarray,
    hint_mask: np.ndarray,
    rng: np.random.Generator,
    y: int,
    x: int,
    scale: float,
    within: np.ndarray | None = None,
) -> None:
    """Draw one single-color stroke starting at (y, x) into hint_rgb / hint_mask, in place; with
    ``within`` ((H, W) bool), only inside it (a stroke that never crosses into another material)."""
    h, w = hint_mask.shape
    n_seg = int(rng.integers(_STROKE_SEGMENTS[0], _STROKE_SEGMENTS[1] + 1))
    lengths = rng.uniform(*_SEGMENT_LENGTH, n_seg) * min(h, w)
    angles = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, 0.6, n_seg))  # a gently bending path
    width = max(1, round(int(rng.integers(_STROKE_WIDTH[0], _STROKE_WIDTH[1] + 1)) * scale))

    steps = np.stack([lengths * np.cos(angles), lengths * np.sin(angles)], axis=1)  # (n_seg, 2) (dx, dy)
    pts = np.vstack([[x, y], [x, y] + np.cumsum(steps, axis=0)])  # (n_seg + 1, 2) (x, y)
    pts = np.clip(pts, 0, [w - 1, h - 1])

    # Draw into a small canvas around the stroke rather than a full-size one.
    pad = width // 2 + 1
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + pad + 1, [w, h])
    canvas = Image.new("L", (int(x1 - x0), int(y1 - y0)), 0)
    local = [(float(px - x0), float(py - y0)) for px, py in pts]
    ImageDraw.Draw(canvas).line(local, fill=255, width=width, joint="curve")
    drawn = np.asarray(canvas) > 0  # (h', w') bool
    drawn[y - y0, x - x0] = True  # the start pixel always belongs to the stroke

    target = color[y0:y1, x0:x1]  # (h', w', 3) view
    start = color[y, x].astype(np.int16)
    if within is not None:
        near = drawn & within[y0:y1, x0:x1]
    else:
        near = drawn & (np.abs(target.astype(np.int16) - start).max(axis=2) <= _STROKE_TOLERANCE)
    stroke_color = np.rint(np.median(target[near], axis=0)).astype(np.uint8)  # (3,)
    hint_rgb[y0:y1, x0:x1][near] = stroke_color
    hint_mask[y0:y1, x0:x1] |= near


def _add_patch(
    color: np.ndarray,
    hint_rgb: np.ndarray,
    hint_mask: np.ndarray,
    rng: np.random.Generator,
    y: int,
    x: int,
    scale: float,
    within: np.ndarray | None = None,
) -> None:
    """Fill one square patch centred at (y, x) with the target's mean color there, in place (with
    ``within``: only its pixels inside it, in their median color)."""
    h, w = hint_mask.shape
    side = max(1, round(int(rng.integers(_PATCH_SIZE[0], _PATCH_SIZE[1] + 1)) * scale))
    y0, x0 = max(0, y - side // 2), max(0, x - side // 2)
    y1, x1 = min(h, y0 + side), min(w, x0 + side)
    if within is not None:
        sel = within[y0:y1, x0:x1].copy()
        sel[y - y0, x - x0] = True
        value = np.rint(np.median(color[y0:y1, x0:x1][sel], axis=0)).astype(np.uint8)  # (3,)
        hint_rgb[y0:y1, x0:x1][sel] = value
        hint_mask[y0:y1, x0:x1] |= sel
        return
    mean = np.rint(color[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)).astype(np.uint8)  # (3,)
    hint_rgb[y0:y1, x0:x1] = mean
    hint_mask[y0:y1, x0:x1] = True


# ------------------------------------------------------------------------------ user hint files
def hints_from_rgba(rgba: np.ndarray, alpha_threshold: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """User hint image -> hints.

    Args:
        rgba: (H, W, 4) uint8, transparent except where the user painted colors (straight alpha,
            as PNG stores it).
        alpha_threshold: pixels with alpha >= this are hints (soft brush edges below it are dropped).

    Returns:
        hint_rgb: (H, W, 3) uint8, painted colors where hinted, 0 elsewhere.
        hint_mask: (H, W) bool.
    """
    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(
            "a hint image must be (H, W, 4) uint8 RGBA, transparent except the painted colors; "
            f"got {rgba.dtype} {rgba.shape}"
        )
    if not 1 <= alpha_threshold <= 255:
        raise ValueError(f"alpha_threshold must be in [1, 255], got {alpha_threshold}")
    mask = rgba[:, :, 3] >= alpha_threshold  # (H, W) bool
    hint_rgb = np.where(mask[:, :, None], rgba[:, :, :3], 0).astype(np.uint8)
    return hint_rgb, mask


def hints_to_rgba(hint_rgb: np.ndarray, hint_mask: np.ndarray) -> np.ndarray:
    """Hints -> (H, W, 4) uint8 RGBA image: opaque hint colors, fully transparent (0, 0, 0, 0) elsewhere."""
    hint_rgb, hint_mask = _check_hints(hint_rgb, hint_mask)
    rgba = np.zeros((*hint_mask.shape, 4), np.uint8)
    rgba[hint_mask, :3] = hint_rgb[hint_mask]
    rgba[hint_mask, 3] = 255
    return rgba


def _check_hints(hint_rgb: np.ndarray, hint_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hint_rgb, hint_mask = np.asarray(hint_rgb), np.asarray(hint_mask, dtype=bool)
    if hint_rgb.dtype != np.uint8 or hint_rgb.ndim != 3 or hint_rgb.shape[2] != 3:
        raise ValueError(f"hint_rgb must be (H, W, 3) uint8, got {hint_rgb.dtype} {hint_rgb.shape}")
    if hint_mask.shape != hint_rgb.shape[:2]:
        raise ValueError(f"hint_mask shape {hint_mask.shape} does not match hint_rgb {hint_rgb.shape[:2]}")
    return hint_rgb, hint_mask
