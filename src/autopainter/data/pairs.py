"""Datasets of sketch/color pairs for training and evaluation.

Three on-disk layouts (``DataConfig.layout``):

* ``side_by_side``: each file holds both images side by side, as in pix2pix's A|B files and the Kaggle
  "Anime Sketch Colorization Pair" set (color LEFT, sketch RIGHT: ``sketch_side="right"``).
* ``two_folders``: ``ROOT/<sketch_dir>/NAME.*`` and ``ROOT/<color_dir>/NAME.*``, matched by file stem.
* ``color_only``: colored images only; sketches are extracted on the fly with
  ``extract_sketch(method=cfg.sketch_method)``, the function used at serve time.

Splits: ``ROOT/<split>`` is used when it exists. Otherwise "train" reads ROOT itself, and any other
split ("val", "test") falls back to the training images (``ROOT/train`` if that exists, else ROOT),
so a small dataset without a held-out split still gets sample grids; ``describe()`` says so.

Files are read in ``__getitem__``, never all at once. Randomness is keyed, not stateful: item ``key``
is image ``key % len(dataset)`` with its own generator ``np.random.default_rng([seed, key])``, so a
sample depends only on (seed, key), never on worker count, worker order or resume point. The
training loop passes ``key = epoch * len(dataset) + i`` to get fresh crops, flips and hints each epoch.
Train mode follows pix2pix: resize to ``load_size``, one random crop of ``image_size`` and one random
flip shared by sketch and color. Eval mode resizes to ``image_size`` only; hints still come from the
keyed generator, so a fixed key always gives the same hints.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import LAYOUTS, DataConfig
from ..imageio import ImageError, flatten_on_white, list_images, open_image, to_unit
from .hints import hints_to_tensors, simulate_hints
from .sketch import extract_sketch

__all__ = ["PairDataset"]

_COLOR_RESAMPLE = Image.Resampling.BICUBIC  # pix2pix's choice; antialiased when shrinking
# Sketches are resized as inference.Colorizer resizes them, so lines look the same at train and serve time.
_SKETCH_RESAMPLE = Image.Resampling.LANCZOS
_MAX_WARNED = 20  # corrupt files named in warnings per dataset copy (one warning per file)


class PairDataset(torch.utils.data.Dataset):
    """Sketch/color pairs as generator inputs and targets.

    Each item is a dict of float32 tensors, with S = cfg.image_size:
        sketch: (1, S, S) in [-1, 1] (white paper = 1)
        color: (3, S, S) in [-1, 1], the target
        hint: (3, S, S) in [-1, 1], simulated hint colors, 0 where there is no hint
        mask: (1, S, S) in {0, 1}, 1 where hinted

    Args:
        cfg: data settings (path, layout, sizes, flip, hint simulation).
        split: "train", "val", "test", ...: the subfolder ROOT/<split> when it exists (see module doc).
        train: random crop and flip (True) or a plain resize to image_size (False).
        seed: base of every per-item generator.

    Attributes:
        root: the folder the layout was read from (ROOT/<split> or its fallback, see module doc).
        paths: one file per item, sorted: the pair image (side_by_side) or the color image.
        sketch_paths: two_folders only, the sketch matched to each of ``paths``; otherwise None.
        fallback: True when a non-train split fell back to the training images.

    Raises:
        ImageError: a missing or empty folder, or two_folders with no matching stems.
    """

    def __init__(self, cfg: DataConfig, split: str = "train", train: bool = True, seed: int = 0) -> None:
        if not cfg.path:
            raise ImageError("data.path is empty: set it to the dataset folder (e.g. --set data.path=data/pairs)")
        if train and cfg.load_size < cfg.image_size:
            raise ValueError(f"data.load_size ({cfg.load_size}) must be >= data.image_size ({cfg.image_size})")
        self.cfg = cfg
        self.split = split
        self.train = train
        self.seed = seed
        self.root, self.fallback = _split_root(Path(cfg.path), split)
        self.sketch_paths: list[Path] | None = None  # two_folders only, aligned with paths
        if cfg.layout in ("side_by_side", "color_only"):
            self.paths: list[Path] = list_images(self.root)
        elif cfg.layout == "two_folders":
            self.sketch_paths, self.paths = _match_two_folders(self.root / cfg.sketch_dir, self.root / cfg.color_dir)
        else:
            raise ValueError(f"unknown layout {cfg.layout!r}; choose one of: {', '.join(LAYOUTS)}")
        self._warned: set[Path] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self) -> str:
        """One line for logs, e.g. ``side_by_side train: 14224 pairs in data/train (train mode, 256 px)``."""
        note = f" (no {self.cfg.path}/{self.split}: using the training images)" if self.fallback else ""
        mode = "train mode" if self.train else "eval mode"
        size = self.cfg.image_size
        return f"{self.cfg.layout} {self.split}: {len(self)} pairs in {self.root}{note} ({mode}, {size} px)"

    def __repr__(self) -> str:
        return f"PairDataset({self.describe()})"

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        key = int(key)
        n = len(self)
        if key < 0:
            key += n
            if key < 0:
                raise IndexError(f"key {key - n} out of range for {n} items")
        # Skip unreadable files: a long run must not die on one corrupt image. The replacement is
        # the next readable item, drawn with this key's generator, so the result is still deterministic.
        last_error: ImageError | None = None
        for attempt in range(n):
            index = (key + attempt) % n
            try:
                sketch, color = self._load(index)
            except ImageError as e:
                last_error = e
                self._warn_once(index, e)
                continue
            return self._make_sample(sketch, color, np.random.default_rng([self.seed, key]))
        raise ImageError(f"no readable pair among the {n} in {self.root} (last error: {last_error})")

    def pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        """Item ``index`` as stored, for evaluation: (sketch as an L image, color as an RGB image), the
        color's own size. color_only sketches are extracted as in training."""
        sketch, color = self._load(index)
        color = color.convert("RGB")
        if sketch is None:
            sketch = Image.fromarray(extract_sketch(np.asarray(color), method=self.cfg.sketch_method))
        elif sketch.size != color.size:
            sketch = sketch.resize(color.size, _SKETCH_RESAMPLE)
        return sketch, color

    # -------------------------------------------------------------------------- loading
    def _load(self, index: int) -> tuple[Image.Image | None, Image.Image]:
        """(sketch: L image or None for color_only, color: RGB image) of one item, any sizes."""
        layout = self.cfg.layout
        if layout == "side_by_side":
            path = self.paths[index]
            img = flatten_on_white(open_image(path))
            w, h = img.size
            if w < 2:
                raise ImageError(f"{path}: {w}x{h} is too narrow to split into a sketch half and a color half")
            half = w // 2  # an odd last column is dropped
            left, right = img.crop((0, 0, half, h)), img.crop((half, 0, 2 * half, h))
            sketch, color = (left, right) if self.cfg.sketch_side == "left" else (right, left)
            return sketch.convert("L"), color
        if layout == "two_folders":
            assert self.sketch_paths is not None
            sketch = flatten_on_white(open_image(self.sketch_paths[index])).convert("L")
            color = flatten_on_white(open_image(self.paths[index]))
            return sketch, color  # sizes may differ: both are resized to the same size next
        return None, flatten_on_white(open_image(self.paths[index]))  # color_only

    def _warn_once(self, index: int, error: ImageError) -> None:
        path = self.paths[index]
        if path not in self._warned and len(self._warned) < _MAX_WARNED:
            self._warned.add(path)
            warnings.warn(f"skipping unreadable pair {path}: {error}", stacklevel=3)

    # -------------------------------------------------------------------------- transforms
    def _make_sample(
        self, sketch: Image.Image | None, color: Image.Image, rng: np.random.Generator
    ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        size = cfg.load_size if self.train else cfg.image_size
        # Resizing both to the same square also handles a sketch stored at another size than its color
        # image (same drawing, other resolution): no separate sketch-to-color resize is needed.
        color_np = np.asarray(color.resize((size, size), _COLOR_RESAMPLE))  # (L, L, 3) uint8
        if sketch is None:
            # color_only: extract at the working resolution, so lines are as thin as at serve time
            sketch_np = extract_sketch(color_np, method=cfg.sketch_method)  # (L, L) uint8
        else:
            sketch_np = np.asarray(sketch.resize((size, size), _SKETCH_RESAMPLE))  # (L, L) uint8

        if self.train:
            s = cfg.image_size
            y, x = rng.integers(0, size - s + 1, 2)  # one crop for both images
            color_np = color_np[y : y + s, x : x + s]  # (S, S, 3)
            sketch_np = sketch_np[y : y + s, x : x + s]  # (S, S)
            if rng.random() < 0.5 and cfg.flip:  # drawn even without flip: same stream either way
                color_np, sketch_np = color_np[:, ::-1], sketch_np[:, ::-1]
            color_np, sketch_np = np.ascontiguousarray(color_np), np.ascontiguousarray(sketch_np)

        hint_rgb, hint_mask = simulate_hints(color_np, rng, cfg.hint_max_strokes, cfg.hint_none_prob)
        if self.train and cfg.hint_hue_jitter > 0 and hint_mask.any() and rng.random() < cfg.hint_hue_jitter:
            shift = int(rng.integers(26, 231))  # of 256 hue steps: at least ~36 degrees away
            color_np, hint_rgb = rotate_hue(color_np, shift), rotate_hue(hint_rgb, shift)
        hint, mask = hints_to_tensors(hint_rgb, hint_mask)
        return {
            "sketch": torch.from_numpy(to_unit(sketch_np)[None]),  # (1, S, S)
            "color": torch.from_numpy(np.ascontiguousarray(to_unit(color_np).transpose(2, 0, 1))),  # (3, S, S)
            "hint": hint,  # (3, S, S)
            "mask": mask,  # (1, S, S)
        }


def rotate_hue(rgb: np.ndarray, shift: int) -> np.ndarray:
    """(H, W, 3) uint8 with every hue turned by ``shift``/256 of the circle; grays (lines, paper) stay."""
    hsv = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + shift) % 256
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))


def _split_root(root: Path, split: str) -> tuple[Path, bool]:
    """(folder holding the split's layout, whether it fell back to the training images)."""
    if not root.is_dir():
        raise ImageError(f"dataset folder not found: {root}")
    if (root / split).is_dir():
        return root / split, False
    if split == "train":
        return root, False
    return (root / "train" if (root / "train").is_dir() else root), True


def _match_two_folders(sketch_dir: Path, color_dir: Path) -> tuple[list[Path], list[Path]]:
    """(sketch paths, color paths) matched by file stem, sorted by stem."""
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
            stacklevel=3,
        )
    return [sketches[s] for s in common], [colors[s] for s in common]


def _by_stem(paths: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in paths:  # sorted by name, so a.jpg wins over a.png deterministically
        if p.stem in out:
            warnings.warn(f"{p} has the same stem as {out[p.stem]}; using the latter", stacklevel=4)
            continue
        out[p.stem] = p
    return out
