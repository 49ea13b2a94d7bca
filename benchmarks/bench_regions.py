"""Issue 30 on real pairs: how good are the trapped-ball regions of real line art, whatever the model paints?

    python benchmarks/bench_regions.py [--limit N] [--gap N] [--out JSON]
        [--eval characters:data/characters256:test wesnoth:data/wesnoth:test openmoji:data/openmoji256:test]

For each set (default: the test splits of characters256, wesnoth, the foreign set, and openmoji256; the first
``--limit`` pairs of each, default all) and each of two line-art sources:
* ``own``: the dataset's sketch (``PairDataset.pair``: the color image's size; wesnoth's were made by XDoG when
  the set was prepared, so there its two rows agree);
* ``xdog``: ``extract_sketch(target, "xdog")``, "sketchify" line art made from the target itself;
``inference.regions.segment(sketch, gap)`` (``--gap``; default None, the automatic gap) is timed, and its
ORACLE FLATS are scored: each region filled with the target's median color over it (``flats.region_colors``),
the sketch multiplied on top as lines (``compose.multiply_lines``), PSNR (dB, capped at 60) against the target.
It is the best the flat style can do with these regions: a region that leaks over two materials caps it (one
color for both), and so does a material cut into pieces too small to hold their own color (they are dissolved).

Prints, per set and source: mean oracle PSNR, mean regions per image, mean share of the picture in its largest
region, mean segment time (ms); writes everything (with per-image figures) as JSON to ``--out`` (default
benchmarks/results/regions.json).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, parse_sets, write_json  # noqa: E402
from bench_gaps import code_source  # noqa: E402

DEFAULT_SETS = ["characters:data/characters256:test", "wesnoth:data/wesnoth:test", "openmoji:data/openmoji256:test"]
SOURCES = ("own", "xdog")
PSNR_CAP = 60.0  # as evaluate.PSNR_CAP: an exact fill would otherwise make the mean infinite


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two uint8 images, capped at PSNR_CAP."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * np.log10(255.0**2 / mse))


def oracle_flats(sketch: np.ndarray, target: np.ndarray, gap: int | None) -> dict:
    """One sketch's figures: its regions' oracle flats PSNR, region count, largest share, segment time."""
    from autopainter.inference import compose, flats, regions

    t0 = time.perf_counter()
    reg = regions.segment(sketch, gap=gap)
    seconds = time.perf_counter() - t0
    lut = flats.region_colors(reg, target)  # (count + 1, 3) uint8: each region's median target color
    image = compose.multiply_lines(lut[reg.labels], sketch)
    areas = np.bincount(reg.labels.ravel())
    return {"psnr": round(psnr(image, target), 3), "regions": int(reg.count),
            "largest": round(float(areas.max() / reg.labels.size), 4), "ms": round(1000 * seconds, 2),
            "gap": int(reg.gap), "line_width": round(float(reg.line_width), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", nargs="+", default=DEFAULT_SETS, metavar="NAME:DATA:SPLIT")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="the first N pairs of each set (default: all)")
    ap.add_argument("--gap", type=int, default=None, help="a fixed gap (px) for segment; default: the automatic one")
    ap.add_argument("--out", default=str(RESULTS / "regions.json"))
    args = ap.parse_args(argv)
    from autopainter.config import DataConfig
    from autopainter.data.pairs import PairDataset
    from autopainter.data.sketch import extract_sketch
    from autopainter.inference import regions

    if args.gap is not None:
        try:
            regions.check_gap(args.gap)
        except ValueError as e:
            ap.error(f"--gap: {e}")
    sets = parse_sets(ap, args.eval)
    results: dict[str, dict] = {}
    t_all = time.perf_counter()
    for name, data, split in sets:
        ds = PairDataset(DataConfig(path=data), split=split, train=False)
        n = len(ds) if not args.limit else min(args.limit, len(ds))
        per = {s: [] for s in SOURCES}
        for i in range(n):
            sketch, color = ds.pair(i)
            target = np.asarray(color.convert("RGB"))  # (H, W, 3) uint8
            lines = {"own": np.asarray(sketch.convert("L")), "xdog": extract_sketch(target, "xdog")}
            for s in SOURCES:
                per[s].append({"image": Path(ds.paths[i]).name, **oracle_flats(lines[s], target, args.gap)})
        results[name] = {"data": data, "split": split, "images": n}
        for s in SOURCES:
            rows = per[s]
            results[name][s] = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "regions", "largest", "ms")}
            cols = list(rows[0]) if rows else []  # one line per image in the JSON
            results[name][s]["per_image"] = {"columns": " ".join(cols),
                                             "rows": [" ".join(str(r[c]) for c in cols) for r in rows]}

    print(f"oracle flats on {', '.join(n for n, _, _ in sets)}: gap {'auto' if args.gap is None else args.gap}, "
          f"limit {args.limit or 'all'}, {time.perf_counter() - t_all:.0f} s in all")
    print(f"{'set':<11} {'lines':<5} {'n':>4} {'PSNR dB':>8} {'regions':>8} {'largest':>8} {'seg ms':>7}")
    for name, r in results.items():
        for s in SOURCES:
            m = r[s]
            print(f"{name:<11} {s:<5} {r['images']:>4} {m['psnr']:>8.2f} {m['regions']:>8.1f} {m['largest']:>8.3f} "
                  f"{m['ms']:>7.1f}")
    write_json(args.out, {"gap": args.gap, "limit": args.limit, "max_gap": regions.MAX_GAP,
                          **code_source(regions.__file__), "sets": results})
    mean = np.mean([r[s]["psnr"] for r in results.values() for s in SOURCES])
    print(f"mean oracle flats PSNR over sets and sources: {mean:.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
