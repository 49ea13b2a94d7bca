"""Draw docs/img/augment.png: training samples of a dataset as the model sees them with ``data.augment``.

    python docs/make_augment_figure.py --data data/characters256
    python docs/make_augment_figure.py --data data/characters256 --plain --rows 2 -o docs/img/characters.png

Each cell is the sketch (left) and the target (right) of one training item, items spread evenly over the
training split (a fixed choice, not a picked one), at 128 px, without hints. ``--plain``: the pairs as
stored (eval mode, no augmentation).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from autopainter.config import DataConfig
from autopainter.data.pairs import PairDataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain", action="store_true", help="no augmentation: the pairs as stored")
    ap.add_argument("-o", "--output", default="docs/img/augment.png")
    args = ap.parse_args()
    cfg = DataConfig(path=args.data, augment=not args.plain, image_size=128, load_size=143, hint_none_prob=1.0)
    ds = PairDataset(cfg, split="train", train=not args.plain, seed=args.seed)
    cells = []
    n = args.rows * args.cols
    for key in range(n):
        item = ds[key * len(ds) // n]
        color = ((item["color"].numpy().transpose(1, 2, 0) + 1) * 127.5).round().astype(np.uint8)
        sketch = ((item["sketch"].numpy()[0] + 1) * 127.5).round().astype(np.uint8)
        pad = np.full((128, 4, 3), 255, np.uint8)
        cells.append(np.concatenate([np.stack([sketch] * 3, -1), color, pad, pad], 1))
    rows = [np.concatenate(cells[r * args.cols:(r + 1) * args.cols], 1) for r in range(args.rows)]
    gap = np.full((6, rows[0].shape[1], 3), 255, np.uint8)
    grid = np.concatenate([x for r in rows for x in (r, gap)][:-1], 0)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.output, optimize=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
