"""Draw docs/img/ablation.png: the same test sketches colored by each model, with 0 and 5 hint strokes.

    python docs/make_ablation_figure.py --data data/openmoji256 \
        --model "pix2pix objective=runs/a-model" --model "Auto-Painter objective=runs/b-model" ...
    python docs/make_ablation_figure.py --data data/wesnoth --every 40 -o docs/img/flats-wesnoth.png \
        --model "hints only=none" --model "soft=bundled@soft" --model "flat=bundled@flat"

A model is NAME=DIR (DIR may be 'bundled', or 'none' for the hints-only fill), optionally @STYLE (flat or
soft; default: the Colorizer's). Sketches: every ``--every``-th pair of ``--split`` (a fixed choice, not
a picked one), fitted into square cells on white. Hints: the ones ``autopainter evaluate --hints 5`` uses
for the same pair.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from autopainter.config import DataConfig
from autopainter.data.hints import hints_to_rgba, simulate_hints
from autopainter.data.pairs import PairDataset
from autopainter.inference import Colorizer

CELL = 128


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR[@STYLE]",
                    help="DIR may be 'bundled' or 'none'; STYLE flat or soft")
    ap.add_argument("--every", type=int, default=25, help="every N-th pair of the split (default: 25)")
    ap.add_argument("--split", default="test", help="the split to draw from (default: test)")
    ap.add_argument("--cell", type=int, default=CELL, help=f"cell size in px (default: {CELL})")
    ap.add_argument("--hints", type=int, default=5)
    ap.add_argument("--rows", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="docs/img/ablation.png")
    args = ap.parse_args()

    models = []
    for spec in args.model:
        name, _, path = spec.partition("=")
        path, _, style = path.partition("@")
        kwargs = {"style": style} if style else {}
        models.append((name, Colorizer.from_pretrained(None if path == "bundled" else path, **kwargs)))
    ds = PairDataset(DataConfig(path=args.data), split=args.split, train=False)
    picks = list(range(0, len(ds), args.every))[: args.rows]
    cell = args.cell

    header = ["sketch", *[f"{n} · 0" for n, _ in models], "hints", *[f"{n} · {args.hints}" for n, _ in models], "target"]
    cols = len(header)
    canvas = Image.new("RGB", (cols * cell, 36 + len(picks) * cell), "white")
    draw = ImageDraw.Draw(canvas)
    for x, title in enumerate(header):
        for k, line in enumerate(_wrap(title, 20)):
            draw.text((x * cell + 4, 2 + 11 * k), line, fill="black")
    for y, i in enumerate(picks):
        sketch, target = ds.pair(i)
        rgb, mask = simulate_hints(np.asarray(target), np.random.default_rng([args.seed, i, args.hints]), n=args.hints)
        rgba = Image.fromarray(hints_to_rgba(rgb, mask))
        over = sketch.convert("RGBA")
        over.alpha_composite(rgba)
        row = [sketch, *[c(sketch) for _, c in models], over, *[c(sketch, rgba) for _, c in models], target]
        for x, im in enumerate(row):
            fitted = ImageOps.pad(im.convert("RGB"), (cell, cell), Image.Resampling.LANCZOS, color="white")
            canvas.paste(fitted, (x * cell, 36 + y * cell))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.output, optimize=True)
    print(f"wrote {args.output}")


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return [*lines, cur][:3]


if __name__ == "__main__":
    main()
