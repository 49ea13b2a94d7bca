"""Make the pictures of docs/RESULTS.md, "Locality at inference": hints before and after they stay local.

    python docs/make_locality_figure.py --before DIR@global --after bundled [--foreign data/wesnoth] [--count 8]

* ``docs/img/locality-character.png``: the character fixture (``tests/fixtures/character``: a Big Heads
  character of the characters test split, line art by ``autopainter sketchify``) hinted stroke by stroke (hair,
  then the shirt, then the skin), each column one more stroke; the top row the ``--before`` model, the bottom row
  ``--after``.
* ``docs/img/locality-foreign.png``: ``--count`` sketches of the foreign test split (never trained on), one
  stroke each on its largest material (as the locality protocol paints it, in the material's color turned 120
  degrees): the sketch with the stroke, before, after.

A model ``DIR@global`` colors with ``local=False`` (the hinted run's colors everywhere, as before locality).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from autopainter.data.hints import hints_to_rgba
from autopainter.data.materials import read_material_map
from autopainter.evaluate_locality import deepest_point, hint_stroke, material_ink, scaled, turn_hue, STROKE_LENGTH, REFERENCE, STROKE_WIDTH
from autopainter.inference import Colorizer

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "character"
STROKES = (("hair", (40, 150, 70)), ("clothing", (200, 50, 60)), ("skin", (240, 200, 170)))


def load(spec: str) -> Colorizer:
    path, _, scope = spec.partition("@")
    return Colorizer.from_pretrained(None if path == "bundled" else path, local=scope != "global")


def label(img: Image.Image, text: str) -> Image.Image:
    out = Image.new("RGB", (img.width, img.height + 22), "white")
    out.paste(img, (0, 22))
    ImageDraw.Draw(out).text((6, 5), text, fill=(0, 0, 0))
    return out


def grid(rows: list[list[Image.Image]], cell: int) -> Image.Image:
    cols = max(len(r) for r in rows)
    canvas = Image.new("RGB", (cols * cell, len(rows) * (cell + 22)), "white")
    for y, row in enumerate(rows):
        for x, im in enumerate(row):
            canvas.paste(im.resize((cell, cell + 22)) if im.size != (cell, cell + 22) else im, (x * cell, y * (cell + 22)))
    return canvas


def character(before: Colorizer, after: Colorizer, cell: int) -> Image.Image:
    sketch = Image.open(FIXTURE / "sketch.png").convert("L")
    mm = read_material_map(FIXTURE / "materials.png")
    ink = material_ink(np.asarray(sketch), mm.labels)
    H, W = ink.shape
    rgb, mask = np.zeros((H, W, 3), np.uint8), np.zeros((H, W), bool)
    steps = [(None, "no hints")]
    for part, color in STROKES:
        inside = np.isin(mm.labels, [k for k, v in mm.names.items() if v == part]) & ~ink
        stroke = hint_stroke(inside, deepest_point(inside), 48, 10)
        rgb[stroke] = color
        mask |= stroke
        steps.append((Image.fromarray(hints_to_rgba(rgb.copy(), mask.copy())), f"+ {part}"))
    rows = []
    for name, col in (("before", before), ("after", after)):
        row = []
        for hints, what in steps:
            out = col(sketch, hints).convert("RGBA")
            if hints is not None:  # the strokes drawn over the result, so the picture shows where they were
                out.alpha_composite(hints)
            row.append(label(out.convert("RGB").resize((cell, cell)), f"{name}: {what}"))
        rows.append(row)
    return grid(rows, cell)


def foreign(before: Colorizer, after: Colorizer, data: str, count: int, cell: int) -> Image.Image:
    from autopainter.config import DataConfig
    from autopainter.data.pairs import PairDataset

    ds = PairDataset(DataConfig(path=data), split="test", train=False)
    step = max(1, len(ds) // count)
    rows = []
    for i in list(range(0, len(ds), step))[:count]:
        sketch, target = ds.pair(i)
        mm = ds.materials(i, size=target.size)
        gray = np.asarray(sketch.convert("L"))
        ink = material_ink(gray, mm.labels)
        sizes = np.bincount(mm.labels[~ink].ravel(), minlength=int(mm.labels.max()) + 1)
        sizes[0] = 0
        for k, v in mm.names.items():
            if v == "paper":
                sizes[k] = 0
        lab = int(np.argmax(sizes))
        inside = (mm.labels == lab) & ~ink
        stroke = hint_stroke(inside, deepest_point(inside), scaled(STROKE_LENGTH * REFERENCE, gray.shape, 2),
                             scaled(STROKE_WIDTH, gray.shape))
        median = tuple(int(c) for c in np.median(np.asarray(target)[inside], axis=0))
        rgb = np.zeros((*gray.shape, 3), np.uint8)
        rgb[stroke] = turn_hue(median)
        hints = Image.fromarray(hints_to_rgba(rgb, stroke))
        shown = sketch.convert("RGBA")
        shown.alpha_composite(hints)
        rows.append([label(shown.convert("RGB").resize((cell, cell)), "sketch + stroke"),
                     label(before(sketch, hints).resize((cell, cell)), "before"),
                     label(after(sketch, hints).resize((cell, cell)), "after")])
    half = (len(rows) + 1) // 2  # two blocks side by side
    left, right = grid(rows[:half], cell), grid(rows[half:], cell)
    canvas = Image.new("RGB", (left.width + right.width + 16, left.height), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + 16, 0))
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="model folder (or bundled), @global for the old way")
    ap.add_argument("--after", default="bundled")
    ap.add_argument("--foreign", default=str(REPO / "data" / "wesnoth"))
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--out", default=str(REPO / "docs" / "img"))
    args = ap.parse_args()
    before, after = load(args.before), load(args.after)
    out = Path(args.out)
    character(before, after, 224).save(out / "locality-character.png", optimize=True)
    foreign(before, after, args.foreign, args.count, 160).save(out / "locality-foreign.png", optimize=True)
    print(f"wrote {out / 'locality-character.png'} and {out / 'locality-foreign.png'}")


if __name__ == "__main__":
    main()
