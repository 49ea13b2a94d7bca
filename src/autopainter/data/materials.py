"""Material maps: which pixels of a training target are one material (all the hair, both sleeves).

A user who paints one hint on the hair means *the hair*: every strand, across the lines between them,
and nothing else. To learn that, training needs to know which pixels belong together. A material map
is a label image beside each pair, ``SPLIT/materials/NAME.png``:

* label 0 is no material: the ink of the line art (sketch darker than ``INK_BELOW``, which is
  ``ink.MATERIAL_INK_BELOW``), or a pixel no
  material claimed;
* labels 1..N are materials. A material is **one source part x one fill color**: the builders of
  ``prepare characters`` and ``prepare openmoji`` draw each character a third time with every part in
  its own key color (``materials_from_parts``), so "hair" in one color is one material even where lines
  cut it into strands, while the white of the eyes and a white shirt stay apart. Where the source names
  the part it is in ``names`` (one of ``PART_NAMES``); "" where it has none;
* for pairs without parts (a folder of the user's own pairs, datasets built before maps existed) the
  map is derived from the target alone by ``materials_from_colors``: connected areas of near-equal color.
  It cannot join strands across a line, so it teaches less; ``PairDataset`` says so once per dataset.

The file is an 8-bit (up to 255 materials) or 16-bit grayscale PNG, written atomically; its ``names``
and ``source`` ("parts" or "colors") ride in a PNG text chunk, so a map is one self-describing file.
Maps are stored at the pair's size and resized with nearest-neighbour sampling (``resize_labels``).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from ..imageio import ImageError, atomic_write_bytes
from ..ink import MATERIAL_INK_BELOW

__all__ = ["MATERIALS_DIR", "PART_NAMES", "PAPER", "MaterialMap", "material_path", "write_material_map",
           "read_material_map", "materials_from_parts", "materials_from_colors", "parts_from_key_render",
           "resize_labels", "ink_of", "PART_CLASSES", "OTHER", "part_targets"]

MATERIALS_DIR = "materials"  # SPLIT/materials/NAME.png, for every layout
PART_NAMES = ("skin", "hair", "eyes", "clothing", "accessory", "background")
PAPER = "paper"  # the name given to white paper that touches the border (not a material a user colors)
OTHER = "other"  # the part head's name for a material of a map that names parts, but not this one (a mouth, a shoe)
# The part head's classes (``model.parts`` of the models that name materials): what ``part_targets`` teaches
PART_CLASSES = (PAPER, *PART_NAMES, OTHER)
INK_BELOW = MATERIAL_INK_BELOW  # sketch gray below this (128) is ink: label 0
COLOR_TOLERANCE = 10  # materials_from_colors: neighbours whose colors differ by at most this (max over RGB) join
PAPER_MIN = 235  # every channel at least this: paper
_MIN_SHARE = 2e-4  # a material smaller than this share of the image (and 4 px) is merged into its neighbour
_TEXT_KEY = "autopainter-materials"


@dataclass
class MaterialMap:
    """labels: (H, W) int32, 0 = no material; names: label -> part name ("" unknown, ``PAPER`` for open
    paper); source: "parts" (from the source's drawing) or "colors" (derived from the target)."""

    labels: np.ndarray
    names: dict[int, str] = field(default_factory=dict)
    source: str = "parts"

    @property
    def count(self) -> int:
        return int(self.labels.max(initial=0))

    def mask(self, label: int) -> np.ndarray:
        """(H, W) bool pixels of material ``label``."""
        return self.labels == label

    def is_paper(self, label: int) -> bool:
        return self.names.get(label, "") == PAPER


def material_path(split_dir: str | Path, name: str) -> Path:
    """Where pair ``name``'s map lies: ``SPLIT/materials/NAME.png`` (the same for every layout)."""
    return Path(split_dir) / MATERIALS_DIR / f"{name}.png"


def write_material_map(path: str | Path, mm: MaterialMap) -> None:
    """Write ``mm`` atomically as a grayscale PNG with its names in a text chunk."""
    labels = np.asarray(mm.labels)
    top = int(labels.max(initial=0))
    if labels.ndim != 2 or labels.min(initial=0) < 0 or top > 65535:
        raise ValueError(f"labels must be (H, W) in [0, 65535], got {labels.shape} max {top}")
    img = Image.fromarray(labels.astype(np.uint8)) if top <= 255 else Image.fromarray(labels.astype(np.uint16))
    info = PngImagePlugin.PngInfo()
    names = {str(k): v for k, v in sorted(mm.names.items())}
    info.add_text(_TEXT_KEY, json.dumps({"source": mm.source, "names": names}))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, compress_level=6)
    atomic_write_bytes(path, buf.getvalue())


def read_material_map(path: str | Path) -> MaterialMap:
    """Read a map written by ``write_material_map``. Raises ImageError for a file that is not one."""
    try:
        with Image.open(path) as im:
            im.load()
            meta = json.loads(im.text.get(_TEXT_KEY, "{}")) if hasattr(im, "text") else {}
            labels = np.asarray(im).astype(np.int32)
    except (OSError, ValueError) as e:
        raise ImageError(f"{path}: not a readable material map ({e})") from None
    if labels.ndim != 2:
        raise ImageError(f"{path}: a material map must be one grayscale channel, got shape {labels.shape}")
    names = {int(k): str(v) for k, v in meta.get("names", {}).items()}
    return MaterialMap(labels, names, str(meta.get("source", "parts")))


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) labels -> (size[1], size[0]) with nearest-neighbour sampling (labels never blend)."""
    labels = np.asarray(labels)
    if labels.shape[::-1] == tuple(size):
        return labels
    img = Image.fromarray(labels.astype(np.int32), mode="I")
    return np.asarray(img.resize(tuple(size), Image.Resampling.NEAREST)).astype(np.int32)


def part_targets(mm: MaterialMap, classes: tuple[str, ...] | list[str]) -> np.ndarray:
    """(H, W) int64: each pixel's part as an index into ``classes`` (the part head's names), -1 where unknown.

    Ink (label 0) is unknown. A material named in ``classes`` is that class; an unnamed material is ``OTHER``
    (when ``classes`` has it) only on a map that names some part besides the paper, since there the source
    named every part it knows (a mouth, a shoe); on a map that names none (a source without parts, a map
    derived from colors) it is unknown: it may be skin or hair."""
    index = {name: i for i, name in enumerate(classes)}
    names_parts = any(n and n != PAPER for n in mm.names.values())
    lut = np.full(mm.count + 1, -1, np.int64)
    for label in range(1, mm.count + 1):
        name = mm.names.get(label, "")
        if not name and names_parts:
            name = OTHER
        lut[label] = index.get(name, -1)
    return lut[np.asarray(mm.labels)]


def ink_of(sketch: np.ndarray) -> np.ndarray:
    """(H, W) bool: the line art's ink, which belongs to no material."""
    return np.asarray(sketch) < INK_BELOW


# ------------------------------------------------------------------------------ making maps
def materials_from_parts(color: np.ndarray, sketch: np.ndarray, parts: np.ndarray,
                         part_names: dict[int, str] | None = None) -> MaterialMap:
    """One material per (part, fill color).

    Args:
        color: (H, W, 3) uint8, the target. sketch: (H, W) uint8 line art, 255 paper.
        parts: (H, W) int, the source part of each pixel (0: none known; its pixels are grouped by color
            alone).
        part_names: part id -> name (one of ``PART_NAMES``, or "").
    """
    part_names = part_names or {}
    color = np.asarray(color)
    key = _color_key(color).astype(np.int64) + (np.asarray(parts).astype(np.int64) << 24)  # (H, W)
    ink = ink_of(sketch)
    # Anti-aliased edges blend two fills (or a fill and ink) into colors of their own: only pixels whose
    # 4 neighbours have the same key found materials; the rest join the nearest material.
    core = ~ink & _flat(key)
    uniq, inverse, counts = np.unique(key[core], return_inverse=True, return_counts=True)
    labels = np.zeros(key.shape, np.int64)
    labels[core] = inverse + 1
    min_px = max(4, int(_MIN_SHARE * key.size))
    small = np.concatenate([[False], counts < min_px])  # by label
    labels = _absorb(labels, (small[labels] | (labels == 0)) & ~ink)
    labels, order = _renumber(labels)
    names = {}
    for new, old in enumerate(order, start=1):
        part = int(uniq[old - 1] >> 24)
        names[new] = part_names.get(part, "")
    return _name_paper(MaterialMap(labels.astype(np.int32), names, "parts"), color)


def materials_from_colors(color: np.ndarray, sketch: np.ndarray | None = None,
                          tolerance: int = COLOR_TOLERANCE) -> MaterialMap:
    """Connected areas of near-equal color (neighbours within ``tolerance``, max over RGB), the ink of
    ``sketch`` (when given) excluded: for pairs whose source names no parts."""
    color = np.asarray(color)
    h, w = color.shape[:2]
    ink = ink_of(sketch) if sketch is not None else np.zeros((h, w), bool)
    c = color.astype(np.int16)
    # 4-neighbour edges that join: both pixels off the ink, colors within tolerance
    right = (np.abs(c[:, 1:] - c[:, :-1]).max(axis=2) <= tolerance) & ~ink[:, 1:] & ~ink[:, :-1]
    down = (np.abs(c[1:] - c[:-1]).max(axis=2) <= tolerance) & ~ink[1:] & ~ink[:-1]
    labels = _union_find_labels(right, down, ~ink)
    counts = np.bincount(labels.ravel())
    min_px = max(4, int(_MIN_SHARE * labels.size))
    small = counts < min_px
    small[0] = False
    labels = _absorb(labels, small[labels] & ~ink)
    labels, _ = _renumber(labels)
    return _name_paper(MaterialMap(labels.astype(np.int32), {k: "" for k in range(1, int(labels.max(initial=0)) + 1)},
                                   "colors"), color)


def _flat(key: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose 4 neighbours (inside the image) have the same key."""
    same = np.ones(key.shape, bool)
    same[:, 1:] &= key[:, 1:] == key[:, :-1]
    same[:, :-1] &= key[:, :-1] == key[:, 1:]
    same[1:] &= key[1:] == key[:-1]
    same[:-1] &= key[:-1] == key[1:]
    return same


def _color_key(color: np.ndarray) -> np.ndarray:
    """(H, W) int: the exact RGB as one integer."""
    c = color.astype(np.int64)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def _union_find_labels(right: np.ndarray, down: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Connected components of the grid graph whose joined edges are ``right`` (H, W-1) and ``down``
    (H-1, W); labels 1..N on ``valid`` pixels, 0 elsewhere."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    h, w = valid.shape
    idx = np.arange(h * w).reshape(h, w)
    rows = np.concatenate([idx[:, :-1][right], idx[:-1][down]])
    cols = np.concatenate([idx[:, 1:][right], idx[1:][down]])
    graph = coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(h * w, h * w))
    _, comp = connected_components(graph, directed=False)
    comp = comp.reshape(h, w)
    labels = np.zeros((h, w), np.int64)
    _, inv = np.unique(comp[valid], return_inverse=True)
    labels[valid] = inv + 1
    return labels


def _absorb(labels: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """Pixels in ``drop`` take the label of the nearest pixel that is neither dropped nor 0."""
    from scipy import ndimage

    if not drop.any():
        return labels
    keep = (labels > 0) & ~drop
    if not keep.any():
        return labels
    _, (iy, ix) = ndimage.distance_transform_edt(~keep, return_indices=True)
    out = labels.copy()
    out[drop] = labels[iy[drop], ix[drop]]
    return out


def _renumber(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels made 1..N by decreasing area (0 stays 0); returns (labels, old label of each new one)."""
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    present = np.flatnonzero(counts)
    order = present[np.argsort(-counts[present], kind="stable")]
    lut = np.zeros(counts.size, np.int64)
    lut[order] = np.arange(1, order.size + 1)
    return lut[labels], order


def _name_paper(mm: MaterialMap, color: np.ndarray) -> MaterialMap:
    """Name ``PAPER`` the white material that touches the image border, keeping as paper only its parts
    connected to the border: the same white inside the drawing (eye whites, teeth, a white shirt with
    no part of its own) becomes one material of its own."""
    import cv2

    labels = mm.labels
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    for lab in border[border > 0]:
        if mm.names.get(int(lab), "") not in ("", "background"):
            continue  # a named part (a white shirt running off the edge) is never paper
        m = labels == lab
        if np.median(color[m].min(axis=1)) < PAPER_MIN:
            continue
        mm.names[int(lab)] = PAPER
        _, comp = cv2.connectedComponents(m.astype(np.uint8), connectivity=4)
        edge = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
        inner = m & ~np.isin(comp, edge[edge > 0])
        if inner.any():
            new = int(labels.max()) + 1
            labels[inner] = new
            mm.names[new] = mm.names.get(new, "")
    return mm


def parts_from_key_render(rgb: np.ndarray, key_colors: dict[str, str],
                          tolerance: int = 40) -> tuple[np.ndarray, dict[int, str]]:
    """A drawing rendered with each part in its own key color -> (parts (H, W) int, part id -> name).

    ``key_colors``: hex (``"ff00ff"``) -> part name. A pixel takes the part of the key color nearest to
    it within ``tolerance`` (max over RGB; anti-aliased edges between two keys go to the nearer one);
    pixels near no key color (colors the source does not expose as options) are part 0.
    """
    rgb = np.asarray(rgb).astype(np.int16)
    parts = np.zeros(rgb.shape[:2], np.int32)
    best = np.full(rgb.shape[:2], tolerance + 1, np.int16)
    names: dict[int, str] = {}
    for pid, (hex_, name) in enumerate(sorted(key_colors.items()), start=1):
        key = np.array([int(hex_[i:i + 2], 16) for i in (0, 2, 4)], np.int16)
        d = np.abs(rgb - key).max(axis=2)
        closer = d < best
        parts[closer] = pid
        best[closer] = d[closer]
        names[pid] = name
    return parts, names
