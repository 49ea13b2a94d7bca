"""``autopainter colorize``: a thin shell over ``inference.Colorizer`` and ``inference.colorize_files``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..inference.palettes import MAX_VARIANT
from ..inference.regions import MAX_GAP, check_gap
from .outputs import (EXIT_BAD_INPUT, check_size, OUTPUT_SUFFIXES, OVERWRITE_HELP, CLIError, collect_inputs, image_error_text,
                      names_one_file, output_help, plan_outputs, require_positive)

__all__ = ["add_colorize_command", "cmd_colorize"]

HINT_SUFFIXES = (".png", ".webp")  # formats with transparency that --hints FOLDER looks for, in this order
COLORIZE_SUFFIXES = OUTPUT_SUFFIXES + (".ora",)  # -o NAME.ora: an OpenRaster file of the result's layers
FORMATS = ("png", "ora")  # --format: what a folder -o is filled with


def _warn(msg: str) -> None:
    print(f"autopainter: warning: {msg}", file=sys.stderr)


def _find_hints(files: list[Path], hints: str | None, what: str = "hints") -> tuple[dict[Path, Path | None], Path | None]:
    """The hints file of each sketch (None: none) and the hints folder, if --hints named one (``what``: the
    option's name; --closing and --empty are found the same way)."""
    if not hints:
        return {f: None for f in files}, None
    hp = Path(hints)
    if hp.is_file():
        if len(files) != 1:
            raise CLIError(f"--{what} FILE goes with a single sketch; for several, give a folder of {what} files named like the sketches")
        return {files[0]: hp}, None
    if not hp.is_dir():
        raise CLIError(f"{what} not found: {hp}")
    found: dict[Path, Path | None] = {}
    for f in files:
        cand = [hp / f"{f.stem}{ext}" for ext in HINT_SUFFIXES]
        found[f] = next((c for c in cand if c.is_file()), None)
    return found, hp


def _count_unhinted(unhinted: int, total: int, hints_dir: Path | None) -> None:
    if unhinted:
        _warn(f"{unhinted} of {total} sketch{'es' if total > 1 else ''} had no hints file in {hints_dir}")


def _folder_suffix(out: Path, fmt: str | None) -> str:
    """The suffix of the files in a folder ``-o`` (``--format``, default png); CLIError for a ``--format``
    that an ``-o`` naming one file contradicts."""
    if fmt is not None and names_one_file(out, COLORIZE_SUFFIXES) and out.suffix.lower() != f".{fmt}":
        raise CLIError(f"--format {fmt} is for a folder -o; -o {out} names one {out.suffix} file (name it NAME.{fmt}, or leave out --format)")
    return f".{fmt or 'png'}"


def _read_palette(path: str) -> dict:
    """--palette FILE: a JSON object of material names and hex colors (what --save-palette writes)."""
    from ..inference.palettes import parse_palette

    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--palette: no such file: {p}")
    if p.stat().st_size > 1 << 20:
        raise CLIError(f"--palette: {p} is over 1 MB; a palette is a small JSON file")
    try:
        text = p.read_text(encoding="utf-8")
        parse_palette(text)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CLIError(f"--palette: {p}: {e}") from None
    return json.loads(text)


def _check_json_out(dest: Path, inputs: list[Path], overwrite: bool, option: str = "save-palette") -> None:
    """--save-palette / --report FILE: a new .json file (or one --overwrite may replace) that is none of the inputs."""
    if dest.suffix.lower() != ".json":
        raise CLIError(f"--{option} writes JSON: name the file NAME.json, not {dest.name}")
    if any(dest.resolve() == p.resolve() for p in inputs):
        raise CLIError(f"--{option} {dest} is one of the inputs; it would be overwritten")
    if dest.exists() and not overwrite:
        raise CLIError(f"--{option} {dest} exists; pass --overwrite to replace it")
    if not dest.parent.is_dir():
        raise CLIError(f"--{option}: no such folder: {dest.parent}")


def _reference_file(path: str | None, option: str) -> Path | None:
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--{option}: no such file: {p}")
    return p


def cmd_colorize(args: argparse.Namespace) -> int:
    from ..imageio import ImageError, atomic_write_bytes
    from ..inference import Colorizer, FileJob, colorize_files, colorize_sequence_files, layer_paths
    from ..inference.files import layer_suffixes

    files = collect_inputs(args.inputs)
    require_positive(args, "size", "max_pixels", "jobs", "threads")
    check_size(args)
    try:
        check_gap(args.gap)
    except ValueError as e:
        raise CLIError(f"--{e}") from None
    if args.variant < 0 or args.variant > MAX_VARIANT:
        raise CLIError(f"--variant must be from 0 to {MAX_VARIANT}, got {args.variant}")
    palette = _read_palette(args.palette) if args.palette else None
    if args.save_palette and len(files) != 1:
        raise CLIError(f"--save-palette writes the palette of one sketch; {len(files)} were given")
    hints, hints_dir = _find_hints(files, args.hints)
    closing, _ = _find_hints(files, args.closing, "closing")  # a sketch without one in a folder simply has none
    empty, _ = _find_hints(files, args.empty, "empty")
    out = Path(args.output)
    side = [h for found in (hints, closing, empty) for h in found.values() if h is not None]
    side += [Path(p) for p in (args.palette,) if p]
    reference = _reference_file(args.reference, "reference")
    reference_lines = _reference_file(args.reference_lines, "reference-lines")
    if reference_lines is not None and reference is None:
        raise CLIError("--reference-lines is the line art of --reference: give --reference too")
    if args.report and reference is None:
        raise CLIError("--report writes how the regions matched --reference: give --reference too")
    if reference is not None and args.style != "flat":
        raise CLIError("--reference colors flats: leave out --style soft")
    side += [p for p in (reference, reference_lines) if p is not None]
    if args.save_palette:
        _check_json_out(Path(args.save_palette), files + side, args.overwrite)
    if args.report:
        _check_json_out(Path(args.report), files + side, args.overwrite, "report")
    targets = plan_outputs(files, out, extras=layer_suffixes() if args.layers else (),
                           inputs=side, overwrite=args.overwrite,
                           suffixes=COLORIZE_SUFFIXES, folder_suffix=_folder_suffix(out, args.format))

    for f, h in hints.items():  # with --reference, a hints folder holds the corrections of a few frames: no warnings
        if hints_dir is not None and h is None and reference is None:
            names = " or ".join(f"{f.stem}{ext}" for ext in HINT_SUFFIXES)
            _warn(f"no hints for {f} in {hints_dir} (looked for {names}): colored without hints")

    options = {"backend": args.backend, "precision": args.precision, "threads": args.threads,
               "style": args.style, "gap": args.gap, "local": args.hint_scope == "local"}
    if args.max_pixels is not None:
        options["max_pixels"] = args.max_pixels
    colorizer = Colorizer.from_pretrained(args.model, device=args.device, size=args.size, **options)
    ref = None
    if reference is not None:  # read it now: a bad reference is one line before any sketch is colored
        try:
            ref = colorizer.reference(reference, reference_lines)
        except ValueError as e:
            text = image_error_text(e) if isinstance(e, ImageError) else str(e).removeprefix("reference: ")
            raise CLIError(f"--reference {reference}: {text}") from None
    jobs = []
    for f, dest in targets.items():
        jobs.append(FileJob(f, dest, hints[f], layer_paths(dest) if args.layers else {},  # layers: PNGs next to dest
                            closing=closing[f], empty=empty[f], variant=args.variant, palette=palette,
                            palette_out=Path(args.save_palette) if args.save_palette else None))
    unhinted = sum(1 for h in hints.values() if h is None) if hints_dir is not None and reference is None else 0

    reports: list[dict] = []

    def run(on_done=None):
        if ref is None:
            return colorize_files(colorizer, jobs, workers=1 if len(jobs) == 1 else args.jobs, on_done=on_done)
        # with a reference the sketches are frames, colored in name order: each also matches the previous one
        keep = (lambda job, res: reports.append({"sketch": str(job.sketch), "output": str(job.dest),
                                                 **res.reference_report()})) if args.report else None
        return colorize_sequence_files(colorizer, jobs, ref, on_done=on_done, on_result=keep)

    def write_report():
        if args.report:
            body = reports[0] if len(jobs) == 1 and reports else {"frames": reports}
            atomic_write_bytes(args.report, (json.dumps(body, indent=1) + "\n").encode())

    if len(jobs) == 1:  # one file: its error is the command's error
        job = jobs[0]
        failed = run()
        if failed:
            raise CLIError(image_error_text(failed[0][1]))
        write_report()
        for w in job.warnings:
            _warn(f"{job.sketch}: {w} (autopainter sketchify {job.sketch} -o sketch.png)")
        if not args.quiet:
            extra = [job.palette_out] if job.palette_out is not None else []
            extra += [Path(args.report)] if args.report else []
            print("\n".join(str(p) for p in (job.dest, *job.layers.values(), *extra)))
        _count_unhinted(unhinted, 1, hints_dir)
        return 0
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), unit="img", desc="colorize")

    def done(job, err):
        if err is not None:
            msg = f"autopainter: skipped: {image_error_text(err)}"
            bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr)
        for w in job.warnings:
            msg = f"autopainter: warning: {job.sketch}: {w} (autopainter sketchify)"
            bar.write(msg, file=sys.stderr) if bar is not None else print(msg, file=sys.stderr)
        if bar is not None:
            bar.update(1)

    try:
        failed = run(done)
    finally:
        if bar is not None:
            bar.close()
    write_report()
    _count_unhinted(unhinted, len(jobs), hints_dir)
    if failed:
        print(f"autopainter: error: {len(failed)} of {len(jobs)} images could not be colored", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def add_colorize_command(sub) -> None:
    """Add ``colorize`` to the ``autopainter`` subparsers ``sub``."""
    c = sub.add_parser("colorize", help="color sketches",
                       description="Color sketch images (files or folders) at each input's size: PNGs into a folder "
                                   "(--format ora: OpenRaster files), or one file in the format its suffix names "
                                   "(.png, .jpg, .jpeg, .webp; .ora: an OpenRaster file of the layers, for Krita, GIMP "
                                   "and MyPaint); --layers are PNGs next to each output.")
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="sketch image files or folders")
    c.add_argument("-o", "--output", required=True, metavar="OUT", help=output_help("colored", COLORIZE_SUFFIXES))
    c.add_argument("--format", choices=FORMATS, help="what a folder -o is filled with: png (default) or ora (OpenRaster: "
                   "the lines, the flats or colors and the hints as layers over the result); a file -o names its own")
    c.add_argument("--model", metavar="DIR", help="model folder (default, or 'bundled': the bundled model); 'none': no model, "
                   "flats from the hints alone (each hinted region in its hint's color, the rest white)")
    c.add_argument("--hints", metavar="FILE", help="RGBA hint image (transparent except painted colors), or a folder of them "
                   "named like the sketches (NAME.png or NAME.webp; a warning names each sketch that has none)")
    c.add_argument("--size", type=int, metavar="PX", help="working resolution, long side in pixels (default: the model's training size)")
    c.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    from ..inference.layers import exported_layers, layer_suffix

    c.add_argument("--layers", action="store_true", help="also write " + ", ".join(
        f"NAME{layer_suffix(x.name)}.png ({x.description.lower()})" for x in exported_layers()) + " next to each output")
    c.add_argument("--style", default="flat", choices=("flat", "soft"),
                   help="flat (default): one color per closed region, hints fill their region; soft: the model's colors as they vary")
    c.add_argument("--hint-scope", default="local", choices=("local", "global"),
                   help="local (default): a hint colors its material (the regions the model colors alike) and nothing else; "
                        "global: every region takes the colors of the model's run with the hints")
    c.add_argument("--gap", type=int, metavar="PX", help=f"widest gap in a line (px) that still closes a region, 0-{MAX_GAP} "
                   "(default: chosen from the drawing's lines; 0: no gap closing)")
    c.add_argument("--closing", metavar="FILE", help="RGBA image of closing lines (or a folder of them named like the sketches): "
                   "its non-transparent pixels close regions like ink where an outline is missing, and never show")
    c.add_argument("--empty", metavar="FILE", help="RGBA image of leave-empty marks (or a folder of them named like the sketches): "
                   "every region holding a non-transparent pixel stays paper white")
    c.add_argument("--variant", type=int, default=0, metavar="N",
                   help="which palette colors the materials with no hints: 0 (default) the one closest to the model's own "
                   "colors, 1, 2, ... others (models that name materials, like the bundled one)")
    c.add_argument("--palette", metavar="FILE", help='JSON file of material names and hex colors, e.g. {"hair": "#3b2a20", '
                   '"clothing 2": "#2a4d8f"}: those materials take those colors (what --save-palette writes)')
    c.add_argument("--save-palette", metavar="FILE.json", help="write the result's material colors as JSON, for "
                   "--palette on other drawings (one sketch)")
    c.add_argument("--reference", metavar="FILE", help="a colored drawing of the same character: the sketch's regions take "
                   "the colors of the matching parts (flat style; hints still win). With several sketches they are frames, "
                   "colored in name order, each also matched to the previous one; a frame with hints is a correction the "
                   "next frames follow")
    c.add_argument("--reference-lines", metavar="FILE", help="the line art of --reference, when you have it "
                   "(default: extracted from the colored drawing)")
    c.add_argument("--report", metavar="FILE.json", help="with --reference: write how each region matched (region, "
                   "color, source, confidence, matched part) as JSON; several sketches give {\"frames\": [...]}")
    c.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                   help="auto (= torch), torch, or onnx: ONNX Runtime, needs pip install 'autopainter[onnx]' (default: auto)")
    c.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="torch backend: auto (bf16 on CPUs with AVX-512 BF16 or AMX, else fp32), fp32 or bf16")
    c.add_argument("--max-pixels", type=int, metavar="N", help="largest sketch (and hints image) accepted, width x height "
                   "in pixels (default: 67108864 = 8192x8192; higher values also lift Pillow's own ~89 MP guard)")
    c.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    c.add_argument("--jobs", type=int, metavar="N", help="files colored at once for folders (default: one per core, at most 4)")
    c.add_argument("--threads", type=int, metavar="N", help="CPU threads per generator run (default: half the cores, at most 4)")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_colorize)
