"""What every ``autopainter`` command shares: its error type, its inputs, and the one output planner.

The leaf of the CLI package: the command modules import it, it imports none of them. The single-file
rule lives here, once, for every command that writes images (colorize, sketchify): an ``-o`` ending in
an image suffix (``OUTPUT_SUFFIXES``) is one file written in that format; anything else is a folder of
``STEM.png``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CLIError", "EXIT_BAD_INPUT", "OUTPUT_SUFFIXES", "collect_inputs", "names_one_file",
           "output_help", "plan_outputs", "require_positive"]

EXIT_BAD_INPUT = 2
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # an -o ending in one of these is a file of that format


class CLIError(ValueError):
    """A problem with the command line itself."""


def output_help(what: str) -> str:
    """The ``-o`` help of a command that writes images, so that every command states the same rule."""
    return (f"output folder (one {what} STEM.png per input), or one file for a single input: a name ending in "
            f"{', '.join(OUTPUT_SUFFIXES)} is a file written in that format")


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


def names_one_file(out: Path) -> bool:
    """Whether ``-o out`` names one image file (an image suffix) rather than a folder."""
    return out.suffix.lower() in OUTPUT_SUFFIXES


def plan_outputs(files: list[Path], out: Path, single_file: bool | None = None,
                 extras: tuple[str, ...] = ()) -> dict[Path, Path]:
    """Output path of each input: ``out`` itself for a single file, else ``out/STEM.png``.

    ``single_file`` None applies the rule (``names_one_file(out)``). Raises CLIError, before anything
    is written, for several inputs and a file ``out``, a file ``out`` that exists as a folder, or a
    folder ``out`` that exists as a file.

    ``extras`` are name suffixes written next to each output (e.g. ``_color`` for NAME_color.png);
    their names are reserved too. An input whose names are taken (the same stem from two folders, or
    a name like another output's layer) gets ``STEM-1.png``, ``STEM-2.png`` ...: never overwrite our
    own output.
    """
    out = Path(out)
    if single_file is None:
        single_file = names_one_file(out)
    if single_file and len(files) > 1:
        raise CLIError(f"-o {out} names one image but there are {len(files)} inputs: give a folder")
    if single_file and out.is_dir():  # e.g. a folder left by older versions, which made out.png/ for several inputs
        raise CLIError(f"-o {out} is a folder, but its suffix names one image file: choose another name")
    if not single_file and out.exists() and not out.is_dir():
        raise CLIError(f"-o {out} exists and is not a folder (give a folder for several inputs, or NAME.png for one)")
    targets: dict[Path, Path] = {}
    taken: set[Path] = set()

    def names(dest: Path) -> list[Path]:
        return [dest] + [dest.with_name(f"{dest.stem}{x}.png") for x in extras]

    for f in files:
        dest = out if single_file else out / f"{f.stem}.png"
        n = 1
        while any(p in taken for p in names(dest)):
            dest = out / f"{f.stem}-{n}.png"
            n += 1
        taken.update(names(dest))
        targets[f] = dest
    return targets
