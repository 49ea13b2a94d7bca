"""CIELAB: the one conversion that the product and its metrics share.

CIELAB (CIE 1976 L*a*b*, D65 white, sRGB input) is the space where a distance is a visible difference: ΔE
(CIE76) is the Euclidean distance in it, and about 2.3 is just noticeable (Sharma, "Digital Color Imaging
Handbook", 2003). Every CIELAB in the package is OpenCV's ``cvtColor`` (``COLOR_RGB2Lab``, sRGB gamma), in
two forms:

* ``lab``: true CIELAB in float32, L 0..100 and a, b about -128..127, from OpenCV's float path on RGB in
  [0, 1]. The metrics use it (``color_metrics``, ``evaluate``, ``evaluate_locality``, ``hue_wheel``). sRGB white
  is (100, 0, 0), pure red (53.24, 80.09, 67.20).
* ``to_lab8`` / ``from_lab8``: OpenCV's 8-bit encoding, L * 255 / 100 and a + 128, b + 128 rounded into uint8,
  the form the flat style computes its region medians in (``inference.flats``); ``lab8_to_lab`` reads it back
  as float CIELAB, ``lab_8bit`` is both steps. It is ``lab`` quantized to 8 bits: 0.5 ΔE from it on average, at most about 3.

OpenCV's float path interpolates its gamma and cube-root tables, so ``lab`` differs from an exact evaluation
of the formulas (scikit-image's ``rgb2lab``, which the metrics used before) by 0.16 ΔE on average and at most
about 0.5 (2 million random colors); both sides of every ΔE here come from the one conversion.
This module is a leaf (NumPy and OpenCV), importable from ``data``, ``inference`` and ``evaluate``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lab", "to_lab8", "from_lab8", "lab8_to_lab", "lab_8bit"]


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - a base dependency; the message is for broken installs
        raise ImportError("CIELAB needs OpenCV: pip install opencv-python-headless") from None
    return cv2


def _uint8_rgb(rgb: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"{what} takes (..., 3) uint8 RGB, got {a.dtype} {a.shape}")
    return a


def _convert(a: np.ndarray, code: int) -> np.ndarray:
    """cvtColor over any (..., 3) array: an (H, W, 3) image as it is, anything else as an (N, 1, 3) column."""
    cv2 = _cv2()
    if a.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(a), code)
    return cv2.cvtColor(np.ascontiguousarray(a.reshape(-1, 1, 3)), code).reshape(a.shape)


def lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> (..., 3) float32 CIELAB (D65; L 0..100), OpenCV's float conversion."""
    a = _uint8_rgb(rgb, "lab")
    return _convert(a.astype(np.float32) / 255.0, _cv2().COLOR_RGB2Lab)


def to_lab8(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> (..., 3) uint8 OpenCV 8-bit CIELAB (L * 255 / 100, a + 128, b + 128)."""
    return _convert(_uint8_rgb(rgb, "to_lab8"), _cv2().COLOR_RGB2Lab)


def from_lab8(lab8: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 OpenCV 8-bit CIELAB -> (..., 3) uint8 sRGB (out-of-gamut colors clipped)."""
    a = np.asarray(lab8)
    if a.dtype != np.uint8 or a.ndim < 1 or a.shape[-1] != 3:
        raise ValueError(f"from_lab8 takes (..., 3) uint8 8-bit CIELAB, got {a.dtype} {a.shape}")
    return _convert(a, _cv2().COLOR_Lab2RGB)


def lab8_to_lab(lab8: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 8-bit CIELAB -> (..., 3) float32 CIELAB (L 0..100, a and b centred on 0)."""
    out = np.asarray(lab8).astype(np.float32)
    out[..., 0] *= 100.0 / 255.0
    out[..., 1:] -= 128.0
    return out


def lab_8bit(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> (..., 3) float32 CIELAB through the 8-bit encoding: the flats' own ΔE."""
    return lab8_to_lab(to_lab8(rgb))
