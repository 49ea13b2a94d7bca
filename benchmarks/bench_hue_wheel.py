"""Do hints of every hue steer? A ring sketch, one hint stroke inside it, twelve hues around the wheel.

For each hue (HSV hue k*30 degrees, saturation 0.8, value 0.85) the model colors the ring (soft style: the
generator's own colors, no region fill) and ``autopainter.evaluate.hue_wheel`` measures the mean color inside the ring, the stroke
itself left out: its CIELAB distance to the hint (ΔE), its hue and its chroma. A hue *steers* when the
region's hue is within 30 degrees of the hint's and its chroma is at least 15 (clearly colored, not gray).

    python benchmarks/bench_hue_wheel.py                      # the bundled model
    python benchmarks/bench_hue_wheel.py --model MODEL_DIR --out benchmarks/results/hue_wheel.json

Prints one line per hue and the count that steer; writes the figures as JSON and, with --image, a strip of
the twelve results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--out", default=str(RESULTS / "hue_wheel.json"))
    ap.add_argument("--image", default="", help="also write the twelve results side by side here")
    args = ap.parse_args(argv)

    from autopainter.evaluate import hue_wheel
    from autopainter.inference import Colorizer

    col = Colorizer.from_pretrained(args.model)
    rows, strip = hue_wheel(lambda sketch, hints: col(sketch, hints, style="soft"))
    for r in rows:
        print(f"hue {r['hue']:3d}  hint {r['hint_rgb']}  ΔE {r['delta_e']:6.2f}  region hue {r['region_hue']:5.1f} "
              f"(hint {r['hint_hue']:5.1f})  chroma {r['chroma']:5.1f}  {'steers' if r['steers'] else 'NO'}")
    n = sum(r["steers"] for r in rows)
    print(f"{n}/12 hues steer; mean ΔE {np.mean([r['delta_e'] for r in rows]):.2f}")
    write_json(args.out, {"model": args.model or "bundled", "style": "soft", "hues": rows, "steer": n})
    if args.image:
        Image.fromarray(np.concatenate(strip, axis=1)).save(args.image)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
