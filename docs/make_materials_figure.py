"""Draw docs/img/materials.png: pairs with their material maps (data.materials), and training samples with
hints per material.

    python docs/make_materials_figure.py

Rows: one pair of each character source of ``data/characters256`` and two of ``data/openmoji256`` (maps from
parts), one Wesnoth portrait of ``data/wesnoth`` (map from colors); each row is color | line art | map (one
random color per material, ink black) at 160 px, the first pair of each source in the training split (or test,
for Wesnoth) in sorted order (a fixed choice, not a picked one). ``--samples`` draws
docs/img/material-hints.png instead: training items as the model sees them (sketch with its hints | target),
hints per material. ``--compare DIR_A DIR_B ...`` draws docs/img/materials-test.png: the first ``--rows`` rows
of the ``examples.png`` of several locality evaluations (``autopainter evaluate --protocol locality -o DIR``),
interleaved (A's row 1, B's row 1, A's row 2 ...): sketch, no-hint output, the median-color stroke and its
output, the turned stroke and its output, target.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from autopainter.config import DataConfig
from autopainter.data.pairs import PairDataset

SIZE = 160


def _row(ds: PairDataset, index: int, palette: np.ndarray) -> np.ndarray:
    sketch, color = ds.pair(index)
    mm = ds.materials(index, size=color.size)
    cells = [np.asarray(color), np.asarray(sketch.convert("RGB")), palette[mm.labels % len(palette)]]
    cells = [np.asarray(Image.fromarray(c).resize((SIZE, SIZE), Image.Resampling.NEAREST)) for c in cells]
    gap = np.full((SIZE, 4, 3), 255, np.uint8)
    return np.hstack([cells[0], gap, cells[1], gap, cells[2]])


def maps(out: str) -> None:
    rng = np.random.default_rng(3)
    palette = rng.integers(60, 250, (4096, 3)).astype(np.uint8)
    palette[0] = 0
    rows = []
    chars = PairDataset(DataConfig(path="data/characters256"), split="train", train=False)
    for prefix in ("dicebear-adventurer", "dicebear-micah", "bigheads", "comicgen"):
        rows.append(_row(chars, next(i for i, p in enumerate(chars.paths) if p.stem.startswith(prefix)), palette))
    emoji = PairDataset(DataConfig(path="data/openmoji256"), split="train", train=False)
    for stem in ("1F469-200D-1F3A4", "1F9D1-1F3FD"):
        hit = [i for i, p in enumerate(emoji.paths) if p.stem == stem]
        rows.append(_row(emoji, hit[0] if hit else 0, palette))
    wesnoth = PairDataset(DataConfig(path="data/wesnoth"), split="test", train=False)
    rows.append(_row(wesnoth, 0, palette))
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    Image.fromarray(np.vstack([r for row in rows for r in (row, gap)][:-1])).save(out, optimize=True)


def samples(out: str, n: int = 12) -> None:
    cfg = DataConfig(path="data/characters256", augment=True, image_size=128, load_size=143, hint_none_prob=0.0)
    ds = PairDataset(cfg, split="train", train=True, seed=0)
    cells = []
    for k in range(n):
        item = ds[k * len(ds) // n]
        unit = lambda t: ((t.numpy().transpose(1, 2, 0) + 1) * 127.5).round().astype(np.uint8)  # noqa: E731
        sketch = np.repeat(unit(item["sketch"]), 3, axis=2)
        mask = item["mask"].numpy()[0] > 0
        sketch[mask] = unit(item["hint"])[mask]
        cells.append(np.hstack([sketch, np.full((128, 2, 3), 255, np.uint8), unit(item["color"])]))
    rows = [np.hstack([c for cell in cells[i:i + 3] for c in (cell, np.full((128, 8, 3), 255, np.uint8))])
            for i in range(0, n, 3)]
    Image.fromarray(np.vstack(rows)).save(out, optimize=True)


def compare(dirs: list[str], rows: int, out: str) -> None:
    sheets = [np.asarray(Image.open(f"{d}/examples.png").convert("RGB")) for d in dirs]
    cell = sheets[0].shape[1] // 7  # seven cells a row
    picked = []
    for r in range(rows):
        for sheet in sheets:
            if (r + 1) * cell <= sheet.shape[0]:
                picked += [sheet[r * cell:(r + 1) * cell], np.full((4, sheet.shape[1], 3), 255, np.uint8)]
        picked.append(np.full((12, sheets[0].shape[1], 3), 255, np.uint8))
    img = Image.fromarray(np.vstack(picked[:-1]))
    img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS).save(out, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", action="store_true", help="training items with hints per material instead")
    ap.add_argument("--compare", nargs="+", metavar="DIR", help="locality evaluation folders to interleave")
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    if args.compare:
        compare(args.compare, args.rows, args.output or "docs/img/materials-test.png")
    elif args.samples:
        samples(args.output or "docs/img/material-hints.png")
    else:
        maps(args.output or "docs/img/materials.png")


if __name__ == "__main__":
    main()
