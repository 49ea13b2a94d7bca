"""The page's region tools (issue 30), in Debian's headless chromium (see test_browser.py for the set-up): the
Gap slider re-asks for the regions and shows the closing lines (the gap preview), the region under the pointer
is outlined before a Fill or leave-empty click takes it (on a phone, on press-and-hold, which paints nothing),
closing lines (their own layer, sent as ``closing``) close a region, leave-empty marks (sent as ``empty``) keep
a region paper white, one Undo order covers the three layers, and a reload, Save hints and Load hints carry
them with the gap. Screenshots go to the test's tmp folder (and to ``$AUTOPAINTER_SCREENSHOT_DIR`` when set)."""

import io

import numpy as np
import pytest
from conftest import PHONE, save_screenshot, wait_result_current
from PIL import Image, ImageDraw

SIZE = (600, 400)
GAP = (240, 258)  # x range of the opening in the square's top side (18 px)


@pytest.fixture(scope="module")
def gapped(tmp_path_factory):
    """A square whose top side has an 18 px opening (the inside leaks out unless the gap is closed), and a circle."""
    img = Image.new("L", SIZE, 255)
    d = ImageDraw.Draw(img)
    d.rectangle((150, 100, 350, 300), outline=0, width=4)
    d.rectangle((GAP[0], 98, GAP[1] - 1, 106), fill=255)
    d.ellipse((420, 120, 560, 260), outline=0, width=4)
    path = tmp_path_factory.mktemp("sketches") / "gapped.png"
    img.save(path)
    return path


def js(page, expression, arg=None):
    return page.evaluate(expression, arg)


def screen_point(page, x, y):
    return js(page, """([x, y]) => {
        const s = document.getElementById('stage'), p = window.autopainter.view.toStage(s, x, y), r = s.getBoundingClientRect();
        return [r.left + s.clientLeft + p.x, r.top + s.clientTop + p.y];
    }""", [x, y])


def label_at(page, x, y):
    """The label at sketch pixel (x, y) of the region map for the current gap and closing lines."""
    return js(page, "([x, y]) => window.autopainter.regionMap().then((m) => m.labelAt(x, y))", [x, y])


def set_gap(page, value):
    js(page, "(v) => { const g = document.getElementById('gap'); g.value = v; g.dispatchEvent(new Event('input')); g.dispatchEvent(new Event('change')); }", value)


def regions_forms(page):
    return [keys for url, keys in js(page, "window.__forms") if url.endswith("/regions")]


def drag(page, points):
    page.mouse.move(*screen_point(page, *points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*screen_point(page, *p), steps=6)
    page.mouse.up()


def layer_pixels(page, name):
    return js(page, f"() => {{ const d = window.autopainter.{name}.data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }}")


def result_rgb(page, x, y):
    return js(page, """([x, y]) => {
        const r = document.getElementById('result-img'), c = document.createElement('canvas');
        c.width = r.naturalWidth; c.height = r.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(r, 0, 0);
        return [...g.getImageData(x, y, 1, 1).data].slice(0, 3);
    }""", [x, y])


@pytest.mark.slow
def test_gap_slider_preview_and_region_outline(open_page, gapped, tmp_path):
    page = open_page(gapped, live=False)
    page.wait_for_function("() => document.getElementById('gap').max === '40'")  # from /api/v1/health's gap.max
    assert page.input_value("#gap") == "-1" and page.inner_text("#gap-value") == "auto"

    # no gap closing: the square's inside leaks out through its opening
    set_gap(page, 0)
    assert label_at(page, 250, 200) == label_at(page, 50, 50)
    # a wide gap: the opening is closed, and the preview draws the closing line across it, in magenta
    set_gap(page, 24)
    page.wait_for_function("() => !document.getElementById('gap-canvas').hidden && document.getElementById('gap-canvas').dataset.key.includes(':24:')")
    assert page.inner_text("#gap-value") == "24 px"
    assert label_at(page, 250, 200) != label_at(page, 50, 50)
    assert ["sketch", "gap"] in regions_forms(page)
    lines = js(page, """() => {
        const c = document.getElementById('gap-canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const xs = [], ys = [];
        for (let i = 0; i < d.length / 4; i++) if (d[i * 4 + 3]) { xs.push(i % c.width); ys.push(Math.floor(i / c.width)); }
        return [xs.length, Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    }""")
    n, x0, x1, y0, y1 = lines
    assert n > 0 and x0 >= GAP[0] - 12 and x1 <= GAP[1] + 12 and y0 >= 80 and y1 <= 125, lines  # only across the opening
    save_screenshot(page, tmp_path, "gap-preview.png", full_page=False)
    page.wait_for_function("() => document.getElementById('gap-canvas').hidden", timeout=5000)  # gone after the slider
    page.keyboard.press("g")  # Show regions keeps it on
    assert page.is_checked("#regions-toggle") and page.is_visible("#gap-canvas")

    # Fill: the region under the pointer is outlined before the click, its box from the map
    page.keyboard.press("f")
    page.mouse.move(*screen_point(page, 250, 200))
    page.wait_for_function("() => !document.getElementById('outline-canvas').hidden")
    label = label_at(page, 250, 200)
    box = js(page, "(l) => window.autopainter.regionMap().then((m) => m.box(l))", label)
    o = js(page, "() => { const o = document.getElementById('outline-canvas'); return [+o.dataset.label, parseFloat(o.style.left), parseFloat(o.style.top), o.width, o.height]; }")
    assert o == [label, box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1]
    save_screenshot(page, tmp_path, "region-outline.png", full_page=False)
    page.mouse.move(*screen_point(page, 490, 190))  # into the circle: its outline
    page.wait_for_function(f"() => document.getElementById('outline-canvas').dataset.label !== '{label}'")
    page.mouse.click(*screen_point(page, 490, 190))
    page.wait_for_function("() => window.autopainter.layer.hasHints()")
    assert js(page, "() => window.autopainter.layer.pixel(490, 190)[3]") == 255

    # back to auto: the label says what the server picked
    set_gap(page, -1)
    page.wait_for_function("() => /^auto: \\d+ px$/.test(document.getElementById('gap-value').textContent)")
    assert regions_forms(page)[-1] == ["sketch"]


@pytest.mark.slow
def test_closing_lines_and_leave_empty(open_page, gapped, tmp_path):
    page = open_page(gapped, live=False)
    set_gap(page, 0)
    assert label_at(page, 250, 200) == label_at(page, 50, 50)

    # a closing line across the opening: its own layer, the regions asked for again with it, the square closed
    page.keyboard.press("l")
    assert page.get_attribute("#tool-closing", "aria-pressed") == "true"
    drag(page, [(234, 102), (264, 102)])
    assert layer_pixels(page, "closing") > 30 and not js(page, "() => window.autopainter.layer.hasHints()")
    assert label_at(page, 250, 200) != label_at(page, 50, 50)
    assert ["sketch", "gap", "closing"] in regions_forms(page)

    # leave empty: a click marks the region (a marker shows), a second click takes the mark off, a third puts it back
    page.keyboard.press("x")
    page.mouse.click(*screen_point(page, 250, 200))
    page.wait_for_function("() => document.querySelectorAll('#empty-marks .empty-mark').length === 1")
    page.mouse.click(*screen_point(page, 252, 202))
    page.wait_for_function("() => document.querySelectorAll('#empty-marks .empty-mark').length === 0")
    page.mouse.click(*screen_point(page, 250, 200))
    page.wait_for_function("() => document.querySelectorAll('#empty-marks .empty-mark').length === 1")
    assert layer_pixels(page, "empty") == 9

    # the square filled red with a hint, then colored: the leave-empty mark wins, the square is paper white
    page.keyboard.press("f")
    page.mouse.click(*screen_point(page, 200, 250))
    page.mouse.click(*screen_point(page, 490, 190))
    page.wait_for_function("() => window.autopainter.layer.revision >= 2")
    page.keyboard.press("Control+Enter")
    wait_result_current(page)
    form = js(page, "window.__forms.at(-1)")
    assert form[0].endswith("/colorize") and form[1] == ["sketch", "hints", "style", "gap", "closing", "empty"]
    assert result_rgb(page, 200, 250) == [255, 255, 255]  # left empty
    assert result_rgb(page, 490, 190) != [255, 255, 255]  # filled
    assert result_rgb(page, 250, 102) == [255, 255, 255]  # the closing line never shows
    save_screenshot(page, tmp_path, "closing-and-empty.png", full_page=False)

    # one undo order over the three layers: two fills, three mark clicks, the closing line, newest first
    counts = []
    for _ in range(6):
        page.click("#undo-btn")
        counts.append([js(page, "() => window.autopainter.layer.hasHints()"), layer_pixels(page, "empty"), layer_pixels(page, "closing") > 0])
    assert counts == [[True, 9, True], [False, 9, True], [False, 0, True], [False, 9, True], [False, 0, True], [False, 0, False]]
    assert page.is_disabled("#undo-btn")
    page.click("#redo-btn")
    assert layer_pixels(page, "closing") > 0
    # the line eraser takes closing lines (and marks) off
    page.keyboard.press("u")
    js(page, "() => { const s = document.getElementById('brush-size'); s.value = 30; s.dispatchEvent(new Event('input')); }")
    drag(page, [(230, 102), (270, 102)])
    assert layer_pixels(page, "closing") == 0


@pytest.mark.slow
def test_regions_work_survives_reload_and_hints_file(open_page, gapped, tmp_path):
    page = open_page(gapped, live=False)
    set_gap(page, 7)
    page.keyboard.press("l")
    drag(page, [(234, 102), (264, 102)])
    page.keyboard.press("x")
    page.mouse.click(*screen_point(page, 490, 190))
    page.wait_for_function("() => window.autopainter.empty.hasPixels()")
    page.keyboard.press("b")
    drag(page, [(60, 60), (100, 80)])
    work = js(page, "() => ['layer', 'closing', 'empty'].map((n) => Array.from(window.autopainter[n].data.filter((v, i) => i % 4 === 3 && v)).length)")
    page.evaluate("() => window.autopainter.autosave.settled()")

    page.reload()
    assert page.evaluate("() => window.autopainter.restored")
    assert js(page, "() => ['layer', 'closing', 'empty'].map((n) => Array.from(window.autopainter[n].data.filter((v, i) => i % 4 === 3 && v)).length)") == work
    assert page.input_value("#gap") == "7" and page.inner_text("#gap-value") == "7 px"
    assert page.locator("#empty-marks .empty-mark").count() == 1

    # Save hints: the hint layer as the CLI's PNG, with the closing lines, the marks and the gap riding along
    with page.expect_download() as dl:
        page.click("#save-hints-btn")
    saved = tmp_path / "saved_hints.png"
    dl.value.save_as(saved)
    img = Image.open(saved)
    assert img.mode == "RGBA" and img.size == SIZE and (np.asarray(img)[..., 3] == 255).sum() == work[0]
    assert img.text.get("autopainter") == '{"gap":7}'
    page.click("#start-over-btn")
    page.click("#start-over-confirm")
    page.set_input_files("#file-input", str(gapped))
    page.wait_for_function("() => window.autopainter.state.width === 600")
    assert page.inner_text("#gap-value") == "auto"
    page.set_input_files("#hints-input", str(saved))
    page.wait_for_function("() => window.autopainter.empty.hasPixels()")
    assert js(page, "() => ['layer', 'closing', 'empty'].map((n) => Array.from(window.autopainter[n].data.filter((v, i) => i % 4 === 3 && v)).length)") == work
    assert page.input_value("#gap") == "7" and "with its closing lines, leave-empty marks, gap 7 px" in page.inner_text("#notice-text")
    page.click("#undo-btn")  # one step takes the whole file back
    assert js(page, "() => [window.autopainter.layer.hasHints(), window.autopainter.closing.hasPixels(), window.autopainter.empty.hasPixels()]") == [False] * 3

    # an old hints file (a plain RGBA PNG) still loads, and leaves the closing lines as they are
    page.click("#redo-btn")
    plain = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    ImageDraw.Draw(plain).rectangle((400, 300, 420, 320), fill=(10, 200, 30, 255))
    plain.save(tmp_path / "plain.png")
    page.set_input_files("#hints-input", str(tmp_path / "plain.png"))
    page.wait_for_function("() => window.autopainter.layer.pixel(410, 310)[1] === 200")
    assert layer_pixels(page, "closing") == work[1]


@pytest.mark.slow
def test_phone_hold_shows_the_region_and_pinch_takes_nothing(open_page, gapped, tmp_path):
    page = open_page(gapped, live=False, **PHONE)
    cdp = page.context.new_cdp_session(page)

    def touch(kind, *points):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]})

    page.tap("#tool-fill")
    page.wait_for_function("() => window.autopainter.state.regions && window.autopainter.state.regions.ready")
    at = screen_point(page, 490, 190)
    touch("touchStart", at)  # press and hold: the region shows, nothing is painted
    page.wait_for_timeout(600)
    assert page.is_visible("#outline-canvas")
    touch("touchEnd")
    assert not js(page, "() => window.autopainter.layer.hasHints()")
    save_screenshot(page, tmp_path, "phone-hold.png", full_page=False)

    # a pinch that starts with the fill tool takes nothing
    touch("touchStart", (at[0] - 30, at[1]))
    touch("touchStart", (at[0] - 30, at[1]), (at[0] + 30, at[1]))
    for step in range(1, 6):
        touch("touchMove", (at[0] - 30 - 8 * step, at[1]), (at[0] + 30 + 8 * step, at[1]))
    touch("touchEnd")
    page.wait_for_timeout(300)
    assert not js(page, "() => window.autopainter.layer.hasHints()")

    # a tap fills; a closing line drawn with a finger, then a pinch, keeps only the line
    page.click("#zoom-fit")
    at = screen_point(page, 490, 190)
    touch("touchStart", at)
    touch("touchEnd")
    page.wait_for_function("() => window.autopainter.layer.hasHints()")
    page.tap("#tool-closing")
    a, b = screen_point(page, 234, 102), screen_point(page, 264, 102)
    touch("touchStart", a)
    for f in (0.25, 0.5, 0.75, 1):
        touch("touchMove", (a[0] + f * (b[0] - a[0]), a[1]))
    touch("touchEnd")
    lines = layer_pixels(page, "closing")
    assert lines > 0
    touch("touchStart", (at[0] - 30, at[1]))
    touch("touchMove", (at[0] - 25, at[1]))
    touch("touchStart", (at[0] - 25, at[1]), (at[0] + 30, at[1]))
    touch("touchMove", (at[0] - 40, at[1]), (at[0] + 45, at[1]))
    touch("touchEnd")
    assert layer_pixels(page, "closing") == lines
