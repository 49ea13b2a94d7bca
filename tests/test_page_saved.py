"""Saved work and downloads on the page, in Debian's headless chromium (see test_browser.py for the set-up):
the sketch and its hints come back after a reload (IndexedDB), at desktop and phone sizes; Start over empties
the page and the store; the hint layer saves as the RGBA PNG that ``autopainter colorize --hints`` takes and
loads back (another size stretched); the Download menu gives the result, its layers and an OpenRaster file
whose merged image is the result; a browser that keeps nothing (no IndexedDB, a full disk) still works.
Screenshots go to the test's tmp folder (and to ``$AUTOPAINTER_SCREENSHOT_DIR`` when set)."""

import base64
import io
import zipfile

import numpy as np
import pytest
from conftest import DESKTOP, PHONE, draw_shapes, paint_stroke, save_screenshot, wait_result_current
from PIL import Image, ImageDraw

SIZE = (480, 320)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """A circle and a square, each a closed region: shapes.png."""
    return draw_shapes(tmp_path_factory.mktemp("sketches") / "shapes.png", SIZE)


B64 = "const b64 = (a) => { let s = ''; for (let i = 0; i < a.length; i += 8192) s += String.fromCharCode(...a.subarray(i, i + 8192)); return btoa(s); };"


def layer_png(page) -> bytes:
    """The hint layer as the page saves it (``layer.toPNG()``)."""
    return base64.b64decode(page.evaluate(f"""async () => {{ {B64}
        return b64(new Uint8Array(await (await window.autopainter.layer.toPNG()).arrayBuffer())); }}"""))


def layer_data(page) -> np.ndarray:
    """The hint layer's own pixels, (H, W, 4) uint8."""
    w, h, data = page.evaluate(f"() => {{ {B64} const L = window.autopainter.layer; return [L.width, L.height, b64(L.data)]; }}")
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(h, w, 4)


def pixels(png: bytes, mode: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert(mode))


def paint_two_strokes(page):
    paint_stroke(page, [(0.2, 0.4), (0.35, 0.55)])
    page.click('.swatch[data-color="#2d7dd2"]')
    paint_stroke(page, [(0.7, 0.3), (0.8, 0.6)])


def restored(page) -> bool:
    """Whether the page brought back a kept sketch (once it has looked)."""
    return page.evaluate("() => window.autopainter.restored")


# ------------------------------------------------------------------ autosave: a reload loses nothing; Start over keeps nothing
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_hints_survive_a_reload_and_start_over_empties(open_page, shapes, device, tmp_path):
    page = open_page(shapes, **(PHONE if device == "phone" else DESKTOP))
    wait_result_current(page)
    if device == "phone":  # no save before the reload: only the one made as the page goes away (pagehide)
        page.evaluate("() => { window.autopainter.autosave.delayMs = 600_000; }")
    paint_two_strokes(page)
    before = layer_png(page)
    assert (pixels(before, "RGBA")[..., 3] == 255).sum() > 300
    if device == "desktop":
        page.evaluate("() => window.autopainter.autosave.settled()")  # the save a moment after the strokes
    else:
        assert page.evaluate("() => window.autopainter.autosave.dirty")

    page.reload()
    assert restored(page)
    page.wait_for_selector("#notice:not([hidden])")
    assert page.inner_text("#notice-text") == "Restored your last sketch and hints"
    after = layer_png(page)
    assert np.array_equal(pixels(after, "RGBA"), pixels(before, "RGBA"))
    state = page.evaluate("() => { const s = window.autopainter.state; return [s.name, s.width, s.height]; }")
    assert state == ["shapes", *SIZE]
    assert page.is_disabled("#undo-btn")  # a restored layer has no history to undo
    wait_result_current(page)  # Live is on: colored again, with the hints
    assert ":none:" not in page.get_attribute("#result-img", "data-key")
    assert page.is_visible("#notice")  # the result does not hide the news
    save_screenshot(page, tmp_path, f"restored-{device}.png")

    # Start over asks first; Cancel keeps everything
    page.click("#start-over-btn")
    assert page.is_visible("#start-over-dialog")
    page.click("#start-over-cancel")
    assert page.evaluate("() => window.autopainter.state.sketch !== null")
    page.click("#start-over-btn")
    page.click("#start-over-confirm")
    assert page.is_visible("#placeholder") and page.is_hidden("#sketch-view")
    assert page.is_visible("#result-placeholder") and page.is_hidden("#download-menu")
    assert page.is_disabled("#colorize-btn") and page.is_disabled("#start-over-btn") and page.is_disabled("#save-hints-btn")
    page.evaluate("() => window.autopainter.autosave.settled()")
    page.reload()
    assert not restored(page)
    assert page.is_visible("#placeholder") and page.is_hidden("#notice")
    assert page.evaluate("() => window.autopainter.state.sketch") is None


# ------------------------------------------------------------------ downloads and the hints file
def grab(page, tmp_path, selector):
    """Click ``selector`` (opening the Download menu first for its items); the downloaded file's path."""
    if selector.startswith("[data-download") and not page.evaluate("() => document.getElementById('download-menu').open"):
        page.click("#download-menu summary")
    with page.expect_download() as info:
        page.click(selector)
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return path


def colorize_requests(page) -> list[list[str]]:
    return [fields for url, fields in page.evaluate("window.__forms") if url.endswith("/api/v1/colorize")]


def test_downloads_result_layers_and_openraster(open_page, shapes, tmp_path):
    page = open_page(shapes)
    paint_two_strokes(page)
    wait_result_current(page)
    page.click("#download-menu summary")
    save_screenshot(page, tmp_path, "download-menu.png")
    asked = len(colorize_requests(page))

    result = grab(page, tmp_path, '[data-download="result"]')
    assert result.name == "shapes_colored.png"
    shown = page.evaluate(f"""() => {{ {B64} const r = document.getElementById('result-img'), c = document.createElement('canvas');
        c.width = r.naturalWidth; c.height = r.naturalHeight; const x = c.getContext('2d'); x.drawImage(r, 0, 0);
        return b64(x.getImageData(0, 0, c.width, c.height).data); }}""")
    result_rgb = pixels(result.read_bytes(), "RGB")
    assert result_rgb.shape == (SIZE[1], SIZE[0], 3)
    shown = np.frombuffer(base64.b64decode(shown), np.uint8).reshape(SIZE[1], SIZE[0], 4)
    assert np.array_equal(shown[..., :3], result_rgb)  # the picture on show, no new request
    assert len(colorize_requests(page)) == asked

    # the three layers: one request (format=json, layers=true) with the result's hints
    names = {}
    for what in ("color", "lines", "flats"):
        path = grab(page, tmp_path, f'[data-download="{what}"]')
        names[what] = path.name
        assert Image.open(path).size == SIZE
    assert names == {"color": "shapes_color.png", "lines": "shapes_lines.png", "flats": "shapes_flats.png"}
    assert Image.open(tmp_path / "shapes_lines.png").mode == "RGBA"
    new = colorize_requests(page)[asked:]
    assert len(new) == 1 and sorted(new[0]) == ["format", "hints", "layers", "sketch", "style"]

    # OpenRaster: one request, then kept; its merged image is the result, pixel for pixel
    ora = grab(page, tmp_path, '[data-download="ora"]')
    assert ora.name == "shapes.ora"
    grab(page, tmp_path, '[data-download="ora"]')
    assert len(colorize_requests(page)) == asked + 2
    with zipfile.ZipFile(ora) as z:
        first = z.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == b"image/openraster"
        assert np.array_equal(pixels(z.read("mergedimage.png"), "RGB"), result_rgb)
        assert b'name="Hints"' in z.read("stack.xml")


def test_hints_file_saves_for_the_cli_and_loads_back(open_page, shapes, tiny_model_dir, tmp_path):
    from autopainter.cli import main
    from autopainter.imageio import open_image
    from autopainter.inference.flats import hints_at

    page = open_page(shapes, live=False)
    paint_two_strokes(page)
    painted = layer_data(page)
    saved = grab(page, tmp_path, "#save-hints-btn")
    assert saved.name == "shapes_hints.png"
    img = Image.open(saved)
    assert img.mode == "RGBA" and img.size == SIZE
    assert np.array_equal(np.asarray(img), painted)  # transparent where unpainted, the colors as painted
    # what the library reads from it (the CLI's --hints) is the painted layer
    rgb, mask = hints_at(open_image(saved), SIZE)
    assert np.array_equal(mask, painted[..., 3] >= 128) and np.array_equal(rgb[mask], painted[..., :3][mask])
    out = tmp_path / "out.png"
    assert main(["colorize", str(shapes), "--hints", str(saved), "-o", str(out), "--model", str(tiny_model_dir), "-q"]) == 0
    assert Image.open(out).size == SIZE

    # a hint file of half the size: stretched over the sketch, in place of the hints, one undoable step
    small = Image.new("RGBA", (SIZE[0] // 2, SIZE[1] // 2), (0, 0, 0, 0))
    ImageDraw.Draw(small).rectangle((30, 20, 59, 39), fill=(200, 30, 40, 255))
    small.save(tmp_path / "small.png")
    page.set_input_files("#hints-input", str(tmp_path / "small.png"))
    page.wait_for_function("() => window.autopainter.layer.canUndo() && window.autopainter.layer.pixel(100, 60)[3] === 255")
    assert "stretched from 240×160 to the sketch's 480×320" in page.inner_text("#notice-text")
    now = layer_data(page)
    ys, xs = np.nonzero(now[..., 3])
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (60, 119, 40, 79)
    assert np.all(now[ys, xs] == [200, 30, 40, 255])
    page.click("#undo-btn")
    assert np.array_equal(layer_data(page), painted)

    # a picture without transparency is not a hint layer: refused, the layer kept
    Image.new("RGB", SIZE, (90, 90, 90)).save(tmp_path / "opaque.png")
    page.set_input_files("#hints-input", str(tmp_path / "opaque.png"))
    page.wait_for_selector("#error:not([hidden])")
    assert "opaque.png cannot be loaded as hints: it has no transparent pixels" in page.inner_text("#error-text")
    assert np.array_equal(layer_data(page), painted)


# ------------------------------------------------------------------ a browser that keeps nothing
NO_INDEXEDDB = "Object.defineProperty(window, 'indexedDB', { get() { throw new DOMException('blocked', 'SecurityError'); } });"
DISK_FULL = """IDBObjectStore.prototype.put = function () { throw new DOMException('the disk is full', 'QuotaExceededError'); };"""


@pytest.mark.slow
def test_the_page_works_when_the_browser_keeps_nothing(open_page, shapes, tmp_path):
    page = open_page(shapes, init_script=NO_INDEXEDDB)
    paint_two_strokes(page)
    wait_result_current(page)
    assert page.evaluate("() => window.autopainter.autosave.available") is False
    page.reload()
    assert not restored(page)
    assert page.is_visible("#placeholder") and page.is_hidden("#error")

    page = open_page(shapes, init_script=DISK_FULL)
    page.wait_for_selector("#notice:not([hidden])")
    assert "no room left to keep your work" in page.inner_text("#notice-text")
    paint_two_strokes(page)
    wait_result_current(page)  # still colors
    assert ":none:" not in page.get_attribute("#result-img", "data-key")
    save_screenshot(page, tmp_path, "disk-full.png")
