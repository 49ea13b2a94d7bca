"""The on-disk dataset layouts, one class each: where a pair's files lie, how to read and write them.

Everything that touches dataset files goes through these classes: the datasets (``data.pairs``), the
builders (``data.sources``), the checker (``prepare check``) and the synthetic data. Inside a split
folder (``ROOT/train``, ``ROOT/val``, ... or ROOT itself):

* ``side_by_side``: ``NAME.png`` holds both images side by side, as in pix2pix's A|B files and the Kaggle
  "Anime Sketch Colorization Pair" set (color LEFT, sketch RIGHT: ``sketch_side="right"``).
* ``two_folders``: ``<sketch_dir>/NAME.*`` and ``<color_dir>/NAME.*``, matched by file stem.
* ``color_only``: colored images only; the dataset extracts sketches on the fly.

``detect_layout`` tells side_by_side and two_folders apart by looking (color_only looks like
side_by_side, so it is never detected); ``DataConfig.layout="auto"`` and ``prepare check`` use it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from ..config import DataConfig
from ..imageio import IMAGE_EXTENSIONS, ImageError, flatten_on_white, list_images, open_image, save_image

__all__ = [
    "Layout",
    "SideBySide",
    "TwoFolders",
    "ColorOnly",
    "LAYOUT_CLASSES",
    "SKETCH_DIR",
    "COLOR_DIR",
    "make_layout",
    "layout_from_config",
    "detect_layout",
    "is_two_folders",
]

# Declared once, in DataConfig; the builders and the checker use the same folder names.
SKETCH_DIR: str = DataConfig.sketch_dir
COLOR_DIR: str = DataConfig.color_dir
PNG_COMPRESS = 6  # Pillow's default: ~2x smaller than level 1, and encoding is rarely the bottleneck


class Layout:
    """One on-disk layout. Paths are relative to a split folder (e.g. ``ROOT/train``).

    A pair is a tuple of paths: ``(pair_file,)`` for side_by_side, ``(sketch, color)`` for two_folders,
    ``(color,)`` for color_only.
    """

    name: ClassVar[str]
    stores_sketch: ClassVar[bool]  # False: only colored images are stored (the sketch is made when read)

    def folders(self, split_dir: Path) -> tuple[Path, ...]:
        """The folders that hold this layout's files in ``split_dir``."""
        return (Path(split_dir),)

    def paths(self, split_dir: Path, name: str) -> tuple[Path, ...]:
        """The file(s) that ``write`` makes for pair ``name`` (PNG)."""
        return (Path(split_dir) / f"{name}.png",)

    def find(self, split_dir: Path) -> list[tuple[Path, ...]]:
        """The pairs stored in ``split_dir``, sorted by name. Raises ImageError when there are none."""
        return [(p,) for p in list_images(split_dir)]

    def split_dir(self, paths: tuple[Path, ...]) -> Path:
        """The split folder that holds a pair's files (where its ``materials/`` map lies)."""
        return Path(paths[-1]).parent

    def read(self, paths: tuple[Path, ...]) -> tuple[Image.Image | None, Image.Image]:
        """(sketch: L image, or None when the layout stores none; color: RGB image), any sizes.
        Raises ImageError for an unreadable file."""
        raise NotImplementedError

    def write(self, paths: tuple[Path, ...], color: np.ndarray, sketch: np.ndarray | None,
              compress_level: int = PNG_COMPRESS) -> None:
        """Write one pair atomically (``imageio.save_image``) to ``paths`` (from ``paths()``).

        Args:
            color: (H, W, 3) uint8 RGB.
            sketch: (H, W) uint8, 255 paper (ignored by color_only).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SideBySide(Layout):
    """``NAME.png`` = the two images side by side; ``sketch_side`` says which half is the sketch."""

    name = "side_by_side"
    stores_sketch = True

    def __init__(self, sketch_side: str = DataConfig.sketch_side) -> None:
        if sketch_side not in ("left", "right"):
            raise ValueError(f"sketch_side must be left or right, got {sketch_side!r}")
        self.sketch_side = sketch_side

    def read(self, paths: tuple[Path, ...]) -> tuple[Image.Image, Image.Image]:
        (path,) = paths
        img = flatten_on_white(open_image(path))
        w, h = img.size
        if w < 2:
            raise ImageError(f"{path}: {w}x{h} is too narrow to split into a sketch half and a color half")
        half = w // 2  # an odd last column is dropped
        left, right = img.crop((0, 0, half, h)), img.crop((half, 0, 2 * half, h))
        sketch, color = (left, right) if self.sketch_side == "left" else (right, left)
        return sketch.convert("L"), color

    def write(self, paths, color, sketch, compress_level=PNG_COMPRESS):
        _check_pair(color, sketch)
        h, w = sketch.shape
        pair = np.empty((h, 2 * w, 3), dtype=np.uint8)  # (H, 2W, 3)
        s, c = (slice(0, w), slice(w, 2 * w)) if self.sketch_side == "left" else (slice(w, 2 * w), slice(0, w))
        pair[:, c] = color
        pair[:, s] = sketch[:, :, None]
        save_image(pair, paths[0], compress_level=compress_level)

    def __repr__(self) -> str:
        return f"SideBySide(sketch_side={self.sketch_side!r})"


class TwoFolders(Layout):
    """``<sketch_dir>/NAME.*`` and ``<color_dir>/NAME.*``, matched by file stem."""

    name = "two_folders"
    stores_sketch = True

    def __init__(self, sketch_dir: str = SKETCH_DIR, color_dir: str = COLOR_DIR) -> None:
        self.sketch_dir, self.color_dir = sketch_dir, color_dir

    def split_dir(self, paths):
        return Path(paths[-1]).parent.parent

    def folders(self, split_dir):
        return Path(split_dir) / self.sketch_dir, Path(split_dir) / self.color_dir

    def paths(self, split_dir, name):
        return tuple(folder / f"{name}.png" for folder in self.folders(split_dir))

    def find(self, split_dir):
        sketch_dir, color_dir = self.folders(split_dir)
        sketches = _by_stem(list_images(sketch_dir))
        colors = _by_stem(list_images(color_dir))
        common = sorted(sketches.keys() & colors.keys())
        unmatched = sorted(sketches.keys() ^ colors.keys())
        if not common:
            raise ImageError(
                f"no file stems in common between {sketch_dir} and {color_dir}: pairs must share a name "
                f"(e.g. sketch/0001.png and color/0001.jpg)"
            )
        if unmatched:
            shown = ", ".join(unmatched[:5]) + (", ..." if len(unmatched) > 5 else "")
            warnings.warn(
                f"{len(unmatched)} files in {sketch_dir} / {color_dir} have no partner and are ignored: {shown}",
                stacklevel=4,
            )
        return [(sketches[s], colors[s]) for s in common]

    def read(self, paths):
        sketch_path, color_path = paths
        sketch = flatten_on_white(open_image(sketch_path)).convert("L")
        color = flatten_on_white(open_image(color_path))
        return sketch, color  # sizes may differ: the dataset resizes both to one size

    def write(self, paths, color, sketch, compress_level=PNG_COMPRESS):
        _check_pair(color, sketch)
        save_image(sketch, paths[0], compress_level=compress_level)  # L
        save_image(color, paths[1], compress_level=compress_level)  # RGB

    def __repr__(self) -> str:
        return f"TwoFolders(sketch_dir={self.sketch_dir!r}, color_dir={self.color_dir!r})"


class ColorOnly(Layout):
    """Colored images only, ``NAME.*``; ``read`` gives no sketch (the dataset extracts one)."""

    name = "color_only"
    stores_sketch = False

    def read(self, paths):
        return None, flatten_on_white(open_image(paths[0]))

    def write(self, paths, color, sketch=None, compress_level=PNG_COMPRESS):
        save_image(np.asarray(color), paths[0], compress_level=compress_level)


LAYOUT_CLASSES: dict[str, type[Layout]] = {cls.name: cls for cls in (SideBySide, TwoFolders, ColorOnly)}


def make_layout(name: str, sketch_side: str = DataConfig.sketch_side, sketch_dir: str = SKETCH_DIR,
                color_dir: str = COLOR_DIR) -> Layout:
    """The layout called ``name``, with the options that apply to it. Raises ValueError for other names."""
    if name == "side_by_side":
        return SideBySide(sketch_side)
    if name == "two_folders":
        return TwoFolders(sketch_dir, color_dir)
    if name == "color_only":
        return ColorOnly()
    raise ValueError(f"unknown layout {name!r}; choose one of: {', '.join(LAYOUT_CLASSES)}")


def layout_from_config(cfg: DataConfig, split_dir: Path) -> Layout:
    """``cfg.layout`` as a Layout, "auto" resolved by ``detect_layout(split_dir)``."""
    name = cfg.layout
    if name == "auto":
        name = detect_layout(split_dir, cfg.sketch_dir, cfg.color_dir)
    return make_layout(name, cfg.sketch_side, cfg.sketch_dir, cfg.color_dir)


def is_two_folders(folder: Path, sketch_dir: str = SKETCH_DIR, color_dir: str = COLOR_DIR) -> bool:
    """True when ``folder`` holds both the sketch and the color subfolder."""
    folder = Path(folder)
    return (folder / sketch_dir).is_dir() and (folder / color_dir).is_dir()


def detect_layout(folder: str | Path, sketch_dir: str = SKETCH_DIR, color_dir: str = COLOR_DIR) -> str:
    """"two_folders" or "side_by_side", decided by looking, as ``prepare check`` does.

    ``folder`` may be a split folder or a dataset root: two_folders when it, or (when it holds no images
    of its own) one of its split subfolders, has ``sketch_dir/`` and ``color_dir/`` subfolders; otherwise
    side_by_side (color_only looks the same and must be asked for).
    """
    folder = Path(folder)
    if is_two_folders(folder, sketch_dir, color_dir):
        return "two_folders"
    if not folder.is_dir():
        return "side_by_side"
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if any(p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() for p in entries):  # images of its own
        return "side_by_side"
    if any(p.is_dir() and is_two_folders(p, sketch_dir, color_dir) for p in entries):
        return "two_folders"
    return "side_by_side"


def _check_pair(color: np.ndarray, sketch: np.ndarray) -> None:
    if sketch is None or color.shape[:2] != sketch.shape[:2]:
        got = None if sketch is None else sketch.shape[:2]
        raise ValueError(f"color {color.shape[:2]} and sketch {got} sizes differ")


def _by_stem(paths: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in paths:  # sorted by name, so a.jpg wins over a.png deterministically
        if p.stem in out:
            warnings.warn(f"{p} has the same stem as {out[p.stem]}; using the latter", stacklevel=5)
            continue
        out[p.stem] = p
    return out
