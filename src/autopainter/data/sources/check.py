"""Validate a dataset folder before training on it: ``autopainter prepare check DIR``.

What is checked, per split folder (``ROOT/train``, ``ROOT/val``, ... or ROOT itself when it has none):

* every image decodes (the same reader as training: ``imageio.open_image``);
* two_folders: every sketch has a color image of the same stem and vice versa, with the same aspect;
* side_by_side: each file splits into two equal halves (an even width of at least 2);
* no image is in two splits (a hash of the decoded pixels, so a re-encoded copy is caught too);
* material maps (``SPLIT/materials/NAME.png``, ``data.materials``): each one readable and of its pair's
  size, and how many pairs have one, from parts or from colors, with the parts named;
* and it reports the pairs per split and the distinct image sizes.

Problems make the report fail (exit code 2 on the command line); notes (e.g. halves that are not
square, duplicates inside one split, no val split) are printed but do not.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ...imageio import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageError, flatten_on_white, open_image
from ..layouts import COLOR_DIR as _COLOR
from ..layouts import LAYOUT_CLASSES, detect_layout, is_two_folders
from ..layouts import SKETCH_DIR as _SKETCH
from ..materials import MATERIALS_DIR, material_path, read_material_map
from . import SPLITS, DatasetBuildError, parallel_map

__all__ = ["CheckReport", "check_dataset", "CHECK_LAYOUTS"]

CHECK_LAYOUTS = tuple(LAYOUT_CLASSES)  # every layout can be checked
_SHOW = 5  # examples listed per kind of problem


@dataclass
class CheckReport:
    """The result of ``check_dataset``: ``ok`` is False when there is any problem."""

    root: Path
    layout: str
    detected: bool  # layout found by looking (True) or given (False)
    splits: dict[str, int] = field(default_factory=dict)  # split -> pairs (images for color_only)
    sizes: Counter = field(default_factory=Counter)  # (w, h) -> files (pair files, or color images)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    materials: dict = field(default_factory=dict)  # material maps: counts, sources, named parts (empty: none)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"dataset: {self.root} ({self.layout}, {'detected' if self.detected else 'as given'})"]
        unit = "images" if self.layout == "color_only" else "pairs"
        for split, n in self.splits.items():
            lines.append(f"  {split}: {n} {unit}")
        if self.sizes:
            shown = ", ".join(f"{w}x{h} ({n})" for (w, h), n in self.sizes.most_common(_SHOW))
            more = f", ... {len(self.sizes) - _SHOW} more" if len(self.sizes) > _SHOW else ""
            lines.append(f"sizes: {len(self.sizes)} distinct: {shown}{more}")
        lines += [f"note: {n}" for n in self.notes]
        if self.problems:
            lines.append(f"BROKEN: {len(self.problems)} problem(s):")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("OK: no problems found")
        return "\n".join(lines)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)


def _split_dirs(root: Path) -> tuple[dict[str, Path], list[str]]:
    """split name -> folder, as ``data/pairs.py`` reads them: ROOT/<split> when it exists, and ROOT
    itself as "train" when there is no ROOT/train."""
    notes = []
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
                     and d.name not in (_SKETCH, _COLOR, MATERIALS_DIR))
    order = {s: i for i, s in enumerate(SPLITS)}
    subdirs.sort(key=lambda d: (order.get(d.name, len(order)), d.name))  # train, val, test, then others
    splits = {d.name: d for d in subdirs if is_two_folders(d) or _images_in(d)}
    root_has_pairs = is_two_folders(root) or bool(_images_in(root))
    if "train" in splits:
        if root_has_pairs:
            notes.append(f"the pairs directly in {root} are not used: training reads {root}/train")
        return splits, notes
    if root_has_pairs:
        return {"train": root, **splits}, notes
    return splits, notes


def _inspect(path: Path, max_pixels: int) -> tuple[tuple[int, int] | None, str, str]:
    """(size or None, pixel hash, error) of one image file. Runs in a worker process."""
    try:
        img = flatten_on_white(open_image(path, max_pixels))
    except ImageError as e:
        return None, "", str(e)
    h = hashlib.blake2b(f"{img.size}".encode(), digest_size=16)
    h.update(img.tobytes())
    return img.size, h.hexdigest(), ""


def _inspect_map(path: Path) -> tuple[tuple[int, int] | None, str, dict[int, str], str]:
    """(size or None, source, names, error) of one material map. Runs in a worker process."""
    try:
        mm = read_material_map(path)
    except ImageError as e:
        return None, "", {}, str(e)
    present = {int(v) for v in set(mm.labels.ravel().tolist())} - {0}
    return (mm.labels.shape[1], mm.labels.shape[0]), mm.source, {k: v for k, v in mm.names.items() if k in present}, ""


def _check_materials(report: "CheckReport", pairs: list[tuple[str, Path, tuple[int, int]]], root: Path,
                     workers: int | None, progress: bool) -> None:
    """Material maps of the readable pairs ``(split, split folder, color size)``: counted, read, sized."""
    maps = [(split, material_path(d, stem), size) for split, d, stem, size in pairs]
    found = [(split, p, size) for split, p, size in maps if p.is_file()]
    if not found:
        if pairs:
            report.notes.append("no material maps: training derives them from connected areas of near-equal color "
                                "(which cannot join a material across lines); `autopainter prepare` writes them")
        return
    results = list(parallel_map(_inspect_map, [p for _, p, _ in found], workers, progress, "check maps", "map"))
    bad, sources, parts, counts = [], Counter(), Counter(), []
    for (split, path, size), (msize, source, names, error) in zip(found, results, strict=True):
        if msize is None:
            bad.append(error or _rel(path, root))
        elif msize != size:
            bad.append(f"{_rel(path, root)} is {msize[0]}x{msize[1]}, its pair {size[0]}x{size[1]}")
        else:
            sources[source] += 1
            counts.append(len(names))
            parts.update(n for n in names.values() if n)
    if bad:
        report.problems.append(f"{len(bad)} broken material map(s): {_examples(bad, sep='; ')}")
    missing = len(pairs) - len(found)
    src = ", ".join(f"{n} from {s}" for s, n in sources.most_common())
    named = ", ".join(f"{k} {n}" for k, n in parts.most_common())
    mean = sum(counts) / max(1, len(counts))
    report.materials = {"pairs": len(pairs), "maps": len(found), "missing": missing, "sources": dict(sources),
                        "mean_materials": round(mean, 2), "parts": dict(parts)}
    report.notes.append(f"material maps: {len(found)} of {len(pairs)} pairs ({src}); {mean:.1f} materials per map"
                        + (f"; named parts: {named}" if named else ""))
    if missing:
        report.notes.append(f"{missing} pair(s) without a material map: training derives theirs from colors")


def check_dataset(root: str | Path, layout: str | None = None, workers: int | None = None,
                  progress: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> CheckReport:
    """Check a dataset folder; see the module docstring for what is checked.

    Args:
        root: the dataset folder (what ``autopainter train --data`` gets).
        layout: "side_by_side", "two_folders" or "color_only"; None detects it (sketch/ and color/
            subfolders: two_folders; otherwise side_by_side, as color_only cannot be told apart by looking).
        workers, progress: decode in this many processes, with a tqdm bar.

    Raises:
        DatasetBuildError: ``root`` is not a folder, or an unknown layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetBuildError(f"dataset folder not found: {root}")
    if layout is not None and layout not in CHECK_LAYOUTS:
        raise DatasetBuildError(f"unknown layout {layout!r}; choose one of: {', '.join(CHECK_LAYOUTS)}")
    splits, notes = _split_dirs(root)
    kinds = {name: detect_layout(d) for name, d in splits.items()}  # two_folders | side_by_side
    detected = layout is None
    if layout is None:
        layout = "two_folders" if "two_folders" in kinds.values() else "side_by_side"
    report = CheckReport(root=root, layout=layout, detected=detected, notes=notes)
    if not splits:
        report.problems.append(f"no images in {root} or in any subfolder (looked for {', '.join(IMAGE_EXTENSIONS)})")
        return report
    wrong = sorted(s for s, k in kinds.items() if (k == "two_folders") != (layout == "two_folders"))
    if wrong:
        want = f"{_SKETCH}/ and {_COLOR}/ subfolders" if layout == "two_folders" else "images directly in the folder"
        report.problems.append(f"split(s) {', '.join(wrong)} are not in the {layout} layout (expected {want})")

    # -- files of each split; pairing by stem for two_folders
    files: list[tuple[str, str, Path]] = []  # (split, role, path); role: pair | sketch | color
    unpaired: list[str] = []
    for split, d in splits.items():
        if split in wrong:
            continue
        if layout == "two_folders":
            sk = {p.stem: p for p in _images_in(d / _SKETCH)}
            co = {p.stem: p for p in _images_in(d / _COLOR)}
            unpaired += [f"{split}/{_SKETCH}/{sk[s].name}" for s in sorted(sk.keys() - co.keys())]
            unpaired += [f"{split}/{_COLOR}/{co[s].name}" for s in sorted(co.keys() - sk.keys())]
            for s in sorted(sk.keys() & co.keys()):
                files += [(split, "sketch", sk[s]), (split, "color", co[s])]
            report.splits[split] = len(sk.keys() & co.keys())
        else:
            imgs = _images_in(d)
            files += [(split, "pair", p) for p in imgs]
            report.splits[split] = len(imgs)
    if unpaired:
        report.problems.append(f"{len(unpaired)} unpaired file(s) (no partner with the same name): {_examples(unpaired)}")
    for split, n in report.splits.items():
        if n == 0:
            report.problems.append(f"split {split} has no pairs")
    if "train" not in report.splits:
        report.problems.append(f"no training split: expected {root}/train (or images directly in {root})")
    elif set(report.splits) == {"train"}:
        report.notes.append("no val split: training sample grids will use training images")

    # -- decode everything (in parallel)
    results = list(parallel_map(partial(_inspect, max_pixels=max_pixels), [p for _, _, p in files],
                                workers, progress, "check", "file"))
    unreadable, odd, not_square, aspect = [], [], [], []
    by_hash: dict[str, list[tuple[str, Path]]] = {}
    sketch_sizes: dict[tuple[str, str], tuple[int, int]] = {}
    readable: list[tuple[str, Path, str, tuple[int, int]]] = []  # (split, split folder, stem, color size)
    for (split, role, path), (size, digest, error) in zip(files, results, strict=True):
        rel = _rel(path, root)
        if size is None:
            unreadable.append(error or rel)
            continue
        w, h = size
        if role == "sketch":
            sketch_sizes[(split, path.stem)] = size
            continue
        report.sizes[size] += 1
        by_hash.setdefault(digest, []).append((split, path))
        if layout != "color_only":
            color_size = (w // 2, h) if role == "pair" else size
            readable.append((split, splits[split], path.stem, color_size))
        if role == "pair" and layout == "side_by_side":
            if w < 2 or w % 2:
                odd.append(f"{rel} ({w}x{h})")
            elif w != 2 * h:
                not_square.append(rel)
        if role == "color":
            s = sketch_sizes.get((split, path.stem))
            if s is not None and abs(s[0] / s[1] - w / h) > 0.02 * (w / h):
                aspect.append(f"{rel} {w}x{h} vs sketch {s[0]}x{s[1]}")
    if unreadable:
        report.problems.append(f"{len(unreadable)} unreadable image(s): {_examples(unreadable, sep='; ')}")
    if odd:
        report.problems.append(f"{len(odd)} side-by-side image(s) of odd width (no two equal halves): {_examples(odd)}")
    if aspect:
        report.problems.append(f"{len(aspect)} pair(s) whose sketch and color differ in aspect ratio: {_examples(aspect)}")
    if not_square:
        report.notes.append(f"{len(not_square)} side-by-side image(s) are not 2:1 (halves not square), e.g. {not_square[0]}")
    across = [g for g in by_hash.values() if len({s for s, _ in g}) > 1]
    within = sum(1 for g in by_hash.values() if len(g) > 1 and len({s for s, _ in g}) == 1)
    if across:
        shown = [" = ".join(_rel(p, root) for _, p in g[:3]) for g in across]
        report.problems.append(f"{len(across)} image(s) in more than one split (leak): {_examples(shown)}")
    if within:
        report.notes.append(f"{within} image(s) appear more than once inside a split")
    _check_materials(report, readable, root, workers, progress)
    return report


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _examples(items: list[str], sep: str = ", ") -> str:
    more = f"{sep}... ({len(items) - _SHOW} more)" if len(items) > _SHOW else ""
    return sep.join(items[:_SHOW]) + more
