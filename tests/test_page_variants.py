"""The page's palette variants (issue 32), in Debian's headless chromium (see test_browser.py for the set-up), against
a tiny model that names materials (test_server.materials_model): Variants asks for variants 0-3 of the sketch as
it is, one request after another, and shows four thumbnails; a click on one makes it the result and the variant
every later re-color sends; the palette on show is a row of labelled chips the brush takes a color from; the
variant comes back after a reload (autosave), rides in Save hints and in the .ora. With a model that names no
materials (the tiny one of the other page tests) the button stays hidden. Screenshots go to the test's tmp folder
(and to ``$AUTOPAINTER_SCREENSHOT_DIR`` when set)."""

import io
import zipfile

import numpy as np
import pytest
from conftest import page_opener, paint_stroke, save_screenshot, serve_app, wait_result_current
from PIL import Image, ImageDraw
from test_server import materials_model

SIZE = (480, 320)

# the variant each colorize request sent (None: none, i.e. 0), in order
RECORD_VARIANTS = """
window.__variants = [];
const _fetchV = window.fetch;
window.fetch = (url, opts) => {
  if (opts && opts.body instanceof FormData && String(url).endsWith("/api/v1/colorize")) {
    window.__variants.push([opts.body.get("variant"), opts.body.get("format")]);
  }
  return _fetchV(url, opts);
};
"""


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    img = Image.new("L", SIZE, 255)
    d = ImageDraw.Draw(img)
    d.ellipse((30, 30, 210, 290), outline=0, width=4)
    d.rectangle((260, 50, 450, 270), outline=0, width=4)
    path = tmp_path_factory.mktemp("sketches") / "shapes.png"
    img.save(path)
    return path


@pytest.fixture(scope="module")
def materials_server(tmp_path_factory):
    from autopainter.server import ServerSettings

    root = tmp_path_factory.mktemp("materials-server")
    yield from serve_app(ServerSettings(model_dir=materials_model(root / "model"), data_dir=root / "data"))


@pytest.fixture
def open_materials_page(browser, materials_server):
    yield from page_opener(browser, materials_server)


def sent_variants(page):
    """The variant field of each colorize request the page made for the result (not the .ora, not layers)."""
    return [v for v, fmt in page.evaluate("window.__variants") if fmt is None]


def thumbnail_pixels(page):
    return page.evaluate("""() => [...document.querySelectorAll('#variants .variant img')].map((img) => {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let h = 0; for (let i = 0; i < d.length; i += 97) h = (h * 31 + d[i]) % 1000000007;
        return [c.width, c.height, h];
    })""")


@pytest.mark.slow
def test_variants_choose_the_palette_and_stay_chosen(open_materials_page, shapes, tmp_path):
    page = open_materials_page(shapes, init_script=RECORD_VARIANTS)
    wait_result_current(page)
    page.wait_for_selector("#variants-btn:not([hidden])")  # health: the model names materials
    assert page.is_hidden("#variants")
    chips = page.locator("#palette .chip")
    assert chips.count() >= 1 and "clothing" in page.inner_text("#palette")  # the palette of variant 0

    before = len(sent_variants(page))
    page.click("#variants-btn")
    page.wait_for_function("() => document.querySelectorAll('#variants .variant[data-ready]').length === 4", timeout=30_000)
    assert page.get_attribute("#variants-btn", "aria-expanded") == "true"
    # variant 0 was on show already (cached): three new requests, one after another, for 1, 2 and 3
    assert sent_variants(page)[before:] == ["1", "2", "3"]
    pixels = thumbnail_pixels(page)
    assert all(w == SIZE[0] and h == SIZE[1] for w, h, _ in pixels)
    assert len({h for _, _, h in pixels}) == 4  # four different colorings
    assert page.get_attribute("#variants .variant:nth-child(1)", "aria-pressed") == "true"
    save_screenshot(page, tmp_path, "variants-offered.png")

    # the third: the result shows it at once (no request), and it is the variant from now on
    n = len(sent_variants(page))
    page.click("#variants .variant:nth-child(3)")
    wait_result_current(page)
    assert page.evaluate("() => window.autopainter.state.variant") == 2
    assert page.get_attribute("#result-img", "data-key").endswith(":v2")
    assert page.get_attribute("#result-img", "src") == page.get_attribute("#variants .variant:nth-child(3) img", "src")
    assert page.get_attribute("#variants .variant:nth-child(3)", "aria-pressed") == "true"
    assert page.get_attribute("#variants .variant:nth-child(1)", "aria-pressed") == "false"
    assert page.inner_text("#variants-btn") == "Variants: 2" and len(sent_variants(page)) == n

    # a palette chip gives the brush its color
    chip = page.locator("#palette .chip").first
    color = chip.get_attribute("data-color")
    chip.click()
    assert page.input_value("#color-picker") == color

    # a stroke: the next re-color sends variant 2
    paint_stroke(page, [(0.15, 0.5), (0.3, 0.5)])
    page.wait_for_function(f"() => window.__variants.filter(([v, f]) => f === null).length > {n}")
    wait_result_current(page)
    assert sent_variants(page)[n:] == ["2"]
    assert page.evaluate("() => document.getElementById('variants').classList.contains('stale')")  # made before the stroke
    save_screenshot(page, tmp_path, "variants-chosen.png")

    # the .ora download carries the variant (asked for with it)
    page.click("#download-menu summary")
    with page.expect_download() as info:
        page.click('[data-download="ora"]')
    ora = tmp_path / "result.ora"
    info.value.save_as(ora)
    assert 'autopainter-variant="2"' in zipfile.ZipFile(ora).read("stack.xml").decode()

    # Save hints: the variant rides in the PNG's text chunk
    with page.expect_download() as info:
        page.click("#save-hints-btn")
    saved = tmp_path / "hints.png"
    info.value.save_as(saved)
    assert Image.open(saved).text.get("autopainter") == '{"gap":"auto","variant":2}'

    # a reload: the variant comes back with the sketch, the button says so, and the first re-color sends it
    page.evaluate("() => window.autopainter.autosave.settled()")
    page.reload()
    assert page.evaluate("() => window.autopainter.restored")
    wait_result_current(page)
    assert page.evaluate("() => window.autopainter.state.variant") == 2
    assert page.get_attribute("#result-img", "data-key").endswith(":v2")
    assert sent_variants(page) == ["2"]
    assert page.inner_text("#variants-btn") == "Variants: 2" and page.is_hidden("#variants")
    save_screenshot(page, tmp_path, "variants-restored.png")

    # a new sketch starts at variant 0 again; Load hints brings variant 2 back
    page.click("#start-over-btn")
    page.click("#start-over-confirm")
    page.set_input_files("#file-input", str(shapes))
    page.wait_for_function("() => window.autopainter.state.width === 480")
    assert page.evaluate("() => window.autopainter.state.variant") == 0 and page.inner_text("#variants-btn") == "Variants"
    page.set_input_files("#hints-input", str(saved))
    page.wait_for_function("() => window.autopainter.state.variant === 2")
    assert "palette variant 2" in page.inner_text("#notice")


@pytest.mark.slow
def test_variants_hidden_for_a_model_without_materials(open_page, shapes):
    page = open_page(shapes)
    wait_result_current(page)
    page.wait_for_function("() => window.autopainter.state.maxVariant === 1000000")  # health has answered
    assert page.is_hidden("#variants-btn") and page.is_hidden("#palette")
    # the button still works (the key V does nothing while it is hidden; a script may call it)
    page.evaluate("() => window.autopainter.makeVariants()")
    page.wait_for_function("() => document.querySelectorAll('#variants .variant[data-ready]').length === 4", timeout=30_000)
    page.click("#variants .variant:nth-child(2)")
    wait_result_current(page)
    assert page.get_attribute("#result-img", "data-key").endswith(":v1")
