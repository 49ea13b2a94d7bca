"""Pen-up to result on the page: how long after a stroke ends the new result is on show, the page's own pause
before it asks included (recolor.js ``delayMs``), in headless Chromium against ``autopainter serve``.

    python benchmarks/bench_page_latency.py [--model bundled] [--sketch tests/fixtures/character/sketch.png] [--strokes 8]
                                            [--megapixels 3.7] [--out benchmarks/results/page_latency.json]

The sketch (default: the 512x512 character fixture, 0.26 MP) is loaded, its no-hint result awaited, then
``--strokes`` short strokes are painted one at a time at different places, each timed from the mouse going up
to the result made from it being loaded. ``--megapixels N`` scales the sketch (Lanczos) to about N MP first. Run it with nothing else on the cores (a training run doubles it).
Prints the median and the slowest, last line the median; writes benchmarks/results/page_latency.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, start_server, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--sketch", default=str(REPO / "tests" / "fixtures" / "character" / "sketch.png"))
    ap.add_argument("--strokes", type=int, default=8)
    ap.add_argument("--megapixels", type=float, help="scale the sketch to about this many megapixels first")
    ap.add_argument("--out", default=str(RESULTS / "page_latency.json"))
    args = ap.parse_args(argv)
    import tempfile

    from playwright.sync_api import sync_playwright
    from PIL import Image

    if args.megapixels:
        with Image.open(args.sketch) as im:
            f = (args.megapixels * 1e6 / (im.width * im.height)) ** 0.5
            scaled = im.convert("L").resize((round(im.width * f), round(im.height * f)), Image.Resampling.LANCZOS)
        args.sketch = str(Path(tempfile.mkdtemp()) / f"sketch-{args.megapixels:g}mp.png")
        scaled.save(args.sketch)

    with Image.open(args.sketch) as im:
        w, h = im.size
    proc, base = start_server(["--model", args.model])
    times = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--disable-dev-shm-usage", "--disable-gpu", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(base + "/")
            page.set_input_files("#file-input", args.sketch)
            current = """() => { const r = document.getElementById('result-img'), j = window.autopainter.recolor.describe();
                                 return r.dataset.ready === '1' && j && r.dataset.key === j.key; }"""
            page.wait_for_function(current, timeout=60_000)
            box = page.locator("#hint-canvas").bounding_box()
            for i in range(args.strokes):
                fx, fy = 0.3 + 0.4 * ((i * 37) % 10) / 10, 0.25 + 0.5 * ((i * 53) % 10) / 10
                page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                page.mouse.down()
                page.mouse.move(box["x"] + (fx + 0.03) * box["width"], box["y"] + fy * box["height"], steps=6)
                page.mouse.up()
                t0 = time.perf_counter()
                page.wait_for_function(current, timeout=60_000, polling=10)
                times.append(time.perf_counter() - t0)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    med = statistics.median(times)
    print(f"{len(times)} strokes on {Path(args.sketch).name} ({w}x{h}, {w * h / 1e6:.2f} MP), model {args.model}: "
          f"pen-up to result median {med:.3f} s, slowest {max(times):.3f} s (the page's own pause included)")
    write_json(args.out, {"model": args.model, "sketch": args.sketch, "size": [w, h],
                                               "seconds": times, "median_s": med, "max_s": max(times)})
    print(f"{med:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
