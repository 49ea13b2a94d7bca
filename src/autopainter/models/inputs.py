"""The generator's input contract, in one place: what the generator is fed and how its size is padded.

Training (``data.pairs``), the sample grids, the ``Colorizer`` and the ONNX runner all call these
functions; nothing else builds a generator input or pads one. ``tests/test_inputs.py`` checks that the
dataset path and the Colorizer path give identical tensors from the same arrays.

Channels, ``in_channels=5``: the sketch (1), the hint colors (3, exactly 0 where there is no hint) and
the hint mask (1, in {0, 1}: it tells "no hint" apart from a mid-gray hint). ``in_channels=3`` is
pix2pix's RGB input: the sketch as gray RGB. Everything is in [-1, 1] with white paper = 1.

Padding: the U-Net halves the size ``depth`` times, so H and W are padded at the bottom and right to a
multiple of ``2**depth`` and the output is cropped back. Reflection keeps the border looking like the
drawing; it needs the padding to be smaller than the side, so tiny inputs are replicated instead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..imageio import to_unit

__all__ = ["INPUT_CHANNELS", "encode_inputs", "padding", "pad_to_multiple", "pad_array", "crop"]

INPUT_CHANNELS = (5, 3)  # sketch + hint RGB + mask (ours) | gray RGB sketch (pix2pix)


def encode_inputs(sketch: np.ndarray, hint_rgb: np.ndarray | None, hint_mask: np.ndarray | None,
                  in_channels: int) -> np.ndarray:
    """Arrays as drawn -> the generator's input.

    Args:
        sketch: (H, W) uint8 gray, 255 = paper.
        hint_rgb: (H, W, 3) uint8 hint colors (values off the mask are ignored), or None for no hints.
        hint_mask: (H, W) bool, True where a hint is given, or None for no hints.
        in_channels: 5 (sketch | hint RGB | mask) or 3 (gray RGB sketch, pix2pix).

    Returns:
        (in_channels, H, W) float32 in [-1, 1], C-contiguous.
    """
    sketch = np.asarray(sketch)
    if sketch.dtype != np.uint8 or sketch.ndim != 2:
        raise ValueError(f"sketch must be an (H, W) uint8 array, got {sketch.dtype} {sketch.shape}")
    h, w = sketch.shape
    s = to_unit(sketch)[None]  # (1, H, W)
    if in_channels == 3:
        return np.ascontiguousarray(np.repeat(s, 3, axis=0))  # (3, H, W)
    if in_channels != 5:
        raise ValueError(f"in_channels must be one of {INPUT_CHANNELS}, got {in_channels}")
    x = np.zeros((5, h, w), np.float32)
    x[0] = s[0]
    if hint_mask is not None:
        m = np.asarray(hint_mask, dtype=bool)
        rgb = np.asarray(hint_rgb)
        if m.shape != (h, w) or rgb.shape != (h, w, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"hints must be (H, W, 3) uint8 colors and an (H, W) mask matching the sketch {h}x{w}, "
                             f"got {rgb.dtype} {rgb.shape} and {m.shape}")
        x[1:4] = np.where(m, to_unit(rgb).transpose(2, 0, 1), 0.0)  # (3, H, W), exactly 0 off the mask
        x[4] = m
    return x


def padding(h: int, w: int, multiple: int) -> tuple[int, int, str]:
    """(pad bottom, pad right, mode) that bring (h, w) to multiples of ``multiple``.

    mode is "reflect", or "replicate" when a side is too small to reflect (pad >= side)."""
    ph, pw = (-h) % multiple, (-w) % multiple
    return ph, pw, ("reflect" if ph < h and pw < w else "replicate")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H + ph, W + pw), padded as ``padding`` says (a no-op when already a multiple)."""
    ph, pw, mode = padding(x.shape[-2], x.shape[-1], multiple)
    if not (ph or pw):
        return x
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def pad_array(x: np.ndarray, multiple: int) -> np.ndarray:
    """The numpy twin of ``pad_to_multiple`` for (B, C, H, W) float arrays (the ONNX runner pads here
    what its graph cannot: inputs too small to reflect)."""
    ph, pw, mode = padding(x.shape[-2], x.shape[-1], multiple)
    if not (ph or pw):
        return x
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect" if mode == "reflect" else "edge")


def crop(y, h: int, w: int):
    """(B, C, H', W') -> (B, C, h, w): the top-left part, undoing the padding (tensor or array)."""
    return y[..., :h, :w]
