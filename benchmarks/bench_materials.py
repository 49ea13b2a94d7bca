"""The materials issue's table: does a hint decide its own material, and what does it cost elsewhere?

For each model and evaluation set, through ``autopainter evaluate`` (cached by the weights' SHA-256):
* the locality protocol (flat style, the product's): off-material change and material reach, each for the
  hint in the material's median color and turned 120 degrees in hue, and the material AUC of the best cue the
  model has (its material head when it has one, else its no-hint output colors);
* Hint-AUC (``--protocol hintauc``, flat) on the first ``--hintauc-limit`` pairs (default 50: its hints take
  about 4 s per pair on this CPU), when the ``hintauc`` package is importable here (``make install-hintauc``;
  otherwise "–");
* PSNR with 0, 5 and 20 simulated hint strokes (flat);
* and, per model, how many of the hue wheel's 12 hues steer (``evaluate.hue_wheel``, soft style).

    python benchmarks/bench_materials.py --model bundled=bundled --model new=models/materials \\
        --eval characters:data/characters256:test wesnoth:data/wesnoth:test openmoji:data/openmoji256:test

A model given as ``DIR@global`` colors with ``--hint-scope global`` (the hinted run's colors everywhere, as before
locality at inference). ``--styles flat soft`` measures both styles; ``--goals locality`` checks the goals of
locality at inference instead (off-material and reach as above, paper kept >= 0.95 on characters and wesnoth,
Hint-AUC on wesnoth at least 0.5 dB over the first model, no-hint PSNR in each style within 0.3 dB):

    python benchmarks/bench_materials.py --model before=bundled@global --model after=bundled --styles flat soft \\
        --goals locality --eval characters:data/characters256:test wesnoth:data/wesnoth:test openmoji:data/openmoji256:test

Prints one table (a row per set and model, the first model is the reference) and the goals of the issue
against the last model: off-material change <= 0.10 and reach >= 0.80 on characters and wesnoth for both hint
colors, material AUC >= 0.85, no-hint PSNR no more than 0.3 dB below the first model on every set, 12 of 12
hues; writes everything as JSON to --out.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, cached_evaluate, write_json, parse_models, parse_sets, split_scope  # noqa: E402

GOAL_OFF, GOAL_REACH, GOAL_AUC, GOAL_PSNR_DROP = 0.10, 0.80, 0.85, 0.3
GOAL_PAPER, GOAL_HINTAUC_GAIN = 0.95, 0.5  # the locality-at-inference issue's (--goals locality)
LOCAL_SETS = ("characters", "wesnoth")  # the sets the off-material and reach goals name
FOREIGN_SETS = ("wesnoth",)  # never trained on: the Hint-AUC gain is asked there


def _f(v, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def _psnr(rep: dict, hints: int) -> float | None:
    for row in rep.get("results", {}).values():
        if row.get("hints") == hints:
            return row.get("psnr")
    return None


def _hue_wheel(model: str) -> int:
    from autopainter.evaluate import hue_wheel
    from autopainter.inference import Colorizer

    model, scope = split_scope(model)
    col = Colorizer.from_pretrained(None if model == "bundled" else model, local=scope == "local")
    rows, _ = hue_wheel(lambda sketch, hints: col(sketch, hints, style="soft"))
    return sum(bool(r["steers"]) for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR")
    ap.add_argument("--eval", nargs="+", required=True, metavar="NAME:DATA:SPLIT")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="the first N pairs of each set (default: all)")
    ap.add_argument("--hintauc-limit", type=int, default=50, metavar="N",
                    help="Hint-AUC on the first N pairs of each set (default 50; 0: all)")
    ap.add_argument("--styles", nargs="+", default=["flat"], choices=("flat", "soft"),
                    help="styles measured (locality and PSNR; the goals read flat; default: flat)")
    ap.add_argument("--goals", default="materials", choices=("materials", "locality"),
                    help="whose goals to check: the materials issue's (default) or locality at inference's (paper "
                         "kept, Hint-AUC gain on the foreign set, PSNR per style)")
    ap.add_argument("--work", default=str(Path.home() / ".cache/autopainter/bench-materials"))
    ap.add_argument("--out", default=str(RESULTS / "materials.json"))
    args = ap.parse_args(argv)
    models = parse_models(ap, args.model)
    sets = parse_sets(ap, args.eval)
    has_hintauc = importlib.util.find_spec("hintauc") is not None
    work = Path(args.work)
    suffix = f"-limit{args.limit}" if args.limit else ""
    table: dict = {}
    for name, spec in models:
        path, scope = split_scope(spec)
        for set_name, data, split in sets:
            key = f"{set_name}-{split}"
            base = work / name / f"{key}{suffix}"
            row: dict = {}
            for style in args.styles:
                tag = "" if style == "flat" else f"-{style}"
                loc = cached_evaluate(path, data, split, style, [], Path(f"{base}-locality{tag}"), "locality", args.limit,
                                      hint_scope=scope)
                strokes = cached_evaluate(path, data, split, style, [0, 5, 20], Path(f"{base}-strokes{tag}"),
                                          limit=args.limit, hint_scope=scope)
                r = loc["results"][style]
                aucs = r["material_auc"]
                cue = "material_head" if aucs.get("material_head") is not None else "output_color"
                row[style] = {"images": loc["images"], "off_material": r["off_material"], "reach": r["reach"],
                              "paper_kept": r.get("paper_kept", {}), "paper_runs": r.get("paper_runs"),
                              "material_auc": aucs, "auc_cue": cue, "auc": aucs.get(cue),
                              "psnr": {n: _psnr(strokes, n) for n in (0, 5, 20)}}
            hlimit = min(x for x in (args.limit, args.hintauc_limit) if x > 0) if (args.limit or args.hintauc_limit) else 0
            hauc = (cached_evaluate(path, data, split, "flat", [], Path(f"{work / name / key}-hintauc{hlimit or ''}"),
                                    "hintauc", hlimit, hint_scope=scope) if has_hintauc else None)
            table.setdefault(name, {})[key] = {
                **row["flat" if "flat" in row else args.styles[0]], "styles": row,
                "hint_auc": None if hauc is None else {"psnr": hauc["hint_auc"]["psnr"], "ssim": hauc["hint_auc"]["ssim"],
                                                       "images": hauc["images"], "backend": hauc.get("hintauc")},
            }
        table[name]["hue_wheel_steers"] = _hue_wheel(spec)

    print("| set | model | style | off-material ↓ median / 120° | reach ↑ median / 120° | paper kept ↑ median / 120° "
          f"| material AUC ↑ (cue) | Hint-AUC PSNR / SSIM (first {args.hintauc_limit or 'all'}) | PSNR 0 / 5 / 20 hints |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for set_name, _, split in sets:
        key = f"{set_name}-{split}"
        for name, _ in models:
            for style in args.styles:
                c = table[name][key]["styles"][style]
                ha = table[name][key]["hint_auc"] if style == "flat" else None
                kept = c["paper_kept"] or {}
                print(f"| {key} | {name} | {style} | {_f(c['off_material']['median'])} / {_f(c['off_material']['turned'])} | "
                      f"{_f(c['reach']['median'])} / {_f(c['reach']['turned'])} | "
                      f"{_f(kept.get('median'))} / {_f(kept.get('turned'))} | {_f(c['auc'])} ({c['auc_cue']}) | "
                      f"{'–' if ha is None else _f(ha['psnr'], '.2f') + ' / ' + _f(ha['ssim'], '.4f')} | "
                      + " / ".join(_f(c["psnr"][n], ".2f") for n in (0, 5, 20)) + " |")
    print("hue wheel, hues that steer of 12: " + ", ".join(f"{n} {table[n]['hue_wheel_steers']}" for n, _ in models))

    (ref, _), (last, _) = models[0], models[-1]
    goals = []
    for set_name, _, split in sets:
        key = f"{set_name}-{split}"
        c, r0 = table[last][key], table[ref][key]
        if set_name in LOCAL_SETS:
            for color in ("median", "turned"):
                off, reach = c["off_material"][color], c["reach"][color]
                goals.append((f"{key} off-material ({color}) <= {GOAL_OFF}", off is not None and off <= GOAL_OFF,
                              f"{_f(off)}"))
                goals.append((f"{key} reach ({color}) >= {GOAL_REACH}", reach is not None and reach >= GOAL_REACH,
                              f"{_f(reach)}"))
            goals.append((f"{key} material AUC >= {GOAL_AUC}", c["auc"] is not None and c["auc"] >= GOAL_AUC,
                          f"{_f(c['auc'])} ({c['auc_cue']})"))
        if args.goals == "locality" and set_name in LOCAL_SETS:
            for color in ("median", "turned"):
                kept = (c["paper_kept"] or {}).get(color)
                goals.append((f"{key} paper kept ({color}) >= {GOAL_PAPER}", kept is not None and kept >= GOAL_PAPER,
                              f"{_f(kept)} over {c['paper_runs']} runs"))
        if args.goals == "locality" and set_name in FOREIGN_SETS:
            h, h0 = c["hint_auc"], r0["hint_auc"]
            gain = None if h is None or h0 is None else h["psnr"] - h0["psnr"]
            goals.append((f"{key} Hint-AUC >= {ref} + {GOAL_HINTAUC_GAIN} dB", gain is not None and gain >= GOAL_HINTAUC_GAIN,
                          "not measured (make install-hintauc)" if gain is None else
                          f"{_f(h['psnr'], '.2f')} vs {_f(h0['psnr'], '.2f')} dB ({gain:+.2f})"))
        for style in (args.styles if args.goals == "locality" else args.styles[:1]):
            p, p0 = table[last][key]["styles"][style]["psnr"][0], table[ref][key]["styles"][style]["psnr"][0]
            drop = None if p is None or p0 is None else p0 - p
            goals.append((f"{key} no-hint PSNR ({style}) within {GOAL_PSNR_DROP} dB of {ref}",
                          drop is not None and drop <= GOAL_PSNR_DROP,
                          f"{_f(p, '.2f')} vs {_f(p0, '.2f')} dB ({_f(-drop if drop is not None else None, '+.2f')})"))
    goals.append(("hue wheel 12 of 12", table[last]["hue_wheel_steers"] == 12, str(table[last]["hue_wheel_steers"])))
    for what, ok, value in goals:
        print(f"{'met   ' if ok else 'MISSED'}  {what}: {value}")
    write_json(args.out, {"models": dict(models), "sets": [":".join(s) for s in sets], "limit": args.limit,
                          "styles": args.styles, "goals_of": args.goals,
                          "hintauc_limit": args.hintauc_limit,
                          "hintauc": has_hintauc, "table": table,
                          "goals": [{"goal": g, "met": ok, "value": v} for g, ok, v in goals]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
