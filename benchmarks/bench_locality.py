"""Locality of models on evaluation sets: `autopainter evaluate --protocol locality` per model, set and style.

The locality protocol (autopainter.evaluate_locality, docs/evaluate.md) paints one hint stroke per material of
the target's material map (up to 3 per image: the largest that are not paper and span two sketch regions), in
the material's median color and turned 120 degrees in hue, and measures the off-material change (share of
non-ink pixels outside the material that moved by ΔE > 10 against the no-hint run; goal 0), the material reach
(share of the material within ΔE 12 of the hint; goal 1) and the material AUC of today's cue (the no-hint output
colors of two nearby regions) for "same material" against "clearly different color" (goal 0.85).

    python benchmarks/bench_locality.py --model bundled=bundled --model fill=none \
        --eval characters:data/characters256:test openmoji:data/openmoji256:test wesnoth:data/wesnoth:test --limit 50

A model is NAME=DIR (DIR 'bundled': the model inside the package; 'none': the hints-only fill, flat style
only). Evaluations go to --work (default ~/.cache/autopainter/bench-locality/NAME/SET-SPLIT-STYLE[-limitN]);
one already there for the same weights (by SHA-256), data and limit is not run again. Prints one table, a row
per set and model: off-material change and reach for both hint colors and the material AUC (output-color cue),
for flat (the product's style, the goals) and soft (reported), and the AUC of centroid distance alone (the
floor a cue must beat); writes it and every cue's AUC as JSON to --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, cached_evaluate, write_json, parse_models, parse_sets  # noqa: E402

STYLES = ("flat", "soft")


def _f(v, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                    help="a model to measure (repeatable); DIR 'bundled' is the packaged model, 'none' the "
                         "hints-only fill")
    ap.add_argument("--eval", nargs="+", required=True, metavar="NAME:DATA:SPLIT",
                    help="evaluation sets, e.g. characters:data/characters256:test")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="the first N pairs of each set (default: all)")
    ap.add_argument("--work", default=str(Path.home() / ".cache/autopainter/bench-locality"))
    ap.add_argument("--out", default=str(RESULTS / "locality.json"))
    args = ap.parse_args(argv)

    if args.limit < 0:
        ap.error("--limit must be >= 0")
    models = parse_models(ap, args.model, allow=("bundled", "none"))
    sets = parse_sets(ap, args.eval)

    work = Path(args.work)
    table: dict = {}
    for name, path in models:
        for set_name, data, split in sets:
            for style in STYLES:
                if path == "none" and style != "flat":  # the hints-only fill has no soft style
                    continue
                cell = f"{set_name}-{split}-{style}" + (f"-limit{args.limit}" if args.limit else "")
                rep = cached_evaluate(path, data, split, style, [], work / name / cell, protocol="locality",
                                      limit=args.limit)
                r = rep["results"][style]
                table.setdefault(name, {}).setdefault(f"{set_name}-{split}", {})[style] = {
                    "images": rep["images"], "materials": rep["materials"], "hinted_runs": rep["hinted_runs"],
                    "pairs": rep["pairs"], "maps": rep["maps"], "model_trained": rep.get("model_trained"),
                    "off_material": r["off_material"], "reach": r["reach"], "material_auc": r["material_auc"],
                }

    heads = ("off-material ↓ (median / 120°)", "reach ↑ (median / 120°)", "material AUC ↑ output color",
             "material AUC ↑ material head")
    print("| set | model | images | materials | " + " | ".join(f"{s} {h}" for s in STYLES for h in heads)
          + " | material AUC ↑ centroid distance |")
    print("|---|---|---:|---:|" + "---:|" * (len(STYLES) * len(heads) + 1))
    for set_name, _, split in sets:
        key = f"{set_name}-{split}"
        for name, _ in models:
            cells = table[name][key]
            first = cells["flat"]
            row = [key, name, str(first["images"]), str(first["materials"])]
            for style in STYLES:
                c = cells.get(style)
                if c is None:
                    row += ["–"] * len(heads)
                    continue
                row += [f"{_f(c['off_material']['median'])} / {_f(c['off_material']['turned'])}",
                        f"{_f(c['reach']['median'])} / {_f(c['reach']['turned'])}",
                        _f(c["material_auc"].get("output_color")), _f(c["material_auc"].get("material_head"))]
            row.append(_f(first["material_auc"].get("centroid")))  # the same in every style: no model involved
            print("| " + " | ".join(row) + " |")

    write_json(args.out, {"models": dict(models), "sets": [":".join(s) for s in sets], "styles": list(STYLES),
                          "limit": args.limit, "table": table})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
