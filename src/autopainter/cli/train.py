"""``autopainter train`` and ``autopainter export``: thin shells over ``training`` and ``models.io``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .outputs import CLIError

__all__ = ["add_train_commands", "cmd_export", "cmd_train"]


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import Config
    from ..training.loop import resume_config, train

    overrides = list(args.set or [])
    if args.data:  # --data A --data B: A is data.path, the rest data.extra_paths
        overrides.append(f"data.path={args.data[0]}")
        if len(args.data) > 1:
            overrides.append("data.extra_paths=" + json.dumps(args.data[1:]))
    if args.resume:
        if args.config:
            raise CLIError("--resume uses the run's own config; drop --config (use --set to change e.g. train.epochs)")
        cfg = resume_config(args.resume, overrides)
    else:
        cfg = Config.load(args.config or "default", overrides)  # a preset name or a YAML path
    if args.dry_run:
        print(cfg.to_yaml(), end="")
        return 0
    if not cfg.data.path:
        raise CLIError("no training data: pass --data PATH (or --set data.path=PATH)")
    for folder in [cfg.data.path, *cfg.data.extra_paths]:
        if not Path(folder).is_dir():
            raise CLIError(f"data folder not found: {folder}")
    run_dir = train(cfg, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(f"run: {run_dir}")
    return 0


def _export_run(run_dir: str, out_dir: str, finish=None) -> Path:
    from ..training.export import export

    return export(run_dir, out_dir, finish)


def _write_onnx(folder: Path) -> None:
    """model.onnx into a model folder, from its saved fp16 weights (so the ONNX file matches it exactly)."""
    from ..inference.onnx import ONNX_NAME, export_onnx
    from ..models.io import load_generator

    gen, _ = load_generator(folder)
    export_onnx(gen, folder / ONNX_NAME)


def cmd_export(args: argparse.Namespace) -> int:
    src = Path(args.run_dir)
    # model.onnx is written into the new folder before it takes the output's place: one swap for both
    finish = _write_onnx if args.onnx else None
    if (src / "config.json").is_file() and not (src / "checkpoints").is_dir():
        # already a model folder: only the ONNX file is new
        if not args.onnx:
            raise CLIError(f"{src} is already a model folder; add --onnx to write its model.onnx")
        out = _copy_model_folder(src, Path(args.output), finish)
    else:
        out = _export_run(args.run_dir, args.output, finish)
    print(f"model: {out}")
    if args.onnx:
        from ..inference.onnx import ONNX_NAME

        print(f"onnx: {out / ONNX_NAME}")
    return 0


def _copy_model_folder(src: Path, out: Path, finish=None) -> Path:
    """Copy a model folder's config.json, model.safetensors and discriminator.safetensors (when it has one)
    into ``out`` (a new, empty or model folder), replacing it as a whole (``models.io.replacing_model_dir``);
    a discriminator ``out`` held before is dropped otherwise. The source is loaded (checked) first, and the
    files are streamed, never read whole into memory. ``finish(folder)`` adds to the new folder (model.onnx)."""
    import shutil

    from ..models.io import CONFIG_NAME, DISCRIMINATOR_NAME, WEIGHTS_NAME, load_discriminator, load_generator, replacing_model_dir

    load_generator(src)  # a broken model is refused before anything is written
    has_d = load_discriminator(src) is not None
    if out.resolve() == src.resolve():
        if finish is not None:
            finish(out)  # only model.onnx is new, and it is written atomically
        return out
    with replacing_model_dir(out) as staged:
        for name in [WEIGHTS_NAME] + ([DISCRIMINATOR_NAME] if has_d else []) + [CONFIG_NAME]:
            shutil.copyfile(src / name, staged / name)
        if finish is not None:
            finish(staged)
    return out


def add_train_commands(sub) -> None:
    """Add ``train`` and ``export`` to the ``autopainter`` subparsers ``sub``."""
    from ..config import preset_names

    t = sub.add_parser("train", help="train a model on sketch/color pairs", description="Train a model; writes a numbered run folder under runs/.")
    t.add_argument("--config", help=f"YAML file or preset name: {', '.join(preset_names())} (default: default)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.epochs=5 (repeatable)")
    t.add_argument("--data", action="append", metavar="PATH",
                   help="dataset folder (same as --set data.path=PATH); repeat it to train on several as one set")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its last checkpoint")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="write a run's EMA generator as a model folder",
                       description="Write config.json + fp16 model.safetensors from a run's last checkpoint; with "
                                   "--onnx also model.onnx (RUN_DIR may then be a model folder).")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    e.add_argument("--onnx", action="store_true", help="also write model.onnx (dynamic height and width) for ONNX Runtime")
    e.set_defaults(func=cmd_export)
