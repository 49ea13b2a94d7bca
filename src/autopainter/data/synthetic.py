"""Tiny synthetic sketch/color pairs: cartoon-like flat-colored shapes with thick black outlines.

Used by the tests, the demo and the examples so that everything runs offline in seconds. The sketch is
the same drawing as the colored image with white fills, so outlines line up pixel for pixel.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .layouts import LAYOUT_CLASSES, make_layout

__all__ = ["make_synthetic_pairs", "draw_synthetic_pair"]

_BLACK = (0, 0, 0)
_WHITE = (255, 255, 255)


def draw_synthetic_pair(rng: np.random.Generator, size: int = 64) -> tuple[Image.Image, Image.Image]:
    """One pair: (color: RGB size x size, sketch: L size x size), white background, 2-5 shapes."""
    color = Image.new("RGB", (size, size), _WHITE)
    sketch = Image.new("L", (size, size), 255)
    dc, ds = ImageDraw.Draw(color), ImageDraw.Draw(sketch)
    width = max(1, size // 32)  # outline width: 2 px at 64 px
    for _ in range(int(rng.integers(2, 6))):
        # flat, clearly non-white colors: any hue, saturation 0.4-1, value 0.45-1
        r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.45, 1.0))
        fill = (round(r * 255), round(g * 255), round(b * 255))
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 5, size // 2 + 1, 2)
        box = [int(x0), int(y0), int(min(size - 1, x0 + w)), int(min(size - 1, y0 + h))]
        kind = rng.integers(3)
        if kind == 0:
            dc.ellipse(box, fill=fill, outline=_BLACK, width=width)
            ds.ellipse(box, fill=255, outline=0, width=width)
        elif kind == 1:
            dc.rectangle(box, fill=fill, outline=_BLACK, width=width)
            ds.rectangle(box, fill=255, outline=0, width=width)
        else:  # a random polygon inside the box, vertices sorted by angle so it does not self-intersect
            n = int(rng.integers(3, 7))
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            rad = rng.uniform(0.5, 1.0, n)
            pts = [
                (cx + rr * (box[2] - box[0]) / 2 * np.cos(a), cy + rr * (box[3] - box[1]) / 2 * np.sin(a))
                for a, rr in zip(ang, rad)
            ]
            dc.polygon(pts, fill=fill, outline=_BLACK, width=width)
            ds.polygon(pts, fill=255, outline=0, width=width)
    return color, sketch


def make_synthetic_pairs(
    out_dir: str | Path,
    n: int = 20,
    size: int = 64,
    layout: str = "side_by_side",
    seed: int = 0,
    split: str | None = None,
) -> Path:
    """Write ``n`` synthetic pairs in a dataset layout and return the folder holding them.

    Layouts (as in DataConfig.layout):
        "side_by_side": NAME.png, 2*size wide x size high, color LEFT | sketch RIGHT (the Kaggle
            "Anime Sketch Colorization Pair" layout, DataConfig.sketch_side="right").
        "two_folders": sketch/NAME.png (gray) and color/NAME.png (RGB).
        "color_only": NAME.png, colored images only (sketches are extracted on the fly).

    With ``split`` (e.g. "train", "val") the files go under ``out_dir/split``, which is returned.
    """
    if layout not in LAYOUT_CLASSES:
        raise ValueError(f"unknown layout {layout!r}; choose one of: {', '.join(LAYOUT_CLASSES)}")
    if n < 1 or size < 8:
        raise ValueError(f"need n >= 1 and size >= 8, got n={n}, size={size}")
    root = Path(out_dir) / split if split else Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    writer = make_layout(layout)  # side_by_side: color LEFT | sketch RIGHT (the default sketch_side)
    rng = np.random.default_rng(seed)
    for i in range(n):
        color, sketch = draw_synthetic_pair(rng, size)
        # Level 1: throwaway data, and speed matters for tests.
        writer.write(writer.paths(root, f"{i:04d}"), np.asarray(color), np.asarray(sketch), compress_level=1)
    return root
