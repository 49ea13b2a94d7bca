"""The README's first picture is redrawn whenever the bundled model changes: docs/img/readme-strip.png carries the
digest of the model that made it (``docs/make_readme_strip.py``)."""

import importlib.util
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _maker():
    spec = importlib.util.spec_from_file_location("make_readme_strip", REPO / "docs" / "make_readme_strip.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_picture_is_of_the_bundled_model():
    mod = _maker()
    with Image.open(REPO / "docs" / "img" / "readme-strip.png") as im:
        made_with = im.text.get(mod.MODEL_KEY)
    assert made_with == mod.model_digest(), (
        "docs/img/readme-strip.png was made with another model: run python docs/make_readme_strip.py")


def test_the_readme_shows_it_under_the_commands():
    head = (REPO / "README.md").read_text().split("## ")[0]
    assert "make serve" in head and "docs/img/readme-strip.png" in head
