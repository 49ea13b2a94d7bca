"""The data commands of ``autopainter``: ``sketchify`` and ``prepare {openmoji,characters,wesnoth,folder,palettes,check}``.

Thin shells over ``data.sketch.extract_sketch`` and ``data.sources``; ``cli.build_parser`` adds them
with ``add_data_commands(sub)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .outputs import (EXIT_BAD_INPUT, OVERWRITE_HELP, CLIError, collect_inputs, image_error_text, output_help,
                      plan_outputs, require_positive)

__all__ = ["add_data_commands", "parse_params"]


def parse_params(items: list[str] | None) -> dict[str, float]:
    """["sigma=1.2", "p=30"] -> {"sigma": 1.2, "p": 30.0}; the method checks the names."""
    out: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--set-param expects NAME=VALUE, got {item!r}")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise CLIError(f"--set-param {key.strip()}: {value!r} is not a number") from None
    return out


def _err(msg: str) -> None:
    print(f"autopainter: {msg}", file=sys.stderr)


# --------------------------------------------------------------------------------------- sketchify
def cmd_sketchify(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from ..data.sketch import extract_sketch
    from ..imageio import DEFAULT_MAX_PIXELS, ImageError, read_rgb, save_image

    params = parse_params(args.set_param)
    extract_sketch(np.full((8, 8), 255, np.uint8), method=args.method, **params)  # bad names: fail before any work
    require_positive(args, "max_pixels")
    files = collect_inputs(args.inputs)
    # the same stem twice: STEM-1.png, never an overwrite; an output that is an input: an error
    targets = plan_outputs(files, Path(args.output), overwrite=args.overwrite)

    failed = 0
    items = list(targets.items())
    for f, dest in tqdm(items, desc="sketchify", unit="img", disable=args.quiet or len(items) < 2):
        try:
            # (H, W, 3): RGBA/LA/palette transparency on white, gray and palette to RGB
            rgb = read_rgb(f, args.max_pixels or DEFAULT_MAX_PIXELS)
        except ImageError as e:
            if len(items) == 1:  # one file: its error is the command's error (one line), as in colorize
                raise CLIError(image_error_text(e)) from None
            _err(f"skipped: {image_error_text(e)}")
            failed += 1
            continue
        save_image(extract_sketch(rgb, method=args.method, **params), dest)  # (H, W) uint8 gray, format from the suffix
        if not args.quiet and len(items) == 1:
            print(dest)
    if failed:
        _err(f"error: {failed} of {len(items)} images could not be read")
        return EXIT_BAD_INPUT
    return 0


# --------------------------------------------------------------------------------------- prepare
def _print_report(report) -> None:
    for name, why in report.failed:
        _err(f"skipped: {why}" if name in why else f"skipped: {name}: {why}")
    print(report.summary())


def cmd_prepare_openmoji(args: argparse.Namespace) -> int:
    from ..data.sources.openmoji import build_openmoji

    report = build_openmoji(
        args.output, size=args.size, layout=args.layout, seed=args.seed, val_fraction=args.val_fraction,
        test_fraction=args.test_fraction, package_dir=args.package_dir, cache_dir=args.cache,
        workers=args.workers, progress=not args.quiet, log=None if args.quiet else print,
    )
    if args.verbose:
        for name, why in report.dropped:
            print(f"dropped {name}: {why}")
    _print_report(report)
    print(f"attribution: {Path(args.output) / 'ATTRIBUTION.md'} (OpenMoji, CC BY-SA 4.0)")
    return 0


def cmd_prepare_characters(args: argparse.Namespace) -> int:
    from ..data.sources.characters import build_characters

    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    report = build_characters(
        args.output, count=args.count, sources=sources, size=args.size, layout=args.layout, seed=args.seed,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, cache_dir=args.cache,
        packages_dir=args.packages_dir, workers=args.workers, progress=not args.quiet,
        log=None if args.quiet else print,
    )
    if args.verbose:
        for name, why in report.dropped:
            print(f"dropped {name}: {why}")
    _print_report(report)
    print(f"attribution: {Path(args.output) / 'ATTRIBUTION.md'}")
    return 0


def cmd_prepare_wesnoth(args: argparse.Namespace) -> int:
    from ..data.sources.wesnoth import build_wesnoth

    report = build_wesnoth(args.output, portraits=args.portraits, size=args.size, seed=args.seed, layout=args.layout,
                           workers=args.workers, progress=not args.quiet)
    _print_report(report)
    print(f"attribution: {Path(args.output) / 'ATTRIBUTION.md'} (Battle for Wesnoth, GPL-2+; evaluation only)")
    return 0


def cmd_prepare_folder(args: argparse.Namespace) -> int:
    from ..data.sources.folder import build_from_folder

    report = build_from_folder(
        args.input, args.output, size=args.size, method=args.method, params=parse_params(args.set_param),
        layout=args.layout, seed=args.seed, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        workers=args.workers, progress=not args.quiet,
    )
    _print_report(report)
    if report.made == 0:
        _err(f"error: no pairs could be made from {args.input} ({len(report.failed)} unreadable)")
        return EXIT_BAD_INPUT
    return 0


def cmd_prepare_check(args: argparse.Namespace) -> int:
    from ..data.sources.check import check_dataset

    report = check_dataset(args.dir, layout=args.layout, workers=args.workers, progress=not args.quiet)
    print(report.format())
    return 0 if report.ok else EXIT_BAD_INPUT


# --------------------------------------------------------------------------------------- parser
def cmd_prepare_palettes(args: argparse.Namespace) -> int:
    from ..inference.palettes import LIBRARY_NAME, build_library

    model = Path(args.model)
    if not (model / "config.json").is_file():
        raise CLIError(f"--model {model}: not a model folder (no config.json)")
    dest = model / LIBRARY_NAME
    if dest.exists() and not args.overwrite:
        raise CLIError(f"{dest} exists; pass --overwrite to replace it")
    if args.limit < 0:
        raise CLIError(f"--limit must be >= 0, got {args.limit}")
    for d in args.datasets:
        if not (Path(d) / "train").is_dir():
            raise CLIError(f"{d}: no train split (a dataset folder made by autopainter prepare)")
    lib = build_library(args.datasets, limit=args.limit)
    if not len(lib):
        raise CLIError("no material map names any part: prepare the data with `autopainter prepare characters`")
    lib.save(dest)
    print(f"{dest}: {len(lib)} palettes from {lib.source}")
    return 0


def add_data_commands(sub) -> None:
    """Add ``sketchify`` and ``prepare`` to the ``autopainter`` subparsers ``sub``."""
    from ..data.sketch import SKETCH_METHODS

    s = sub.add_parser("sketchify", help="turn colored images into line art (the training sketches)",
                       description="Extract line art from colored images (files or folders) with the same "
                                   "function as training: gray PNGs into a folder, or one file in the format its "
                                   "suffix names (.png, .jpg, .jpeg, .webp).")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    s.add_argument("-o", "--output", required=True, metavar="OUT", help=output_help("gray"))
    s.add_argument("--method", default="xdog", choices=SKETCH_METHODS,
                   help="xdog: soft pencil-like lines (default); thin: binary inked lines")
    s.add_argument("--set-param", action="append", metavar="NAME=VALUE",
                   help="method parameter, e.g. sigma=1.2 (repeatable; see docs/sketch-styles.md)")
    s.add_argument("--max-pixels", type=int, metavar="N", help="largest image accepted, width x height in pixels "
                   "(default: 67108864 = 8192x8192; higher values also lift Pillow's own ~89 MP guard)")
    s.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=cmd_sketchify)

    p = sub.add_parser("prepare", help="build or check a training dataset",
                       description="Build sketch/color pair datasets (openmoji, characters, wesnoth, folder) or check one (check).")
    ps = p.add_subparsers(dest="source", required=True, metavar="SOURCE")

    def common(q: argparse.ArgumentParser, default_out: str | None) -> None:
        if default_out is None:
            q.add_argument("-o", "--output", required=True, metavar="OUT", help="dataset folder to write")
        else:
            q.add_argument("-o", "--output", default=default_out, metavar="OUT",
                           help=f"dataset folder to write (default: {default_out})")
        q.add_argument("--layout", default="side_by_side", choices=("side_by_side", "two_folders"),
                       help="side_by_side: OUT/train/NAME.png, color left | sketch right (default); "
                            "two_folders: OUT/train/sketch, OUT/train/color")
        q.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split (default: 0)")
        q.add_argument("--val-fraction", type=float, default=0.05, metavar="F", help="share for val (default: 0.05)")
        q.add_argument("--test-fraction", type=float, default=0.05, metavar="F", help="share for test (default: 0.05)")
        q.add_argument("--workers", type=int, metavar="N", help="processes (default: all cores)")
        q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    o = ps.add_parser("openmoji", help="OpenMoji emoji (CC BY-SA 4.0) as pairs: color render | its black line art",
                      description="Download openmoji@17.0.0 with npm (cached), render color and black SVGs, drop emoji "
                                  "whose color version hides the lines, split by base emoji. See docs/data.md.")
    o.add_argument("--size", type=int, default=256, metavar="PX", help="render size (default: 256)")
    common(o, "data/openmoji256")
    o.add_argument("--cache", metavar="DIR",
                   help="npm download cache (default: $XDG_CACHE_HOME/autopainter/npm or ~/.cache/autopainter/npm)")
    o.add_argument("--package-dir", metavar="DIR", help="an already extracted openmoji npm package (no download)")
    o.add_argument("-v", "--verbose", action="store_true", help="list the dropped emoji and why")
    o.set_defaults(func=cmd_prepare_openmoji)

    ch = ps.add_parser("characters", help="cartoon characters with exact line art (DiceBear, BigHeads, Comicgen) as pairs",
                       description="Install pinned npm packages (cached), draw characters with node from fixed seeds "
                                   "in color and with white fills, render both with resvg. See docs/data.md.")
    ch.add_argument("--count", type=int, default=500, metavar="N", help="characters per source (default: 500)")
    ch.add_argument("--sources", default="dicebear,bigheads,comicgen", metavar="LIST",
                    help="comma-separated: dicebear, bigheads, comicgen (default: all three)")
    ch.add_argument("--size", type=int, default=256, metavar="PX", help="render size, long side (default: 256)")
    common(ch, "data/characters256")
    ch.add_argument("--cache", metavar="DIR", help="npm cache (default: as prepare openmoji)")
    ch.add_argument("--packages-dir", metavar="DIR", help="a folder whose node_modules holds the packages (no npm install)")
    ch.add_argument("-v", "--verbose", action="store_true", help="list the dropped characters and why")
    ch.set_defaults(func=cmd_prepare_characters)

    w = ps.add_parser("wesnoth", help="the foreign evaluation set: Wesnoth portraits (GPL-2+) as XDoG pairs, val/test by artist",
                      description="Read the portraits of the Debian package wesnoth-1.16-data, make XDoG sketches, and "
                                  "split them by artist (portraits/ARTISTS) into val and test. Never train on it.")
    w.add_argument("--portraits", metavar="DIR", help="the portraits folder (default: the Debian package's)")
    w.add_argument("--size", type=int, metavar="PX", help="resize so the long side is PX (default: keep each size)")
    w.add_argument("-o", "--output", default="data/wesnoth", metavar="OUT", help="dataset folder to write (default: data/wesnoth)")
    w.add_argument("--layout", default="side_by_side", choices=("side_by_side", "two_folders"), help="(default: side_by_side)")
    w.add_argument("--seed", type=int, default=0, help="seed of the order in which artists fill val (default: 0)")
    w.add_argument("--workers", type=int, metavar="N", help="processes (default: all cores)")
    w.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    w.set_defaults(func=cmd_prepare_wesnoth)

    f = ps.add_parser("folder", help="your colored images as pairs with extracted sketches",
                      description="Turn a folder (recursive) of colored images into sketch/color pairs; "
                                  "unreadable files are reported and skipped.")
    f.add_argument("input", metavar="IN", help="folder of colored images")
    f.add_argument("--size", type=int, metavar="PX", help="resize so the long side is PX (default: keep each size)")
    f.add_argument("--method", default="xdog", choices=SKETCH_METHODS, help="sketch method (default: xdog)")
    f.add_argument("--set-param", action="append", metavar="NAME=VALUE", help="sketch method parameter (repeatable)")
    common(f, None)
    f.set_defaults(func=cmd_prepare_folder)

    pl = ps.add_parser("palettes", help="a model's palette library: the part colors of a dataset's training pictures",
                       description="Read the material maps of each dataset's train split (those naming parts: skin, hair, "
                                   "clothing, ...) and write MODEL/palettes.json, the palettes the flat style colors "
                                   "materials from (--variant). See docs/palettes.md.")
    pl.add_argument("datasets", nargs="+", metavar="DATA", help="dataset folders with material maps (prepare characters)")
    pl.add_argument("--model", required=True, metavar="DIR", help="the model folder that gets palettes.json")
    pl.add_argument("--limit", type=int, default=0, metavar="N", help="keep N palettes, evenly spread (default: all)")
    pl.add_argument("--overwrite", action="store_true", help="replace an existing palettes.json")
    pl.set_defaults(func=cmd_prepare_palettes)

    c = ps.add_parser("check", help="validate a dataset folder",
                      description="Counts per split, sizes, unpaired and unreadable files, odd side-by-side "
                                  "shapes, images in two splits. Exit code 2 when broken.")
    c.add_argument("dir", metavar="DIR", help="dataset folder (what 'train --data' gets)")
    c.add_argument("--layout", choices=("side_by_side", "two_folders", "color_only"), help="default: detected")
    c.add_argument("--workers", type=int, metavar="N", help="processes (default: all cores)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_prepare_check)
