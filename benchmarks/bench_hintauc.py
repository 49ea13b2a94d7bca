"""Hint-AUC of models on evaluation sets: `autopainter evaluate --protocol hintauc` per model, set and style.

Hint-AUC (Madono et al., IEEE TVCG 2026) gives each model deterministic region hints drawn from the target at
the paper's hint ratios (0, 0.01, 0.03, 0.05, 0.10, 0.25, 0.50, 1) and integrates PSNR and SSIM over the ratio
(autopainter.evaluate_hintauc). Needs the hintauc package (`make install-hintauc`).

    make install-hintauc
    python benchmarks/bench_hintauc.py --model bundled=bundled --model fill=none \
        --eval characters:data/characters256:test wesnoth:data/wesnoth:test --limit 50

A model is NAME=DIR (DIR 'bundled': the model inside the package; 'none': the hints-only baseline, which fills
each hinted region with its hint's color and exists in the flat style only). The first model is the reference:
every other one is also given as its difference to it, measured in the same run. Evaluations go to --work
(default ~/.cache/autopainter/bench-hintauc/NAME/SET-SPLIT-STYLE[-limitN]); one already there for the same
weights (by SHA-256), data and limit is not run again. Prints the PSNR and SSIM curves over the hint ratio,
then the metric backend hintauc reported (figures are comparable at the same backend only), then the Hint-AUC
table last; writes all of it as JSON to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, cached_evaluate, write_json, parse_models, parse_sets  # noqa: E402


def _f(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                    help="a model to measure (repeatable; the first is the reference); DIR 'bundled' is the packaged "
                         "model, 'none' the hints-only baseline")
    ap.add_argument("--eval", nargs="+", required=True, metavar="NAME:DATA:SPLIT",
                    help="evaluation sets, e.g. characters:data/characters256:test")
    ap.add_argument("--styles", nargs="+", default=["soft", "flat"], choices=["soft", "flat"])
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="the first N pairs of each set (default: all)")
    ap.add_argument("--work", default=str(Path.home() / ".cache/autopainter/bench-hintauc"))
    ap.add_argument("--out", default=str(RESULTS / "hintauc.json"))
    args = ap.parse_args(argv)

    from autopainter.evaluate import EvalError
    from autopainter.evaluate_hintauc import backend_text, require_hintauc

    try:
        require_hintauc()
    except EvalError as e:
        raise SystemExit(f"bench_hintauc: {e}") from None
    if args.limit < 0:
        ap.error("--limit must be >= 0")
    models = parse_models(ap, args.model, allow=("bundled", "none"))
    sets = parse_sets(ap, args.eval)

    work = Path(args.work)
    table: dict = {}
    backends: dict[str, list[str]] = {}
    for name, path in models:
        for set_name, data, split in sets:
            for style in args.styles:
                if path == "none" and style != "flat":  # the hints-only fill has no soft style
                    continue
                cell = f"{set_name}-{split}-{style}" + (f"-limit{args.limit}" if args.limit else "")
                rep = cached_evaluate(path, data, split, style, [], work / name / cell, protocol="hintauc",
                                      limit=args.limit)
                backends.setdefault(backend_text(rep["hintauc"]), []).append(f"{name} {set_name}-{split} {style}")
                table.setdefault(name, {}).setdefault(f"{set_name}-{split}", {})[style] = {
                    "images": rep["images"], "skipped": rep["skipped"], "hint_auc": rep["hint_auc"],
                    "curve": rep["curve"], "model_trained": rep.get("model_trained"), "hintauc": rep["hintauc"],
                }

    def cell(name, key, style):
        return table.get(name, {}).get(key, {}).get(style)

    ratios = next(c["curve"] for by_set in table.values() for by_style in by_set.values() for c in by_style.values())
    ratios = [r["ratio"] for r in ratios]
    for metric, unit, spec in (("psnr", "PSNR (dB)", ".2f"), ("ssim", "SSIM", ".4f")):
        print(f"{unit} by hint ratio\n")
        print("| set | style | model | " + " | ".join(f"{a:g}" for a in ratios) + " |")
        print("|---|---|---|" + "---:|" * len(ratios))
        for set_name, _, split in sets:
            key = f"{set_name}-{split}"
            for style in args.styles:
                for name, _ in models:
                    c = cell(name, key, style)
                    if c:
                        print(f"| {key} | {style} | {name} | " + " | ".join(format(r[metric], spec) for r in c["curve"]) + " |")
        print()

    for text, which in backends.items():
        print(f"backend: {text}" + (f" ({len(which)} evaluations)" if len(backends) == 1 else f" ({', '.join(which)})"))
    if len(backends) > 1:
        print("WARNING: the evaluations ran on different metric backends: their figures are not comparable")
    ref = models[0][0]
    print(f"\n| set | style | model | images | Hint-AUC PSNR (dB) ↑ | Δ vs {ref} | Hint-AUC SSIM ↑ | Δ vs {ref} |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for set_name, _, split in sets:
        key = f"{set_name}-{split}"
        for style in args.styles:
            r0 = cell(ref, key, style)
            for name, _ in models:
                c = cell(name, key, style)
                if not c:
                    continue
                auc = c["hint_auc"]
                d = {m: (auc[m] - r0["hint_auc"][m]) if r0 and name != ref else None for m in ("psnr", "ssim")}
                print(f"| {key} | {style} | {name} | {c['images']} | {auc['psnr']:.2f} | {_f(d['psnr'], '+.2f')} "
                      f"| {auc['ssim']:.4f} | {_f(d['ssim'], '+.4f')} |")

    write_json(args.out, {"models": dict(models), "sets": [":".join(s) for s in sets], "styles": args.styles,
                          "limit": args.limit, "reference": ref, "backends": backends, "table": table})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
