"""Seconds per ``extract_sketch`` call on a 2400x1530 colored image, for each method, on this machine.

    python benchmarks/bench_sketchify.py [--repeats 7] [--out benchmarks/results/sketchify.json]

The image is generated (flat-colored shapes with black outlines, as ``data.synthetic``, plus a soft
shading gradient and mild noise so the soft XDoG ramp has work to do). Each figure is the median of
``--repeats`` timed calls after one warm-up. As a same-run reference (these machines are noisy), it
also times Pillow's 8-bit GaussianBlur(radius=1) of the gray image: the ratios are what to compare
across machines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, median_seconds, write_json  # noqa: E402

from autopainter.data.sketch import SKETCH_METHODS, extract_sketch  # noqa: E402
from autopainter.data.synthetic import draw_synthetic_pair  # noqa: E402

WIDTH, HEIGHT = 2400, 1530


def make_image(seed: int = 0) -> np.ndarray:
    """(1530, 2400, 3) uint8 colored test image."""
    rng = np.random.default_rng(seed)
    color, _ = draw_synthetic_pair(rng, WIDTH)  # (2400, 2400) RGB, outlines 75 px wide at this size
    a = np.asarray(color)[:HEIGHT].astype(np.float32)  # (1530, 2400, 3)
    shade = np.linspace(1.0, 0.8, WIDTH, dtype=np.float32)[None, :, None]  # soft left-to-right shading
    a = a * shade + rng.normal(0, 2.0, a.shape).astype(np.float32)
    return np.clip(a, 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=str(RESULTS / "sketchify.json"))
    args = ap.parse_args()
    from PIL import Image, ImageFilter

    rgb = make_image()
    gray = Image.fromarray(rgb).convert("L")
    ref, ref_times = median_seconds(lambda: gray.filter(ImageFilter.GaussianBlur(1)), args.repeats)
    rows = {}
    for method in SKETCH_METHODS:
        med, times = median_seconds(lambda m=method: extract_sketch(rgb, method=m), args.repeats)
        rows[method] = {"median_s": med, "times_s": times, "ratio_to_reference": med / ref}
    path = write_json(args.out, {
        "benchmark": "extract_sketch",
        "image": f"{WIDTH}x{HEIGHT} RGB (generated)",
        "repeats": args.repeats,
        "reference": {"what": "PIL GaussianBlur(1) on the gray image", "median_s": ref, "times_s": ref_times},
        "methods": rows,
    })
    print(f"results: {path}")
    print(f"reference PIL GaussianBlur(1): {ref * 1000:.1f} ms")
    print("extract_sketch on 2400x1530, median of", args.repeats, "runs: "
          + ", ".join(f"{m} {r['median_s'] * 1000:.0f} ms ({r['ratio_to_reference']:.1f}x reference)" for m, r in rows.items()))


if __name__ == "__main__":
    main()
