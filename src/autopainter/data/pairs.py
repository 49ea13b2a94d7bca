"""Datasets of sketch/color pairs for training and evaluation.

The on-disk layouts (``DataConfig.layout``: side_by_side, two_folders, color_only) are the classes of
``data.layouts``, which read the files; ``layout="auto"`` (the default) picks side_by_side or two_folders
with ``layouts.detect_layout`` on the split folder, as ``prepare check`` does. color_only sketches are
extracted on the fly with ``extract_sketch(method=cfg.sketch_method)``, the function used at serve time.

Splits: ``ROOT/<split>`` is used when it exists. Otherwise "train" reads ROOT itself, and any other
split ("val", "test") falls back to the training images (``ROOT/train`` if that exists, else ROOT),
so a small dataset without a held-out split still gets sample grids; ``fallback`` and ``describe()``
say so.

Files are read in ``__getitem__``, never all at once. Randomness is keyed, not stateful: item ``key``
is image ``key % len(dataset)`` with its own generator ``np.random.default_rng([seed, key])``, so a
sample depends only on (seed, key), never on worker count, worker order or resume point. The
training loop passes ``key = epoch * len(dataset) + i`` to get fresh crops, flips and hints each epoch.
Train mode follows pix2pix: resize to ``load_size``, one random crop of ``image_size`` and one random
flip shared by sketch and color. Eval mode resizes to ``image_size`` only; hints still come from the
keyed generator, so a fixed key always gives the same hints.

The generator's input of each item (``"input"``) is made by ``models.inputs.encode_inputs``, the encoder
the Colorizer and the ONNX runner use too (``sample_tensors``; ``tests/test_inputs.py`` checks they agree).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import DataConfig
from ..imageio import ImageError, to_unit
from ..models.inputs import INPUT_CHANNELS, encode_inputs
from .augment import augment_sample
from .hints import simulate_hints, simulate_material_hints
from .layouts import Layout, layout_from_config
from .materials import (MaterialMap, material_path, materials_from_colors, part_targets, read_material_map,
                        resize_labels)
from .sketch import extract_sketch

__all__ = ["PairDataset", "sample_tensors", "rotate_hue"]

_COLOR_RESAMPLE = Image.Resampling.BICUBIC  # pix2pix's choice; antialiased when shrinking
# Sketches are resized as inference.Colorizer resizes them, so lines look the same at train and serve time.
_SKETCH_RESAMPLE = Image.Resampling.LANCZOS
_MAX_WARNED = 20  # corrupt files named in warnings per dataset copy (one warning per file)


def sample_tensors(sketch: np.ndarray, color: np.ndarray, hint_rgb: np.ndarray, hint_mask: np.ndarray,
                   in_channels: int = 5) -> dict[str, torch.Tensor]:
    """One training sample from uint8 arrays of one size (H, W).

    Args:
        sketch: (H, W) uint8, 255 paper. color: (H, W, 3) uint8, the target.
        hint_rgb: (H, W, 3) uint8 hint colors; hint_mask: (H, W) bool, True where hinted.
        in_channels: the generator's input channels (5 or 3, see ``models.inputs``).

    Returns:
        float32 tensors: sketch (1, H, W) in [-1, 1]; color (3, H, W) in [-1, 1]; hint (3, H, W) in
        [-1, 1], exactly 0 off the mask; mask (1, H, W) in {0, 1}; input (in_channels, H, W), the
        generator's input as ``encode_inputs`` makes it.
    """
    full = encode_inputs(sketch, hint_rgb, hint_mask, 5)  # (5, H, W): sketch | hint RGB | mask
    x = full if in_channels == 5 else encode_inputs(sketch, hint_rgb, hint_mask, in_channels)
    return {  # copies, so that no two entries share memory (in-place edits stay local)
        "sketch": torch.from_numpy(full[0:1].copy()),  # (1, H, W)
        "color": torch.from_numpy(np.ascontiguousarray(to_unit(color).transpose(2, 0, 1))),  # (3, H, W)
        "hint": torch.from_numpy(full[1:4].copy()),  # (3, H, W)
        "mask": torch.from_numpy(full[4:5].copy()),  # (1, H, W)
        "input": torch.from_numpy(x),  # (C, H, W)
    }


class PairDataset(torch.utils.data.Dataset):
    """Sketch/color pairs as generator inputs and targets.

    Each item is a dict of float32 tensors, with S = cfg.image_size (see ``sample_tensors``):
        sketch: (1, S, S) in [-1, 1] (white paper = 1)
        color: (3, S, S) in [-1, 1], the target
        hint: (3, S, S) in [-1, 1], simulated hint colors, 0 where there is no hint
        mask: (1, S, S) in {0, 1}, 1 where hinted
        input: (in_channels, S, S) in [-1, 1], the generator's input (``models.inputs.encode_inputs``)

    Args:
        cfg: data settings (path, layout, sizes, flip, hint simulation), validated when it was built.
        split: "train", "val", "test", ...: the subfolder ROOT/<split> when it exists (see module doc).
        train: random crop and flip (True) or a plain resize to image_size (False).
        seed: base of every per-item generator.
        in_channels: the generator's input channels (``GeneratorConfig.in_channels``: 5 or 3).
        material_targets: train mode with material hints: items also hold ``materials`` (S, S) int64, the map,
            and ``unhinted`` (1, S, S) in {0, 1}, the materials no hint touched (for ``loss.material`` and
            ``loss.locality``).
        part_classes: with material hints in train mode, items also hold ``parts`` (S, S) int64, each pixel's
            part as an index into these names, -1 where unknown (``materials.part_targets``; ``loss.parts``).

    Attributes:
        root: the folder the layout was read from (ROOT/<split> or its fallback, see module doc).
        layout: the ``data.layouts.Layout`` read ("auto" resolved).
        paths: one file per item, sorted: the pair image (side_by_side) or the color image.
        sketch_paths: two_folders only, the sketch matched to each of ``paths``; otherwise None.
        fallback: True when a non-train split fell back to the training images.

    Raises:
        ImageError: a missing or empty folder, or two_folders with no matching stems.
    """

    def __init__(self, cfg: DataConfig, split: str = "train", train: bool = True, seed: int = 0,
                 in_channels: int = 5, material_targets: bool = False, part_classes: Sequence[str] = ()) -> None:
        if not cfg.path:
            raise ImageError("data.path is empty: set it to the dataset folder (e.g. --set data.path=data/pairs)")
        if in_channels not in INPUT_CHANNELS:
            raise ValueError(f"in_channels must be one of {INPUT_CHANNELS}, got {in_channels}")
        self.cfg = cfg
        self.split = split
        self.train = train
        self.seed = seed
        self.in_channels = in_channels
        self.material_targets = material_targets
        self.part_classes = tuple(part_classes)
        # data.path and data.extra_paths, each with its own (detected) layout. A non-train split is made of
        # the roots that have it; only when none has it does it fall back to data.path's training images.
        # data.repeats lists a root's training pairs several times (train split only).
        paths = [cfg.path, *cfg.extra_paths]
        repeats = list(cfg.repeats) if split == "train" and cfg.repeats else [1] * len(paths)
        # expanduser: --set data.path=~/... reaches here unexpanded by the shell
        found = [(*_split_root(Path(p).expanduser(), split), p == cfg.path, r) for p, r in zip(paths, repeats)]
        if split != "train" and any(not f[1] for f in found):
            found = [f for f in found if not f[1]]
        else:
            found = [f for f in found if not f[1] or f[2]]  # the fallback only for data.path itself
        self.roots: list[Path] = [f[0] for f in found]
        self.repeats: list[int] = [f[3] for f in found]
        self.root, self.fallback = found[0][0], found[0][1]
        self._pairs: list[tuple[Path, ...]] = []  # tuples of paths, as Layout.read takes them
        self._layouts: list[Layout] = []  # each pair's layout (several roots may differ)
        for root, *_, repeat in found:
            layout = layout_from_config(cfg, root)
            pairs = layout.find(root) * repeat
            self._pairs += pairs
            self._layouts += [layout] * len(pairs)
        self.layout: Layout = self._layouts[0]  # Layout.find raised ImageError for a root with no pairs
        self.paths: list[Path] = [p[-1] for p in self._pairs]
        two = all(lay.name == "two_folders" for lay in self._layouts)
        self.sketch_paths: list[Path] | None = [p[0] for p in self._pairs] if two else None
        self._warned: set[Path] = set()
        self._derived_warned = False

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self) -> str:
        """One line for logs, e.g. ``side_by_side train: 14224 pairs in data/train (train mode, 256 px)``;
        a detected layout says so, and a split that fell back to the training images too."""
        note = f" (no {self.cfg.path}/{self.split}: using the training images)" if self.fallback else ""
        mode = "train mode" if self.train else "eval mode"
        size = self.cfg.image_size
        name = self.layout.name + (" (detected)" if self.cfg.layout == "auto" else "")
        where = " + ".join(f"{r} x{n}" if n > 1 else str(r) for r, n in zip(self.roots, self.repeats))
        return f"{name} {self.split}: {len(self)} pairs in {where}{note} ({mode}, {size} px)"

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
                sketch, color = self._read(index)
            except ImageError as e:
                last_error = e
                self._warn_once(index, e)
                continue
            return self._make_sample(sketch, color, np.random.default_rng([self.seed, key]), index)
        raise ImageError(f"no readable pair among the {n} in {self.root} (last error: {last_error})")

    def pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        """Item ``index`` as stored, for evaluation: (sketch as an L image, color as an RGB image), the
        color's own size. color_only sketches are extracted as in training."""
        sketch, color = self._read(index)
        color = color.convert("RGB")
        if sketch is None:
            sketch = Image.fromarray(extract_sketch(np.asarray(color), method=self.cfg.sketch_method))
        elif sketch.size != color.size:
            sketch = sketch.resize(color.size, _SKETCH_RESAMPLE)
        return sketch, color

    def _read(self, index: int) -> tuple[Image.Image | None, Image.Image]:
        """Item ``index`` as its layout reads it: (sketch or None, color)."""
        return self._layouts[index].read(self._pairs[index])

    def _warn_once(self, index: int, error: ImageError) -> None:
        path = self.paths[index]
        if path not in self._warned and len(self._warned) < _MAX_WARNED:
            self._warned.add(path)
            warnings.warn(f"skipping unreadable pair {path}: {error}", stacklevel=3)

    # -------------------------------------------------------------------------- transforms
    def _resized(self, sketch: Image.Image | None, color: Image.Image, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(color (L, L, 3), sketch (L, L)) uint8 at ``size`` squared."""
        # Resizing both to the same square also handles a sketch stored at another size than its color
        # image (same drawing, other resolution): no separate sketch-to-color resize is needed.
        color_np = np.asarray(color.resize((size, size), _COLOR_RESAMPLE))  # (L, L, 3) uint8
        if sketch is None:
            # color_only: extract at the working resolution, so lines are as thin as at serve time
            sketch_np = extract_sketch(color_np, method=self.cfg.sketch_method)  # (L, L) uint8
        else:
            sketch_np = np.asarray(sketch.resize((size, size), _SKETCH_RESAMPLE))  # (L, L) uint8
        return color_np, sketch_np

    def materials(self, index: int, size: tuple[int, int] | None = None) -> MaterialMap:
        """Item ``index``'s material map (``data.materials``), resized to ``size`` (W, H) with nearest
        sampling (default: the stored pair's size). A pair without a map file gets one derived from its
        colors (``materials_from_colors``), with a warning once per dataset."""
        mm = self._stored_materials(index)
        if mm is None:
            sketch, color = self.pair(index)
            if size is not None:
                sketch, color = sketch.resize(size, _SKETCH_RESAMPLE), color.resize(size, _COLOR_RESAMPLE)
            return self._derived(np.asarray(color), np.asarray(sketch))
        if size is not None:
            mm = MaterialMap(resize_labels(mm.labels, size), mm.names, mm.source)
        return mm

    def _stored_materials(self, index: int) -> MaterialMap | None:
        layout, paths = self._layouts[index], self._pairs[index]
        path = material_path(layout.split_dir(paths), paths[-1].stem)
        if not path.is_file():
            return None
        try:
            return read_material_map(path)
        except ImageError as e:
            if path not in self._warned and len(self._warned) < _MAX_WARNED:
                self._warned.add(path)
                warnings.warn(f"{e}: deriving this pair's materials from its colors instead", stacklevel=3)
            return None

    def _derived(self, color: np.ndarray, sketch: np.ndarray) -> MaterialMap:
        if not self._derived_warned:
            self._derived_warned = True
            warnings.warn(f"no material maps in {self.root} (for some or all pairs): deriving them from connected "
                          "areas of near-equal color, which cannot join a material across lines; rebuild the dataset "
                          "with `autopainter prepare` to get the source's parts", stacklevel=4)
        return materials_from_colors(color, sketch)

    def _partner(self, rng: np.random.Generator, index: int, size: int, with_materials: bool = False):
        """Another readable pair (drawn with the sample's own generator), for ``augment_sample``:
        (color, sketch, materials or None)."""
        n = len(self)
        start = int(rng.integers(0, n))
        for attempt in range(n):
            other = (start + attempt) % n
            if other == index and n > 1:
                continue
            try:
                return self._loaded(other, size, with_materials)
            except ImageError:
                continue
        return self._loaded(index, size, with_materials)

    def _loaded(self, index: int, size: int, with_materials: bool) -> tuple[np.ndarray, np.ndarray, MaterialMap | None]:
        color_np, sketch_np = self._resized(*self._read(index), size)
        return color_np, sketch_np, self._map_for(index, color_np, sketch_np) if with_materials else None

    def _map_for(self, index: int, color_np: np.ndarray, sketch_np: np.ndarray) -> MaterialMap:
        """Item ``index``'s map at the size of ``color_np`` (L, L, 3): stored (resized), or derived from it."""
        mm = self._stored_materials(index)
        if mm is None:
            return self._derived(color_np, sketch_np)
        return MaterialMap(resize_labels(mm.labels, color_np.shape[1::-1]), mm.names, mm.source)

    def _make_sample(
        self, sketch: Image.Image | None, color: Image.Image, rng: np.random.Generator, index: int = 0
    ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        size = cfg.load_size if self.train else cfg.image_size
        by_material = self.train and cfg.hint_materials and self.in_channels == 5  # a 3-channel G sees no hints
        color_np, sketch_np = self._resized(sketch, color, size)
        mm = self._map_for(index, color_np, sketch_np) if by_material else None
        if self.train and cfg.augment:
            color_np, sketch_np, mm = augment_sample(color_np, sketch_np, mm, rng,
                                                     lambda: self._partner(rng, index, size, by_material))

        if self.train:
            s = cfg.image_size
            y, x = rng.integers(0, size - s + 1, 2)  # one crop for both images
            color_np = color_np[y : y + s, x : x + s]  # (S, S, 3)
            sketch_np = sketch_np[y : y + s, x : x + s]  # (S, S)
            labels = None if mm is None else mm.labels[y : y + s, x : x + s]
            if rng.random() < 0.5 and cfg.flip:  # drawn even without flip: same stream either way
                color_np, sketch_np = color_np[:, ::-1], sketch_np[:, ::-1]
                labels = None if labels is None else labels[:, ::-1]
            color_np, sketch_np = np.ascontiguousarray(color_np), np.ascontiguousarray(sketch_np)
            if mm is not None:
                mm = MaterialMap(np.ascontiguousarray(labels), mm.names, mm.source)

        if mm is not None:
            color_np, hint_rgb, hint_mask = simulate_material_hints(
                color_np, mm, rng, cfg.hint_max_strokes, cfg.hint_none_prob, cfg.material_recolor)
        else:
            hint_rgb, hint_mask = simulate_hints(color_np, rng, cfg.hint_max_strokes, cfg.hint_none_prob)
        if self.train and cfg.hint_hue_jitter > 0 and hint_mask.any() and rng.random() < cfg.hint_hue_jitter:
            shift = int(rng.integers(26, 231))  # of 256 hue steps: at least ~36 degrees away
            color_np, hint_rgb = rotate_hue(color_np, shift), rotate_hue(hint_rgb, shift)
        item = sample_tensors(sketch_np, color_np, hint_rgb, hint_mask, self.in_channels)  # (C, S, S) each
        if mm is not None and self.material_targets:  # for the material head (loss.material) and loss.locality
            item["materials"] = torch.from_numpy(mm.labels.astype(np.int64))  # (S, S)
            hinted = np.unique(mm.labels[hint_mask])
            unhinted = (mm.labels > 0) & ~np.isin(mm.labels, hinted)  # materials no hint touched
            item["unhinted"] = torch.from_numpy(unhinted[None].astype(np.float32))  # (1, S, S)
        if mm is not None and self.part_classes:  # for the part head (loss.parts)
            item["parts"] = torch.from_numpy(part_targets(mm, self.part_classes))  # (S, S)
        return item


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
