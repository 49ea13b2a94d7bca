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
from _common import RESULTS, cached_evaluate, write_json, parse_models, parse_sets  # noqa: E402

GOAL_OFF, GOAL_REACH, GOAL_AUC, GOAL_PSNR_DROP = 0.10, 0.80, 0.85, 0.3
LOCAL_SETS = ("characters", "wesnoth")  # the sets the off-material and reach goals name


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

    col = Colorizer.from_pretrained(None if model == "bundled" else model)
    rows, _ = hue_wheel(lambda sketch, hints: col(sketch, hints, style="soft"))
    return sum(bool(r["steers"]) for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR")
    ap.add_argument("--eval", nargs="+", required=True, metavar="NAME:DATA:SPLIT")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="the first N pairs of each set (default: all)")
    ap.add_argument("--hintauc-limit", type=int, default=50, metavar="N",
                    help="Hint-AUC on the first N pairs of each set (default 50; 0: all)")
    ap.add_argument("--work", default=str(Path.home() / ".cache/autopainter/bench-materials"))
    ap.add_argument("--out", default=str(RESULTS / "materials.json"))
    args = ap.parse_args(argv)
    models = parse_models(ap, args.model)
    sets = parse_sets(ap, args.eval)
    has_hintauc = importlib.util.find_spec("hintauc") is not None
    work = Path(args.work)
    suffix = f"-limit{args.limit}" if args.limit else ""
    table: dict = {}
    for name, path in models:
        for set_name, data, split in sets:
            key = f"{set_name}-{split}"
            base = work / name / f"{key}{suffix}"
            loc = cached_evaluate(path, data, split, "flat", [], Path(f"{base}-locality"), "locality", args.limit)
            strokes = cached_evaluate(path, data, split, "flat", [0, 5, 20], Path(f"{base}-strokes"), limit=args.limit)
            hlimit = min(x for x in (args.limit, args.hintauc_limit) if x > 0) if (args.limit or args.hintauc_limit) else 0
            hauc = (cached_evaluate(path, data, split, "flat", [], Path(f"{work / name / key}-hintauc{hlimit or ''}"),
                                    "hintauc", hlimit) if has_hintauc else None)
            r = loc["results"]["flat"]
            aucs = r["material_auc"]
            cue = "material_head" if aucs.get("material_head") is not None else "output_color"
            table.setdefault(name, {})[key] = {
                "images": loc["images"], "off_material": r["off_material"], "reach": r["reach"],
                "material_auc": aucs, "auc_cue": cue, "auc": aucs.get(cue),
                "psnr": {n: _psnr(strokes, n) for n in (0, 5, 20)},
                "hint_auc": None if hauc is None else {"psnr": hauc["hint_auc"]["psnr"], "ssim": hauc["hint_auc"]["ssim"],
                                                       "images": hauc["images"], "backend": hauc.get("hintauc")},
            }
        table[name]["hue_wheel_steers"] = _hue_wheel(path)

    print("| set | model | off-material ↓ median / 120° | reach ↑ median / 120° | material AUC ↑ (cue) | "
          f"Hint-AUC PSNR / SSIM (first {args.hintauc_limit or 'all'}) | PSNR 0 / 5 / 20 hints |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for set_name, _, split in sets:
        key = f"{set_name}-{split}"
        for name, _ in models:
            c = table[name][key]
            ha = c["hint_auc"]
            print(f"| {key} | {name} | {_f(c['off_material']['median'])} / {_f(c['off_material']['turned'])} | "
                  f"{_f(c['reach']['median'])} / {_f(c['reach']['turned'])} | {_f(c['auc'])} ({c['auc_cue']}) | "
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
        p, p0 = c["psnr"][0], r0["psnr"][0]
        drop = None if p is None or p0 is None else p0 - p
        goals.append((f"{key} no-hint PSNR within {GOAL_PSNR_DROP} dB of {ref}", drop is not None and drop <= GOAL_PSNR_DROP,
                      f"{_f(p, '.2f')} vs {_f(p0, '.2f')} dB ({_f(-drop if drop is not None else None, '+.2f')})"))
    goals.append(("hue wheel 12 of 12", table[last]["hue_wheel_steers"] == 12, str(table[last]["hue_wheel_steers"])))
    for what, ok, value in goals:
        print(f"{'met   ' if ok else 'MISSED'}  {what}: {value}")
    write_json(args.out, {"models": dict(models), "sets": [":".join(s) for s in sets], "limit": args.limit,
                          "hintauc_limit": args.hintauc_limit,
                          "hintauc": has_hintauc, "table": table,
                          "goals": [{"goal": g, "met": ok, "value": v} for g, ok, v in goals]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
