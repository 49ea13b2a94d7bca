"""What every ``autopainter`` command shares: its error type, its inputs, and the one output planner.

The leaf of the CLI package: the command modules import it, it imports none of them. The single-file
rule lives here, once, for every command that writes images (colorize, sketchify): an ``-o`` ending in
an image suffix (``OUTPUT_SUFFIXES``; colorize adds ``.ora``) is one file written in that format; anything
else is a folder of ``STEM.png`` (colorize ``--format ora``: ``STEM.ora``). So does the rule that no
command writes over its own inputs (``refuse_overwrite``) unless ``--overwrite`` says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

__all__ = ["check_size", "MAX_WORKING_SIZE", "CLIError", "EXIT_BAD_INPUT", "OUTPUT_SUFFIXES", "OVERWRITE_HELP", "collect_inputs", "image_error_text",
           "names_one_file", "output_help", "plan_outputs", "refuse_overwrite", "require_positive"]

OVERWRITE_HELP = "allow outputs to replace input files (refused by default: an error names the first one)"

EXIT_BAD_INPUT = 2
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # an -o ending in one of these is a file of that format


class CLIError(ValueError):
    """A problem with the command line itself."""


def output_help(what: str, suffixes: tuple[str, ...] = OUTPUT_SUFFIXES) -> str:
    """The ``-o`` help of a command that writes images, so that every command states the same rule."""
    return (f"output folder (one {what} STEM.png per input), or one file for a single input: a name ending in "
            f"{', '.join(suffixes)} is a file written in that format")


def collect_inputs(inputs: list[str]) -> list[Path]:
    """The image files named on the command line: files as given, folders expanded (sorted by name)."""
    from ..imageio import list_images

    files: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            files.extend(list_images(p))
        elif p.is_file():
            files.append(p)
        else:
            raise CLIError(f"input not found: {p}")
    return files


def require_positive(args, *names: str) -> None:
    """CLIError for an option among ``names`` that is given and not > 0 (None: the option was left out)."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise CLIError(f"--{name.replace('_', '-')} must be > 0, got {value}")


MAX_WORKING_SIZE = 4096  # --size: the generator's working resolution (long side); 4096 px already asks for GBs


def check_size(args) -> None:
    """--size (the working resolution, long side) within 16..MAX_WORKING_SIZE px, or a one-line CLIError."""
    size = getattr(args, "size", None)
    if size is not None and not 16 <= size <= MAX_WORKING_SIZE:
        raise CLIError(f"--size is the working resolution's long side: 16 to {MAX_WORKING_SIZE} px (the bundled model "
                       f"was trained at 256), got {size}")


def _image_suffixes() -> set[str]:
    """Every file suffix Pillow reads or writes (.gif, .bmp, .tif, ...)."""
    from PIL import Image

    Image.init()
    return {ext.lower() for ext in Image.registered_extensions()}


def names_one_file(out: Path, suffixes: tuple[str, ...] = OUTPUT_SUFFIXES) -> bool:
    """Whether ``-o out`` names one image file (one of the command's ``suffixes``) rather than a folder."""
    return out.suffix.lower() in suffixes


def image_error_text(err: Exception) -> str:
    """An image error as a command with ``--max-pixels`` reports it: a pixel-limit error names the flag."""
    from ..imageio import ImageTooLargeError

    return f"{err} (--max-pixels N raises the limit)" if isinstance(err, ImageTooLargeError) else str(err)


def refuse_overwrite(outputs: Iterable[Path], inputs: Iterable[Path]) -> None:
    """CLIError, before anything is written, when an output would replace an input file.

    An output that exists is compared with each input as the same file on disk (device and inode), so
    the rule sees through symlinks (to a file or to a folder), hard links, ``DIR`` and ``DIR/`` and
    ``./DIR``, and case-insensitive file systems. ``inputs`` are only read when some output exists."""
    existing = []
    for o in outputs:
        try:
            st = os.stat(o)
        except OSError:  # not there (or a dangling link): it cannot be an input
            continue
        existing.append((o, (st.st_dev, st.st_ino)))
    if not existing:
        return
    ids: dict[tuple[int, int], Path] = {}
    for i in inputs:
        try:
            st = os.stat(i)
        except OSError:
            continue
        ids.setdefault((st.st_dev, st.st_ino), Path(i))
    clashes = [(o, ids[key]) for o, key in existing if key in ids]
    if clashes:
        o, i = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        same = "is" if Path(o) == i else "is the same file as"
        raise CLIError(f"output {o} {same} the input {i}{more}: choose another -o, or add --overwrite to replace inputs")


def plan_outputs(files: list[Path], out: Path, single_file: bool | None = None,
                 extras: tuple[str, ...] = (), inputs: Iterable[Path] = (), overwrite: bool = False,
                 suffixes: tuple[str, ...] = OUTPUT_SUFFIXES, folder_suffix: str = ".png") -> dict[Path, Path]:
    """Output path of each input: ``out`` itself for a single file, else ``out/STEM.png`` (``folder_suffix``).

    ``single_file`` None applies the rule (``names_one_file(out, suffixes)``). Raises CLIError, before anything
    is written, for several inputs and a file ``out``, a file ``out`` that exists as a folder, or a
    folder ``out`` that exists as a file.

    ``extras`` are name suffixes written next to each output (e.g. ``_color`` for NAME_color.png);
    their names are reserved too. An input whose names are taken (the same stem from two folders, or
    a name like another output's layer) gets ``STEM-1.png``, ``STEM-2.png`` ...: never overwrite our
    own output.

    No output (layers included) may be one of ``files`` or of the other ``inputs`` (e.g. hint files):
    CLIError, unless ``overwrite`` (``refuse_overwrite``).
    """
    out = Path(out)
    if single_file is None:
        single_file = names_one_file(out, suffixes)
        if not single_file and not out.is_dir() and out.suffix.lower() in _image_suffixes():
            # out.gif would become a folder named out.gif: a surprise, not what was meant
            raise CLIError(f"-o {out}: {out.suffix} is not a format this command writes; name a file ending in "
                           f"{' '.join(suffixes)}, or a folder")
    if single_file and len(files) > 1:
        raise CLIError(f"-o {out} names one image but there are {len(files)} inputs: give a folder")
    if single_file and out.is_dir():  # e.g. a folder left by older versions, which made out.png/ for several inputs
        raise CLIError(f"-o {out} is a folder, but its suffix names one image file: choose another name")
    if not single_file and out.exists() and not out.is_dir():
        raise CLIError(f"-o {out} exists and is not a folder (give a folder for several inputs, or NAME{folder_suffix} for one)")
    targets: dict[Path, Path] = {}
    taken: set[Path] = set()

    def names(dest: Path) -> list[Path]:
        return [dest] + [dest.with_name(f"{dest.stem}{x}.png") for x in extras]

    for f in files:
        dest = out if single_file else out / f"{f.stem}{folder_suffix}"
        n = 1
        while any(p in taken for p in names(dest)):
            dest = out / f"{f.stem}-{n}{folder_suffix}"
            n += 1
        taken.update(names(dest))
        targets[f] = dest
    if not overwrite:
        refuse_overwrite([p for dest in targets.values() for p in names(dest)], [*files, *inputs])
    return targets
