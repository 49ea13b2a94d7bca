"""Make the pictures of docs/sketch-styles.md: color | xdog | thin strips, into docs/img/.

    python docs/make_sketch_styles.py [--package-dir DIR] [--size 192]

Inputs: a generated flat-colored drawing (data.synthetic), a generated shaded ball (smooth tones, where
the two methods differ most), and, when an OpenMoji package is at hand (--package-dir, or the cache
that `autopainter prepare openmoji` fills), the OpenMoji fox 1F98A rendered at --size (CC BY-SA 4.0).
Every strip is made with ``extract_sketch``, the function training and `autopainter sketchify` use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from autopainter.data.sketch import extract_sketch
from autopainter.data.synthetic import draw_synthetic_pair

IMG = Path(__file__).parent / "img"
EMOJI = "1F98A"  # fox face: fills, thin inner strokes and a dark nose


def shaded_ball(size: int) -> np.ndarray:
    """(size, size, 3) uint8: an orange ball lit from the top left, on a pale floor, with a black outline
    and a faint paper grain (noise of std 4 gray levels)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    r = 0.36
    d = np.sqrt((x - 0.5) ** 2 + (y - 0.48) ** 2)
    inside = d < r
    z = np.sqrt(np.clip(r**2 - (x - 0.5) ** 2 - (y - 0.48) ** 2, 0, None)) / r  # sphere height in [0, 1]
    nx, ny = (x - 0.5) / r, (y - 0.48) / r
    light = np.clip(0.25 + 0.75 * (-0.5 * nx - 0.6 * ny + 0.62 * z), 0, 1)  # Lambert, light at top left
    img = np.empty((size, size, 3), np.float32)
    img[:] = (238, 232, 220)  # floor
    img[y > 0.8] = (205, 198, 186)
    base = np.array([240, 130, 40], np.float32)
    img[inside] = base * light[inside, None] + 15
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    c, rad = 0.5 * size, r * size
    ImageDraw.Draw(pil).ellipse((c - rad, 0.48 * size - rad, c + rad, 0.48 * size + rad), outline=(20, 20, 20),
                                width=max(1, size // 96))
    grain = np.random.default_rng(0).normal(0, 4, (size, size, 1))
    return np.clip(np.asarray(pil) + grain, 0, 255).astype(np.uint8)


def openmoji(size: int, package_dir: str | None) -> np.ndarray | None:
    from autopainter.data.sources.openmoji import OPENMOJI_VERSION, default_cache_dir, find_package_dir, render_svg

    candidates = [Path(package_dir)] if package_dir else [default_cache_dir() / f"openmoji-{OPENMOJI_VERSION}"]
    for cand in candidates:
        try:
            pkg = find_package_dir(cand)
            return render_svg((pkg / "color" / "svg" / f"{EMOJI}.svg").read_bytes(), size)
        except (ValueError, OSError):
            continue
    return None


def strip(rgb: np.ndarray, *sketches: np.ndarray, gap: int = 4) -> Image.Image:
    """color | sketch | sketch ... side by side on white, with a gap."""
    h, w = rgb.shape[:2]
    tiles = [rgb] + [np.repeat(s[:, :, None], 3, axis=2) for s in sketches]
    out = Image.new("RGB", (len(tiles) * w + (len(tiles) - 1) * gap, h), (255, 255, 255))
    for i, t in enumerate(tiles):
        out.paste(Image.fromarray(t), (i * (w + gap), 0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package-dir", help="an extracted openmoji npm package (default: the prepare cache)")
    ap.add_argument("--size", type=int, default=192)
    args = ap.parse_args()
    IMG.mkdir(exist_ok=True)
    color, _ = draw_synthetic_pair(np.random.default_rng(2), args.size)
    inputs = {"synthetic": np.asarray(color), "shaded": shaded_ball(args.size)}
    fox = openmoji(args.size, args.package_dir)
    if fox is not None:
        inputs["openmoji"] = fox
    else:
        print("no OpenMoji package found: run 'autopainter prepare openmoji' or pass --package-dir; skipping that picture")
    for name, rgb in inputs.items():
        path = IMG / f"sketch-styles-{name}.png"
        strip(rgb, extract_sketch(rgb, "xdog"), extract_sketch(rgb, "thin")).save(path, optimize=True)
        print(f"{path} ({path.stat().st_size / 1024:.0f} KB)")
    # parameters: thicker xdog lines, and a lower epsilon that keeps only the strongest edges
    rgb = inputs.get("openmoji", inputs["synthetic"])
    path = IMG / "sketch-styles-params.png"
    strip(rgb, extract_sketch(rgb, "xdog", sigma=2.0), extract_sketch(rgb, "xdog", epsilon=-0.2),
          extract_sketch(rgb, "thin", sigma=0.8)).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
