"""The page in a real browser: Playwright drives Debian's chromium against a live uvicorn server.

Needs the ``playwright`` Python package (the dev extra) and a chromium binary at /usr/bin/chromium (or
``$AUTOPAINTER_CHROMIUM``); ``make install-dev`` installs both (chromium through apt-get when run as
root). Playwright's own browser download is not used. When either is missing these tests fail with the
fix in the message: CI installs them, so a skip would only hide a broken set-up.

Screenshots go to the test's tmp folder and, when ``$AUTOPAINTER_SCREENSHOT_DIR`` is set, there too.
"""

from pathlib import Path

import pytest
from conftest import RECORD_FORMS, paint_stroke, painted_pixels, save_screenshot, wait_result_current
from PIL import Image, ImageDraw

SKETCH_SIZE = (317, 211)  # odd sizes: the result must come back at exactly this size


@pytest.fixture
def sketch_file(tmp_path) -> Path:
    img = Image.new("L", SKETCH_SIZE, 255)
    d = ImageDraw.Draw(img)
    d.ellipse((40, 30, 200, 190), outline=0, width=4)
    d.rectangle((190, 60, 300, 170), outline=0, width=4)
    img.save(tmp_path / "sketch.png")
    return tmp_path / "sketch.png"


def _colorize(page) -> list[str]:
    """Click Colorize; once the result image has loaded, return the form fields the page sent."""
    page.evaluate("window.__forms = []")
    page.click("#colorize-btn")
    wait_result_current(page)
    forms = page.evaluate("window.__forms")
    assert forms and forms[-1][0].endswith("/api/v1/colorize"), forms
    return forms[-1][1]


def test_load_paint_colorize(browser, live_server, sketch_file, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(RECORD_FORMS)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server + "/")
    page.click("#live-toggle")  # live off: nothing is colored until Colorize (test_page_tools covers live)
    page.set_input_files("#file-input", str(sketch_file))
    page.wait_for_function("() => document.getElementById('sketch-img').naturalWidth > 0")
    assert page.is_enabled("#colorize-btn")
    assert page.evaluate("window.__forms") == []

    paint_stroke(page, [(0.25, 0.4), (0.4, 0.5), (0.5, 0.45)])
    paint_stroke(page, [(0.75, 0.4), (0.8, 0.6)])
    page.click('.swatch[data-color="#2d7dd2"]')
    paint_stroke(page, [(0.2, 0.7), (0.35, 0.75)])
    assert painted_pixels(page) > 100
    assert sorted(_colorize(page)) == ["hints", "sketch", "style"]
    assert page.evaluate("window.__styles.at(-1)") == "flat"  # the default style

    size = page.evaluate("() => { const r = document.getElementById('result-img'); return [r.naturalWidth, r.naturalHeight]; }")
    assert tuple(size) == SKETCH_SIZE
    assert page.is_visible("#download-menu")
    assert page.text_content('[data-download="result"] [data-file]') == "sketch_colored.png"
    shot = save_screenshot(page, tmp_path, "autopainter-page.png")
    assert shot.stat().st_size > 0

    # hints off: the same sketch colored without hints, to compare; on again: the first result, from the cache
    page.evaluate("window.__forms = []")
    page.click("#hints-toggle")
    page.wait_for_function("() => window.__forms.length === 1 && document.getElementById('result-img').dataset.ready === '1'")
    assert page.evaluate("window.__forms")[0][1] == ["sketch", "style"]
    assert page.eval_on_selector("#hint-canvas", "c => getComputedStyle(c).visibility") == "hidden"
    page.click("#hints-toggle")
    assert page.evaluate("window.__forms.length") == 1

    # Soft: the soft style, asked for once; Flat again: from the cache
    with page.expect_response(lambda r: r.url.endswith("/api/v1/colorize")):
        page.click("label:has(#style-soft)")
    page.wait_for_function("() => window.__forms.length === 2 && document.getElementById('result-img').dataset.ready === '1'")
    assert page.evaluate("window.__styles.at(-1)") == "soft"
    assert page.is_checked("#style-soft") and not page.is_checked("#style-flat")
    save_screenshot(page, tmp_path, "autopainter-page-soft.png")
    page.click("label:has(#style-flat)")
    assert page.evaluate("window.__forms.length") == 2

    # undo removes the last stroke, redo brings it back, clear removes everything (and can be undone)
    before = painted_pixels(page)
    page.click("#undo-btn")
    assert painted_pixels(page) < before
    page.click("#redo-btn")
    assert painted_pixels(page) == before
    page.click("#clear-btn")
    assert painted_pixels(page) == 0
    page.click("#undo-btn")
    assert painted_pixels(page) == before
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
    page.add_init_script(RECORD_FORMS)
    page.goto(live_server + "/")
    page.set_input_files("#file-input", str(sketch_file))
    page.wait_for_function("() => document.getElementById('sketch-img').naturalWidth > 0")
    paint_stroke(page, [(0.3, 0.3), (0.6, 0.6)])
    _colorize(page)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    for sel in ("#hint-canvas", "#result-img", "#colorize-btn"):
        box = page.locator(sel).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 0.5, sel
    save_screenshot(page, tmp_path, "autopainter-phone.png")
    ctx.close()
