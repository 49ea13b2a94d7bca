"""The page in a real browser: Playwright drives Debian's chromium against a live uvicorn server.

Needs the ``playwright`` Python package (the dev extra) and a chromium binary at /usr/bin/chromium (or
``$AUTOPAINTER_CHROMIUM``); ``make install-dev`` installs both (chromium through apt-get when run as
root). Playwright's own browser download is not used. When either is missing these tests fail with the
fix in the message: CI installs them, so a skip would only hide a broken set-up.

Screenshots go to the test's tmp folder and, when ``$AUTOPAINTER_SCREENSHOT_DIR`` is set, there too.
"""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from autopainter.server import ServerSettings, create_app

CHROMIUM = os.environ.get("AUTOPAINTER_CHROMIUM", "/usr/bin/chromium")
SKETCH_SIZE = (317, 211)  # odd sizes: the result must come back at exactly this size


@pytest.fixture(scope="module")
def live_server(tiny_model_dir, tmp_path_factory):
    """uvicorn serving the app (tiny model) on a free port in a thread, with the connection rules of
    ``autopainter serve``: its base URL."""
    import uvicorn

    from autopainter.server.connections import uvicorn_config

    settings = ServerSettings(model_dir=tiny_model_dir, data_dir=tmp_path_factory.mktemp("server-data"))
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright: pip install -e '.[dev]' (or make install-dev)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"the browser test needs chromium at {CHROMIUM}: apt-get install chromium "
                    "(make install-dev does it as root), or point AUTOPAINTER_CHROMIUM at a Chromium binary")
    args = ["--disable-dev-shm-usage", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # chromium refuses to run its sandbox as root
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield b
        b.close()


def _save_screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("AUTOPAINTER_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    return path


@pytest.fixture
def sketch_file(tmp_path) -> Path:
    img = Image.new("L", SKETCH_SIZE, 255)
    d = ImageDraw.Draw(img)
    d.ellipse((40, 30, 200, 190), outline=0, width=4)
    d.rectangle((190, 60, 300, 170), outline=0, width=4)
    img.save(tmp_path / "sketch.png")
    return tmp_path / "sketch.png"


def _painted_pixels(page) -> int:
    return page.evaluate("""() => {
        const c = document.getElementById('hint-canvas');
        const a = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < a.length; i += 4) if (a[i] >= 128) n++;
        return n;
    }""")


def _paint_stroke(page, points):
    box = page.locator("#hint-canvas").bounding_box()
    (x0, y0), rest = points[0], points[1:]
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    for x, y in rest:
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
    page.mouse.up()


# Records the form fields of every fetch() the page makes (CDP does not show multipart bodies with files).
_RECORD_FORMS = """
window.__forms = [];
const _fetch = window.fetch;
window.fetch = (url, opts) => {
  if (opts && opts.body instanceof FormData) {
    window.__forms.push([String(url), [...opts.body.keys()]]);
    window.__styles = [...(window.__styles || []), opts.body.get("style")];
  }
  return _fetch(url, opts);
};
"""


def _colorize(page) -> list[str]:
    """Click Colorize; once the result image has loaded, return the form fields the page sent."""
    page.evaluate("window.__forms = []")
    page.click("#colorize-btn")
    page.wait_for_selector('#result-img[data-ready="1"]', timeout=20_000)
    forms = page.evaluate("window.__forms")
    assert forms and forms[-1][0].endswith("/api/v1/colorize"), forms
    return forms[-1][1]


def test_load_paint_colorize(browser, live_server, sketch_file, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(_RECORD_FORMS)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server + "/")
    page.set_input_files("#file-input", str(sketch_file))
    page.wait_for_function("() => document.getElementById('sketch-img').naturalWidth > 0")
    assert page.is_enabled("#colorize-btn")

    _paint_stroke(page, [(0.25, 0.4), (0.4, 0.5), (0.5, 0.45)])
    _paint_stroke(page, [(0.75, 0.4), (0.8, 0.6)])
    page.click('.swatch[data-color="#2d7dd2"]')
    _paint_stroke(page, [(0.2, 0.7), (0.35, 0.75)])
    assert _painted_pixels(page) > 100
    assert sorted(_colorize(page)) == ["hints", "sketch", "style"]
    assert page.evaluate("window.__styles.at(-1)") == "flat"  # the default style

    size = page.evaluate("() => { const r = document.getElementById('result-img'); return [r.naturalWidth, r.naturalHeight]; }")
    assert tuple(size) == SKETCH_SIZE
    assert page.get_attribute("#download-link", "download") == "sketch-colored.png"
    assert page.is_visible("#download-link")
    shot = _save_screenshot(page, tmp_path, "autopainter-page.png")
    assert shot.stat().st_size > 0

    # hints off: the same sketch colored without hints, to compare; on again: the first result, from the cache
    page.evaluate("window.__forms = []")
    page.click("#hints-toggle")
    page.wait_for_function("() => window.__forms.length === 1 && document.getElementById('result-img').dataset.ready === '1'")
    assert page.evaluate("window.__forms")[0][1] == ["sketch", "style"]
    assert page.eval_on_selector("#hint-canvas", "c => getComputedStyle(c).visibility") == "hidden"
    page.click("#hints-toggle")
    assert page.evaluate("window.__forms.length") == 1

    # Flat off: the soft style, asked for once; Flat on again: from the cache
    with page.expect_response(lambda r: r.url.endswith("/api/v1/colorize")):
        page.click("#flat-toggle")
    page.wait_for_function("() => window.__forms.length === 2 && document.getElementById('result-img').dataset.ready === '1'")
    assert page.evaluate("window.__styles.at(-1)") == "soft"
    assert page.inner_text("label:has(#flat-toggle)").strip() == "Soft"
    _save_screenshot(page, tmp_path, "autopainter-page-soft.png")
    page.click("#flat-toggle")
    assert page.evaluate("window.__forms.length") == 2

    # undo removes the last stroke, redo brings it back, clear removes everything (and can be undone)
    before = _painted_pixels(page)
    page.click("#undo-btn")
    assert _painted_pixels(page) < before
    page.click("#redo-btn")
    assert _painted_pixels(page) == before
    page.click("#clear-btn")
    assert _painted_pixels(page) == 0
    page.click("#undo-btn")
    assert _painted_pixels(page) == before
    assert errors == []


def test_errors_are_readable_messages(browser, live_server, tmp_path):
    page = browser.new_page()
    page.goto(live_server + "/")
    (tmp_path / "notes.txt").write_text("not an image")
    page.set_input_files("#file-input", str(tmp_path / "notes.txt"))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error-text")
    # a URL the server refuses: the server's message is shown
    page.fill("#url-input", "http://127.0.0.1:9/secret.png")
    page.click("#url-form button")
    page.wait_for_function("() => document.getElementById('error-text').textContent.includes('loopback')")
    assert "Traceback" not in page.inner_text("body")


def test_examples_and_extract_sketch(browser, live_server):
    page = browser.new_page()
    page.goto(live_server + "/")
    page.wait_for_selector("#example-list .example")
    page.click("#example-list .example >> nth=0")
    page.wait_for_function("() => document.getElementById('sketch-img').naturalWidth > 0")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/sketchify")) as resp:
        page.click("#extract-btn")
    assert resp.value.status == 200
    page.wait_for_function("() => document.getElementById('status').textContent.includes('×')")
    assert page.inner_text("#visitors").endswith(("visitor", "visitors"))


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_drop_and_paste_a_sketch(browser, live_server, how):
    page = browser.new_page()
    page.goto(live_server + "/")
    page.evaluate("""async (how) => {
        const blob = await (await fetch('/static/examples/shapes.png')).blob();
        const dt = new DataTransfer();
        dt.items.add(new File([blob], 'shapes.png', { type: 'image/png' }));
        const ev = how === 'drop'
            ? new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })
            : new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
        (how === 'drop' ? document.getElementById('stage') : document).dispatchEvent(ev);
    }""", how)
    page.wait_for_function("() => document.getElementById('sketch-img').naturalWidth === 400")
    assert page.is_enabled("#colorize-btn")


def test_phone_sized_screen(browser, live_server, sketch_file, tmp_path):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.add_init_script(_RECORD_FORMS)
    page.goto(live_server + "/")
    page.set_input_files("#file-input", str(sketch_file))
    page.wait_for_function("() => document.getElementById('sketch-img').naturalWidth > 0")
    _paint_stroke(page, [(0.3, 0.3), (0.6, 0.6)])
    _colorize(page)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    for sel in ("#hint-canvas", "#result-img", "#colorize-btn"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 0.5, sel
    _save_screenshot(page, tmp_path, "autopainter-phone.png")
    ctx.close()
