"""Full-resolution output from a working-resolution generator: a flat color layer under the sketch's own lines.

The generator runs at a working resolution (e.g. 256 px on the long side). Scaling its output up to
the input's size blurs the lines it drew: a 2048 px sketch would come back with lines 8x softer than
the artist's. Interactive colorization (Zhang et al. 2017, "Real-Time User-Guided Image Colorization")
solves the same problem for photos by keeping the full-resolution luminance L and up-sampling only the
predicted chroma ab. Line art is black ink on white paper, so its luminance is not the colored image's
luminance (L from the sketch would make every fill paper-white); the artist's own tool is the answer
instead: a **multiply line layer over a flat color layer**.

1. ``color_layer``: at the working resolution, the generated pixels on and next to the sketch's ink
   (``reach`` pixels beyond it: the generator draws softer lines than its input) are filled from the
   paper around them, one pixel ring per round, so each side of a line keeps its own color
   (``fill_from_paper``); what rounds do not reach (inside large black areas) is filled by push-pull
   interpolation (Gortler et al. 1996, "The Lumigraph"; ``flat_color``). This flat layer is scaled
   smoothly (bilinear) to the input's exact size.
2. ``multiply_lines``: ``result = color * sketch / 255`` with the full-resolution sketch. Where the
   sketch is black the result is exactly black (the sketch's own pixel); on white paper it is the
   color; anti-aliased edges keep the sketch's own gray ramp. ``line_layer`` is the same sketch as a
   black layer with alpha ``255 - sketch``: composited over the color layer it gives the result.

docs/resolution.md measures it against plain resizing. Every full-resolution step works on uint8
arrays (the multiply in row strips), so memory stays a few bytes per pixel.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..ink import LINE_INK, coverage

__all__ = ["color_layer", "paper_mask", "fill_from_paper", "flat_color", "upsample", "multiply_lines",
           "line_layer", "composite_layers"]

STRIP_ROWS = 256  # full-resolution work is done this many rows at a time (bounded temporaries)
INK_THRESHOLD = LINE_INK  # ink coverage (1 - gray/255) from which a pixel counts as line (``ink.LINE_INK``)
REACH = 1  # pixels around the ink whose generated color is not trusted (the generator's lines are soft)


def color_layer(generated: np.ndarray, small_sketch: np.ndarray, size: tuple[int, int], reach: int = REACH,
                threshold: float = INK_THRESHOLD) -> np.ndarray:
    """The flat color layer at full size: the generated colors with the lines taken out, scaled up.

    Args:
        generated: (h, w, 3) uint8, the generator's output at the working resolution.
        small_sketch: (h, w) uint8, the sketch as the generator saw it (255 = paper).
        size: (W, H), the full-resolution sketch's size.
        reach: how many pixels beyond the ink the generated colors are replaced.
        threshold: ink coverage from which a pixel counts as line.

    Returns:
        (H, W, 3) uint8; ``multiply_lines(color_layer(...), sketch)`` is the result.
    """
    known = paper_mask(small_sketch, threshold, reach)
    return upsample(fill_from_paper(generated, known, rounds=2 * reach + 2), size)


def paper_mask(sketch: np.ndarray, threshold: float = INK_THRESHOLD, grow: int = 0) -> np.ndarray:
    """(h, w) bool: paper (ink coverage below ``threshold``), at least ``grow`` pixels away from any line."""
    paper = coverage(sketch) < threshold
    if grow > 0:
        paper = ~_window_any(~paper, grow)  # erode the paper = widen the lines
    return paper


def fill_from_paper(color: np.ndarray, known: np.ndarray, rounds: int) -> np.ndarray:
    """Fill the pixels that are not ``known`` from their known neighbours, one ring per round.

    Each round gives every unknown pixel next to a known one the mean of its known 3x3 neighbours, so
    the two sides of a line grow toward each other and meet in the middle: a color never crosses a
    line. What is still unknown after ``rounds`` is filled by push-pull (``flat_color``).

    Args:
        color: (h, w, 3) uint8; known: (h, w) bool.

    Returns:
        (h, w, 3) uint8, equal to ``color`` where ``known``.
    """
    if known.all() or not known.any():
        return np.ascontiguousarray(color)
    k = known.astype(np.float32)  # (h, w)
    c = color.astype(np.float32) * k[..., None]  # (h, w, 3), 0 where unknown
    for _ in range(rounds):
        s_k = _sum3(k)
        new = (k == 0) & (s_k > 0)  # unknown pixels touching the known ones
        if not new.any():
            break
        np.divide(_sum3(c), s_k[..., None], out=c, where=new[..., None])  # mean of the known neighbours
        k += new
    out = np.rint(c).astype(np.uint8)  # means of uint8 values: already in [0, 255]
    if not k.all():
        out = flat_color(out, k)
    return out


def flat_color(color: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill low-weight pixels from their surroundings by push-pull interpolation.

    Args:
        color: (h, w, 3) uint8.
        weight: (h, w) float in [0, 1]: how much each pixel's own color counts.

    Returns:
        (h, w, 3) uint8: ``weight * color + (1 - weight) * (color interpolated from the surroundings)``.
        Where no pixel has any weight, the input is returned unchanged.
    """
    w = np.array(weight, dtype=np.float32)
    if w.max(initial=0.0) <= 0.0:
        return np.ascontiguousarray(color)
    # pull: a pyramid of premultiplied colors and weights, each level the 2x2 sum of the one below with
    # the weight clamped to 1 (a coarse pixel is fully known once any of its children is)
    levels = [(color.astype(np.float32) * w[..., None], w)]
    while max(levels[-1][1].shape) > 1:
        pc, pw = levels[-1]
        pc2, pw2 = _down2(pc), _down2(pw)  # (ceil(h/2), ceil(w/2), 3), (ceil(h/2), ceil(w/2))
        scale = np.where(pw2 > 1.0, 1.0 / np.maximum(pw2, 1e-12), 1.0).astype(np.float32)
        levels.append((pc2 * scale[..., None], pw2 * scale))
    # push: from the coarsest level (one pixel, weight > 0) down, each level fills what it lacks from above
    pc, pw = levels[-1]
    est = pc / pw[..., None]
    for pc, pw in reversed(levels[:-1]):
        est = pc + (1.0 - pw)[..., None] * _up2(est, *pw.shape)  # premultiplied own color + the rest
    return np.clip(np.rint(est), 0, 255).astype(np.uint8)


# Small numpy filters: single-threaded on purpose. These images are small (twice the working
# resolution), and multi-threaded kernels stall badly when another process holds a core.
def _sum3(a: np.ndarray) -> np.ndarray:
    """3x3 box sum with zeros outside; a: (h, w) or (h, w, c)."""
    r = a.copy()
    r[:, 1:] += a[:, :-1]
    r[:, :-1] += a[:, 1:]  # rows summed over 3 columns
    out = r.copy()
    out[1:] += r[:-1]
    out[:-1] += r[1:]
    return out


def _window_any(mask: np.ndarray, r: int) -> np.ndarray:
    """(h, w) bool: whether any pixel of ``mask`` is within the (2r+1)^2 window (summed-area table)."""
    h, w = mask.shape
    k = 2 * r + 1
    c = np.pad(np.pad(mask, r).astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # (h+k, w+k)
    return (c[k:, k:] - c[:h, k:] - c[k:, :w] + c[:h, :w]) > 0


def _down2(a: np.ndarray) -> np.ndarray:
    """2x2 sums (odd sizes padded with zeros): (h, w, ...) -> (ceil(h/2), ceil(w/2), ...)."""
    h, w = a.shape[:2]
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (a.ndim - 2))
    return a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]


def _up2(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear 2x up-sampling (pixel centres, edges clamped), cropped to (h, w, ...)."""
    for axis in (0, 1):
        a = np.moveaxis(a, axis, 0)
        p = np.concatenate([a[:1], a, a[-1:]], 0)
        even, odd = 0.75 * a + 0.25 * p[:-2], 0.75 * a + 0.25 * p[2:]
        a = np.moveaxis(np.stack([even, odd], 1).reshape(-1, *a.shape[1:]), 0, axis)
    return a[:h, :w]


def upsample(color: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8 -> (H, W, 3) uint8 with ``size = (W, H)``, bilinear (no ringing at color edges)."""
    img = Image.fromarray(color)
    if img.size == tuple(size):
        return np.ascontiguousarray(color)
    return np.asarray(img.resize(tuple(size), Image.Resampling.BILINEAR))


def multiply_lines(color: np.ndarray, sketch: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The sketch as a multiply layer: ``round(color * sketch / 255)`` per channel.

    Args:
        color: (H, W, 3) uint8; sketch: (H, W) uint8 gray (0 = ink, 255 = paper).
        out: optional (H, W, 3) uint8 array to write into (may be ``color`` itself).

    Returns:
        (H, W, 3) uint8. Black sketch pixels give exactly 0; white ones the color unchanged.
    """
    if color.shape[:2] != sketch.shape:
        raise ValueError(f"color {color.shape[:2]} and sketch {sketch.shape} differ in size")
    if out is None:
        out = np.empty_like(color)
    for r in range(0, color.shape[0], STRIP_ROWS):
        c = color[r : r + STRIP_ROWS].astype(np.uint16)  # (rows, W, 3)
        c *= sketch[r : r + STRIP_ROWS, :, None]
        c += 127
        c //= 255  # exact rounding of c*g/255: c*g + 127 < 2**16 and no ties (255 is odd)
        out[r : r + STRIP_ROWS] = c
    return out


def line_layer(sketch: np.ndarray) -> np.ndarray:
    """(H, W) uint8 gray sketch -> (H, W, 4) uint8 RGBA: black ink with alpha ``255 - gray``.

    Composited over the color layer (normal blending) it gives ``color * gray / 255``, the multiply
    result, so artists can keep painting under the lines in any program that reads PNG.
    """
    out = np.zeros(sketch.shape + (4,), np.uint8)
    np.subtract(255, sketch, out=out[..., 3])
    return out


def composite_layers(color: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Lines (H, W, 4) over color (H, W, 3) with Pillow's alpha compositing -> (H, W, 3) uint8."""
    base = Image.fromarray(color).convert("RGBA")
    return np.asarray(Image.alpha_composite(base, Image.fromarray(lines, "RGBA")).convert("RGB"))
