"""What a newcomer meets first, on a phone and elsewhere, in Debian's headless chromium (see test_browser.py for the
set-up): a two-finger pinch never paints, fills, draws a closing line, marks a region or picks a color, wherever its
second finger lands (and Undo stays off), while a tap still fills; on a narrow screen a small copy of the result
stays over the sketch, updated after each stroke (the desktop layout unchanged); dark hints get a light outline on
screen that never reaches the hints sent or saved; a colored picture loaded as a sketch is said near the result,
with an Extract sketch that fixes it; the page's size check reads the server's pixel limit. Screenshots go to the
test's tmp folder (and to ``$AUTOPAINTER_SCREENSHOT_DIR`` when set)."""

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import DESKTOP, PHONE, save_screenshot, wait_result_current
from PIL import Image, ImageDraw

SIZE = (600, 400)
BAR = (294, 306)  # x range of the black bar the outline test paints across
STATIC = Path(__file__).resolve().parents[1] / "src" / "autopainter" / "server" / "static"
CHARACTER = Path(__file__).parent / "fixtures" / "character" / "sketch.png"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """A square and a circle (closed regions), and a thick black bar down the middle."""
    img = Image.new("L", SIZE, 255)
    d = ImageDraw.Draw(img)
    d.rectangle((40, 60, 240, 340), outline=0, width=4)
    d.ellipse((380, 100, 560, 280), outline=0, width=4)
    d.rectangle((BAR[0], 20, BAR[1] - 1, 380), fill=0)
    path = tmp_path_factory.mktemp("sketches") / "shapes.png"
    img.save(path)
    return path


@pytest.fixture(scope="module")
def colored(tmp_path_factory):
    """A colored picture (filled colored shapes with dark outlines): not line art."""
    img = Image.new("RGB", SIZE, (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 250, 600, 400), fill=(80, 160, 60))
    d.ellipse((60, 40, 300, 280), fill=(220, 60, 50), outline=(20, 20, 20), width=4)
    d.rectangle((320, 60, 560, 300), fill=(50, 90, 200), outline=(20, 20, 20), width=4)
    d.polygon([(150, 380), (300, 200), (450, 380)], fill=(250, 200, 40), outline=(20, 20, 20))
    path = tmp_path_factory.mktemp("sketches") / "photo.png"
    img.save(path)
    return path


def js(page, expression, arg=None):
    return page.evaluate(expression, arg)


def screen_point(page, x, y, stage="#stage"):
    """Where sketch pixel (x, y) is on the screen (client coordinates)."""
    return js(page, """([x, y, sel]) => {
        const s = document.querySelector(sel), p = window.autopainter.view.toStage(s, x, y), r = s.getBoundingClientRect();
        return [r.left + s.clientLeft + p.x, r.top + s.clientTop + p.y];
    }""", [x, y, stage])


def toucher(page):
    """touch(kind, *points): one DevTools touch event, the fingers at ``points`` (ids 0, 1, ... in that order)."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind, *points, ids=None):
        ids = ids or range(len(points))
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in zip(ids, points)]})

    return touch


def work(page):
    """What the page holds: [hint pixels, closing-line pixels, leave-empty pixels, Undo enabled, the brush color]."""
    return js(page, """() => {
        const n = (l) => { let k = 0; for (let i = 3; i < l.data.length; i += 4) if (l.data[i]) k++; return k; };
        const a = window.autopainter;
        return [n(a.layer), n(a.closing), n(a.empty), !document.getElementById('undo-btn').disabled,
                document.getElementById('color-picker').value];
    }""")


def in_viewport(page, selector):
    box = page.locator(selector).bounding_box()
    vp = page.viewport_size
    return bool(box) and page.is_visible(selector) and box["width"] > 0 and box["height"] > 0 and \
        box["x"] < vp["width"] and box["x"] + box["width"] > 0 and box["y"] < vp["height"] and box["y"] + box["height"] > 0


def tap_until(page, selector, done, arg=None):
    """Tap ``selector`` until ``done`` holds: a tap's click comes a moment after the touch, and chromium drops a tap
    that follows a touch sequence too closely (a double tap)."""
    for _ in range(3):
        page.tap(selector)
        try:
            page.wait_for_function(done, arg=arg, timeout=1500)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: tap again
            page.wait_for_timeout(300)
    page.wait_for_function(done, arg=arg, timeout=1)


def tap_tool(page, tool):
    tap_until(page, f"#tool-{tool}", "(t) => document.getElementById('tool-' + t).getAttribute('aria-pressed') === 'true'", tool)


def tap_color(page, color):
    tap_until(page, f'.swatch[data-color="{color}"]', "(c) => document.getElementById('color-picker').value === c", color)


def pinch(touch, a, b, spread=40, steps=5, still_first=False, stagger=True):
    """Two fingers: the first lands at ``a``, then the second at ``b``; they move apart (the first stays still with
    ``still_first``), and lift."""
    if stagger:
        touch("touchStart", a)
    touch("touchStart", a, b)
    for s in range(1, steps + 1):
        k = spread * s / steps
        first = a if still_first else (a[0] - k, a[1])
        touch("touchMove", first, (b[0] + k, b[1]))
    touch("touchEnd")


# ------------------------------------------------------------------ 1. a pinch takes nothing, a tap fills
@pytest.mark.slow
def test_pinch_never_paints_fills_or_picks(open_page, shapes, tmp_path):
    page = open_page(shapes, live=False, **PHONE)
    touch = toucher(page)
    page.click("#colorize-btn")  # a result: a pick anywhere would take a color
    wait_result_current(page)
    js(page, "() => document.getElementById('stage').scrollIntoView({block: 'center'})")
    tap_tool(page, "fill")
    page.wait_for_function("() => window.autopainter.state.regions && window.autopainter.state.regions.ready")
    stage = page.locator("#stage").bounding_box()
    nothing = [0, 0, 0, False, "#e4572e"]

    def fit():
        page.click("#zoom-fit")
        return screen_point(page, 140, 200)  # inside the square

    for tool in ("fill", "empty", "picker", "closing", "brush"):
        tap_tool(page, tool)
        # both fingers on the stage, the first lands first
        at = fit()
        pinch(touch, at, (at[0] + 50, at[1]))
        # the first finger stays still while the second moves (a thumb held, a finger pinching)
        at = fit()
        pinch(touch, at, (at[0] + 60, at[1] + 10), still_first=True)
        # the second finger lands off the stage, on the toolbar above it (in view): still a pinch
        at = fit()
        pinch(touch, at, (at[0] + 20, stage["y"] - 25), still_first=True)
        # both at once
        at = fit()
        pinch(touch, at, (at[0] + 50, at[1]), stagger=False)
        # held first (the region shows on Fill), then the second finger
        at = fit()
        touch("touchStart", at)
        page.wait_for_timeout(500)
        pinch(touch, at, (at[0] + 50, at[1]), still_first=True, stagger=False)
        page.wait_for_timeout(150)  # a fill would wait for the region map: none is asked for, but give it time
        assert work(page) == nothing, tool

    # PointerEvents dispatched by a script (touch pointers the browser does not know): no error, nothing taken
    tap_tool(page, "fill")
    at = fit()
    js(page, """([x, y]) => {
        const s = document.getElementById('stage');
        const ev = (type, id, x, y) => s.dispatchEvent(new PointerEvent(type, { pointerId: id, pointerType: 'touch', isPrimary: id === 11,
            clientX: x, clientY: y, bubbles: true, cancelable: true, button: type === 'pointermove' ? -1 : 0, buttons: type === 'pointerup' ? 0 : 1 }));
        ev('pointerdown', 11, x, y); ev('pointerdown', 12, x + 40, y);
        for (let i = 1; i < 6; i++) { ev('pointermove', 11, x, y); ev('pointermove', 12, x + 40 + 6 * i, y); }
        ev('pointerup', 12, x + 70, y); ev('pointerup', 11, x, y);
    }""", at)
    page.wait_for_timeout(150)
    assert work(page) == nothing
    assert js(page, "() => window.autopainter.view.scale") > js(page, "() => window.autopainter.view.fitScale()") * 1.1  # it zoomed

    # the eyedropper on the result: a pinch there picks nothing either
    tap_tool(page, "picker")
    js(page, "() => document.getElementById('result-stage').scrollIntoView({block: 'center'})")
    r = screen_point(page, 140, 200, "#result-stage")
    pinch(touch, r, (r[0] + 50, r[1]))
    assert work(page)[4] == "#e4572e"

    # a single tap still fills, one undo step; a tap with the eyedropper picks
    js(page, "() => document.getElementById('stage').scrollIntoView({block: 'center'})")
    tap_tool(page, "fill")
    at = fit()
    touch("touchStart", at)
    touch("touchEnd")
    page.wait_for_function("() => window.autopainter.layer.hasHints()")
    hints, _, _, undo, _ = work(page)
    assert hints > 50_000 and undo  # the square's inside
    assert js(page, "() => window.autopainter.layer.pixel(140, 200)") == [228, 87, 46, 255]
    tap_color(page, "#2d7dd2")
    tap_tool(page, "picker")
    touch("touchStart", fit())
    touch("touchEnd")
    page.wait_for_function("() => document.getElementById('color-picker').value === '#e4572e'")
    save_screenshot(page, tmp_path, "phone-pinch-fill.png", full_page=False)


# ------------------------------------------------------------------ 2. the result where a phone user looks
def test_phone_shows_the_result_over_the_sketch(open_page, shapes, tmp_path):
    page = open_page(shapes, **PHONE)
    touch = toucher(page)
    wait_result_current(page)
    assert not in_viewport(page, "#result-img")  # the result panel is below the sketch
    first = page.get_attribute("#pip-img", "src")
    assert in_viewport(page, "#result-pip") and first == page.get_attribute("#result-img", "src")

    # a finger's stroke: the small result follows, without scrolling
    scroll = js(page, "() => window.scrollY")
    a, b = screen_point(page, 60, 380), screen_point(page, 250, 380)
    touch("touchStart", a)
    for f in (0.2, 0.4, 0.6, 0.8, 1):
        touch("touchMove", (a[0] + f * (b[0] - a[0]), a[1]))
    touch("touchEnd")
    wait_result_current(page)
    page.wait_for_function("() => document.getElementById('pip-img').complete && document.getElementById('pip-img').naturalWidth > 0")
    assert js(page, "() => window.scrollY") == scroll
    src = page.get_attribute("#result-img", "src")
    assert src != first and page.get_attribute("#pip-img", "src") == src
    assert in_viewport(page, "#result-pip")
    pip = page.locator("#result-pip").bounding_box()
    stage = page.locator("#stage").bounding_box()
    assert stage["x"] <= pip["x"] and pip["x"] + pip["width"] <= stage["x"] + stage["width"] + 0.5
    assert pip["width"] > 100  # big enough to see the colors
    js(page, "() => window.scrollTo(0, document.querySelector('.tools').getBoundingClientRect().top + scrollY - 6)")
    assert in_viewport(page, "#result-pip")
    stage = page.locator("#stage").bounding_box()
    save_screenshot(page, tmp_path, "phone-result-pip.png", full_page=False)

    # a tap shows it larger, a second tap small again
    tap_until(page, "#result-pip", "() => document.getElementById('result-pip').getAttribute('aria-expanded') === 'true'")
    assert page.locator("#result-pip").bounding_box()["width"] > stage["width"] * 0.9
    tap_until(page, "#result-pip", "() => document.getElementById('result-pip').getAttribute('aria-expanded') === 'false'")
    assert page.locator("#result-pip").bounding_box()["width"] < stage["width"] / 2
    assert js(page, "() => window.autopainter.layer.revision") == 1  # the taps painted nothing

    # a stroke under it moves it to the other corner
    p = page.locator("#result-pip").bounding_box()
    a = (stage["x"] + stage["width"] * 0.3, p["y"] + p["height"] / 2)
    touch("touchStart", a)
    for f in (0.3, 0.6, 0.9):
        touch("touchMove", (a[0] + f * (p["x"] + p["width"] / 2 - a[0]), a[1]))
    touch("touchEnd")
    assert page.locator("#result-pip").bounding_box()["x"] < stage["x"] + stage["width"] / 2

    # with the result panel in view, the copy goes
    js(page, "() => document.getElementById('result-stage').scrollIntoView({block: 'center'})")
    page.wait_for_selector("#result-pip", state="hidden")


def test_desktop_layout_is_unchanged(open_page, shapes):
    page = open_page(shapes, viewport={"width": 1280, "height": 800})
    wait_result_current(page)
    s, r = page.locator("#stage").bounding_box(), page.locator("#result-stage").bounding_box()
    assert abs(s["width"] - r["width"]) < 1 and abs(s["height"] - r["height"]) < 1 and r["x"] > s["x"] + s["width"]  # side by side
    assert s["y"] + s["height"] <= 800 and r["y"] + r["height"] <= 800  # both in the window
    assert in_viewport(page, "#result-img") and page.is_hidden("#result-pip")
    assert page.is_hidden("#sketch-warning")


# ------------------------------------------------------------------ 3. dark hints are outlined on screen only
HINT_PIXELS = """async (blob) => {
    const b = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
    const c = document.createElement('canvas'); c.width = b.width; c.height = b.height;
    const g = c.getContext('2d'); g.drawImage(b, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data, colors = {};
    for (let i = 0; i < d.length; i += 4) if (d[i + 3]) { const k = [d[i], d[i + 1], d[i + 2], d[i + 3]].join(','); colors[k] = (colors[k] || 0) + 1; }
    return [b.width, b.height, colors];
}"""


def test_dark_hints_are_outlined_on_screen_only(open_page, shapes, tmp_path):
    page = open_page(shapes, live=False, **DESKTOP)
    js(page, "() => { const p = document.getElementById('color-picker'); p.value = '#000000'; p.dispatchEvent(new Event('input')); }")
    js(page, "() => { const s = document.getElementById('brush-size'); s.value = 8; s.dispatchEvent(new Event('input')); }")
    y = 200
    page.mouse.move(*screen_point(page, 250, y))
    page.mouse.down()
    page.mouse.move(*screen_point(page, 350, y), steps=10)
    page.mouse.up()
    page.wait_for_timeout(100)  # the outline is drawn at the next frame
    scale = js(page, "() => window.autopainter.view.scale")
    outline = js(page, """(y) => {
        const c = document.getElementById('hint-outline'), g = c.getContext('2d');
        const col = (x) => [...Array(30).keys()].map((k) => [...g.getImageData(x, y - 15 + k, 1, 1).data]);
        return [c.width, c.height, col(300)];
    }""", y)
    w, h, column = outline
    assert (w, h) == SIZE
    lit = [y - 15 + k for k, px in enumerate(column) if px[3] > 100 and min(px[:3]) > 200]
    assert lit and min(lit) < y - 4 and max(lit) > y + 3, column  # light above and below the stroke, on the bar
    assert all(not (y - 4 <= v <= y + 3) for v in lit)  # and never over the stroke itself
    # on screen: the black bar is light along the stroke's edges, dark a little further out
    shot = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("L")).astype(int)

    def screen(x, yy):
        sx, sy = screen_point(page, x, yy)
        return shot[int(sy), int(sx)]

    edge = y + 4 + 0.75 / scale  # just outside the stroke's lower edge
    assert screen(300, edge) > 150 and screen(300, y + 25) < 60 and screen(300, y) < 60, (screen(300, edge), screen(300, y + 25))
    # a mid color gets no outline
    page.click('.swatch[data-color="#e4572e"]')
    page.mouse.move(*screen_point(page, 100, 120))
    page.mouse.down()
    page.mouse.move(*screen_point(page, 200, 120), steps=8)
    page.mouse.up()
    page.wait_for_timeout(100)
    assert js(page, "() => [...document.getElementById('hint-outline').getContext('2d').getImageData(90, 100, 120, 40).data].some((v, i) => i % 4 === 3 && v)") is False
    save_screenshot(page, tmp_path, "hint-outline.png", full_page=False)
    # Hints off hides it with the hints
    page.click("#hints-toggle")
    assert js(page, "() => getComputedStyle(document.getElementById('hint-outline')).visibility") == "hidden"
    page.click("#hints-toggle")

    # what is sent and saved: the painted colors only, black and the swatch's, never the outline's light pixels
    page.click("#colorize-btn")
    wait_result_current(page)
    sent = js(page, f"() => ({HINT_PIXELS})(window.__lastHints)")
    assert sent[:2] == list(SIZE) and set(sent[2]) == {"0,0,0,255", "228,87,46,255"}, sent[2]
    with page.expect_download() as info:
        page.click("#save-hints-btn")
    saved = np.asarray(Image.open(info.value.path()).convert("RGBA")).reshape(-1, 4)
    assert {tuple(int(v) for v in px) for px in saved[saved[:, 3] > 0]} == {(0, 0, 0, 255), (228, 87, 46, 255)}


# ------------------------------------------------------------------ 4. a colored picture loaded as a sketch
def test_colored_picture_notice_and_extract(open_page, colored, shapes, tmp_path):
    page = open_page(colored)
    wait_result_current(page)
    page.wait_for_selector("#sketch-warning:not([hidden])")
    text = page.inner_text("#sketch-warning")
    assert "This looks like a colored picture, not line art: colors will be muddy." in text
    assert page.is_visible("#warning-extract") and "suggest" in page.get_attribute("#extract-btn", "class")
    # near the result: over the result stage
    w, r = page.locator("#sketch-warning").bounding_box(), page.locator("#result-stage").bounding_box()
    assert r["y"] <= w["y"] and w["y"] + w["height"] <= r["y"] + r["height"] + 0.5
    save_screenshot(page, tmp_path, "colored-warning.png", full_page=False)

    with page.expect_response(lambda resp: resp.url.endswith("/api/v1/sketchify")) as resp:
        page.click("#warning-extract")
    assert resp.value.status == 200
    page.wait_for_function("() => window.autopainter.state.name === 'photo-sketch'")
    wait_result_current(page)
    assert page.is_hidden("#sketch-warning") and "suggest" not in (page.get_attribute("#extract-btn", "class") or "")
    line_art = js(page, """() => {
        const i = document.getElementById('sketch-img'), c = document.createElement('canvas');
        c.width = i.naturalWidth; c.height = i.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let colored = 0, light = 0, n = d.length / 4;
        for (let k = 0; k < d.length; k += 4) {
            if (Math.max(d[k], d[k + 1], d[k + 2]) - Math.min(d[k], d[k + 1], d[k + 2]) > 30) colored++;
            if (d[k] > 200) light++;
        }
        return [colored / n, light / n];
    }""")
    assert line_art[0] < 0.01 and line_art[1] > 0.7, line_art  # gray lines on paper

    # line art: no notice; a colored picture again, then line art: the notice goes with the sketch
    page.set_input_files("#file-input", str(colored))
    page.wait_for_selector("#sketch-warning:not([hidden])")
    page.set_input_files("#file-input", str(shapes))
    page.wait_for_function("() => window.autopainter.state.name === 'shapes'")
    assert page.is_hidden("#sketch-warning")
    wait_result_current(page)
    assert page.is_hidden("#sketch-warning")


def test_colored_picture_notice_on_a_phone(open_page, colored):
    page = open_page(colored, **PHONE)
    page.wait_for_selector("#sketch-warning:not([hidden])")
    js(page, "() => document.getElementById('stage').scrollIntoView({block: 'end'})")
    w, s = page.locator("#sketch-warning").bounding_box(), page.locator("#stage").bounding_box()
    assert w["y"] + w["height"] <= s["y"] + 0.5 and in_viewport(page, "#sketch-warning")  # just above the sketch
    tap_until(page, "#warning-close", "() => document.getElementById('sketch-warning').hidden")  # colored as it is, if the user wants
    assert in_viewport(page, "#result-pip")


# ------------------------------------------------------------------ 5. the pixel limit comes from the server
def test_size_check_reads_the_servers_limit(open_page, tmp_path):
    page = open_page()
    page.wait_for_function("() => window.autopainter.state.limits !== null")
    assert js(page, "() => window.autopainter.state.limits.max_pixels") == 8192 * 8192  # the server's default now
    small = open_page(init_script="""
        const _f = window.fetch;
        window.fetch = async (url, opts) => {
          const r = await _f(url, opts);
          if (!String(url).endsWith('/api/v1/health')) return r;
          const h = await r.json();
          h.limits.max_pixels = 200 * 200;
          return new Response(JSON.stringify(h), { status: 200, headers: { 'Content-Type': 'application/json' } });
        };""")
    small.wait_for_function("() => window.autopainter.state.limits && window.autopainter.state.limits.max_pixels === 40000")
    Image.new("L", (300, 300), 255).save(tmp_path / "big.png")
    small.set_input_files("#file-input", str(tmp_path / "big.png"))
    small.wait_for_selector("#error:not([hidden])")
    assert "300×300 is too large: the server takes up to 40,000 pixels" in small.inner_text("#error-text")
    for f in STATIC.glob("*.*"):
        if f.suffix in (".js", ".html", ".css"):
            text = f.read_text()
            assert "4096" not in text and "16777216" not in text and "16,777,216" not in text, f.name


# ------------------------------------------------------------------ the phone screenshot of docs/web.md


@pytest.mark.slow
def test_phone_screenshot_with_the_bundled_model(open_bundled, tmp_path):
    """A phone after a few taps and a stroke on the character with the bundled model: the sketch with its hints
    (the black stroke over the eyebrow outlined) and the result over its corner, in one screen (docs/img/web-phone.png)."""
    page = open_bundled(CHARACTER, **PHONE)
    touch = toucher(page)
    wait_result_current(page, timeout=120_000)
    js(page, "() => window.scrollTo(0, document.querySelector('.tools').getBoundingClientRect().top + scrollY - 6)")
    tap_tool(page, "fill")
    page.wait_for_function("() => window.autopainter.state.regions && window.autopainter.state.regions.ready", timeout=60_000)
    for color, points in [("#8b5a2b", [(256, 165)]), ("#f2d0a4", [(330, 300), (131, 282), (145, 330), (372, 300), (256, 420)])]:  # hair, skin
        tap_color(page, color)
        for x, y in points:
            touch("touchStart", screen_point(page, x, y))
            touch("touchEnd")
    page.wait_for_function("() => window.autopainter.layer.revision >= 2")
    tap_tool(page, "brush")
    js(page, "() => { const s = document.getElementById('brush-size'); s.value = 8; s.dispatchEvent(new Event('input')); }")
    for color, (x0, x1, y) in [("#2d7dd2", (195, 325, 488)), ("#222222", (140, 210, 250))]:  # the shirt; black over the left eyebrow
        tap_color(page, color)
        a, b = screen_point(page, x0, y), screen_point(page, x1, y)
        touch("touchStart", a)
        for f in (0.25, 0.5, 0.75, 1):
            touch("touchMove", (a[0] + f * (b[0] - a[0]), a[1]))
        touch("touchEnd")
    wait_result_current(page, timeout=120_000)
    page.wait_for_function("() => document.getElementById('pip-img').src === document.getElementById('result-img').src"
                           " && document.getElementById('pip-img').complete")
    page.wait_for_timeout(300)
    assert in_viewport(page, "#result-pip") and in_viewport(page, "#stage")
    save_screenshot(page, tmp_path, "web-phone.png", full_page=False)
