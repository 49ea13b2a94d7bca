"""Do hints of every hue steer? A ring sketch, one hint stroke inside it, twelve hues around the wheel.

For each hue (HSV hue k*30 degrees, saturation 0.8, value 0.85) the model colors the ring (soft style: the
generator's own colors, no region fill) and the script measures the mean color inside the ring, the stroke
itself left out: its CIELAB distance to the hint (ΔE), its hue and its chroma. A hue *steers* when the
region's hue is within 30 degrees of the hint's and its chroma is at least 15 (clearly colored, not gray).

    python benchmarks/bench_hue_wheel.py                      # the bundled model
    python benchmarks/bench_hue_wheel.py --model MODEL_DIR --out benchmarks/results/hue_wheel.json

Prints one line per hue and the count that steer; writes the figures as JSON and, with --image, a strip of
the twelve results.
"""

from __future__ import annotations

import argparse
import colorsys
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, write_json  # noqa: E402

SIZE = 256
HUES = [30 * k for k in range(12)]


def ring() -> Image.Image:
    sketch = Image.new("L", (SIZE, SIZE), 255)
    ImageDraw.Draw(sketch).ellipse((40, 40, SIZE - 40, SIZE - 40), outline=0, width=6)
    return sketch


def hint(rgb: tuple[int, int, int]) -> tuple[Image.Image, np.ndarray]:
    h = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    ImageDraw.Draw(h).line((100, 128, 156, 128), fill=(*rgb, 255), width=8)
    return h, np.asarray(h)[..., 3] > 0


def hue_rgb(deg: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(deg / 360.0, 0.8, 0.85)
    return round(r * 255), round(g * 255), round(b * 255)


def lab_hue_chroma(lab: np.ndarray) -> tuple[float, float]:
    return float(np.degrees(np.arctan2(lab[2], lab[1])) % 360), float(np.hypot(lab[1], lab[2]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--out", default=str(RESULTS / "hue_wheel.json"))
    ap.add_argument("--image", default="", help="also write the twelve results side by side here")
    args = ap.parse_args(argv)

    from autopainter.color_metrics import lab
    from autopainter.inference import Colorizer

    col = Colorizer.from_pretrained(args.model)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    inside = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < (SIZE / 2 - 52) ** 2  # inside the ring's ink
    rows, strip = [], []
    for deg in HUES:
        rgb = hue_rgb(deg)
        h, stroke = hint(rgb)
        out = np.asarray(col(ring(), h, style="soft").convert("RGB"))
        strip.append(out)
        grown = np.asarray(Image.fromarray(stroke).filter(ImageFilter.MaxFilter(9)))
        region = inside & ~grown
        mean = lab(out[region].reshape(-1, 1, 3)).reshape(-1, 3).mean(0)
        want = lab(np.array([[rgb]], np.uint8)).reshape(3)
        got_h, got_c = lab_hue_chroma(mean)
        want_h, _ = lab_hue_chroma(want)
        dh = abs((got_h - want_h + 180) % 360 - 180)
        steers = dh <= 30 and got_c >= 15
        rows.append({"hue": deg, "hint_rgb": rgb, "delta_e": round(float(np.linalg.norm(mean - want)), 2),
                     "region_hue": round(got_h, 1), "hint_hue": round(want_h, 1), "chroma": round(got_c, 1),
                     "steers": bool(steers)})
        print(f"hue {deg:3d}  hint {rgb}  ΔE {rows[-1]['delta_e']:6.2f}  region hue {got_h:5.1f} "
              f"(hint {want_h:5.1f})  chroma {got_c:5.1f}  {'steers' if steers else 'NO'}")
    n = sum(r["steers"] for r in rows)
    print(f"{n}/12 hues steer; mean ΔE {np.mean([r['delta_e'] for r in rows]):.2f}")
    write_json(args.out, {"model": args.model or "bundled", "style": "soft", "hues": rows, "steer": n})
    if args.image:
        Image.fromarray(np.concatenate(strip, axis=1)).save(args.image)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
