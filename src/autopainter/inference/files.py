"""Coloring many files: ``colorize_files(colorizer, jobs)``, several read-color-write pipelines side by side,
each output written atomically; and where outputs and their layers go."""

from __future__ import annotations

import json
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from PIL import Image

from ..imageio import PNG_COMPRESS_LEVEL, ImageError, atomic_write_bytes, save_image
from .colorizer import Colorizer
from .layers import exported_layers, layer_suffix
from .runners import CORES

__all__ = ["FileJob", "ORA_SUFFIX", "layer_paths", "layer_suffixes", "save_output", "colorize_files",
           "colorize_sequence_files", "write_result", "PNG_COMPRESS_LEVEL"]

ORA_SUFFIX = ".ora"  # an output named NAME.ora is an OpenRaster file of the result's layers


@dataclass
class FileJob:
    """One sketch file to color into ``dest``, and each of ``layers`` (layer name -> path, ``layer_paths``).
    A ``dest`` ending in ``.ora`` is an OpenRaster file of the result and its layers (``ColorizeResult.save_ora``)."""

    sketch: Path
    dest: Path
    hints: Optional[Path] = None
    layers: dict[str, Path] = field(default_factory=dict)
    closing: Optional[Path] = None  # RGBA closing lines (``Colorizer.prepare``)
    empty: Optional[Path] = None  # RGBA leave-empty marks
    variant: int = 0  # the palette variant (``Colorizer.prepare``)
    palette: Optional[dict] = None  # {material name: "#rrggbb"} that wins over the variant
    palette_out: Optional[Path] = None  # where the result's palette is written as JSON (``ColorizeResult.palette``)
    reference: Optional[Path] = None  # a colored drawing of the same character (``Colorizer.prepare``)
    reference_lines: Optional[Path] = None  # its line art
    warnings: list = field(default_factory=list)  # the result's warnings (``ColorizeResult.warnings``), once colored


def layer_suffixes() -> tuple[str, ...]:
    """The name suffixes of the exported layers' files (``_color``, ``_lines``, ``_flats``; ``layers.LAYERS``)."""
    return tuple(layer_suffix(x.name) for x in exported_layers())


def layer_paths(dest: Path) -> dict[str, Path]:
    """Where the layers of ``dest`` go, next to it and always PNG, by layer name: NAME_color.png (the color
    layer under the lines), NAME_lines.png (the transparent line layer), NAME_flats.png (one color per region)."""
    dest = Path(dest)
    return {x.name: dest.with_name(f"{dest.stem}{layer_suffix(x.name)}.png") for x in exported_layers()}


def save_output(img: Image.Image, path: str | Path) -> None:
    """Write an output image atomically; PNGs with zlib level ``PNG_COMPRESS_LEVEL``."""
    path = Path(path)
    kwargs = {"compress_level": PNG_COMPRESS_LEVEL} if path.suffix.lower() not in (".jpg", ".jpeg", ".webp", ".gif") else {}
    save_image(img, path, **kwargs)


def colorize_files(colorizer: Colorizer, jobs: Iterable[FileJob], workers: int | None = None,
                   on_done: Callable[[FileJob, Optional[ImageError]], None] | None = None) -> list[tuple[FileJob, ImageError]]:
    """Color many files, each written atomically; returns the (job, error) of files that could not be read.

    ``workers`` threads (default: one per core, at most 4) each read, color and write one file at a
    time, each generator run with ``cores // (2 * workers)`` threads (at least 1): several pipelines
    side by side keep every core busy, since decoding, composing and encoding an image use one core
    each, and most of the time goes there. ``on_done`` is called in the calling thread as each file
    finishes. Errors other than ImageError stop the run.
    """
    jobs = list(jobs)
    workers = max(1, min(int(workers if workers else min(4, CORES)), len(jobs)))
    per_run = colorizer.threads if workers == 1 else max(1, CORES // (2 * workers))

    def one(job: FileJob) -> Optional[ImageError]:
        try:
            res = colorizer.colorize(job.sketch, job.hints, threads=per_run, closing=job.closing, empty=job.empty,
                                     variant=job.variant, palette=job.palette, reference=job.reference,
                                     reference_lines=job.reference_lines)
        except ImageError as e:
            return e
        write_result(job, res)
        return None

    failed: list[tuple[FileJob, ImageError]] = []
    if workers == 1:
        for job in jobs:
            err = one(job)
            if err is not None:
                failed.append((job, err))
            if on_done:
                on_done(job, err)
        return failed
    before = torch.get_num_threads()
    torch.set_num_threads(per_run)  # for the whole run: the workers' runs then leave it alone
    try:
        return _run_pool(one, jobs, workers, on_done)
    finally:
        torch.set_num_threads(before)


def write_result(job: FileJob, res) -> None:
    """Write a result where ``job`` says: the image (or .ora), its palette and layers, each atomically (and keep its
    warnings on the job)."""
    job.warnings = list(getattr(res, "warnings", ()))
    if job.dest.suffix.lower() == ORA_SUFFIX:
        res.save_ora(job.dest)
    else:
        save_output(res.image, job.dest)
    if job.palette_out is not None:
        atomic_write_bytes(job.palette_out, (json.dumps(res.palette or {}, indent=1) + "\n").encode())
    if job.layers:
        images = res.layers
        for name, path in job.layers.items():
            save_output(images[name], path)


def colorize_sequence_files(colorizer: Colorizer, jobs: Iterable[FileJob], reference, reference_lines=None,
                            on_done: Callable[[FileJob, Optional[ImageError]], None] | None = None,
                            on_result: Callable[[FileJob, Any], None] | None = None) -> list[tuple[FileJob, ImageError]]:
    """Color the frames of ``jobs`` in order from one ``reference`` (``Colorizer.sequence``: each frame matched to
    the reference and the previous frame; a frame with hints is a correction later frames follow). Returns the
    (job, error) of frames that could not be read; such a frame changes nothing for the next. ``on_result`` gets
    each frame's result once it is written (e.g. for its ``reference_report``)."""
    seq = colorizer.sequence(reference, reference_lines)
    failed: list[tuple[FileJob, ImageError]] = []
    for job in jobs:
        err = None
        try:
            res = seq.colorize(job.sketch, job.hints, closing=job.closing, empty=job.empty, variant=job.variant,
                               palette=job.palette)
        except ImageError as e:
            err = e
            failed.append((job, e))
        else:
            write_result(job, res)
            if on_result:
                on_result(job, res)
        if on_done:
            on_done(job, err)
    return failed


def _run_pool(one: Callable[[FileJob], Optional[ImageError]], jobs: list[FileJob], workers: int,
              on_done: Callable[[FileJob, Optional[ImageError]], None] | None) -> list[tuple[FileJob, ImageError]]:
    failed: list[tuple[FileJob, ImageError]] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="colorize") as pool:
        pending: dict = {}
        it = iter(jobs)
        try:
            for job in it:  # at most 2 x workers files in flight: memory stays bounded for any folder
                pending[pool.submit(one, job)] = job
                if len(pending) >= 2 * workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    err = fut.result()
                    if err is not None:
                        failed.append((job, err))
                    if on_done:
                        on_done(job, err)
                    nxt = next(it, None)
                    if nxt is not None:
                        pending[pool.submit(one, nxt)] = nxt
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return failed
