"""The output layers are one list (``inference/layers.py``): a layer registered there alone reaches the CLI's
``--layers``, the API's JSON, the OpenRaster file and ``/api/v1/health`` (which the page builds its menu from)."""

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from autopainter.cli import main
from test_ora import read_ora
from autopainter.inference import layers as L


def _sketch(path):
    img = Image.new("L", (48, 36), 255)
    ImageDraw.Draw(img).rectangle((8, 6, 40, 30), outline=0, width=2)
    img.save(path)
    return path


@pytest.fixture
def dummy_layer():
    """An inverted copy of the result, as a layer only this module knows about."""
    layer = L.register_layer(L.Layer("dummy", "Dummy layer", "the dummy layer", "The result inverted",
                                     lambda r: ImageOps.invert(r.image), ora_name="Dummy", ora_visible=lambda r: False))
    yield layer
    L.unregister_layer("dummy")
    assert "dummy" not in L.layer_names(all_layers=True)


def test_the_default_layers_in_order():
    assert L.layer_names() == ["color", "lines", "flats"]
    assert L.layer_names(all_layers=True) == ["color", "lines", "flats", "hints", "closing", "empty"]
    with pytest.raises(ValueError, match="exists"):
        L.register_layer(L.Layer("color", "x", "x", "x", lambda r: r.color))
    with pytest.raises(ValueError, match="lowercase"):
        L.register_layer(L.Layer("Bad Name", "x", "x", "x", lambda r: r.color))
    with pytest.raises(ValueError, match="no layer named"):
        L.register_layer(L.Layer("fine", "x", "x", "x", lambda r: r.color), before="nope")


def test_a_registered_layer_reaches_every_output(dummy_layer, tmp_path):
    sk = _sketch(tmp_path / "s.png")
    # the CLI: --layers writes NAME_dummy.png and prints it; a .ora holds it
    assert main(["colorize", str(sk), "-o", str(tmp_path / "out.png"), "--model", "none", "--layers", "-q"]) == 0
    with Image.open(tmp_path / "out.png") as out, Image.open(tmp_path / "out_dummy.png") as dummy:
        assert np.array_equal(np.asarray(dummy), 255 - np.asarray(out))
    assert main(["colorize", str(sk), "-o", str(tmp_path / "out.ora"), "--model", "none", "-q"]) == 0
    ora = read_ora((tmp_path / "out.ora").read_bytes())
    assert [(x["name"], x["visible"]) for x in ora["layers"]] == [("Lines", True), ("Flats", True), ("Dummy", False)]

    # the API: health lists it, format=json&layers=true sends it, format=ora holds it
    from fastapi.testclient import TestClient

    from autopainter.inference import Colorizer
    from autopainter.server import ServerSettings, create_app

    app = create_app(ServerSettings(data_dir=tmp_path / "data", allowed_hosts=("testserver",)), colorizer=Colorizer.hints_only())
    with TestClient(app) as c:
        health = c.get("/api/v1/health").json()
        assert [x["name"] for x in health["output_layers"]] == ["color", "lines", "flats", "dummy"]
        assert health["output_layers"][-1] == {"name": "dummy", "label": "Dummy layer", "title": "the dummy layer",
                                               "description": "The result inverted", "suffix": "_dummy"}
        files = {"sketch": ("s.png", sk.read_bytes(), "image/png")}
        body = c.post("/api/v1/colorize", files=files, data={"format": "json", "layers": "true"}).json()
        assert list(body["layers"]) == ["color", "lines", "flats", "dummy"]
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["image"]))))
        dummy = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["layers"]["dummy"]))))
        assert np.array_equal(dummy, 255 - image)
        ora = read_ora(c.post("/api/v1/colorize", files=files, data={"format": "ora"}).content)
        assert "Dummy" in [x["name"] for x in ora["layers"]]


def test_health_lists_the_layers_without_a_dummy(tmp_path):
    from fastapi.testclient import TestClient

    from autopainter.inference import Colorizer
    from autopainter.server import ServerSettings, create_app

    app = create_app(ServerSettings(data_dir=tmp_path / "data", allowed_hosts=("testserver",)), colorizer=Colorizer.hints_only())
    with TestClient(app) as c:
        assert [x["name"] for x in c.get("/api/v1/health").json()["output_layers"]] == ["color", "lines", "flats"]
