"""Make the example sketches of the web page, into src/autopainter/server/static/examples/.

    python docs/make_web_examples.py [--package-dir DIR] [--size 256]

The OpenMoji line art (black/svg) of a few emoji, rendered at --size on white and stored as 8-bit gray
PNGs, from an OpenMoji package (--package-dir, or the cache that `autopainter prepare openmoji` fills).
OpenMoji (https://openmoji.org) is licensed CC BY-SA 4.0; the page and README credit it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from autopainter.data.sources.openmoji import default_cache_dir, find_package_dir, render_svg
from autopainter.imageio import save_image

OUT = Path(__file__).resolve().parents[1] / "src" / "autopainter" / "server" / "static" / "examples"
EMOJI = {"1F431": "cat", "1F680": "rocket", "1F3E0": "house", "1F98B": "butterfly", "1F422": "turtle", "1F33B": "sunflower"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package-dir", help="an unpacked openmoji npm package (default: the autopainter cache)")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    pkg = find_package_dir(args.package_dir or next(default_cache_dir().glob("openmoji-*/package")))
    OUT.mkdir(parents=True, exist_ok=True)
    for code, name in EMOJI.items():
        rgb = render_svg((pkg / "black" / "svg" / f"{code}.svg").read_bytes(), args.size)  # (S, S, 3) on white
        save_image(Image.fromarray(rgb).convert("L"), OUT / f"{name}.png", optimize=True)
        print(OUT / f"{name}.png")


if __name__ == "__main__":
    main()
