"""Make the screenshots of docs/web.md: the page with the bundled model, driven by Playwright in chromium.

    python docs/make_web_screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]

Serves the app (bundled model) on a free port, opens the OpenMoji butterfly at 1024 px (rendered from the
OpenMoji cache when there is one, else the page's 256 px example enlarged), fills the wings, paints the body
with the brush, zooms in, and saves small 8-bit PNGs: web-tools.png (desktop), web-zoom.png (zoomed in, the
before/after slider half way), web-download.png (the Download menu open), web-out-of-date.png (a stroke, the
result waiting), web-regions.png (the region tools: Show regions with the gap closing's
lines, a closing line, a region left empty, the region under the pointer outlined). ``--only regions`` makes the
last one alone.
web-phone.png (a phone, the result shown over the sketch) is made by ``tests/test_page_phone.py``.
Needs the serve and dev extras (Playwright) and a chromium binary; Playwright's own browser download is
not used.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "autopainter" / "server" / "static" / "examples" / "butterfly.png"
SIZE = 1024
S = SIZE / 256  # the places below are given on the 256 px example


def butterfly(path: Path) -> Path:
    try:
        from autopainter.data.sources.openmoji import default_cache_dir, find_package_dir, render_svg

        pkg = find_package_dir(next(default_cache_dir().glob("openmoji-*/package")))
        rgb = render_svg((pkg / "black" / "svg" / "1F98B.svg").read_bytes(), SIZE)
        img = Image.fromarray(rgb).convert("L")
    except (StopIteration, ImportError, OSError):
        img = Image.open(EXAMPLE).convert("L").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    img.save(path)
    return path


def serve() -> tuple[str, object]:
    import uvicorn

    from autopainter.server import ServerSettings, create_app
    from autopainter.server.connections import uvicorn_config

    settings = ServerSettings(data_dir=tempfile.mkdtemp(prefix="autopainter-shots-"))
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def save(page, path: Path) -> None:
    img = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} KB)")


def at(page, x, y, stage="#stage"):
    """The screen position of sketch pixel (x, y) given on the 256 px example."""
    return page.evaluate("""([x, y, sel]) => {
        const s = document.querySelector(sel), p = window.autopainter.view.toStage(s, x, y), r = s.getBoundingClientRect();
        return [r.left + s.clientLeft + p.x, r.top + s.clientTop + p.y];
    }""", [x * S, y * S, stage])


def page_box(page, selector):
    box = page.locator(selector).bounding_box()
    return [box["x"], box["y"]]


def stroke(page, points):
    page.mouse.move(*at(page, *points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*at(page, *p), steps=6)
    page.mouse.up()


def settle(page):
    page.wait_for_function("""() => {
        const r = document.getElementById('result-img'), job = window.autopainter.recolor.describe();
        return r.dataset.ready === '1' && job && r.dataset.key === job.key;
    }""", timeout=120_000)
    page.wait_for_timeout(300)


def paint(page):
    page.click('.swatch[data-color="#f3a712"]')
    page.keyboard.press("f")
    for x, y in [(45, 80), (210, 80)]:  # the upper wings
        page.mouse.click(*at(page, x, y))
    page.click('.swatch[data-color="#2d7dd2"]')
    for x, y in [(85, 140), (172, 140)]:  # the lower wings
        page.mouse.click(*at(page, x, y))
    page.wait_for_function("() => window.autopainter.layer.revision >= 4")
    page.keyboard.press("b")
    page.click('.swatch[data-color="#8b5a2b"]')
    stroke(page, [(128, 92), (128, 130)])  # the body
    settle(page)


def regions(page, path: Path) -> None:
    """The region tools on the painted butterfly: a wide gap with its closing lines shown, a closing line across
    the top of the body, the background left empty (a marker), the Fill tool over a wing (outlined)."""
    page.evaluate("() => { const g = document.getElementById('gap'); g.value = 12; g.dispatchEvent(new Event('input')); g.dispatchEvent(new Event('change')); }")
    page.check("#regions-toggle")
    page.keyboard.press("l")
    stroke(page, [(118, 60), (138, 60)])
    page.keyboard.press("x")
    page.mouse.click(*at(page, 20, 150))
    page.wait_for_function("() => document.querySelectorAll('#empty-marks .empty-mark').length === 1", timeout=180_000)
    page.keyboard.press("f")
    page.wait_for_function("() => !document.getElementById('gap-canvas').hidden", timeout=180_000)
    page.mouse.move(*at(page, 212, 85))
    page.wait_for_function("() => !document.getElementById('outline-canvas').hidden", timeout=180_000)
    settle(page)
    page.wait_for_timeout(300)
    save(page, path)
    # back as it was, for the shots that follow
    page.uncheck("#regions-toggle")
    for _ in range(3):
        page.click("#undo-btn")
    page.evaluate("() => window.autopainter.setGap('auto')")
    page.keyboard.press("b")
    settle(page)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--chromium", default=os.environ.get("AUTOPAINTER_CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--only", choices=["regions"], help="make only this screenshot")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    sketch = butterfly(Path(tempfile.mkdtemp()) / "butterfly.png")
    url, server = serve()
    launch = ["--disable-dev-shm-usage", "--disable-gpu"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=launch, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 820})
        page.goto(url + "/")
        page.set_input_files("#file-input", str(sketch))
        settle(page)
        paint(page)
        regions(page, args.out / "web-regions.png")
        if args.only:
            browser.close()
            server.should_exit = True
            sys.exit(0)
        page.mouse.move(*at(page, 250, 250))
        save(page, args.out / "web-tools.png")

        page.mouse.move(*at(page, 128, 100))
        for _ in range(5):  # to about 300%: the pixels show
            page.mouse.wheel(0, -240)
            page.wait_for_timeout(100)
        page.evaluate("() => { const c = document.getElementById('compare'); c.value = 50; c.dispatchEvent(new Event('input')); }")
        page.mouse.move(*at(page, 140, 150))
        save(page, args.out / "web-zoom.png")

        page.click("#zoom-fit")
        page.evaluate("() => { const c = document.getElementById('compare'); c.value = 100; c.dispatchEvent(new Event('input')); }")
        page.click("#download-menu summary")
        page.hover('[data-download="ora"]')
        save(page, args.out / "web-download.png")
        page.click("#download-menu summary")
        page.route("**/api/v1/colorize", lambda route: None)  # the answer never comes: the waiting state stays
        page.click('.swatch[data-color="#e4572e"]')
        stroke(page, [(20, 75), (60, 95), (95, 85)])
        page.wait_for_function("() => document.getElementById('result-stage').getAttribute('aria-busy') === 'true'")
        page.mouse.move(*at(page, 250, 250))
        save(page, args.out / "web-out-of-date.png")
        page.close()

        browser.close()
    server.should_exit = True
    sys.exit(0)


if __name__ == "__main__":
    main()
