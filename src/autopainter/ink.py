"""Ink: which pixels of line art are lines. The one owner of every threshold that says so.

Line art here is gray, 0 black ink to 255 white paper; its *coverage* is ``1 - gray / 255`` (an anti-aliased
edge is partly covered). Different steps ask different questions of the same pixels, so they keep different
thresholds: a wall for the region fill must be solid ink, while a generated color next to a faint edge is
already not to be trusted. Each threshold is named here with what it is for; the modules that use one import
it (their old names, ``compose.INK_THRESHOLD``, ``regions.REGION_INK``, ``materials.INK_BELOW``, are aliases).
Changing a value changes the product's output bytes (tests/test_golden.py) or the datasets' pairs.

This module is a leaf (NumPy only), so ``data``, ``inference`` and ``evaluate`` all import it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LINE_INK", "REGION_INK", "MATERIAL_INK_BELOW", "RENDER_DARK_BELOW", "COMICGEN_INK_LUMA",
           "TARGET_LINE_MAX", "gray_below", "ink_mask", "coverage", "luma"]

# ------------------------------------------------------------------ thresholds on the sketch (coverage 0..1)
# The product's line: where the generated colors are not trusted and are filled from the paper beside them
# (``compose.color_layer``/``paper_mask``), and the locality protocol's ink (``evaluate_locality``). Low, so
# that the anti-aliased fringe counts as line too.
LINE_INK = 0.15
# A wall for the trapped-ball regions (``regions.segment``: the flat style's flats, ``/api/v1/regions``), and
# the lines ``evaluate``'s color metrics leave out (``color_metrics.target_regions``, ``hint_de``). Higher
# than ``LINE_INK``: only the darker part of an anti-aliased line is a wall; the lighter fringe is filled.
REGION_INK = 0.3

# ------------------------------------------------------------------ thresholds on 8-bit gray / luminance
# Material maps (``data.materials``, ``data.augment``): a sketch pixel darker than this is ink, label 0 (no
# material): the middle of the gray range, so an anti-aliased edge goes to whichever side it is closer to.
MATERIAL_INK_BELOW = 128
# Dataset builders (``data.sources.openmoji``, ``characters``): a pixel of the black line render darker than
# this is line, and a line pixel must be this dark in the color render too for the pair to keep its lines.
RENDER_DARK_BELOW = 128
# Comicgen SVGs (``data.sources.characters``): a color in the SVG whose luminance (``luma``) is below this is
# the drawing's ink and stays in its line art; every lighter color is turned white.
COMICGEN_INK_LUMA = 70
# Hint simulation (``data.hints``): a *target* pixel whose channels are all below this is a line, where a
# simulated hint rarely starts (a user paints fills, not lines).
TARGET_LINE_MAX = 40


def gray_below(coverage: float) -> int:
    """The 8-bit gray below which a pixel is ink at ``coverage`` (0..1): ``round(255 * (1 - coverage))``,
    178 for ``REGION_INK`` (Python rounds 178.5 to even)."""
    return round(255 * (1.0 - coverage))


def ink_mask(gray: np.ndarray, coverage: float = REGION_INK) -> np.ndarray:
    """(H, W) bool: the ink of an (H, W) uint8 gray sketch (255 paper) at ``coverage``: ``gray < gray_below``.
    ``regions.segment`` and ``evaluate``'s target regions read the sketch this way."""
    return np.asarray(gray) < gray_below(coverage)


def coverage(gray: np.ndarray) -> np.ndarray:
    """(...) uint8 gray -> (...) float32 ink coverage ``1 - gray / 255`` in [0, 1] (``compose.paper_mask``)."""
    return 1.0 - np.asarray(gray).astype(np.float32) / 255.0


def luma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) uint8 luminance: ITU-R 601 weights in integers, truncated (Pillow's "L" uses
    the same weights and rounds, so it is at most one level lighter)."""
    return (np.asarray(rgb) @ np.array([299, 587, 114], dtype=np.uint32) // 1000).astype(np.uint8)
