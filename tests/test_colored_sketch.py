"""A colored picture given as a sketch (issue 35): coloring it gives mud, so the library, the CLI and the API say so
(``data.sketch.looks_colored``, ``ColorizeResult.warnings``, a one-line CLI warning, ``X-Sketch-Warning``), and line
art, gray or RGB, with spot blacks or without, is never warned about."""

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from test_reference import character, lines_of
from test_server import png_bytes, settings

from autopainter.cli import main
from autopainter.data.sketch import looks_colored
from autopainter.inference import Colorizer
from autopainter.inference.colorizer import COLORED_SKETCH
from autopainter.server import create_app


def manga() -> np.ndarray:
    """Line art with spot blacks: a filled black hair cap, still line art."""
    a = np.stack([lines_of(character(False))] * 3, 2).copy()
    a[40:90, 80:176] = 0
    return a


def test_looks_colored():
    assert looks_colored(character(True))
    assert not looks_colored(character(False))
    assert not looks_colored(manga())
    assert not looks_colored(np.full((64, 64, 3), 255, np.uint8))


def test_result_warns_on_a_colored_picture():
    c = Colorizer.hints_only()
    assert c.colorize(character(True)).warnings == [COLORED_SKETCH]
    assert c.colorize(character(False)).warnings == []
    assert c.colorize(Image.fromarray(lines_of(character(False)))).warnings == []


def test_cli_warns_in_one_line(tmp_path, capsys):
    src = tmp_path / "colored.png"
    Image.fromarray(character(True)).save(src)
    assert main(["colorize", str(src), "--model", "none", "-o", str(tmp_path / "out.png"), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopainter: warning:") and "sketchify" in err[0]
    assert (tmp_path / "out.png").is_file()  # still colored: a warning, not an error


@pytest.fixture(scope="module")
def client(tiny_model_dir, tmp_path_factory):
    with TestClient(create_app(settings(tmp_path_factory.mktemp("server"), tiny_model_dir))) as c:
        yield c


def test_api_header_and_json(client):
    r = client.post("/api/v1/colorize", files={"sketch": ("s.png", png_bytes(Image.fromarray(character(True))), "image/png")})
    assert r.status_code == 200 and r.headers["X-Sketch-Warning"] == "colored"
    r = client.post("/api/v1/colorize", files={"sketch": ("s.png", png_bytes(Image.fromarray(character(True))), "image/png")},
                    data={"format": "json"})
    assert r.json()["warnings"] == [COLORED_SKETCH]
    r = client.post("/api/v1/colorize", files={"sketch": ("s.png", png_bytes(Image.fromarray(lines_of(character(False)))), "image/png")})
    assert r.status_code == 200 and "X-Sketch-Warning" not in r.headers
