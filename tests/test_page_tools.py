"""The page as a painting tool, in Debian's headless chromium (see test_browser.py for the set-up): live re-color
(a stroke changes the result without a click; a late answer never replaces a newer result), hints at the
sketch's full pixel size at any zoom, zoom and pan in sync (wheel, Space-drag, pinch), fill, eyedropper,
eraser, keys, and messages that stay in view on a phone. Screenshots go to the test's tmp folder (and to
``$AUTOPAINTER_SCREENSHOT_DIR`` when set)."""

import io
import json
import time

import pytest
from conftest import PHONE, draw_shapes, paint_stroke, painted_pixels, save_screenshot, wait_result_current
from PIL import Image, ImageDraw

BIG = (1200, 800)  # larger than the 768 px hint layer the page used to keep


@pytest.fixture(scope="module")
def big_sketch(tmp_path_factory):
    """A circle and a square, each a closed region, on a sketch of BIG."""
    return draw_shapes(tmp_path_factory.mktemp("sketches") / "shapes.png", BIG)


def js(page, expression, arg=None):
    return page.evaluate(expression, arg)


def view_state(page):
    return js(page, "() => { const v = window.autopainter.view; return {scale: v.scale, cx: v.cx, cy: v.cy, fit: v.fitScale()}; }")


def transforms(page):
    return js(page, "() => ['sketch-view', 'result-view'].map((id) => document.getElementById(id).style.transform)")


def screen_point(page, x, y, stage="#stage"):
    """Where sketch pixel (x, y) is on the screen (client coordinates)."""
    return js(page, """([x, y, sel]) => {
        const s = document.querySelector(sel), p = window.autopainter.view.toStage(s, x, y), r = s.getBoundingClientRect();
        return [r.left + s.clientLeft + p.x, r.top + s.clientTop + p.y];
    }""", [x, y, stage])


def click_sketch(page, x, y, stage="#stage"):
    page.mouse.click(*screen_point(page, x, y, stage))


def result_pixel(page, fx, fy):
    """[r, g, b, a] of the result on show at fractions (fx, fy) of its size."""
    return js(page, """([fx, fy]) => {
        const r = document.getElementById('result-img'), c = document.createElement('canvas');
        c.width = r.naturalWidth; c.height = r.naturalHeight;
        const x = c.getContext('2d'); x.drawImage(r, 0, 0);
        return [...x.getImageData(Math.floor(fx * c.width), Math.floor(fy * c.height), 1, 1).data];
    }""", [fx, fy])


def painted_box(page):
    """[count, mean x, mean y] of the hint pixels, in sketch pixels (pixel centers)."""
    return js(page, """() => {
        const L = window.autopainter.layer, d = L.data; let n = 0, sx = 0, sy = 0;
        for (let i = 3, p = 0; i < d.length; i += 4, p++) if (d[i] >= 128) { n++; sx += p % L.width + 0.5; sy += Math.floor(p / L.width) + 0.5; }
        return [n, n ? sx / n : 0, n ? sy / n : 0];
    }""")


def set_size(page, px):
    js(page, "(px) => { const s = document.getElementById('brush-size'); s.value = px; s.dispatchEvent(new Event('input')); }", px)


def wait_until(page, predicate, timeout=10.0):
    """Let the page run until ``predicate()`` (a Python check) holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(30)


def png_bytes(size, color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------ live re-color
@pytest.mark.slow
def test_a_stroke_recolors_and_late_answers_are_dropped(open_page, big_sketch, tmp_path):
    page = open_page(big_sketch)
    wait_result_current(page)  # the first result comes without a click
    key0 = page.get_attribute("#result-img", "data-key")
    assert key0.endswith(":none:flat")

    # a stroke: out of date at once, then a new result without a click
    paint_stroke(page, [(0.2, 0.4), (0.35, 0.5)])
    assert page.is_visible("#stale-badge") and "Out of date" in page.inner_text("#stale-badge")
    assert "stale" in page.get_attribute("#result-stage", "class")
    wait_result_current(page)
    assert page.is_hidden("#stale-badge")
    key1 = page.get_attribute("#result-img", "data-key")
    assert key1 != key0 and ":none:" not in key1
    assert sorted(js(page, "window.__forms.at(-1)")[1]) == ["hints", "sketch", "style"]
    save_screenshot(page, tmp_path, "live-recolor.png")

    # hold the next answer: stroke A is asked for, and nothing more while it is in flight
    held, holding = [], [True]
    page.route("**/api/v1/colorize", lambda route: held.append(route) if holding[0] else route.continue_())
    paint_stroke(page, [(0.7, 0.4), (0.8, 0.6)])  # A
    wait_until(page, lambda: held)
    assert page.get_attribute("#result-stage", "aria-busy") == "true"
    assert page.inner_text("#stale-badge") == "Out of date: updating…"
    paint_stroke(page, [(0.65, 0.7), (0.85, 0.7)])  # B, while A is in flight
    page.wait_for_timeout(900)  # well past the pause after a change
    assert len(held) == 1, "one request in flight at a time"

    # hints off: the result without hints is cached, so it shows at once, a newer state than A
    page.click("#hints-toggle")
    wait_result_current(page)
    assert page.get_attribute("#result-img", "data-key") == key0

    # A's answer arrives late (a magenta picture): it is dropped, the newer result stays
    holding[0] = False
    held[0].fulfill(status=200, content_type="image/png", body=png_bytes(BIG, (255, 0, 255)))
    page.wait_for_function("() => document.getElementById('result-stage').dataset.dropped === '1'")
    page.wait_for_timeout(200)
    assert page.get_attribute("#result-img", "data-key") == key0
    assert result_pixel(page, 0.5, 0.5)[:3] != [255, 0, 255]
    assert len(held) == 1  # the state on show is cached: nothing more to ask

    # hints on again: the latest hints (A and B) are colored and shown
    page.click("#hints-toggle")
    wait_result_current(page)
    key2 = page.get_attribute("#result-img", "data-key")
    assert key2 not in (key0, key1) and page.is_hidden("#stale-badge")
    assert result_pixel(page, 0.5, 0.5)[:3] != [255, 0, 255]

    # live off: a stroke leaves the result out of date until Colorize
    page.click("#live-toggle")
    n = len(js(page, "window.__forms"))
    paint_stroke(page, [(0.3, 0.2), (0.4, 0.25)])
    page.wait_for_timeout(800)
    assert len(js(page, "window.__forms")) == n
    assert "press Colorize" in page.inner_text("#stale-badge")
    save_screenshot(page, tmp_path, "out-of-date.png")
    page.click("#colorize-btn")
    wait_result_current(page)
    assert page.is_hidden("#stale-badge")


# ------------------------------------------------------------------ full-resolution hints, zoom and pan
def test_hints_are_sketch_pixels_at_any_zoom(open_page, big_sketch):
    page = open_page(big_sketch, live=False)
    assert js(page, "() => { const c = document.getElementById('hint-canvas'); return [c.width, c.height]; }") == list(BIG)
    set_size(page, 5)
    fit = view_state(page)["scale"]
    assert fit < 0.6
    click_sketch(page, 300, 400)  # at the fit view: one screen pixel is about two sketch pixels
    n_fit, x, y = painted_box(page)
    assert abs(x - 300) <= 1.5 and abs(y - 400) <= 1.5
    page.click("#zoom-actual")
    assert view_state(page)["scale"] == 1
    for _ in range(6):
        page.keyboard.press("+")
    assert view_state(page)["scale"] > 3.5
    page.click("#undo-btn")
    assert painted_pixels(page) == 0
    js(page, "() => { const v = window.autopainter.view; v.cx = 900; v.cy = 300; v.apply(); }")
    click_sketch(page, 900, 300)  # zoomed in: the same brush covers the same sketch pixels
    n_zoom, x, y = painted_box(page)
    assert abs(x - 900) <= 0.5 and abs(y - 300) <= 0.5
    assert 12 <= n_zoom <= 30 and abs(n_zoom - n_fit) <= 8  # a 5 px round brush: about 20 pixels either way

    # what is sent is exactly the layer: an RGBA PNG of the sketch's size
    page.keyboard.press("Control+Enter")
    wait_result_current(page)
    sent = js(page, """async () => {
        const bm = await createImageBitmap(window.__lastHints, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
        const c = new OffscreenCanvas(bm.width, bm.height), x = c.getContext('2d');
        x.drawImage(bm, 0, 0);
        const d = x.getImageData(0, 0, bm.width, bm.height).data, L = window.autopainter.layer.data;
        let diff = 0; for (let i = 0; i < d.length; i++) if (d[i] !== L[i]) diff++;
        return [bm.width, bm.height, diff];
    }""")
    assert sent == [*BIG, 0]

    # the layer as a PNG reads back into the layer (one undoable step); a PNG of another size is refused
    back = js(page, """async () => {
        const L = window.autopainter.layer, png = await L.toPNG(), painted = L.data.filter((v, i) => i % 4 === 3 && v).length;
        L.clear();
        const changed = await L.fromPNG(png), again = L.data.filter((v, i) => i % 4 === 3 && v).length;
        L.undo();
        let refused = '';
        try { await L.fromPNG(await (await fetch('/static/examples/cat.png')).blob()); } catch (e) { refused = e.message; }
        return [painted, changed, again, L.hasHints(), refused];
    }""")
    assert back[0] > 0 and back[1:4] == [True, back[0], False]
    assert back[4] == "the hint layer is 256×256; this sketch is 1200×800"
    assert js(page, "() => [document.getElementById('result-img').naturalWidth, document.getElementById('result-img').naturalHeight]") == list(BIG)


def test_zoom_and_pan_keep_both_panels_in_sync(open_page, big_sketch, tmp_path):
    page = open_page(big_sketch)
    wait_result_current(page)
    a, b = transforms(page)
    assert a == b and a
    fit = view_state(page)

    # the wheel zooms around the pointer, both panels alike
    at = screen_point(page, 800, 300)
    before = js(page, "([x, y]) => window.autopainter.view.toImage(document.getElementById('stage'), x, y)", at)
    page.mouse.move(*at)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"() => window.autopainter.view.scale > {fit['scale'] * 1.5}")
    after = js(page, "([x, y]) => window.autopainter.view.toImage(document.getElementById('stage'), x, y)", at)
    assert abs(after["x"] - before["x"]) < 1 and abs(after["y"] - before["y"]) < 1
    a, b = transforms(page)
    assert a == b
    assert page.inner_text("#zoom-level") == f"{round(view_state(page)['scale'] * 100)}%"

    # Space-drag pans and paints nothing; a drag on the result pans too
    page.focus("#stage")
    s0 = view_state(page)
    page.keyboard.down("Space")
    page.mouse.down()
    page.mouse.move(at[0] + 100, at[1] + 60, steps=5)
    page.mouse.up()
    page.keyboard.up("Space")
    s1 = view_state(page)
    assert abs((s0["cx"] - s1["cx"]) * s1["scale"] - 100) < 2 and abs((s0["cy"] - s1["cy"]) * s1["scale"] - 60) < 2
    assert painted_pixels(page) == 0
    r = page.locator("#result-stage").bounding_box()
    page.mouse.move(r["x"] + r["width"] / 2, r["y"] + r["height"] / 2)
    page.mouse.down()
    page.mouse.move(r["x"] + r["width"] / 2 - 50, r["y"] + r["height"] / 2, steps=3)
    page.mouse.up()
    s2 = view_state(page)
    assert abs((s2["cx"] - s1["cx"]) * s2["scale"] - 50) < 2
    a, b = transforms(page)
    assert a == b
    save_screenshot(page, tmp_path, "zoomed.png", full_page=False)

    page.click("#zoom-actual")
    assert view_state(page)["scale"] == 1
    page.click("#zoom-fit")
    assert view_state(page)["scale"] == pytest.approx(fit["scale"])

    # before/after: the result keeps the left 30%, the sketch shows right of the line
    js(page, "() => { const c = document.getElementById('compare'); c.value = 30; c.dispatchEvent(new Event('input')); }")
    assert page.eval_on_selector("#result-img", "r => r.style.clipPath") == "inset(0px 70% 0px 0px)"
    assert page.is_visible("#compare-line")
    save_screenshot(page, tmp_path, "before-after.png", full_page=False)


def test_touch_paints_and_pinch_zooms_on_a_phone(open_page, big_sketch, tmp_path):
    page = open_page(big_sketch, live=False, **PHONE)
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#stage").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def touch(kind, *points):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})

    touch("touchStart", (cx - 60, cy))  # one finger paints
    for dx in range(-50, 61, 10):
        touch("touchMove", (cx + dx, cy + dx / 4))
    touch("touchEnd")
    painted = painted_pixels(page)
    assert painted > 100

    fit = view_state(page)["scale"]
    touch("touchStart", (cx - 40, cy), (cx + 40, cy))  # two fingers pinch: zoom, and no stroke is left
    for step in range(1, 9):
        touch("touchMove", (cx - 40 - 10 * step, cy), (cx + 40 + 10 * step, cy))
    touch("touchEnd")
    assert view_state(page)["scale"] == pytest.approx(fit * 240 / 80, rel=0.05)  # the fingers 80 px apart, then 240
    assert painted_pixels(page) == painted
    a, b = transforms(page)
    assert a == b
    save_screenshot(page, tmp_path, "phone-pinch.png", full_page=False)


# ------------------------------------------------------------------ fill, eyedropper, eraser, keys
def test_fill_eyedropper_and_eraser(open_page, big_sketch, sketch_small, tmp_path):
    page = open_page(big_sketch)
    regions_requests = []
    page.on("request", lambda r: regions_requests.append(r) if r.url.endswith("/api/v1/regions") else None)
    wait_result_current(page)

    page.keyboard.press("f")
    assert page.get_attribute("#tool-fill", "aria-pressed") == "true"
    click_sketch(page, 900, 400)  # inside the square
    page.wait_for_function("() => window.autopainter.layer.hasHints()")
    check = """([x, y]) => window.autopainter.state.regions.promise.then((map) => {
        const label = map.labelAt(x, y), d = window.autopainter.layer.data;
        let inside = 0, outside = 0, region = 0;
        for (let i = 0; i < map.labels.length; i++) {
            const on = d[i * 4 + 3] === 255;
            if (map.labels[i] === label) { region++; if (on) inside++; } else if (on) outside++;
        }
        return [region, inside, outside, [...d.subarray((y * map.width + x) * 4, (y * map.width + x) * 4 + 3)]];
    })"""
    region, inside, outside, rgb = js(page, check, [900, 400])
    assert region > 100_000 and inside == region and outside == 0  # the hint covers the whole region, nothing else
    assert rgb == [0xE4, 0x57, 0x2E]
    page.click('.swatch[data-color="#2d7dd2"]')
    assert page.get_attribute("#tool-fill", "aria-pressed") == "true"  # a color keeps the fill tool
    click_sketch(page, 350, 400)  # the circle
    page.wait_for_function("() => window.autopainter.layer.revision >= 2")
    assert len(regions_requests) == 1  # the region map is asked for once per sketch
    wait_result_current(page)
    save_screenshot(page, tmp_path, "fill.png")

    # eyedropper: from the hint layer, then from the result; it goes back to the tool before it
    page.keyboard.press("i")
    assert page.get_attribute("#tool-picker", "aria-pressed") == "true"
    click_sketch(page, 900, 400)
    assert page.input_value("#color-picker") == "#e4572e"
    assert page.get_attribute("#tool-fill", "aria-pressed") == "true"
    page.keyboard.press("i")
    click_sketch(page, 50, 50, stage="#result-stage")  # outside both shapes: only the result has a color there
    want = result_pixel(page, 50.5 / BIG[0], 50.5 / BIG[1])
    assert page.input_value("#color-picker") == "#%02x%02x%02x" % tuple(want[:3])
    assert painted_pixels(page) == inside + js(page, check, [350, 400])[1]  # picking painted nothing

    # the eraser removes hints, and is off again when a new picture comes
    page.keyboard.press("e")
    before = painted_pixels(page)
    set_size(page, 40)
    paint_stroke(page, [(0.7, 0.5), (0.85, 0.5)])
    assert painted_pixels(page) < before
    page.set_input_files("#file-input", str(sketch_small))
    page.wait_for_function("() => document.getElementById('hint-canvas').width === 317")
    assert page.get_attribute("#tool-brush", "aria-pressed") == "true"
    assert page.get_attribute("#tool-eraser", "aria-pressed") == "false"
    paint_stroke(page, [(0.3, 0.3), (0.6, 0.6)])
    assert painted_pixels(page) > 100  # a stroke paints: no eraser left on


@pytest.fixture
def sketch_small(tmp_path):
    img = Image.new("L", (317, 211), 255)
    ImageDraw.Draw(img).ellipse((40, 30, 200, 190), outline=0, width=4)
    img.save(tmp_path / "small.png")
    return tmp_path / "small.png"


def test_keyboard_shortcuts(open_page, sketch_small, tmp_path):
    page = open_page(sketch_small, live=False)
    page.focus("#stage")
    for key, tool in [("f", "fill"), ("e", "eraser"), ("i", "picker"), ("b", "brush")]:
        page.keyboard.press(key)
        assert page.get_attribute(f"#tool-{tool}", "aria-pressed") == "true", key
    size = int(page.input_value("#brush-size"))
    page.keyboard.press("]")
    assert int(page.input_value("#brush-size")) > size
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert int(page.input_value("#brush-size")) < size
    assert page.inner_text("#size-value") == f"{page.input_value('#brush-size')} px"

    paint_stroke(page, [(0.3, 0.3), (0.6, 0.6)])
    painted = painted_pixels(page)
    page.keyboard.press("Control+z")
    assert painted_pixels(page) == 0
    page.keyboard.press("Control+Shift+z")
    assert painted_pixels(page) == painted
    assert [url for url, _ in js(page, "window.__forms") if url.endswith("/colorize")] == []  # live off
    page.keyboard.press("Control+Enter")
    wait_result_current(page)
    assert js(page, "window.__forms.at(-1)")[1] == ["sketch", "hints", "style"]

    page.keyboard.press("?")
    assert page.is_visible("#keys-dialog")
    assert "Ctrl" in page.inner_text("#keys-dialog") and "Space" in page.inner_text("#keys-dialog")
    save_screenshot(page, tmp_path, "keys.png", full_page=False)
    page.keyboard.press("Escape")
    assert page.is_hidden("#keys-dialog")

    page.click("#url-input")  # letters typed into a text field are text, not shortcuts
    page.keyboard.type("fei[")
    assert page.get_attribute("#tool-brush", "aria-pressed") == "true"
    assert page.input_value("#url-input") == "fei["


# ------------------------------------------------------------------ messages in view, busy server
@pytest.mark.slow
def test_busy_server_and_errors_show_in_view_on_a_phone(open_page, big_sketch, tmp_path):
    page = open_page(big_sketch, live=False, **PHONE)
    answers = ["busy", "hold", "error"]
    held = []

    def route(r):
        what = answers.pop(0) if answers else "pass"
        if what == "busy":
            r.fulfill(status=503, headers={"Retry-After": "1"}, content_type="application/json",
                      body=json.dumps({"error": "busy: 4 requests are being worked on; retry after 1 s"}))
        elif what == "hold":
            held.append(r)
        elif what == "error":
            r.fulfill(status=422, content_type="application/json", body=json.dumps({"error": "hints: a test error"}))
        else:
            r.continue_()

    page.route("**/api/v1/colorize", route)

    def in_view(selector):
        b = page.locator(selector).bounding_box()
        return b is not None and b["y"] >= 0 and b["y"] + b["height"] <= 844 and b["x"] >= 0 and b["x"] + b["width"] <= 390

    # scrolled to the brush, the result below the screen: Live on colors; the server is busy
    page.locator(".tools").scroll_into_view_if_needed()
    js(page, "() => window.scrollTo(0, document.querySelector('.tools').getBoundingClientRect().top + scrollY - 8)")
    js(page, "() => document.getElementById('live-toggle').click()")  # a click by Playwright would scroll to it
    page.wait_for_selector("#notice:not([hidden])")
    assert "server is busy, retrying" in page.inner_text("#notice-text")
    assert in_view("#notice")
    save_screenshot(page, tmp_path, "phone-busy.png", full_page=False)

    # the retry is held: busy shows on the result and, since it is out of view, in a pill near the bottom
    wait_until(page, lambda: held)
    assert page.get_attribute("#result-stage", "aria-busy") == "true"
    js(page, "() => window.scrollTo(0, 0)")
    page.wait_for_selector("#progress:not([hidden])")
    assert in_view("#progress")
    held[0].continue_()
    wait_result_current(page)
    assert page.is_hidden("#progress") and page.is_hidden("#notice")

    # an error: a toast in view, with the server's words
    page.click('.swatch[data-color="#2d7dd2"]')
    paint_stroke(page, [(0.3, 0.3), (0.6, 0.6)])
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error-text") == "colorize: hints: a test error"
    assert in_view("#error")
    save_screenshot(page, tmp_path, "phone-error.png", full_page=False)
    page.click("#error-close")
    assert page.is_hidden("#error")
    overflow = js(page, "() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
