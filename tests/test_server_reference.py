"""Reference coloring through the REST API (FastAPI TestClient, the tiny random model): ``POST /api/v1/colorize``
with ``reference`` (a colored drawing of the same character) and ``reference_lines``. The sketch is the reference's
outlines moved: its regions take the reference's colors, whatever the model would have painted; the answer says how
it matched (``X-Reference-Fit``, ``X-Reference-Palette``, ``X-Reference-Check``; ``"reference"`` in JSON). Bad
references are one-line 4xx JSON errors, and the pixel budget counts the reference's pixels."""

import base64
import io
import json
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from test_server import MAX_PIXELS, assert_error, bomb_png, decode, png_bytes, settings

from autopainter.inference.reference import CHECK_BELOW
from autopainter.server import create_app

SIZE = (240, 200)
SKIN, SHIRT = (241, 200, 161), (41, 90, 200)


def figure(dx=0, dy=0, colored=False, size=SIZE, mode="L") -> Image.Image:
    """A character: a round face over a square body, outlined in black on white (``colored``: face and body
    filled, the reference), moved by (dx, dy) px."""
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.ellipse((60 + dx, 10 + dy, 140 + dx, 90 + dy), outline="black", fill=SKIN if colored else None, width=3)
    d.rectangle((50 + dx, 95 + dy, 150 + dx, 185 + dy), outline="black", fill=SHIRT if colored else None, width=3)
    return img if colored else img.convert(mode)


DX, DY = 14, 6  # the new sketch: the reference's outlines moved
FACE, BODY, PAPER = (50 + DY, 100 + DX), (140 + DY, 100 + DX), (5, 5)  # (row, col) inside each region of the sketch


def files(sketch=None, reference=None, **more):
    out = {"sketch": ("s.png", png_bytes(sketch or figure(DX, DY)), "image/png")}
    if reference is not None:
        out["reference"] = ("ref.png", reference if isinstance(reference, bytes) else png_bytes(reference), "image/png")
    for k, v in more.items():
        out[k] = (f"{k}.png", v if isinstance(v, bytes) else png_bytes(v), "image/png")
    return out


def labels_of(client, sketch_files, **data) -> np.ndarray:
    r = client.post("/api/v1/regions", files={"sketch": sketch_files["sketch"]}, data=data)
    assert r.status_code == 200, r.text
    rgb = np.asarray(decode(r.content).convert("RGB")).astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


@pytest.fixture(scope="module")
def client(tiny_model_dir, tmp_path_factory):
    with TestClient(create_app(settings(tmp_path_factory.mktemp("server"), tiny_model_dir))) as c:
        yield c


# ------------------------------------------------------------------------------ a reference colors the sketch
def test_the_sketch_takes_the_reference_colors(client):
    f = files(reference=figure(colored=True))
    plain = np.asarray(decode(client.post("/api/v1/colorize", files={"sketch": f["sketch"]}).content).convert("RGB"))
    r = client.post("/api/v1/colorize", files=f)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    out = np.asarray(decode(r.content).convert("RGB"))
    assert out.shape == (SIZE[1], SIZE[0], 3)
    assert tuple(out[FACE]) == SKIN and tuple(out[BODY]) == SHIRT and tuple(out[PAPER]) == (255, 255, 255)
    assert not (tuple(plain[FACE]) == SKIN and tuple(plain[BODY]) == SHIRT)  # the tiny model alone does not

    # the headers: how well it fits, the reference's palette, the regions to check
    assert 0.5 < float(r.headers["X-Reference-Fit"]) <= 1.0 and len(r.headers["X-Reference-Fit"].split(".")[1]) == 3
    palette = json.loads(r.headers["X-Reference-Palette"])
    assert {"#%02x%02x%02x" % SKIN, "#%02x%02x%02x" % SHIRT} <= set(palette)
    assert r.headers["X-Reference-Palette"].isascii()
    assert r.headers["X-Reference-Check"] == "" and r.headers["X-Reference-Check-Count"] == "0"  # an easy match
    assert "X-Reference-Check-Truncated" not in r.headers

    # JSON: the same image and the report, whose region ids are those of /api/v1/regions
    j = client.post("/api/v1/colorize?format=json", files=f)
    assert j.status_code == 200
    body = j.json()
    assert np.array_equal(np.asarray(decode(base64.b64decode(body["image"])).convert("RGB")), out)
    rep = body["reference"]
    assert set(rep) == {"alignment", "palette", "regions"} and rep["palette"] == palette
    assert rep["alignment"]["fit"] == pytest.approx(float(r.headers["X-Reference-Fit"]), abs=1e-3)
    labels = labels_of(client, f)
    by_id = {x["region"]: x for x in rep["regions"]}
    assert set(by_id) == set(np.unique(labels).tolist())
    for at, color in ((FACE, SKIN), (BODY, SHIRT)):
        entry = by_id[int(labels[at])]
        assert entry["color"] == "#%02x%02x%02x" % color and entry["source"] == "reference"
        assert entry["confidence"] >= CHECK_BELOW and entry["matched"]
    for entry in rep["regions"]:  # every region is painted the color the report gives it (off the lines)
        inside = (labels == entry["region"]) & (np.asarray(decode(f["sketch"][1]).convert("L")) > 200)
        if inside.sum() > 50:
            rgb = tuple(int(v) for v in np.median(out[inside], axis=0))
            assert "#%02x%02x%02x" % rgb == entry["color"]

    # OpenRaster: the headers too
    ora = client.post("/api/v1/colorize", files=f, data={"format": "ora"})
    assert ora.status_code == 200 and ora.headers["X-Reference-Palette"] == r.headers["X-Reference-Palette"]
    merged = zipfile.ZipFile(io.BytesIO(ora.content)).read("mergedimage.png")
    assert np.array_equal(np.asarray(decode(merged).convert("RGB")), out)

    # without a reference: none of it
    assert not any(k.lower().startswith("x-reference") for k in client.post("/api/v1/colorize", files={"sketch": f["sketch"]}).headers)
    assert "reference" not in client.post("/api/v1/colorize?format=json", files={"sketch": f["sketch"]}).json()


def test_reference_lines_hints_and_a_reference_of_another_size(client):
    big = Image.new("RGB", (480, 400), "white")  # twice as large, the same layout, with its own line art
    d = ImageDraw.Draw(big)
    d.ellipse((120, 20, 280, 180), outline="black", fill=SKIN, width=6)
    d.rectangle((100, 190, 300, 370), outline="black", fill=SHIRT, width=6)
    lines = Image.new("L", (480, 400), 255)
    d = ImageDraw.Draw(lines)
    d.ellipse((120, 20, 280, 180), outline=0, width=6)
    d.rectangle((100, 190, 300, 370), outline=0, width=6)
    hints = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    ImageDraw.Draw(hints).rectangle((BODY[1] - 5, BODY[0] - 5, BODY[1] + 5, BODY[0] + 5), fill=(200, 30, 30, 255))
    r = client.post("/api/v1/colorize", files=files(reference=big, reference_lines=lines, hints=hints))
    assert r.status_code == 200, r.text
    out = np.asarray(decode(r.content).convert("RGB"))
    assert tuple(out[FACE]) == SKIN  # from the reference
    assert tuple(out[BODY]) == (200, 30, 30)  # a hint wins over the reference


def test_a_server_whose_default_style_is_soft_colors_flat_with_a_reference(tiny_model_dir, tmp_path):
    """No style sent: a reference colors in the flat style whatever the server's default."""
    from autopainter.inference import Colorizer

    colorizer = Colorizer.from_pretrained(tiny_model_dir, style="soft", max_pixels=MAX_PIXELS)
    with TestClient(create_app(settings(tmp_path), colorizer=colorizer)) as c:
        assert c.get("/api/v1/health").json()["default_style"] == "soft"
        r = c.post("/api/v1/colorize", files=files(reference=figure(colored=True)))
        assert r.status_code == 200, r.text
        out = np.asarray(decode(r.content).convert("RGB"))
        assert tuple(out[FACE]) == SKIN and tuple(out[BODY]) == SHIRT


def test_regions_to_check_and_the_cap_on_their_ids(client, monkeypatch):
    """A reference of another drawing fits badly: its regions are the ones to check, ids of the region map."""
    import autopainter.server.api as api

    other = Image.new("RGB", SIZE, "white")
    d = ImageDraw.Draw(other)
    for i in range(4):  # four stripes, nothing like the figure
        d.rectangle((10 + 55 * i, 20, 50 + 55 * i, 120 + 15 * i), outline="black", fill=((60 * i) % 256, 150, 40 * i), width=3)
    f = files(reference=other)
    r = client.post("/api/v1/colorize?format=json", files=f)
    assert r.status_code == 200, r.text
    check = [int(x) for x in r.headers["X-Reference-Check"].split(",") if x]
    rep = r.json()["reference"]
    low = [x["region"] for x in rep["regions"] if x["confidence"] < CHECK_BELOW]
    assert check == low and len(check) >= 1 and r.headers["X-Reference-Check-Count"] == str(len(low))
    assert set(check) <= set(np.unique(labels_of(client, f)).tolist())
    # every region to check (a threshold over 1), two ids at most: the first two, and the header says it is cut
    monkeypatch.setattr(api, "CHECK_BELOW", 1.01)
    monkeypatch.setattr(api, "MAX_CHECK_IDS", 2)
    cut = client.post("/api/v1/colorize", files=f)
    every = [x["region"] for x in rep["regions"]]
    assert len(every) >= 3 and cut.headers["X-Reference-Check"] == f"{every[0]},{every[1]}"
    assert cut.headers["X-Reference-Check-Truncated"] == "1" and cut.headers["X-Reference-Check-Count"] == str(len(every))


# ------------------------------------------------------------------------------ bad references
def one_line(r):
    assert "\n" not in r.json()["error"] and len(r.json()["error"]) <= 500


def test_line_art_as_the_reference_is_a_422(client):
    r = client.post("/api/v1/colorize", files=files(reference=figure()))
    assert_error(r, 422, "reference", "line art")
    one_line(r)
    assert "--reference-lines" not in r.json()["error"]  # the library names no CLI flag


def test_reference_lines_without_a_reference_is_a_422(client):
    r = client.post("/api/v1/colorize", files=files(reference_lines=figure()))
    assert_error(r, 422, "reference_lines", "reference")
    one_line(r)


def test_the_soft_style_with_a_reference_is_a_422(client):
    r = client.post("/api/v1/colorize", files=files(reference=figure(colored=True)), data={"style": "soft"})
    assert_error(r, 422, "reference", "flat")
    one_line(r)
    ok = client.post("/api/v1/colorize", files=files(reference=figure(colored=True)), data={"style": "flat"})
    assert ok.status_code == 200


@pytest.mark.parametrize("field", ["reference", "reference_lines"])
@pytest.mark.parametrize("payload, status, words", [
    (b"hello, I am not an image", 415, ["not an image"]),
    (b"", 422, ["empty"]),
    (png_bytes(Image.new("RGB", (120, 90), (200, 30, 30)))[:90], 422, []),
    (bomb_png(), 413, []),
    (png_bytes(Image.new("L", (600, 600), 255)), 413, ["pixel limit"]),
])
def test_unreadable_or_too_large_references_are_4xx_json(client, field, payload, status, words):
    more = {field: payload} if field == "reference_lines" else {}
    ref = payload if field == "reference" else figure(colored=True)
    r = client.post("/api/v1/colorize", files=files(reference=ref, **more))
    assert_error(r, status, field, *words)
    one_line(r)
    assert client.get("/api/v1/health").status_code == 200


def test_the_pixel_budget_counts_the_reference(tiny_model_dir, tmp_path, monkeypatch):
    """The reference and its lines are read whole at their own size: each holds its own pixels (hints hold the
    sketch's, being stretched over it)."""
    import autopainter.server.app as app_module
    from autopainter.server.bounds import PixelBudget

    held = []

    class Recording(PixelBudget):
        def hold(self, pixels):
            held.append(pixels)
            return super().hold(pixels)

    monkeypatch.setattr(app_module, "PixelBudget", Recording)
    with TestClient(create_app(settings(tmp_path, tiny_model_dir))) as c:
        sketch_px = SIZE[0] * SIZE[1]
        assert c.post("/api/v1/colorize", files=files()).status_code == 200
        assert held[-1] == sketch_px
        big_ref = figure(colored=True, size=(300, 250))
        small_lines = Image.new("L", (30, 25), 255)
        hints = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
        hints.putpixel((3, 3), (255, 0, 0, 255))
        r = c.post("/api/v1/colorize", files=files(reference=big_ref, reference_lines=small_lines, hints=hints))
        assert r.status_code in (200, 422), r.text  # (blank lines may match nothing: the budget is what counts)
        assert held[-1] == sketch_px + sketch_px + 300 * 250 + 30 * 25


def test_the_api_describes_the_reference_fields(client):
    spec = client.get("/openapi.json").json()
    ref = "/api/v1/colorize"
    schema_name = spec["paths"][ref]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    props = spec["components"]["schemas"][schema_name]["properties"]
    assert "colored drawing" in props["reference"]["description"]
    assert "reference" in props["reference_lines"]["description"]
    assert "X-Reference-Check" in spec["paths"][ref]["post"]["description"]
    health = client.get("/api/v1/health").json()
    assert health["reference"]["check_below"] == CHECK_BELOW
