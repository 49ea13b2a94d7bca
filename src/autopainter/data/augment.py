"""Training augmentation that makes characters drawn alone on white generalize to users' pictures.

``augment_pair(color, sketch, rng, partner)`` changes one training pair (both (L, L), uint8), seeded by the
sample's own generator, with the same geometry for sketch and color (the hints are drawn afterwards from
the changed target, so they follow too). Each step happens with its own chance:

* **several characters** (``P_MULTI``): a second pair (``partner()``) shares the canvas, both shrunk and set
  side by side, composited by darkest (ink and paint win over paper);
* **sketch kind** (``P_SKETCH``): the stored (exact) line art, or XDoG or thin lines made from the color
  image by ``extract_sketch``, the lines users get from real pictures and ``autopainter sketchify``;
* **geometry** (``P_GEOMETRY``): random scale, rotation, shift and mirror, on white paper;
* **line width** (``P_LINES``): lines thickened by one pixel, or drawn lighter, like pencil;
* **background** (``P_BACKGROUND``): the paper around the drawing (white, connected to the border) in the
  target painted one flat color or a two-color gradient, as pictures often have; the sketch stays as drawn.

``DataConfig.augment`` turns it on for training; eval mode never augments.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from .materials import PAPER as PAPER_NAME
from .materials import MaterialMap, ink_of, resize_labels
from .sketch import extract_sketch

__all__ = ["augment_pair", "augment_sample", "P_MULTI", "P_SKETCH", "P_GEOMETRY", "P_LINES", "P_BACKGROUND"]

P_MULTI = 0.2
P_SKETCH = {"exact": 0.5, "xdog": 0.3, "thin": 0.2}  # for pairs with stored line art
P_GEOMETRY = 0.8
SCALE = (0.6, 1.15)  # of the canvas
ROTATE_DEG = 15.0
P_LINES = 0.3
P_BACKGROUND = 0.3
PAPER = 245  # all channels at least this: paper in the color image


def augment_pair(color: np.ndarray, sketch: np.ndarray, rng: np.random.Generator,
                 partner: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(color (L, L, 3), sketch (L, L)) uint8 -> the augmented pair, same shapes (see the module doc).

    ``partner``: returns another pair of the same shapes (for several characters on one canvas)."""
    other = None if partner is None else (lambda: (*partner(), None))
    color, sketch, _ = augment_sample(color, sketch, None, rng, other)
    return color, sketch


def augment_sample(color: np.ndarray, sketch: np.ndarray, materials: MaterialMap | None, rng: np.random.Generator,
                   partner: Callable[[], tuple[np.ndarray, np.ndarray, MaterialMap | None]] | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, MaterialMap | None]:
    """``augment_pair`` that keeps the pair's material map (``data.materials``, (L, L) labels) aligned:
    the same geometry (nearest-neighbour), a partner's materials beside the first's, a painted
    background as a material of its own. The random stream is the same with or without a map."""
    draws = rng.random(5)  # one draw per step, always taken: the stream does not depend on what happened
    if partner is not None and draws[0] < P_MULTI:
        color, sketch, materials = _side_by_side((color, sketch, materials), partner(), rng)
    kinds = list(P_SKETCH)
    kind = kinds[int(np.searchsorted(np.cumsum(list(P_SKETCH.values())), draws[1] * sum(P_SKETCH.values())))]
    if kind != "exact":
        sketch = extract_sketch(color, method=kind)
    if draws[2] < P_GEOMETRY:
        color, sketch, materials = _affine(color, sketch, rng, materials)
    if draws[3] < P_LINES:
        sketch = _line_width(sketch, rng)
    if draws[4] < P_BACKGROUND:
        outside = _outside_paper(color) if materials is not None else None
        color = _background(color, rng)
        if outside is not None and outside.any():
            materials = _background_material(materials, outside)
    return np.ascontiguousarray(color), np.ascontiguousarray(sketch), materials


def _paper_label(mm: MaterialMap) -> int:
    """The label of ``mm``'s open paper, added (empty) when it has none."""
    for lab, name in mm.names.items():
        if name == PAPER_NAME:
            return lab
    lab = mm.count + 1
    mm.names[lab] = PAPER_NAME
    return lab


def _side_by_side(a: tuple, b: tuple, rng: np.random.Generator) -> tuple:
    """Two pairs shrunk to 55-75 % and set left and right on one white canvas (darkest wins); their
    materials side by side, the second's numbered after the first's, one paper for both."""
    size = a[1].shape[0]
    color = np.full_like(a[0], 255)
    sketch = np.full_like(a[1], 255)
    with_maps = a[2] is not None and b[2] is not None
    if with_maps:
        names = dict(a[2].names)
        paper = _paper_label(MaterialMap(a[2].labels, names))
        labels = np.full(sketch.shape, paper, np.int32)
        offsets = (0, max(max(names, default=0), int(a[2].labels.max(initial=0))))
    for k, (c, s, mm) in enumerate((a, b)):
        side = max(8, int(size * rng.uniform(0.55, 0.75)))
        c2 = np.asarray(Image.fromarray(c).resize((side, side), Image.Resampling.BICUBIC))
        s2 = np.asarray(Image.fromarray(s).resize((side, side), Image.Resampling.LANCZOS))
        x = int(rng.integers(0, max(1, size // 2 - side // 2))) if k == 0 else \
            int(rng.integers(min(size - side, size // 2 - side // 4), size - side + 1))
        y = int(rng.integers(0, size - side + 1))
        if with_maps:
            lab2 = resize_labels(mm.labels, (side, side))
            own = np.array([mm.names.get(int(v), "") != PAPER_NAME for v in range(int(lab2.max(initial=0)) + 1)])
            # the drawing's own materials win where it is darker than what is already there (darkest wins)
            under = color[y : y + side, x : x + side].astype(np.int32).sum(axis=2)  # what is there already
            win = own[lab2] & (c2.astype(np.int32).sum(axis=2) <= under)  # white materials count too
            win &= lab2 > 0
            region = labels[y : y + side, x : x + side]
            region[win] = lab2[win] + offsets[k]
            region[(lab2 == 0) & ink_of(s2)] = 0  # ink
            if k == 1:
                names.update({int(v) + offsets[1]: n for v, n in mm.names.items() if n != PAPER_NAME})
        np.minimum(color[y : y + side, x : x + side], c2, out=color[y : y + side, x : x + side])
        np.minimum(sketch[y : y + side, x : x + side], s2, out=sketch[y : y + side, x : x + side])
    out = MaterialMap(labels, names, a[2].source) if with_maps else None
    return color, sketch, out


def _affine(color: np.ndarray, sketch: np.ndarray, rng: np.random.Generator,
            materials: MaterialMap | None = None) -> tuple[np.ndarray, np.ndarray, MaterialMap | None]:
    """One random scale, rotation, shift and mirror for both images (and the map), on white."""
    size = sketch.shape[0]
    scale = rng.uniform(*SCALE)
    angle = math.radians(rng.uniform(-ROTATE_DEG, ROTATE_DEG))
    room = max(0.0, (1.0 - scale) / 2 + 0.1) * size
    tx, ty = rng.uniform(-room, room, 2)
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    # output pixel p -> input pixel: centre, undo the shift, rotate back, scale back, mirror, re-centre
    c, s = math.cos(angle) / scale, math.sin(angle) / scale
    cx = cy = size / 2
    a, b_, d, e = mirror * c, mirror * s, -s, c
    data = (a, b_, cx - a * (cx + tx) - b_ * (cy + ty), d, e, cy - d * (cx + tx) - e * (cy + ty))
    out_c = Image.fromarray(color).transform((size, size), Image.Transform.AFFINE, data, Image.Resampling.BICUBIC,
                                            fillcolor=(255, 255, 255))
    out_s = Image.fromarray(sketch).transform((size, size), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR,
                                             fillcolor=255)
    if materials is not None:
        names = dict(materials.names)
        paper = _paper_label(MaterialMap(materials.labels, names))
        lab = Image.fromarray(materials.labels.astype(np.int32), mode="I").transform(
            (size, size), Image.Transform.AFFINE, data, Image.Resampling.NEAREST, fillcolor=paper)
        materials = MaterialMap(np.asarray(lab).astype(np.int32), names, materials.source)
    return np.asarray(out_c), np.asarray(out_s), materials


def _line_width(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lines one pixel thicker, or lighter (pencil), by a coin."""
    if rng.random() < 0.5:
        return np.asarray(Image.fromarray(sketch).filter(ImageFilter.MinFilter(3)))
    ink = 255.0 - sketch.astype(np.float32)
    return (255.0 - ink * rng.uniform(0.45, 0.75)).round().astype(np.uint8)


def _outside_paper(color: np.ndarray) -> np.ndarray:
    """(L, L) bool: the paper (white) connected to the border."""
    import cv2

    paper = (color.min(axis=2) >= PAPER).astype(np.uint8)
    _, labels = cv2.connectedComponents(paper, connectivity=4)  # 0: not paper
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, border[border > 0])


def _background(color: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paper connected to the border painted a flat color or a vertical two-color gradient."""
    outside = _outside_paper(color)
    if not outside.any():
        return color
    top = _soft_color(rng)
    bottom = _soft_color(rng) if rng.random() < 0.5 else top
    t = np.linspace(0.0, 1.0, color.shape[0], dtype=np.float32)[:, None, None]
    fill = (top * (1 - t) + bottom * t).round().astype(np.uint8)  # (L, 1, 3)
    out = color.copy()
    out[outside] = np.broadcast_to(fill, color.shape)[outside]
    return out


def _background_material(materials: MaterialMap, outside: np.ndarray) -> MaterialMap:
    """The painted background as a material of its own, named "background"."""
    lab = materials.labels.copy()
    new = int(lab.max(initial=0)) + 1
    lab[outside & (lab > 0)] = new
    return MaterialMap(lab, {**materials.names, new: "background"}, materials.source)


def _soft_color(rng: np.random.Generator) -> np.ndarray:
    """A random color of moderate saturation and light-to-middle value, as backgrounds tend to be."""
    hsv = np.array([[[rng.integers(0, 256), rng.integers(40, 160), rng.integers(150, 250)]]], np.uint8)
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))[0, 0].astype(np.float32)
