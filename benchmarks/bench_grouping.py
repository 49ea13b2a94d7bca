"""How the local-hint rule was chosen: the locality protocol on val splits for several grouping settings.

    python benchmarks/bench_grouping.py --model bundled --data data/characters256 --limit 40 \\
        de=0 de=20,near=0 de=45,near=1.1

Each setting sets ``inference.flats.GROUP_DE`` (``de``) and ``GROUP_NEAR`` (``near``) for one run of
``evaluate_locality`` (flat style, ``--split``, default val: settings are never chosen on a test split) and
prints off-material change, reach and paper kept for the median / turned hint colors; last line the best setting
that meets off-material <= 0.10 and reach >= 0.80 for both colors (the one with the most reach), or "none".
Writes benchmarks/results/grouping.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("settings", nargs="+", metavar="de=X[,near=Y]")
    args = ap.parse_args(argv)
    from autopainter.evaluate_locality import evaluate_locality
    from autopainter.inference import flats

    rows = []
    for spec in args.settings:
        kv = dict(part.split("=", 1) for part in spec.split(","))
        flats.GROUP_DE, flats.GROUP_NEAR = float(kv.get("de", flats.GROUP_DE)), float(kv.get("near", 0.0))
        t0 = time.perf_counter()
        f = evaluate_locality(args.model, args.data, split=args.split, limit=args.limit)["results"]["flat"]
        row = {"setting": spec, "off_material": f["off_material"], "reach": f["reach"], "paper_kept": f["paper_kept"],
               "seconds": round(time.perf_counter() - t0, 1)}
        rows.append(row)
        kept = f["paper_kept"]
        print(f"{spec:20s} off-material {f['off_material']['median']:.3f} / {f['off_material']['turned']:.3f}  "
              f"reach {f['reach']['median']:.3f} / {f['reach']['turned']:.3f}  paper kept "
              f"{kept['median'] or 0:.3f} / {kept['turned'] or 0:.3f}", flush=True)
    ok = [r for r in rows if max(r["off_material"].values()) <= 0.10 and min(r["reach"].values()) >= 0.80]
    write_json(RESULTS / "grouping.json", {"model": args.model, "data": args.data, "split": args.split,
                                           "limit": args.limit, "rows": rows})
    print(max(ok, key=lambda r: min(r["reach"].values()))["setting"] if ok else "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
