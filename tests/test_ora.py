"""OpenRaster (.ora) files: the writer against the spec, the layers of a colored sketch, the CLI's -o x.ora and
--format ora, the API's format=ora.

``read_ora`` is a small reader written against the OpenRaster spec (https://www.openraster.org/): it
checks the container and composites the visible layers of stack.xml the way the spec says (W3C
Compositing and Blending: src-over and multiply, on premultiplied colors, the first layer on top), so
the layers a painting program shows are checked, not only mergedimage.png.
"""

import io
import os
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from PIL import Image, ImageDraw

from autopainter.cli import main
from autopainter.imageio import ORA_MIMETYPE, OraLayer, ora_bytes, write_ora

SIZE = (61, 45)  # (W, H) of the test sketches: odd, not square


# ------------------------------------------------------------------------------ a reader of the spec
def read_ora(data: bytes) -> dict:
    """Check an OpenRaster file and read it: ``{"w", "h", "layers": [{name, visible, op, opacity, image}],
    "merged", "thumbnail", "composite"}`` (images as numpy arrays; ``composite``: the visible layers
    blended by the spec, (h, w, 4) float in [0, 1], straight alpha)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    first = z.infolist()[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
    assert z.read("mimetype") == b"image/openraster"
    assert data[30:38] == b"mimetype" and data[38:54] == b"image/openraster"  # at a fixed offset: no extra field
    assert z.testzip() is None
    root = ET.fromstring(z.read("stack.xml"))
    assert root.tag == "image" and root.get("version", "").startswith("0.0.")
    w, h = int(root.get("w")), int(root.get("h"))
    stacks = root.findall("stack")
    assert len(stacks) == 1
    layers = []
    for el in stacks[0]:
        assert el.tag == "layer"
        with Image.open(io.BytesIO(z.read(el.get("src")))) as img:
            assert img.format == "PNG" and img.mode == "RGBA" and img.size == (w, h)
            layers.append({"name": el.get("name"), "visible": el.get("visibility", "visible") == "visible",
                           "op": el.get("composite-op", "svg:src-over"), "opacity": float(el.get("opacity", "1")),
                           "x": int(el.get("x", "0")), "y": int(el.get("y", "0")), "image": np.asarray(img)})
    with Image.open(io.BytesIO(z.read("mergedimage.png"))) as img:
        assert img.format == "PNG" and img.size == (w, h)
        merged = np.asarray(img.convert("RGB"))
    with Image.open(io.BytesIO(z.read("Thumbnails/thumbnail.png"))) as img:
        assert img.format == "PNG" and max(img.size) <= 256
        thumbnail = np.asarray(img)
    return {"w": w, "h": h, "layers": layers, "merged": merged, "thumbnail": thumbnail,
            "composite": composite(layers, w, h)}


def composite(layers: list[dict], w: int, h: int) -> np.ndarray:
    """The visible layers, bottom first, over transparency: premultiplied src-over, and multiply blending
    ``Cs' = (1 - ab) Cs + ab Cs Cb`` before it (W3C Compositing and Blending Level 1)."""
    co = np.zeros((h, w, 3))  # premultiplied color of the backdrop
    ab = np.zeros((h, w, 1))  # its alpha
    for layer in reversed(layers):
        if not layer["visible"]:
            continue
        assert (layer["x"], layer["y"]) == (0, 0)
        px = layer["image"].astype(np.float64) / 255.0
        cs, a_s = px[..., :3], px[..., 3:] * layer["opacity"]
        if layer["op"] == "svg:multiply":
            cb = np.divide(co, ab, out=np.zeros_like(co), where=ab > 0)
            cs = (1 - ab) * cs + ab * cs * cb
        else:
            assert layer["op"] == "svg:src-over", layer["op"]
        co = cs * a_s + co * (1 - a_s)
        ab = a_s + ab * (1 - a_s)
    color = np.divide(co, ab, out=np.zeros_like(co), where=ab > 0)
    return np.concatenate([color, ab], axis=-1)


def to_uint8(rgba: np.ndarray) -> np.ndarray:
    """An opaque composite as (h, w, 3) uint8."""
    assert np.allclose(rgba[..., 3], 1.0)
    return np.rint(rgba[..., :3] * 255).astype(np.uint8)


def names(ora: dict) -> list[tuple[str, bool]]:
    return [(layer["name"], layer["visible"]) for layer in ora["layers"]]


# ------------------------------------------------------------------------------ inputs
def sketch_image(size=SIZE) -> Image.Image:
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    d.ellipse((5, 5, size[0] - 12, size[1] - 6), outline=0, width=2)
    d.line((size[0] // 2, 0, size[0] // 2, size[1]), fill=90, width=1)  # a gray line: partial ink
    return img


def hints_image(size=(30, 20)) -> Image.Image:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((6, 8, 12, 12), fill=(200, 30, 30, 255))
    return img


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def colorizer(tiny_model_dir):
    from autopainter.inference import Colorizer

    return Colorizer.from_pretrained(tiny_model_dir)


# ------------------------------------------------------------------------------ the writer
def test_writer_follows_the_spec(tmp_path):
    rng = np.random.default_rng(0)
    w, h = 300, 120  # larger than a thumbnail: it is scaled to 256 x 102
    base = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    ink = np.zeros((h, w, 4), np.uint8)
    ink[..., 3] = rng.integers(0, 256, (h, w))
    lines = Image.fromarray(ink, "RGBA")
    shade = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    layers = [OraLayer("Lines", lines), OraLayer("Shade", shade, composite_op="svg:multiply", opacity=0.5),
              OraLayer("Hidden", Image.new("RGB", (w, h), (0, 255, 0)), visible=False), OraLayer("Base", base)]
    merged = Image.new("RGB", (w, h), (1, 2, 3))  # stored as given
    data = ora_bytes(layers, merged)
    assert data == ora_bytes(layers, merged)  # the same layers give the same bytes
    ora = read_ora(data)
    assert (ora["w"], ora["h"]) == (w, h) and ora["thumbnail"].shape[:2] == (102, 256)
    assert names(ora) == [("Lines", True), ("Shade", True), ("Hidden", False), ("Base", True)]
    assert [(x["op"], x["opacity"]) for x in ora["layers"]] == [("svg:src-over", 1.0), ("svg:multiply", 0.5),
                                                               ("svg:src-over", 1.0), ("svg:src-over", 1.0)]
    assert (ora["merged"] == (1, 2, 3)).all()
    assert np.array_equal(ora["layers"][0]["image"], ink) and (ora["layers"][3]["image"][..., 3] == 255).all()
    # the spec's blending, by hand: base, half-strength multiply, black ink
    b, s, a = np.asarray(base) / 255.0, np.asarray(shade) / 255.0, ink[..., 3:] / 255.0
    expected = (0.5 * b * s + 0.5 * b) * (1 - a)
    assert np.allclose(ora["composite"][..., :3], expected) and np.allclose(ora["composite"][..., 3], 1.0)

    write_ora(tmp_path / "a.ora", layers, merged)
    assert (tmp_path / "a.ora").read_bytes() == data and os.listdir(tmp_path) == ["a.ora"]  # no temporary file left
    with pytest.raises(ValueError, match="Small"):
        ora_bytes([OraLayer("Small", Image.new("RGB", (w - 1, h)))], merged)
    with pytest.raises(ValueError, match="composite-op"):
        ora_bytes([OraLayer("Dodge", base, composite_op="svg:color-dodge")], merged)
    with pytest.raises(ValueError, match="at least one layer"):
        ora_bytes([], merged)


def test_layer_names_are_escaped():
    odd = 'a "quoted" <name> & more'
    ora = read_ora(ora_bytes([OraLayer(odd, Image.new("RGB", (4, 3)))], Image.new("RGB", (4, 3))))
    assert ora["layers"][0]["name"] == odd


# ------------------------------------------------------------------------------ a colored sketch's layers
@pytest.mark.parametrize("style, expected", [
    ("flat", [("Lines", True), ("Flats", True), ("Hints", False)]),
    ("soft", [("Lines", True), ("Flats", False), ("Color", True), ("Hints", False)]),
])
def test_result_layers(colorizer, style, expected):
    sketch, hints = sketch_image(), hints_image()
    res = colorizer.colorize(sketch, hints=hints, style=style)
    ora = read_ora(res.to_ora())
    assert names(ora) == expected
    assert all(x["op"] == "svg:src-over" and x["opacity"] == 1.0 for x in ora["layers"])
    image = np.asarray(res.image)
    assert np.array_equal(ora["merged"], image)
    assert np.array_equal(ora["merged"], np.asarray(colorizer(sketch, hints=hints, style=style)))  # = the plain call
    assert np.array_equal(to_uint8(ora["composite"]), image)  # the layers a painting program blends give the result
    layers = {x["name"]: x["image"] for x in ora["layers"]}
    gray = np.asarray(sketch)
    assert (layers["Lines"][..., :3] == 0).all() and np.array_equal(layers["Lines"][..., 3], 255 - gray)
    assert np.array_equal(layers["Flats"][..., :3], np.asarray(res.flats)) and (layers["Flats"][..., 3] == 255).all()
    assert np.array_equal(layers["Hints"], np.asarray(hints.resize(SIZE, Image.Resampling.NEAREST)))
    if style == "soft":
        assert np.array_equal(layers["Color"][..., :3], np.asarray(res.color))
        assert not np.array_equal(layers["Color"], layers["Flats"])  # two different layers: both are worth keeping
    thumb = ora["thumbnail"]
    assert thumb.shape[:2] == (45, 61)  # small images keep their size


def test_result_layers_without_hints_and_every_result_has_its_layers(colorizer, tmp_path):
    res = colorizer.colorize(sketch_image())
    assert [x.name for x in res.ora_layers()] == ["Lines", "Flats"]
    res.save_ora(tmp_path / "x.ora")
    assert read_ora((tmp_path / "x.ora").read_bytes())["merged"].shape == (45, 61, 3)
    # a result always has its layers (made on demand): the one-step call gives the same file as colorize
    prep = colorizer.prepare(sketch_image())
    plain = colorizer.finish(prep, colorizer.generate(prep.x), layers=False)
    assert plain.to_ora() == res.to_ora() and set(plain.layers) == {"color", "lines", "flats"}
    # one image as its own layer (docs/make_resolution.py's scaled output): one visible layer, the image itself
    from autopainter.imageio import OraLayer, ora_bytes

    scaled = Image.fromarray(colorizer.generate(prep.x)).resize((61, 45), Image.Resampling.BICUBIC)
    ora = read_ora(ora_bytes([OraLayer("Color", scaled)], scaled))
    assert names(ora) == [("Color", True)] and np.array_equal(to_uint8(ora["composite"]), np.asarray(scaled))


def test_pillow_alpha_compositing_is_within_one_level(colorizer):
    """What a program blending in 8 bits shows (Pillow's alpha_composite) is the result within one level."""
    res = colorizer.colorize(sketch_image(), style="soft")
    ora = read_ora(res.to_ora())
    visible = [Image.fromarray(x["image"], "RGBA") for x in reversed(ora["layers"]) if x["visible"]]
    out = visible[0]
    for layer in visible[1:]:
        out = Image.alpha_composite(out, layer)
    diff = np.abs(np.asarray(out.convert("RGB")).astype(int) - np.asarray(res.image).astype(int))
    assert diff.max() <= 1


# ------------------------------------------------------------------------------ CLI
def test_cli_writes_ora(tiny_model_dir, tmp_path, capsys):
    model = str(tiny_model_dir)
    sketch_image().save(tmp_path / "s.png")
    hints_image().save(tmp_path / "h.png")
    common = ["--model", model, "--hints", str(tmp_path / "h.png"), "-q"]
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "x.png"), *common]) == 0
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "x.ORA"), *common]) == 0
    ora = read_ora((tmp_path / "x.ORA").read_bytes())
    with Image.open(tmp_path / "x.png") as img:
        assert np.array_equal(ora["merged"], np.asarray(img))  # the .ora's merged image is the PNG result
    assert names(ora) == [("Lines", True), ("Flats", True), ("Hints", False)]
    assert np.array_equal(to_uint8(ora["composite"]), ora["merged"])

    # a folder of sketches: --format ora fills the output folder with STEM.ora
    (tmp_path / "in").mkdir()
    sketch_image().save(tmp_path / "in" / "a.png")
    sketch_image((40, 50)).save(tmp_path / "in" / "b.png")
    assert main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--format", "ora", "--model", model, "-q"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["a.ora", "b.ora"]
    assert read_ora((tmp_path / "out" / "b.ora").read_bytes())["merged"].shape == (50, 40, 3)
    # --format and a file -o that says otherwise
    capsys.readouterr()
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "y.png"), "--format", "ora", "--model", model]) == 2
    assert "--format ora" in capsys.readouterr().err and not (tmp_path / "y.png").exists()


def test_cli_ora_never_replaces_an_input(tiny_model_dir, tmp_path, capsys):
    model = str(tiny_model_dir)
    sketch_image().save(tmp_path / "s.png")
    before = (tmp_path / "s.png").read_bytes()
    os.link(tmp_path / "s.png", tmp_path / "same.ora")  # the output is the input under another name
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "same.ora"), "--model", model, "-q"]) == 2
    err = capsys.readouterr().err
    assert "is the same file as the input" in err and "--overwrite" in err
    assert (tmp_path / "s.png").read_bytes() == before
    # a folder of sketches colored into itself: a.png's output a.ora is no input, a.ora as an input is refused
    (tmp_path / "in").mkdir()
    sketch_image().save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.ora").write_bytes(b"not mine")
    assert main(["colorize", str(tmp_path / "in" / "a.png"), str(tmp_path / "in" / "b.ora"), "-o", str(tmp_path / "in"),
                 "--format", "ora", "--model", model, "-q"]) == 2
    assert "b.ora" in capsys.readouterr().err and (tmp_path / "in" / "b.ora").read_bytes() == b"not mine"
    assert not (tmp_path / "in" / "a.ora").exists()
    # with --overwrite the user says so: the output replaces the linked file
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "same.ora"), "--model", model, "-q",
                 "--overwrite"]) == 0
    assert read_ora((tmp_path / "same.ora").read_bytes())["merged"].shape == (45, 61, 3)


# ------------------------------------------------------------------------------ API
def test_api_format_ora(tiny_model_dir, tmp_path):
    from fastapi.testclient import TestClient

    from autopainter.server import ServerSettings, create_app

    app = create_app(ServerSettings(model_dir=tiny_model_dir, data_dir=tmp_path / "data", allowed_hosts=("testserver",)))
    with TestClient(app) as client:
        assert client.get("/api/v1/health").json()["formats"] == ["png", "json", "ora"]
        files = {"sketch": ("s.png", png(sketch_image()), "image/png"), "hints": ("h.png", png(hints_image()), "image/png")}
        plain = client.post("/api/v1/colorize", files=files, data={"style": "soft"})
        assert plain.status_code == 200 and plain.headers["content-type"] == "image/png"
        for how in ({"data": {"format": "ora", "style": "soft"}}, {"params": {"format": "ora"}, "data": {"style": "soft"}}):
            r = client.post("/api/v1/colorize", files=files, **how)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == ORA_MIMETYPE
            assert r.headers["content-disposition"] == 'attachment; filename="colored.ora"'
            assert (r.headers["x-image-width"], r.headers["x-image-height"]) == ("61", "45")
            ora = read_ora(r.content)
            with Image.open(io.BytesIO(plain.content)) as img:
                assert np.array_equal(ora["merged"], np.asarray(img))  # = the PNG the API gives
            assert names(ora) == [("Lines", True), ("Flats", False), ("Color", True), ("Hints", False)]
            assert np.array_equal(to_uint8(ora["composite"]), ora["merged"])
        # layers=true is redundant with ora, and still needs json or ora
        assert client.post("/api/v1/colorize", files=files, data={"format": "ora", "layers": "true"}).status_code == 200
        r = client.post("/api/v1/colorize", files=files, data={"layers": "true"})
        assert r.status_code == 422 and "format=ora" in r.json()["error"]
        r = client.post("/api/v1/colorize", files=files, data={"format": "psd"})
        assert r.status_code == 422 and "png, json or ora" in r.json()["error"]
        r = client.post("/api/v1/sketchify", files={"image": ("s.png", png(sketch_image()), "image/png")}, data={"format": "ora"})
        assert r.status_code == 422 and "png or json" in r.json()["error"]  # only colorize has layers


# ------------------------------------------------------------------------------ MyPaint, where it is installed
MYPAINT = Path("/usr/lib/mypaint")  # Debian's mypaint package: its document code runs without a display
MYPAINT_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import lib.document, lib.eotf
# MyPaint opens a file without its own eotf attribute and without pigment layers in 1.x mode (its default
# setting): blending in sRGB values, as the OpenRaster spec and every other painting program do
lib.eotf.set_eotf(1.0)
doc = lib.document.Document()
doc.load_ora(sys.argv[2])
print(json.dumps([[layer.name, layer.visible, layer.opacity] for layer in doc.layer_stack]))
doc.save_png(sys.argv[3], alpha=False)
doc.cleanup()
"""


@pytest.mark.skipif(not (MYPAINT / "lib" / "document.py").is_file(), reason="MyPaint is not installed")
def test_mypaint_opens_the_file(colorizer, tmp_path):
    import json
    import subprocess

    res = colorizer.colorize(sketch_image(), hints=hints_image(), style="soft")
    res.save_ora(tmp_path / "x.ora")
    run = subprocess.run(["/usr/bin/python3", "-c", MYPAINT_SCRIPT, str(MYPAINT), str(tmp_path / "x.ora"),
                          str(tmp_path / "render.png")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    layers = json.loads(run.stdout.strip().splitlines()[-1])
    assert layers == [["Lines", True, 1.0], ["Flats", False, 1.0], ["Color", True, 1.0], ["Hints", False, 1.0]]
    with Image.open(tmp_path / "render.png") as img:  # MyPaint renders whole 64 px tiles from the top left
        render = np.asarray(img.convert("RGB"))[:SIZE[1], :SIZE[0]].astype(int)
    assert np.abs(render - np.asarray(res.image).astype(int)).max() <= 1  # its 15-bit blending: within one level
