"""Builders that turn real image collections into the on-disk layouts that ``data/pairs.py`` reads.

* ``openmoji.build_openmoji``: the OpenMoji emoji set (CC BY-SA 4.0), color SVG + its exact black line art.
* ``folder.build_from_folder``: a folder of the user's colored images, sketches made by ``extract_sketch``.
* ``check.check_dataset``: validates any dataset folder (counts, sizes, pairing, leaks across splits).

What the builders share lives here: the split assignment, the re-run rules and the end of every build
(``finish_build``: duplicates, counts, stale files, manifest). The files are written by the layout
classes of ``data.layouts``: ``OUT/<split>/NAME.png`` (side_by_side: color LEFT | sketch RIGHT, the
Kaggle layout) or ``OUT/<split>/sketch/NAME.png`` + ``OUT/<split>/color/NAME.png`` (two_folders).

Re-runs are safe: every file is written atomically (``imageio.save_image``: a temporary file and a
rename), so a file that exists is complete, and existing outputs are skipped; files of an earlier run
that no longer belong (an input now dropped, gone, or in another split) are deleted. ``OUT/prepare.json``
records the settings a folder was built with; a re-run with other settings stops with an error
instead of mixing two datasets in one folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
from PIL import Image

from ...imageio import atomic_write_bytes
from ..layouts import LAYOUT_CLASSES, Layout, make_layout
from ..materials import MATERIALS_DIR, MaterialMap, material_path, write_material_map

__all__ = [
    "OUTPUT_LAYOUTS",
    "SPLITS",
    "MANIFEST_NAME",
    "DatasetBuildError",
    "BuildReport",
    "assign_splits",
    "pair_paths",
    "outputs_complete",
    "write_pair",
    "has_materials",
    "default_workers",
    "pair_digest",
    "existing_digest",
    "drop_duplicates",
    "finish_build",
]

# The layouts that store a sketch: color_only would drop the builders' sketches.
OUTPUT_LAYOUTS: tuple[str, ...] = tuple(name for name, cls in LAYOUT_CLASSES.items() if cls.stores_sketch)
SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST_NAME = "prepare.json"

T = TypeVar("T")
R = TypeVar("R")


class DatasetBuildError(ValueError):
    """A dataset cannot be built as asked; the message says why and what to do."""


@dataclass
class BuildReport:
    """What a builder did. ``counts`` includes outputs that were already there (``existing``)."""

    out_dir: Path
    layout: str
    total: int  # candidate items (emoji, input images)
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SPLITS})  # pairs per split
    existing: int = 0  # pairs already complete from an earlier run, not made again
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason): filtered on purpose
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, one-line error): unreadable
    removed: int = 0  # stale files of an earlier run deleted (items now dropped, gone or moved)

    @property
    def made(self) -> int:
        """Pairs in the dataset now (new and existing)."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line, e.g. ``4395 pairs in data/om (train 3956, val 219, test 220); 0 already there; dropped 100``."""
        splits = ", ".join(f"{s} {n}" for s, n in self.counts.items())
        parts = [f"{self.made} pairs in {self.out_dir} ({splits}, {self.layout})",
                 f"{self.existing} already there"]
        if self.dropped:
            reasons: dict[str, int] = {}
            for _, why in self.dropped:
                key = why.split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            parts.append(f"dropped {len(self.dropped)} (" + ", ".join(f"{k}: {v}" for k, v in reasons.items()) + ")")
        if self.failed:
            parts.append(f"skipped {len(self.failed)} unreadable")
        if self.removed:
            parts.append(f"removed {self.removed} stale files")
        return "; ".join(parts)


# ------------------------------------------------------------------------------ checks of arguments
def check_layout(layout: str) -> None:
    if layout not in OUTPUT_LAYOUTS:
        raise DatasetBuildError(f"unknown output layout {layout!r}; choose one of: {', '.join(OUTPUT_LAYOUTS)}")


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DatasetBuildError(
            f"split fractions must be >= 0 with val + test < 1, got val {val_fraction}, test {test_fraction}"
        )


def check_size(size: int | None) -> None:
    if size is not None and not 8 <= size <= 8192:
        raise DatasetBuildError(f"--size must be between 8 and 8192 pixels, got {size}")


# ------------------------------------------------------------------------------ splits
def _rank(seed: int, key: str) -> bytes:
    """A seeded pseudo-random sort key of ``key``: stable when other keys come or go."""
    return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()


def assign_splits(
    groups: dict[str, str], seed: int, val_fraction: float = 0.05, test_fraction: float = 0.05
) -> dict[str, str]:
    """Split items into train/val/test so that the items of one group always share a split.

    Args:
        groups: item name -> group key (e.g. an emoji and its skin-tone variants share a key).
        seed: seeds the order; the same inputs and seed always give the same splits.
        val_fraction, test_fraction: shares of items (not groups) for val and test.

    Groups are ranked by a seeded hash of their key (so adding an item moves at most its own group)
    and filled greedily: val until it holds round(val_fraction * N) items, then test, then train.

    Returns:
        item name -> "train" | "val" | "test".
    """
    check_fractions(val_fraction, test_fraction)
    members: dict[str, list[str]] = {}
    for name, key in groups.items():
        members.setdefault(key, []).append(name)
    n = len(groups)
    targets = {"val": round(val_fraction * n), "test": round(test_fraction * n)}
    filled = {"val": 0, "test": 0}
    out: dict[str, str] = {}
    for key in sorted(members, key=lambda k: (_rank(seed, k), k)):
        split = "train"
        for s in ("val", "test"):
            if filled[s] < targets[s]:
                split = s
                break
        if split != "train":
            filled[split] += len(members[key])
        for name in members[key]:
            out[name] = split
    return out


# ------------------------------------------------------------------------------ writing pairs
def _layout(layout: str | Layout) -> Layout:
    return layout if isinstance(layout, Layout) else make_layout(layout)


def pair_paths(out_dir: Path, split: str, name: str, layout: str | Layout) -> tuple[Path, ...]:
    """The file(s) of one pair: (OUT/split/NAME.png,) or (OUT/split/sketch/NAME.png, OUT/split/color/NAME.png)."""
    return _layout(layout).paths(Path(out_dir) / split, name)


def outputs_complete(paths: Sequence[Path]) -> bool:
    """True when every file exists and its PNG header parses (files are written atomically, so an
    existing file is whole unless something else wrote it)."""
    for p in paths:
        if not p.is_file():
            return False
        try:
            with Image.open(p) as im:
                w, h = im.size
        except Exception:  # anything unreadable is made again
            return False
        if w < 1 or h < 1:
            return False
    return True


def write_pair(color: np.ndarray, sketch: np.ndarray, out_dir: Path, split: str, name: str,
               layout: str | Layout, materials: MaterialMap | None = None) -> None:
    """Write one pair atomically (and its material map, when given: ``SPLIT/materials/NAME.png``), and
    remove a stale copy of it from the other splits.

    Args:
        color: (H, W, 3) uint8 RGB.
        sketch: (H, W) uint8, 255 paper.
        materials: the pair's material map (``data.materials``), at the pair's size.
    """
    writer = _layout(layout)
    if materials is not None:  # the map first: a pair on disk without its map is made again by a re-run
        write_material_map(material_path(Path(out_dir) / split, name), materials)
    writer.write(pair_paths(out_dir, split, name, writer), color, sketch)
    remove_from_other_splits(out_dir, split, name, writer)


def has_materials(out_dir: Path, split: str, name: str) -> bool:
    """True when pair ``name`` of ``split`` has its material map."""
    return outputs_complete([material_path(Path(out_dir) / split, name)])


def remove_from_other_splits(out_dir: Path, split: str, name: str, layout: str | Layout) -> None:
    """Delete NAME from the splits it no longer belongs to (an input set that changed between runs),
    so a pair is never in two splits."""
    for other in SPLITS:
        if other != split:
            for p in pair_paths(out_dir, other, name, layout):
                p.unlink(missing_ok=True)
            material_path(Path(out_dir) / other, name).unlink(missing_ok=True)


def existing_digest(paths: Sequence[Path]) -> str | None:
    """``pair_digest`` of a pair that an earlier run completed, or None when it must be made (again)."""
    if not outputs_complete(paths):
        return None
    try:
        return pair_digest(paths)
    except Exception:  # truncated data behind a good header: make it again
        return None


def pair_digest(paths: Sequence[Path]) -> str:
    """Hash of the decoded pixels of a pair's file(s): equal for pictures that are the same."""
    h = hashlib.blake2b(digest_size=16)
    for p in paths:
        with Image.open(p) as im:
            h.update(f"{im.mode}{im.size}".encode())
            h.update(im.tobytes())
    return h.hexdigest()


def drop_duplicates(out_dir: Path, layout: str | Layout, items: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """Keep one pair of each picture: ``items`` are (name, split, digest) of the pairs written; the files
    of every later name (in sorted order) with the digest of an earlier one are deleted.

    Returns {deleted name: the name kept}. Run after all pairs are written, so a picture that two
    inputs share can never end up in two splits.
    """
    first: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for name, split, digest in sorted(items):
        if digest in first:
            dropped[name] = first[digest]
            for p in pair_paths(out_dir, split, name, layout):
                p.unlink(missing_ok=True)
            material_path(Path(out_dir) / split, name).unlink(missing_ok=True)
        else:
            first[digest] = name
    return dropped


def prune_outputs(out_dir: Path, layout: str | Layout, keep: dict[str, str]) -> int:
    """Delete the pair files under OUT/<split>/ that are not ``keep``'s (name -> split): outputs of an
    earlier run for items that are now dropped or gone. Only PNGs at layout paths are touched.
    Returns the number of files removed."""
    removed = 0
    for split in SPLITS:
        for folder in (*_layout(layout).folders(Path(out_dir) / split), Path(out_dir) / split / MATERIALS_DIR):
            if not folder.is_dir():
                continue
            for p in folder.glob("*.png"):
                if keep.get(p.stem) != split:
                    p.unlink(missing_ok=True)
                    removed += 1
    return removed


def finish_build(report: BuildReport, settings: dict[str, Any], written: Sequence[tuple[str, str, str]],
                 existing: set[str], before_manifest: Callable[[], None] | None = None) -> BuildReport:
    """The end of every build, once all pairs are written.

    Keeps one pair of each picture (different inputs can draw the same one; it must not be in two
    splits), counts the pairs per split and those already there, deletes stale files of earlier runs,
    then marks the folder complete in its manifest.

    Args:
        report: the builder's report so far (out_dir, layout, dropped, failed); filled in and returned.
        settings: what ``open_output`` got, stored again with the results.
        written: (name, split, pixel digest) of every pair now in the folder, new or existing.
        existing: names of the pairs that were already complete before this run.
        before_manifest: called just before the manifest is marked complete (e.g. to add license files).
    """
    out, layout = Path(report.out_dir), report.layout
    dups = drop_duplicates(out, layout, written)
    report.dropped += [(n, f"duplicate: same picture as {first}") for n, first in dups.items()]
    kept = {n: s for n, s, _ in written if n not in dups}
    for s in kept.values():
        report.counts[s] += 1
    report.existing = len(existing & kept.keys())
    report.removed = prune_outputs(out, layout, kept)
    if before_manifest is not None:
        before_manifest()
    write_manifest(out, settings, complete=True, report=report)
    return report


# ------------------------------------------------------------------------------ the manifest
def open_output(out_dir: Path, settings: dict[str, Any]) -> None:
    """Make OUT ready for a build with ``settings``, or refuse to mix datasets.

    OUT may be missing, empty, or a folder built earlier with the same settings (a re-run). Anything
    else (another layout, size, seed, or files not made by ``autopainter prepare``) is an error.
    """
    out_dir = Path(out_dir)
    manifest = out_dir / MANIFEST_NAME
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text()).get("settings", {})
        except (OSError, ValueError, AttributeError):
            raise DatasetBuildError(f"{manifest} is unreadable; delete {out_dir} or choose another -o") from None
        diff = [f"{k} {old.get(k)!r} (now {v!r})" for k, v in settings.items() if old.get(k) != v]
        if diff:
            raise DatasetBuildError(
                f"{out_dir} was built with other settings: {', '.join(diff)}; choose another -o or delete the folder"
            )
    elif out_dir.exists():
        if not out_dir.is_dir():
            raise DatasetBuildError(f"-o {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            raise DatasetBuildError(
                f"{out_dir} is not empty and was not made by 'autopainter prepare'; choose an empty or new folder"
            )
    write_manifest(out_dir, settings, complete=False)


def write_manifest(out_dir: Path, settings: dict[str, Any], complete: bool, report: BuildReport | None = None) -> None:
    payload: dict[str, Any] = {"settings": settings, "complete": complete}
    if report is not None:
        payload["counts"] = report.counts
        payload["dropped"] = [{"name": n, "reason": r} for n, r in report.dropped]
        payload["failed"] = [{"input": n, "error": r} for n, r in report.failed]
    atomic_write_bytes(Path(out_dir) / MANIFEST_NAME, (json.dumps(payload, indent=1) + "\n").encode())


# ------------------------------------------------------------------------------ parallel map
def default_workers() -> int:
    """Worker processes: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def parallel_map(
    fn: Callable[[T], R], items: Sequence[T], workers: int | None, progress: bool, desc: str, unit: str = "img"
) -> Iterator[R]:
    """``map(fn, items)`` in ``workers`` processes (in this process for 1), results in order, with a tqdm bar."""
    from tqdm.auto import tqdm

    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise DatasetBuildError(f"--workers must be >= 1, got {workers}")
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress, dynamic_ncols=True)
    try:
        if workers == 1 or len(items) < 2:
            results: Iterable[R] = map(fn, items)
            for r in results:
                bar.update()
                yield r
            return
        # Small chunks keep the bar moving and both workers busy to the end.
        chunksize = max(1, min(16, len(items) // (workers * 8)))
        with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
            for r in pool.map(fn, items, chunksize=chunksize):
                bar.update()
                yield r
    finally:
        bar.close()
