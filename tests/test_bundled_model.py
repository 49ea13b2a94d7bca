"""The model shipped inside the package: it loads with no flags, colors the examples, and follows hints."""

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from autopainter.cli import main
from autopainter.inference import Colorizer, bundled_model_dir

REPO_EXAMPLES = __import__("conftest").REPO / "examples" / "sketches"


@pytest.fixture(scope="module")
def colorizer():
    return Colorizer.from_pretrained()  # no folder: the bundled model


def test_bundled_model_is_small_fp16_and_documented():
    d = bundled_model_dir()
    weights = d / "model.safetensors"
    assert weights.stat().st_size <= 25 * 1024 * 1024
    meta = json.loads((d / "config.json").read_text())
    assert meta["dtype"] == "float16" and meta["model"]["in_channels"] == 5  # sketch + hints
    card = (d / "MODEL_CARD.md").read_text()
    assert "CC BY-SA 4.0" in card and "OpenMoji" in card


def test_colorize_examples_with_no_flags(tmp_path):
    out = tmp_path / "out"
    assert main(["colorize", str(REPO_EXAMPLES), "-o", str(out), "-q"]) == 0
    sketches = sorted(REPO_EXAMPLES.glob("*.png"))
    assert sketches
    colored = []
    for s in sketches:
        result = Image.open(out / s.name)
        assert result.size == Image.open(s).size and result.mode == "RGB"
        rgb = np.asarray(result).astype(int)
        colored.append(((rgb.max(axis=2) - rgb.min(axis=2)) > 40).mean())  # share of clearly colored pixels
    # the lines alone (a model that paints nothing) would give 0
    assert np.mean(colored) > 0.05, f"colored shares {np.round(colored, 3)}"


def _ring(size=256):
    sketch = Image.new("L", (size, size), 255)
    ImageDraw.Draw(sketch).ellipse((40, 40, size - 40, size - 40), outline=0, width=8)
    return sketch


def _hint(color, size=256):
    h = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(h).line((100, 128, 156, 128), fill=(*color, 255), width=8)
    return h


def test_hints_steer_the_colors(colorizer):
    """The same sketch, a red hint and then a blue hint in the same region: the region follows the hint."""
    sketch = _ring()
    region = (slice(70, 186), slice(70, 186))  # inside the ring, around the stroke
    red = np.asarray(colorizer(sketch, _hint((220, 40, 40)))).astype(float)[region].reshape(-1, 3).mean(0)
    blue = np.asarray(colorizer(sketch, _hint((40, 90, 220)))).astype(float)[region].reshape(-1, 3).mean(0)
    assert red[0] - red[2] > 40, f"red hint gave mean color {red.round()}"
    assert blue[2] - blue[0] > 40, f"blue hint gave mean color {blue.round()}"
