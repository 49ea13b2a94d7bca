"""No-hint palettes of models on evaluation sets: `autopainter evaluate --protocol palettes` per model, set and variant.

The palettes protocol (autopainter.evaluate_palettes, docs/evaluate.md) colors every sketch of a split at 0 hints
in the flat style, once per palette variant, and measures against the target's material map: the mIoU of the
part names the model gives its materials (maps that name parts), within-material consistency (share of a true
material's area within ΔE 10 of its dominant output color), material distinctness (share of pairs of true
materials ≥ ΔE 20 apart in the target that are ≥ ΔE 10 apart in the output), the skin check (share of true skin
pixels in the CIELAB range of human skin tones), colorfulness (Hasler and Süsstrunk 2003) against the target's,
PSNR and FD-Lite0.

    python benchmarks/bench_palettes.py --model parts=runs/00001-parts/model [--limit 20] [--no-fd]

The baseline (``--baseline``, default the bundled model) is measured beside every ``--model NAME=DIR``; the sets
default to the characters and Wesnoth test splits. Prints one table, a row per (model, set, variant) (a model
that names no materials has no palettes, so one row: its variants are one image), with the target's own
figures as the reference row of each set; writes it as JSON to --out (benchmarks/results/palettes.json) and
each evaluation's metrics.json and examples.png under --work.

It also draws --figure (docs/img/palettes-foreign.png): 8 sketches of the foreign set (Wesnoth test, never
trained on), evenly spread over the split (indices fixed by its length alone: nothing is chosen by looking at
outputs), in rows: the sketch, the baseline, and variants 0, 1, 2 of the last --model. Everything here only
measures: no threshold, variant or model is chosen on the test data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, parse_models, parse_sets, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SETS = ("characters:data/characters256:test", "wesnoth:data/wesnoth:test")
FIGURE_ROWS = 8
CELL = 160  # px: one image of the figure
HEADER = 22  # px: the label above each column


def _f(v, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def spread_indices(n: int, count: int = FIGURE_ROWS) -> list[int]:
    """``count`` indices evenly spread over 0..n-1 (all of them when n <= count): fixed by n alone."""
    return sorted(set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist())) if n > 0 else []


def figure(columns: list[tuple[str, list[Image.Image]]], out: Path) -> Path:
    """Columns of images (a header label, one image per row) on white, each fitted into a CELL square."""
    rows = len(columns[0][1])
    canvas = Image.new("RGB", (len(columns) * CELL, HEADER + rows * CELL), "white")
    draw = ImageDraw.Draw(canvas)
    for x, (head, images) in enumerate(columns):
        draw.text((x * CELL + 6, 5), head, fill=(0, 0, 0))
        for y, im in enumerate(images):
            im = im.convert("RGB")
            im.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
            canvas.paste(im, (x * CELL + (CELL - im.width) // 2, HEADER + y * CELL + (CELL - im.height) // 2))
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out


def _keeper(store: dict, rows: list[int]):
    """``evaluate_palettes``'s ``keep``: the outputs of the figure's rows into ``store`` {index: {variant: output}}."""

    def keep(i: int, _name: str, outs: dict) -> None:
        if i in rows:
            store[i] = outs

    return keep


def main(argv: list[str] | None = None) -> int:
    from autopainter.config import DataConfig
    from autopainter.data.pairs import PairDataset
    from autopainter.evaluate_palettes import evaluate_palettes, parse_variants

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                    help="a model that names materials, with its palettes.json (repeatable); the last one is drawn")
    ap.add_argument("--baseline", default="bundled=bundled", metavar="NAME=DIR",
                    help="measured beside them (default: bundled=bundled, the packaged model)")
    ap.add_argument("--eval", nargs="+", default=list(SETS), metavar="NAME:DATA:SPLIT",
                    help=f"evaluation sets (default: {' '.join(SETS)})")
    ap.add_argument("--variants", default="0,1,2", help="palette variants (default: 0,1,2)")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="the first N pairs of each set (default: all)")
    ap.add_argument("--no-fd", action="store_true", help="skip FD-Lite0")
    ap.add_argument("--figure-set", default="wesnoth", metavar="NAME", help="the --eval set drawn (default: wesnoth)")
    ap.add_argument("--figure", default=str(REPO / "docs/img/palettes-foreign.png"))
    ap.add_argument("--work", default=str(Path.home() / ".cache/autopainter/bench-palettes"))
    ap.add_argument("--out", default=str(RESULTS / "palettes.json"))
    args = ap.parse_args(argv)

    if args.limit < 0:
        ap.error("--limit must be >= 0")
    try:
        variants = parse_variants(args.variants)
    except ValueError as e:
        ap.error(f"--variants: {e}")
    models = parse_models(ap, [args.baseline, *args.model])
    sets = parse_sets(ap, args.eval)
    drawn = {s[0]: s for s in sets}.get(args.figure_set)

    work = Path(args.work)
    table: dict = {}
    kept: dict[str, dict[int, dict[int, np.ndarray]]] = {}  # model -> pair index -> variant -> output
    rows_of_figure: list[int] = []
    for set_name, data, split in sets:
        ds = PairDataset(DataConfig(path=data), split=split, train=False)
        n = len(ds) if args.limit <= 0 else min(args.limit, len(ds))
        if (set_name, data, split) == drawn:
            rows_of_figure = spread_indices(n)
        for name, path in models:
            keep = _keeper(kept.setdefault(name, {}), rows_of_figure) if (set_name, data, split) == drawn else None
            print(f"{name} on {set_name}-{split} ...", file=sys.stderr)
            cell = f"{set_name}-{split}" + (f"-limit{args.limit}" if args.limit else "")
            rep = evaluate_palettes(path, data, split, variants=variants, out_dir=work / name / cell,
                                    limit=args.limit, fd=not args.no_fd, keep=keep)
            table.setdefault(f"{set_name}-{split}", {})[name] = {
                k: rep[k] for k in ("images", "names_materials", "palette_library", "maps", "maps_naming_parts",
                                    "materials", "pairs", "skin_pixels", "reference", "model_trained", "results")}

    cols = ("mIoU ↑", "consistency ↑", "distinctness ↑", "skin ↑", "colorfulness", "ratio", "PSNR ↑",
            "FD-Lite0 ↓")
    print("| set | model | variant | images | " + " | ".join(cols) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(cols))
    for key, by_model in table.items():
        ref = next(iter(by_model.values()))
        r0 = ref["reference"]
        print(f"| {key} | target | – | {ref['images']} | – | {_f(r0['consistency'])} | {_f(r0['distinctness'])} "
              f"| {_f(r0['skin_in_range'])} | {_f(r0['colorfulness'], '.1f')} | 1.00 | – | – |")
        for name, rep in by_model.items():
            shown = list(rep["results"].values())
            if not rep["names_materials"]:
                shown = shown[:1]  # no palettes: every variant is the same image
            for r in shown:
                cells = [key, name, str(r["variant"]) if rep["names_materials"] else "–", str(rep["images"]),
                         _f(r["miou"]), _f(r["consistency"]), _f(r["distinctness"]), _f(r["skin_in_range"]),
                         _f(r["colorfulness"], ".1f"), _f(r["colorfulness_ratio"], ".2f"), _f(r["psnr"], ".2f"),
                         _f(r["fd_lite0"], ".2f")]
                print("| " + " | ".join(cells) + " |")

    if drawn is not None and rows_of_figure:
        ds = PairDataset(DataConfig(path=drawn[1]), split=drawn[2], train=False)
        (base, _), (last, _) = models[0], models[-1]
        columns = [("sketch", [ds.pair(i)[0] for i in rows_of_figure]),
                   (base, [Image.fromarray(kept[base][i][variants[0]]) for i in rows_of_figure])]
        columns += [(f"{last} variant {v}", [Image.fromarray(kept[last][i][v]) for i in rows_of_figure])
                    for v in variants[:3]]
        print(f"wrote {figure(columns, Path(args.figure))}", file=sys.stderr)

    write_json(args.out, {"models": dict(models), "sets": [":".join(s) for s in sets], "variants": variants,
                          "limit": args.limit, "fd": not args.no_fd, "figure_rows": rows_of_figure, "table": table})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
