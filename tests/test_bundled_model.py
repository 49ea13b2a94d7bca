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
    shipped = sum(f.stat().st_size for f in d.iterdir())
    assert shipped <= 32 * 1024 * 1024 and (d / "model.safetensors").stat().st_size <= 20 * 1024 * 1024
    meta = json.loads((d / "config.json").read_text())
    assert meta["dtype"] == "float16" and meta["model"]["in_channels"] == 5  # sketch + hints
    assert meta["model"]["upsample"] == "resize"  # no transposed convolutions: no checkerboard
    assert meta["training_files"] == {"discriminator.safetensors": "not needed for inference"}
    trained = meta["trained"]
    assert trained["total_steps"] >= 7_000 and trained["total_images"] >= 4 * trained["total_steps"]
    assert meta["model"]["parts"] and (d / "palettes.json").is_file()  # it names materials and has their palettes
    card = (d / "MODEL_CARD.md").read_text()
    for source in ("OpenMoji", "DiceBear", "Big Heads", "Comicgen", "CC BY-SA 4.0", "CC BY 4.0", "CC0", "MIT"):
        assert source in card, source
    assert f"{trained['total_steps']:,}" in card  # the card's steps are the model's


def bundled_material_dim() -> int:

    return json.loads((bundled_model_dir() / "config.json").read_text())["model"].get("material_dim", 0)


def bundled_heads() -> list[str]:
    """The --set lines that give a config the bundled model's heads (and their terms)."""
    model = json.loads((bundled_model_dir() / "config.json").read_text())["model"]
    out = [f"model.material_dim={model['material_dim']}", "loss.material=2"] if model.get("material_dim") else []
    if model.get("parts"):
        out += [f"model.parts=[{','.join(model['parts'])}]", "loss.parts=1"]
    return out


def test_init_from_bundled_loads_the_generator_and_its_discriminator():
    """--set train.init_from=bundled: G, its EMA and D start from the packaged model, wherever it is installed."""
    import torch
    from safetensors.torch import load_file

    from autopainter.config import Config
    from autopainter.training.state import build_models

    models = build_models(Config.load("default", ["train.init_from=bundled", *bundled_heads()]), torch.device("cpu"))
    g = load_file(bundled_model_dir() / "model.safetensors")
    d = load_file(bundled_model_dir() / "discriminator.safetensors")
    for module, saved in ((models.G, g), (models.G_ema, g), (models.D, d)):
        state = module.state_dict()
        assert set(saved) <= set(state)
        for k, v in saved.items():
            assert torch.equal(state[k].to(v.dtype), v), k


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


def test_every_hue_steers(colorizer):
    """Each of the twelve hint hues of benchmarks/bench_hue_wheel.py turns the ring's inside to its own hue
    (the earlier OpenMoji default steered 8 of 12: green and cyan hints gave gray)."""
    from autopainter.evaluate import hue_wheel

    rows, _ = hue_wheel(lambda sketch, hints: colorizer(sketch, hints, style="soft"))
    missed = [(r["hue"], r["region_hue"], r["chroma"]) for r in rows if not r["steers"]]
    assert not missed, f"hues that did not steer (hint hue, region hue, chroma): {missed}"
