"""How finely regions of one part are split into materials: ``inference.palettes.CLUSTER_DISTANCE`` swept on val splits.

For each distance, the palettes protocol (``autopainter.evaluate_palettes``, variant 0, no FD) on the first pairs
of the characters and Wesnoth *val* splits; the value kept (0.1) is the one with the largest material distinctness
whose within-material consistency is at least 0.8 on both. Test splits are never read.

    python benchmarks/bench_palette_grouping.py [--model bundled] [--distances 0.05,0.1,0.2,0.35,0.5,0.7]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402

SETS = (("characters", "data/characters256", 60), ("wesnoth", "data/wesnoth", 40))  # (name, data, first N val pairs)
KEYS = ("miou", "consistency", "distinctness", "skin_in_range", "colorfulness_ratio", "psnr")


def main() -> int:
    import autopainter.inference.palettes as palettes
    from autopainter.evaluate_palettes import evaluate_palettes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--distances", default="0.05,0.1,0.2,0.35,0.5,0.7")
    ap.add_argument("--out", default=str(RESULTS / "palette-grouping.json"))
    args = ap.parse_args()
    rows = []
    kept = palettes.CLUSTER_DISTANCE
    try:
        for d in (float(x) for x in args.distances.split(",")):
            palettes.CLUSTER_DISTANCE = d
            row = {"distance": d}
            for name, data, limit in SETS:
                r = evaluate_palettes(args.model, data, "val", variants=(0,), limit=limit, fd=False)["results"]["0"]
                row[name] = {k: r.get(k) for k in KEYS}
            rows.append(row)
            print(f"{d:5.2f}  " + "  ".join(f"{n}: consistency {row[n]['consistency']:.3f} distinctness "
                                         f"{row[n]['distinctness']:.3f}" for n, _, _ in SETS), flush=True)
    finally:
        palettes.CLUSTER_DISTANCE = kept
    write_json(args.out, {"model": args.model, "sets": [list(s) for s in SETS], "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
