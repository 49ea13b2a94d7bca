"""Old default against new default: every metric, split, style and hint count the default is judged on.

Runs `autopainter evaluate` for each model, each evaluation set and each style (soft: the generator's own
colors; flat: one color per region), with the same seeded simulated hints, and prints one Markdown table
(L1, PSNR, SSIM, hint ΔE, hint-region ΔE, FD-Lite0) plus the goal checks of the default. FD-Lite0 is
reported, not used to decide.

    git worktree add /tmp/before-15 0c13fe1     # the OpenMoji default, bundled until issue 15
    python benchmarks/bench_default.py --model old=/tmp/before-15/src/autopainter/weights --model new=bundled \
        --eval characters:data/characters256:test wesnoth:data/wesnoth:test openmoji:data/openmoji256:test

A model is NAME=DIR (DIR 'bundled': the model inside the package). Evaluations go to --work (default
~/.cache/autopainter/bench-default/NAME/SET-SPLIT-STYLE); one already there for the same weights (by SHA-256),
data and hint counts is not run again, so the script can be stopped and started. The table and all figures are
written as JSON to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, cached_evaluate, write_json, parse_models, parse_sets  # noqa: E402

METRICS = ("l1", "psnr", "ssim", "hint_de", "hint_region_de", "fd_lite0")


def _f(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                    help="a model to measure (repeatable); DIR 'bundled' is the packaged model")
    ap.add_argument("--eval", nargs="+", required=True, metavar="NAME:DATA:SPLIT",
                    help="evaluation sets, e.g. characters:data/characters256:test")
    ap.add_argument("--styles", nargs="+", default=["soft", "flat"], choices=["soft", "flat"])
    ap.add_argument("--hints", type=int, nargs="+", default=[0, 1, 5, 20])
    ap.add_argument("--work", default=str(Path.home() / ".cache/autopainter/bench-default"))
    ap.add_argument("--out", default=str(RESULTS / "default.json"))
    args = ap.parse_args(argv)

    models = parse_models(ap, args.model, allow=("bundled",))
    sets = parse_sets(ap, args.eval)

    work = Path(args.work)
    table: dict = {}
    trained: dict = {}
    for name, path in models:
        for set_name, data, split in sets:
            for style in args.styles:
                rep = cached_evaluate(path, data, split, style, args.hints, work / name / f"{set_name}-{split}-{style}")
                trained[name] = rep.get("model_trained")
                table.setdefault(name, {}).setdefault(f"{set_name}-{split}", {})[style] = {
                    "images": rep["images"],
                    **{str(r["hints"]): {k: r.get(k) for k in METRICS} for r in rep["results"].values()},
                }

    print("| set | style | hints | model | L1 ↓ | PSNR ↑ | SSIM ↑ | hint ΔE ↓ | hint-region ΔE ↓ | FD-Lite0 ↓ |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for set_name, _, split in sets:
        key = f"{set_name}-{split}"
        for style in args.styles:
            for n in map(str, args.hints):
                for name, _ in models:
                    r = table[name][key][style][n]
                    print(f"| {key} | {style} | {n} | {name} | {_f(r['l1'], '.4f')} | {_f(r['psnr'], '.2f')} "
                          f"| {_f(r['ssim'], '.4f')} | {_f(r['hint_de'], '.2f')} | {_f(r['hint_region_de'], '.2f')} "
                          f"| {_f(r['fd_lite0'], '.1f')} |")

    goals = []
    if len(models) == 2:  # the default's goals: the first model is the old default, the second the new one
        (old, _), (new, _) = models

        def psnr(model, key, style, n):
            return table[model].get(key, {}).get(style, {}).get(str(n), {}).get("psnr")

        foreign = next((f"{s}-{sp}" for s, _, sp in sets if s in ("wesnoth", "foreign")), None)
        openmoji = next((f"{s}-{sp}" for s, _, sp in sets if s == "openmoji"), None)
        if foreign and "soft" in args.styles and 0 in args.hints:
            gain = psnr(new, foreign, "soft", 0) - psnr(old, foreign, "soft", 0)
            goals.append((f"{foreign} 0 hints soft: new - old >= 2 dB", round(gain, 2), gain >= 2))
            if 20 in args.hints:
                lift = psnr(new, foreign, "soft", 20) - psnr(new, foreign, "soft", 0)
                goals.append((f"{foreign} soft: 20 hints - 0 hints >= 4 dB (new)", round(lift, 2), lift >= 4))
        if foreign and {"soft", "flat"} <= set(args.styles):
            d = min(psnr(new, foreign, "flat", n) - psnr(new, foreign, "soft", n) for n in args.hints)
            goals.append((f"{foreign}: flat - soft >= 0 dB at every hint count (new)", round(d, 2), d >= 0))
        if openmoji and "soft" in args.styles:
            worst = min(psnr(new, openmoji, "soft", n) - psnr(old, openmoji, "soft", n) for n in args.hints)
            goals.append((f"{openmoji} soft: new - old >= -1 dB at every hint count", round(worst, 2), worst >= -1))
        for s, _, sp in sets:
            key = f"{s}-{sp}"
            wins = sum(psnr(new, key, st, n) > psnr(old, key, st, n) for st in args.styles for n in args.hints)
            goals.append((f"{key}: new PSNR > old (of {len(args.styles) * len(args.hints)} style x hint cells)", wins, None))
        print("\n| goal | figure | met |\n|---|---:|---|")
        for text, fig, met in goals:
            print(f"| {text} | {fig} | {'–' if met is None else ('met' if met else 'MISSED')} |")

    write_json(args.out, {"models": dict(models), "trained": trained, "sets": [":".join(s) for s in sets], "styles": args.styles,
                          "hints": args.hints, "table": table,
                          "goals": [{"goal": t, "figure": f, "met": m} for t, f, m in goals]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
