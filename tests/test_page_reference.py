"""The page's Reference slot, in Debian's headless chromium (see test_browser.py for the set-up), against the tiny
model: a colored drawing of the same character loaded as the reference rides in every colorize request (live, after
each stroke), the result takes its colors, its palette comes as swatches the brush takes, Soft and Variants are off
while it is set; the regions the server says to check (X-Reference-Check) are outlined on the result from the
region map, with a legend and a toggle; autosave and Save/Load hints keep the reference; the x removes it; a
reference the server refuses (line art) is said and removed; a drop on the result sets one. Screenshots go to the
test's tmp folder (and to ``$AUTOPAINTER_SCREENSHOT_DIR`` when set)."""

import json

import pytest
from conftest import paint_stroke, save_screenshot, wait_result_current
from PIL import Image
from test_server_reference import BODY, DX, DY, FACE, SHIRT, SKIN, figure

HEX = {name: "#%02x%02x%02x" % rgb for name, rgb in (("skin", SKIN), ("shirt", SHIRT))}


@pytest.fixture(scope="module")
def drawings(tmp_path_factory):
    """The sketch (the figure moved), its colored reference, and the line art alone (not a reference)."""
    root = tmp_path_factory.mktemp("drawings")
    figure(DX, DY).save(root / "sketch.png")
    figure(colored=True).save(root / "ref.png")
    figure().save(root / "lineart.png")
    return root


def colorize_forms(page):
    """The form fields of each colorize request the page made, in order."""
    return [keys for url, keys in page.evaluate("window.__forms") if url.endswith("/api/v1/colorize")]


def result_rgb(page, points):
    """The result's colors at sketch pixels (row, col)."""
    return [tuple(v) for v in page.evaluate("""(pts) => {
        const img = document.getElementById('result-img'), c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        return pts.map(([y, x]) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3)));
    }""", [list(p) for p in points])]


def wait_reference_result(page):
    """Until the result on show was made with the reference on the page now."""
    page.wait_for_function("""() => { const r = window.autopainter.state.reference;
        const k = document.getElementById('result-img').dataset.key; return Boolean(r && k && k.endsWith(':r' + r.version)); }""", timeout=20_000)
    wait_result_current(page)


@pytest.mark.slow
def test_reference_colors_the_sketch_live_and_is_kept(open_page, drawings, tmp_path):
    page = open_page(drawings / "sketch.png")
    wait_result_current(page)
    assert page.is_hidden("#reference") and page.inner_text("#reference-label") == "Reference…"
    page.click("label:has(#style-soft)")  # Soft on: a reference turns it off
    wait_result_current(page)

    page.set_input_files("#reference-input", str(drawings / "ref.png"))
    wait_reference_result(page)
    assert "reference" in colorize_forms(page)[-1]
    assert page.is_visible("#reference") and page.inner_text("#reference-name") == "ref.png"
    assert page.evaluate("() => document.getElementById('reference-img').naturalWidth") == 240
    assert page.is_checked("#style-flat") and page.is_disabled("#style-soft")
    assert page.evaluate("window.__styles.at(-1)") == "flat"
    assert page.is_disabled("#variants-btn")
    assert result_rgb(page, [FACE, BODY]) == [SKIN, SHIRT]  # the reference's colors

    # its palette: swatches, and one gives the brush its color
    page.wait_for_selector("#reference-palette .swatch")
    colors = page.eval_on_selector_all("#reference-palette .swatch", "bs => bs.map((b) => b.dataset.color)")
    assert {HEX["skin"], HEX["shirt"]} <= set(colors)
    page.click(f'#reference-palette .swatch[data-color="{HEX["shirt"]}"]')
    assert page.input_value("#color-picker") == HEX["shirt"]
    assert page.get_attribute(f'#reference-palette .swatch[data-color="{HEX["shirt"]}"]', "aria-pressed") == "true"
    # an easy match: nothing to check, and the legend says so
    assert page.is_visible("#check-legend") and page.inner_text("#check-text") == "Every region matched the reference"
    assert page.is_hidden("#check-canvas") and "fit 0." in page.inner_text("#reference-fit")
    save_screenshot(page, tmp_path, "reference-set.png")

    # a stroke: the re-color, live, carries the reference
    n = len(colorize_forms(page))
    paint_stroke(page, [(0.2, 0.2), (0.25, 0.25)])
    page.wait_for_function(f"() => window.__forms.filter(([u]) => u.endsWith('/api/v1/colorize')).length > {n}")
    wait_reference_result(page)
    assert "reference" in colorize_forms(page)[-1]

    # Save hints: the reference rides in the PNG (its own chunk, its name in the text chunk)
    with page.expect_download() as info:
        page.click("#save-hints-btn")
    saved = tmp_path / "hints.png"
    info.value.save_as(saved)
    assert json.loads(Image.open(saved).text["autopainter"])["reference"] == {"name": "ref.png", "type": "image/png"}
    assert b"apRf" in saved.read_bytes()

    # a reload: the reference comes back with the sketch, and the first re-color sends it
    page.evaluate("() => window.autopainter.autosave.settled()")
    page.reload()
    assert page.evaluate("() => window.autopainter.restored")
    wait_reference_result(page)
    assert colorize_forms(page) and all("reference" in f for f in colorize_forms(page))
    assert page.inner_text("#reference-name") == "ref.png" and page.is_disabled("#style-soft")
    assert "with its reference" in page.inner_text("#notice-text")
    assert result_rgb(page, [FACE, BODY]) == [SKIN, SHIRT]

    # a new sketch keeps the reference (the same character, the next panel)
    page.set_input_files("#file-input", str(drawings / "sketch.png"))
    page.wait_for_function("() => window.autopainter.state.version >= 2 && window.autopainter.state.width === 240")
    wait_reference_result(page)
    assert "reference" in colorize_forms(page)[-1]

    # the x: gone, the model's colors again, Soft back; and after a reload it stays gone
    page.click("#reference-clear")
    page.wait_for_function("() => !window.autopainter.state.reference")
    wait_result_current(page)
    assert page.is_hidden("#reference") and page.is_enabled("#style-soft") and page.is_hidden("#check-canvas")
    assert "reference" not in colorize_forms(page)[-1]
    assert page.inner_text("#reference-label") == "Reference…"
    page.evaluate("() => window.autopainter.autosave.settled()")
    page.reload()
    assert page.evaluate("() => window.autopainter.restored")
    wait_result_current(page)
    assert page.is_hidden("#reference") and page.evaluate("() => window.autopainter.state.reference") is None
    assert all("reference" not in f for f in colorize_forms(page))

    # Load hints brings the reference back
    page.set_input_files("#hints-input", str(saved))
    page.wait_for_function("() => Boolean(window.autopainter.state.reference)")
    assert "reference" in page.inner_text("#notice-text")
    wait_reference_result(page)

    # Start over: the reference goes with the rest
    page.click("#start-over-btn")
    page.click("#start-over-confirm")
    assert page.evaluate("() => window.autopainter.state.reference") is None and page.is_hidden("#reference")
    assert page.is_enabled("#style-soft")


# The answers to colorize with a reference say that the regions in window.__check are to check (Playwright's
# route.fetch() would resend the request without its multipart files).
SAY_CHECK = """
const _fetchC = window.fetch;
window.fetch = async (url, opts) => {
  const r = await _fetchC(url, opts);
  if (!String(url).endsWith("/api/v1/colorize") || !r.headers.get("X-Reference-Fit") || !window.__check) return r;
  const headers = new Headers(r.headers);
  headers.set("X-Reference-Check", window.__check);
  headers.set("X-Reference-Check-Count", String(window.__check.split(",").length));
  return new Response(await r.blob(), { status: r.status, statusText: r.statusText, headers });
};
"""


def test_regions_to_check_are_outlined_on_the_result(open_page, drawings, tmp_path):
    """The server's X-Reference-Check (here: the face, put in the real answer by the test) is outlined over
    the result, in the region map's shape; the legend counts it and its toggle hides it."""
    page = open_page(drawings / "sketch.png", init_script=SAY_CHECK)
    wait_result_current(page)
    face = page.evaluate(f"async () => (await window.autopainter.regionMap()).labelAt({FACE[1]}, {FACE[0]})")
    body = page.evaluate(f"async () => (await window.autopainter.regionMap()).labelAt({BODY[1]}, {BODY[0]})")
    assert face and body and face != body
    page.evaluate(f"() => {{ window.__check = '{face}'; }}")
    # dropped on the result: the reference
    data = (drawings / "ref.png").read_bytes()
    page.evaluate("""async (bytes) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], 'ref.png', { type: 'image/png' }));
        document.getElementById('result-stage').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", list(data))
    wait_reference_result(page)
    page.wait_for_selector("#check-canvas:not([hidden])")
    assert page.inner_text("#check-text") == "1 region to check" and page.is_checked("#check-toggle")
    canvas = page.evaluate("""([face, body]) => {
        const c = document.getElementById('check-canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const map = window.autopainter.state.regions.map;
        let onFace = 0, magenta = 0, elsewhere = 0;
        for (let i = 0; i < map.labels.length; i++) {
            if (!d[i * 4 + 3]) continue;
            if (map.labels[i] === face) { onFace++; if (d[i * 4] > 200 && d[i * 4 + 1] < 40 && d[i * 4 + 3] === 255) magenta++; }
            else elsewhere++;
        }
        return { w: c.width, h: c.height, count: c.dataset.count, onFace, magenta, elsewhere };
    }""", [face, body])
    assert (canvas["w"], canvas["h"]) == (240, 200) and canvas["count"] == "1"
    assert canvas["onFace"] > 200 and canvas["magenta"] > 50 and canvas["elsewhere"] == 0
    save_screenshot(page, tmp_path, "reference-check.png")

    page.click("#check-toggle")
    assert page.is_hidden("#check-canvas")
    page.click("#check-toggle")
    assert page.is_visible("#check-canvas")
    # a result without the reference: no outlines, no legend
    page.click("#reference-clear")
    wait_result_current(page)
    assert page.is_hidden("#check-canvas") and page.is_hidden("#check-legend")


def test_a_reference_the_server_refuses_is_said_and_removed(open_page, drawings):
    page = open_page(drawings / "sketch.png")
    wait_result_current(page)
    page.set_input_files("#reference-input", str(drawings / "lineart.png"))
    page.wait_for_selector("#error:not([hidden])")
    text = page.inner_text("#error-text")
    assert "reference" in text and "line art" in text and "removed" in text
    page.wait_for_function("() => !window.autopainter.state.reference")
    assert page.is_hidden("#reference") and page.is_enabled("#style-soft")
    wait_result_current(page)  # and the page colors again, without it
    # not an image at all: refused in the browser, nothing sent
    (drawings / "notes.txt").write_text("not an image")
    page.set_input_files("#reference-input", str(drawings / "notes.txt"))
    page.wait_for_function("() => document.getElementById('error-text').textContent.includes('cannot be the reference')")
    assert page.evaluate("() => window.autopainter.state.reference") is None
