"""The ``autopainter`` command: a thin shell over the library.

Every command resolves its options, calls one library function, and turns the library's ValueErrors
(bad config, bad image, bad model folder ...) into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__

EXIT_BAD_INPUT = 2


class CLIError(ValueError):
    """A problem with the command line itself."""


def _presets_dir() -> Path:
    return Path(__file__).parent / "configs"


def resolve_config_path(name_or_path: str) -> Path:
    """A YAML path, or the name of a bundled preset (tiny, default, pix2pix, paper)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists() or "/" in name_or_path:
        return p
    preset = _presets_dir() / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    names = ", ".join(sorted(q.stem for q in _presets_dir().glob("*.yaml")))
    raise CLIError(f"no config file or preset named {name_or_path!r}; presets: {names}")


# --------------------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    from .config import Config
    from .training.loop import resume_config, train

    overrides = list(args.set or [])
    if args.data:
        overrides.append(f"data.path={args.data}")
    if args.resume:
        if args.config:
            raise CLIError("--resume uses the run's own config; drop --config (use --set to change e.g. train.epochs)")
        cfg = resume_config(args.resume, overrides)
    else:
        cfg = Config.load(resolve_config_path(args.config or "default"), overrides)
    if args.dry_run:
        print(cfg.to_yaml(), end="")
        return 0
    if not cfg.data.path:
        raise CLIError("no training data: pass --data PATH (or --set data.path=PATH)")
    if not Path(cfg.data.path).is_dir():
        raise CLIError(f"data folder not found: {cfg.data.path}")
    run_dir = train(cfg, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run: {run_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .training.loop import export

    out = export(args.run_dir, args.output)
    print(f"model: {out}")
    return 0


def _collect_inputs(inputs: list[str]) -> list[Path]:
    from .imageio import list_images

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


def cmd_colorize(args: argparse.Namespace) -> int:
    from .imageio import ImageError, save_image
    from .inference import Colorizer

    files = _collect_inputs(args.inputs)
    out = Path(args.output)
    single_file = out.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    if single_file and len(files) > 1:
        raise CLIError(f"-o {out} names one image but there are {len(files)} inputs: give a folder")
    if not single_file and out.exists() and not out.is_dir():
        raise CLIError(f"-o {out} exists and is not a folder (give a folder for several inputs, or NAME.png for one)")
    if args.size is not None and args.size <= 0:
        raise CLIError(f"--size must be > 0, got {args.size}")
    hints_dir = hints_file = None
    if args.hints:
        hp = Path(args.hints)
        if hp.is_dir():
            hints_dir = hp
        elif hp.is_file():
            if len(files) != 1:
                raise CLIError("--hints FILE goes with a single sketch; for several, give a folder of hints named like the sketches")
            hints_file = hp
        else:
            raise CLIError(f"hints not found: {hp}")

    colorizer = Colorizer.from_pretrained(args.model, device=args.device, size=args.size)
    targets: dict[Path, Path] = {}
    for f in files:
        dest = out if single_file else out / f"{f.stem}.png"
        n = 1
        while dest in targets.values():  # same stem from two folders: never overwrite our own output
            dest = out / f"{f.stem}-{n}.png"
            n += 1
        targets[f] = dest

    failed = 0
    for f, dest in _progress(list(targets.items()), args.quiet):
        hint = hints_file
        if hints_dir is not None:
            cand = [hints_dir / f"{f.stem}{ext}" for ext in (".png", ".webp")]
            hint = next((c for c in cand if c.is_file()), None)
        try:
            image = colorizer(f, hints=hint)
        except ImageError as e:
            if len(targets) == 1:
                raise
            print(f"autopainter: skipped: {e}", file=sys.stderr)
            failed += 1
            continue
        save_image(image, dest)
        if args.quiet is False and len(targets) == 1:
            print(dest)
    if failed:
        print(f"autopainter: error: {failed} of {len(targets)} images could not be colored", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _progress(items, quiet):
    if quiet or len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, unit="img", desc="colorize")


# --------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .cli_data import add_data_commands

    p = argparse.ArgumentParser(prog="autopainter", description="Color line art with a conditional GAN guided by color hints.")
    p.add_argument("--version", action="version", version=f"autopainter {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model on sketch/color pairs", description="Train a model; writes a numbered run folder under runs/.")
    t.add_argument("--config", help="YAML file or preset name: tiny, default, pix2pix, paper (default: default)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.epochs=5 (repeatable)")
    t.add_argument("--data", help="dataset folder (same as --set data.path=PATH)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its last checkpoint")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="write a run's EMA generator as a model folder", description="Write config.json + fp16 model.safetensors from a run's last checkpoint.")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("colorize", help="color sketches", description="Color sketch images (files or folders); PNGs at each input's size.")
    c.add_argument("inputs", nargs="+", metavar="INPUT", help="sketch image files or folders")
    c.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder, or NAME.png for a single input")
    c.add_argument("--model", metavar="DIR", help="model folder (default: the bundled model)")
    c.add_argument("--hints", metavar="FILE", help="RGBA hint image (transparent except painted colors), or a folder of them named like the sketches")
    c.add_argument("--size", type=int, metavar="PX", help="working resolution, long side in pixels (default: the model's training size)")
    c.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    c.add_argument("-q", "--quiet", action="store_true")
    c.set_defaults(func=cmd_colorize)
    add_data_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:  # every library error is a ValueError subclass with a one-line message
        lines = str(e).strip().splitlines()
        # an error raised in a DataLoader worker arrives wrapped: "Caught X in DataLoader worker ...", the
        # original traceback, and the original message last
        msg = (lines[-1].split(": ", 1)[-1] if lines and lines[0].startswith("Caught ") else lines[0]) if lines else type(e).__name__
        print(f"autopainter: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:  # unwritable output, disk full, a file where a folder should be ...
        where = f": {e.filename}" if e.filename else ""
        print(f"autopainter: error: {e.strerror or e}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("autopainter: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
