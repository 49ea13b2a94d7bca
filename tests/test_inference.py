import numpy as np
import pytest
import torch
from PIL import Image

from autopainter.config import ModelConfig
from autopainter.inference import Colorizer, working_size
from autopainter.models.io import ModelFileError
from autopainter.models.unet import build_generator


@pytest.fixture(scope="module")
def colorizer():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=8, depth=4, norm="group", dropout=0.0))
    return Colorizer(g, {"image_size": 32})


@pytest.mark.parametrize("size", [(333, 517), (17, 9), (32, 32), (600, 40)])
def test_output_matches_input_size(colorizer, size):
    out = colorizer(Image.new("L", size, 255))
    assert out.size == size and out.mode == "RGB"


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "RGB", "1", "I;16"])
def test_any_image_mode(colorizer, mode):
    img = Image.new("RGB", (30, 20), (255, 255, 255)).convert(mode)
    assert colorizer(img).size == (30, 20)


def test_numpy_and_path_inputs(colorizer, tmp_path):
    a = np.full((20, 30), 255, np.uint8)
    Image.fromarray(a).save(tmp_path / "s.png")
    assert np.array_equal(np.asarray(colorizer(a)), np.asarray(colorizer(tmp_path / "s.png")))


def test_hints_change_the_input(colorizer):
    sketch = Image.new("L", (32, 32), 255)
    hints = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    hints.paste((255, 0, 0, 255), (8, 8, 24, 24))
    plain, hinted = np.asarray(colorizer(sketch)), np.asarray(colorizer(sketch, hints=hints))
    assert not np.array_equal(plain, hinted)
    # fully transparent hints are no hints
    assert np.array_equal(plain, np.asarray(colorizer(sketch, hints=Image.new("RGBA", (32, 32)))))


def test_working_size_keeps_aspect():
    assert working_size(1000, 500, 256) == (256, 128)
    assert working_size(100, 50, 256) == (100, 50)  # never up-scaled


def test_bad_inputs(colorizer):
    from autopainter.imageio import ImageError

    with pytest.raises(ImageError):
        colorizer(np.zeros((4, 4), np.float32))
    with pytest.raises(ImageError):
        colorizer(12)
    with pytest.raises(ModelFileError):
        Colorizer.from_pretrained("/nonexistent/model")


def test_16_bit_grayscale_scan_keeps_its_lines(tmp_path):
    from autopainter.imageio import read_gray

    a = np.full((10, 10), 65535, np.uint16)
    a[5] = 0  # a black line
    Image.fromarray(a).save(tmp_path / "scan16.png")
    g = read_gray(tmp_path / "scan16.png")
    assert g[0, 0] == 255 and g[5, 3] == 0
