"""The open-paper rule on a split: how much of each image's border the model leaves white without hints.

    python benchmarks/bench_open_paper.py --data data/wesnoth --split test [--model bundled]

For each pair: the no-hint run, its flat region colors, and the share of the border's non-ink pixels in
paper-white regions. The rule (``inference.flats.open_paper``) makes those regions the open paper when the
share is at least ``PAPER_BORDER`` (0.8). Prints the median, the 10th percentile and how many images reach
0.8; last line that count. Writes benchmarks/results/open_paper.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    args = ap.parse_args(argv)
    from autopainter.evaluate import open_split
    from autopainter.inference import compose, flats

    ds, c = open_split(args.model, args.data, args.split, "auto", "right", "cpu", None, "flat")
    shares = []
    for i in range(len(ds)):
        sketch, _ = ds.pair(i)
        prep = c.prepare(sketch)
        soft = compose.color_layer(c.generate(prep.x), prep.small, sketch.size)
        r = c.regions(sketch)
        shares.append(flats.white_border_share(r, flats.region_colors(r, soft)))
    s = np.array(shares)
    fired = int((s >= flats.PAPER_BORDER).sum())
    print(f"{args.data} {args.split}: {len(s)} images; white share of the border without hints: median {np.median(s):.3f}, "
          f"10th percentile {np.percentile(s, 10):.3f}; at {flats.PAPER_BORDER} or more (open paper): {fired} "
          f"({fired / len(s):.0%}); 0.5-0.8: {int(((s >= 0.5) & (s < 0.8)).sum())}; under 0.5: {int((s < 0.5).sum())}")
    write_json(RESULTS / "open_paper.json", {"model": args.model, "data": args.data, "split": args.split,
                                             "shares": shares, "open_paper_images": fired})
    print(fired)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
