"""A folder of the user's own colored images as sketch/color pairs, the sketches made by ``extract_sketch``.

The sketches come from the same function as the "color_only" layout and ``autopainter sketchify``, at
the stored resolution. Storing them (rather than extracting on the fly) lets you look at the pairs,
check them with ``autopainter prepare check``, and hand-fix bad sketches before training.

Images are found recursively (hidden files and folders are ignored, and so is the output folder
when it lies inside the input). An unreadable file is reported and skipped; the rest goes on.
Each image is its own split group (see ``assign_splits``); copies of one picture under two names are
kept once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image

from ...imageio import DEFAULT_MAX_PIXELS, atomic_write_bytes, IMAGE_EXTENSIONS, ImageError, flatten_on_white, open_image
from ..materials import materials_from_colors
from ..sketch import extract_sketch
from . import (
    BuildReport,
    DatasetBuildError,
    assign_splits,
    check_fractions,
    check_layout,
    check_size,
    existing_digest,
    has_materials,
    finish_build,
    open_output,
    pair_digest,
    pair_paths,
    parallel_map,
    write_pair,
)

__all__ = ["build_from_folder", "find_images", "output_names", "load_resized"]

_RESAMPLE = Image.Resampling.LANCZOS


def find_images(in_dir: str | Path, exclude: str | Path | None = None) -> list[Path]:
    """Image files under ``in_dir`` (recursive, sorted), without hidden files/folders and ``exclude``'s contents."""
    in_dir = Path(in_dir)
    if not in_dir.is_dir():
        raise DatasetBuildError(f"input folder not found: {in_dir}")
    skip = Path(exclude).resolve() if exclude is not None else None
    found = []
    for p in sorted(in_dir.rglob("*")):
        rel = p.relative_to(in_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .git, .DS_Store, ._IMG.jpg (macOS resource forks) ...
        if p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
            continue
        if skip is not None and p.resolve().is_relative_to(skip):
            continue
        found.append(p)
    return found


def output_names(files: list[Path], in_dir: Path) -> dict[Path, str]:
    """A unique output stem per input: its relative path joined by "__" (sub/a.jpg -> sub__a),
    with the extension added when two inputs would collide (a.jpg, a.png -> a-jpg, a-png)."""
    def stem_of(p: Path) -> str:
        rel = p.relative_to(in_dir)
        return "__".join((*rel.parent.parts, rel.stem))

    counts: dict[str, int] = {}
    for p in files:
        counts[stem_of(p).lower()] = counts.get(stem_of(p).lower(), 0) + 1
    names: dict[Path, str] = {}
    used: set[str] = set()
    for p in files:
        name = stem_of(p)
        if counts[name.lower()] > 1:
            name = f"{name}-{p.suffix.lstrip('.').lower()}"
        base, n = name, 1
        while name.lower() in used:  # still taken (a.JPG and a.jpg on a case-sensitive disk)
            name = f"{base}-{n}"
            n += 1
        used.add(name.lower())
        names[p] = name
    return names


def load_resized(path: Path, size: int | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) uint8 RGB on white; with ``size``, resized so that the long side is ``size`` px."""
    img = flatten_on_white(open_image(path, max_pixels))
    if size is not None:
        w, h = img.size
        scale = size / max(w, h)
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
        if new != (w, h):
            img = img.resize(new, _RESAMPLE)
    return np.asarray(img)


@dataclass(frozen=True)
class _Job:
    path: Path
    name: str
    split: str


def _make_pair(job: _Job, out_dir: Path, size: int | None, method: str, params: dict[str, float],
               layout: str, max_pixels: int) -> tuple[str, str]:
    """One image -> (status, detail); status: existing | made | failed; detail: the pair's pixel
    digest, or the one-line error. Runs in a worker process."""
    paths = pair_paths(out_dir, job.split, job.name, layout)
    digest = existing_digest(paths)
    if digest is not None and has_materials(out_dir, job.split, job.name):
        return "existing", digest
    try:
        color = load_resized(job.path, size, max_pixels)  # (H, W, 3)
    except ImageError as e:
        return "failed", str(e)
    sketch = extract_sketch(color, method=method, **params)  # (H, W) uint8
    # no parts to go by: the material map is the connected areas of near-equal color
    write_pair(color, sketch, out_dir, job.split, job.name, layout, materials=materials_from_colors(color, sketch))
    return "made", pair_digest(paths)


def build_from_folder(
    in_dir: str | Path,
    out_dir: str | Path,
    size: int | None = None,
    method: str = "xdog",
    params: dict[str, float] | None = None,
    layout: str = "side_by_side",
    seed: int = 0,
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    workers: int | None = None,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    split_of: Mapping[str, str] | None = None,
    extra_settings: Mapping[str, Any] | None = None,
    attribution: str | None = None,
) -> BuildReport:
    """Turn a folder of colored images into sketch/color pairs with extracted sketches.

    Args:
        in_dir: folder of colored images, searched recursively.
        out_dir: dataset folder to write (new, empty, or an earlier build with the same settings).
        size: resize so the long side is this many pixels (up or down); None keeps each image's size.
        method, params: ``extract_sketch`` method and parameter overrides.
        layout: "side_by_side" (color LEFT | sketch RIGHT) or "two_folders".
        seed, val_fraction, test_fraction: the per-image split.
        workers: processes (default: all cores). progress: show a tqdm bar.
        max_pixels: larger inputs are reported as unreadable.
        split_of: {output name: split} chosen by the caller (``prepare wesnoth``: by artist) instead of
            the per-image split; extra_settings: stored in the manifest too; attribution: written as
            ATTRIBUTION.md.

    Returns:
        A BuildReport; ``failed`` lists the unreadable inputs with one-line reasons.

    Raises:
        DatasetBuildError: no input folder or no images in it, bad settings, an output folder in use.
    """
    check_layout(layout)
    check_size(size)
    check_fractions(val_fraction, test_fraction)
    params = dict(params or {})
    extract_sketch(np.full((8, 8), 255, np.uint8), method=method, **params)  # bad method/params: fail now
    in_dir, out = Path(in_dir), Path(out_dir)
    if out.resolve() == in_dir.resolve():
        raise DatasetBuildError("-o must differ from the input folder")
    files = find_images(in_dir, exclude=out)
    if not files:
        raise DatasetBuildError(f"no images under {in_dir} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    names = output_names(files, in_dir)
    settings = {"source": "folder", "size": size, "method": method, "params": params, "layout": layout,
                "seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction, **(extra_settings or {})}
    open_output(out, settings)
    if split_of is None:
        splits = assign_splits({names[f]: names[f] for f in files}, seed, val_fraction, test_fraction)
    else:
        splits = {names[f]: split_of[names[f]] for f in files}
    jobs = [_Job(f, names[f], splits[names[f]]) for f in files]
    work = partial(_make_pair, out_dir=out, size=size, method=method, params=params, layout=layout,
                   max_pixels=max_pixels)
    report = BuildReport(out_dir=out, layout=layout, total=len(files))
    written: list[tuple[str, str, str]] = []  # (name, split, digest)
    existing: set[str] = set()
    for job, (status, detail) in zip(jobs, parallel_map(work, jobs, workers, progress, "pairs"), strict=True):
        if status == "failed":
            report.failed.append((str(job.path), detail))
            continue
        written.append((job.name, job.split, detail))
        if status == "existing":
            existing.add(job.name)
    # Copies of one picture under two names are kept once, so one cannot be in two splits.
    write = (lambda: atomic_write_bytes(out / "ATTRIBUTION.md", attribution.encode())) if attribution else None
    return finish_build(report, settings, written, existing, before_manifest=write)
