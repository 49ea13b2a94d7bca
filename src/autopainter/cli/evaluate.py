"""``autopainter evaluate``: metrics of a model on a paired split (see autopainter.evaluate)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .outputs import OVERWRITE_HELP, CLIError, check_size, refuse_overwrite

__all__ = ["add_eval_command", "cmd_evaluate"]


# strokes: seeded simulated hint strokes (--hints N); hintauc: Hint-AUC (evaluate_hintauc); locality: one stroke
# per material, does it change that material only (evaluate_locality); palettes: at 0 hints, do the palette colors
# name, hold and keep apart the materials (evaluate_palettes)
PROTOCOLS = ("strokes", "hintauc", "locality", "palettes")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate, format_table

    check_size(args)
    if args.limit < 0:
        raise CLIError(f"--limit must be >= 0, got {args.limit}")
    if args.protocol == "hintauc":
        if args.hints is not None or args.seed is not None:
            raise CLIError("--hints and --seed belong to --protocol strokes; hintauc draws its own hints at its "
                           "grid of hint ratios")
        from ..evaluate_hintauc import require_hintauc

        require_hintauc()  # before anything is loaded: a missing install is one line naming the command
    if args.protocol == "locality" and (args.hints is not None or args.seed is not None):
        raise CLIError("--hints and --seed belong to --protocol strokes; locality paints one stroke per material "
                       "at its deepest point")
    if args.protocol == "palettes":
        if args.hints is not None or args.seed is not None:
            raise CLIError("--hints and --seed belong to --protocol strokes; palettes measures the colors at 0 hints")
        if args.style != "flat":
            raise CLIError("--protocol palettes measures the flat style (the palette colors the flats); "
                           "leave --style out")
        from ..evaluate_palettes import parse_variants

        try:
            variants = parse_variants(args.variants if args.variants is not None else "0")
        except ValueError as e:
            raise CLIError(f"--variants: {e}") from None
    elif args.variants is not None or args.no_fd:
        raise CLIError("--variants and --no-fd belong to --protocol palettes")
    if not args.overwrite:  # OUT inside the dataset or the model folder: its two files must not replace theirs
        out = Path(args.output)
        read = [Path(args.data)] + ([Path(args.model)] if args.model and Path(args.model).is_dir() else [])
        refuse_overwrite([out / "metrics.json", out / "examples.png"], (f for d in read for f in d.rglob("*")))
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        progress = lambda it: tqdm(it, desc="evaluate", unit="img", file=sys.stderr)  # noqa: E731
    if args.protocol in ("hintauc", "locality"):  # the same options, each protocol its own module
        if args.protocol == "hintauc":
            from ..evaluate_hintauc import evaluate_hintauc as run, format_hintauc as fmt
        else:
            from ..evaluate_locality import evaluate_locality as run, format_locality as fmt
        report = run(
            args.model, args.data, split=args.split, layout=args.layout, sketch_side=args.sketch_side,
            out_dir=args.output, limit=args.limit, size=args.size, device=args.device, progress=progress,
            style=args.style, hint_scope=args.hint_scope,
        )
        table = fmt(report)
    elif args.protocol == "palettes":
        from ..evaluate_palettes import evaluate_palettes, format_palettes

        report = evaluate_palettes(
            args.model, args.data, split=args.split, variants=variants, layout=args.layout,
            sketch_side=args.sketch_side, out_dir=args.output, limit=args.limit, size=args.size, device=args.device,
            progress=progress, hint_scope=args.hint_scope, fd=not args.no_fd,
        )
        table = format_palettes(report)
    else:
        report = evaluate(
            args.model, args.data, hints=args.hints if args.hints is not None else [0], split=args.split,
            layout=args.layout, sketch_side=args.sketch_side, out_dir=args.output,
            seed=args.seed if args.seed is not None else 0, limit=args.limit, size=args.size, device=args.device,
            progress=progress, style=args.style, hint_scope=args.hint_scope,
        )
        table = format_table(report)
    print(f"{report['model']} ({report['style']}) on {report['data']}: {report['images']} pairs, "
          f"working size {report['working_size']} px")
    print(table)
    print(f"wrote {args.output}/metrics.json and {args.output}/examples.png")
    return 0


def add_eval_command(sub) -> None:
    """Add ``evaluate`` to the ``autopainter`` subparsers ``sub``."""
    from ..config import LAYOUTS

    v = sub.add_parser(
        "evaluate", help="measure a model on a paired split (L1, PSNR, SSIM, FD-Lite0; or Hint-AUC)",
        description="Color every sketch of a paired split (with 0 or more simulated hint strokes drawn from the target "
        "with a fixed seed) and compare with the colored images. Writes OUT/metrics.json and OUT/examples.png. "
        "--protocol hintauc instead measures Hint-AUC (Madono et al., IEEE TVCG 2026): deterministic region hints "
        "from the target at hint ratios 0 to 1, PSNR and SSIM integrated over the ratio. --protocol locality paints one "
        "stroke per material of the target's material map and measures whether it changes that material only. "
        "--protocol palettes measures the no-hint colors per material: part naming (mIoU), within-material "
        "consistency, material distinctness, skin tones, colorfulness, PSNR and FD-Lite0, per palette variant.",
    )
    v.add_argument("--protocol", default="strokes", choices=PROTOCOLS,
                   help="strokes: --hints N simulated strokes per image (default); hintauc: Hint-AUC of PSNR and SSIM "
                        "(needs the hintauc package: make install-hintauc); locality: does one hint stroke per material "
                        "change that material only (off-material change, material reach, material AUC; docs/data.md); palettes: "
                        "the no-hint palette colors per material of the target's map (docs/evaluate.md)")
    v.add_argument("--model", metavar="DIR", help="model folder (default, or 'bundled': the bundled model); 'none': the hints-only baseline")
    v.add_argument("--style", default="flat", choices=("flat", "soft"), help="flat (one color per region) or soft (default: flat)")
    v.add_argument("--hint-scope", default="local", choices=("local", "global"),
                   help="local (default, the product's): a hint changes its material, the rest keeps its no-hint colors; "
                        "global: the hinted run's colors everywhere (as before locality at inference), to compare")
    v.add_argument("--data", required=True, metavar="DIR", help="dataset folder (its SPLIT/ subfolder is used)")
    v.add_argument("--split", default="test", help="subfolder to evaluate (default: test)")
    v.add_argument("--hints", type=int, nargs="+", metavar="N", help="simulated hint strokes per image; several counts allowed (default: 0)")
    v.add_argument("--layout", default="auto", choices=LAYOUTS,
                   help="auto: detected as 'prepare check' does (sketch/ and color/ subfolders: two_folders, "
                        "else side_by_side); or side_by_side, two_folders, color_only (default: auto)")
    v.add_argument("--sketch-side", default="right", choices=("left", "right"), help="side_by_side: the sketch half (default: right)")
    v.add_argument("-o", "--output", default="evaluation", metavar="OUT", help="output folder (default: evaluation)")
    v.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    v.add_argument("--seed", type=int, help="seed of the simulated hints (default: 0)")
    v.add_argument("--variants", metavar="N,N,...", help="palettes: the palette variants to measure, e.g. 0,1,2 "
                   "(default: 0, the palette closest to the model's own colors)")
    v.add_argument("--no-fd", action="store_true", help="palettes: skip FD-Lite0 (slow; needs its network's weights)")
    v.add_argument("--limit", type=int, default=0, metavar="N", help="evaluate the first N pairs only (default: all)")
    v.add_argument("--size", type=int, metavar="PX", help="working resolution, long side (default: the model's training size)")
    v.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    v.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_evaluate)
