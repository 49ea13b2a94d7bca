"""colorspace: the one CIELAB conversion (the metrics' float one and the flats' 8-bit one)."""

import numpy as np
import pytest

from autopainter import color_metrics, colorspace
from autopainter.colorspace import from_lab8, lab, lab8_to_lab, lab_8bit, to_lab8


@pytest.mark.parametrize("rgb, want", [
    ((255, 255, 255), (100.0, 0.0, 0.0)),  # D65 white
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 0, 0), (53.24, 80.09, 67.20)),  # sRGB red, the textbook value
    ((0, 0, 255), (32.30, 79.19, -107.86)),
])
def test_lab_of_known_colors(rgb, want):
    np.testing.assert_allclose(lab(np.array(rgb, np.uint8)), want, atol=0.02)


def test_lab_keeps_the_shape_and_is_the_metrics_lab():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = lab(img)
    assert out.dtype == np.float32 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(lab(img.reshape(-1, 3)), out.reshape(-1, 3))  # (N, 3) as an image's pixels
    np.testing.assert_array_equal(lab(img.reshape(5, 7, 1, 3)), out.reshape(5, 7, 1, 3))
    assert color_metrics.lab is colorspace.lab
    with pytest.raises(ValueError, match="uint8"):
        lab(img.astype(np.float32))


def test_lab_agrees_with_the_exact_formulas():
    """OpenCV's float path interpolates its tables: within half a ΔE of scikit-image's exact rgb2lab."""
    rgb2lab = pytest.importorskip("skimage.color").rgb2lab
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    de = np.linalg.norm(lab(img) - rgb2lab(img), axis=-1)
    assert de.max() < 0.6 and de.mean() < 0.25


def test_the_8bit_encoding_is_lab_quantized():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    enc = to_lab8(img)
    assert enc.dtype == np.uint8 and enc.shape == img.shape
    np.testing.assert_array_equal(lab8_to_lab(enc), lab_8bit(img))
    de = np.linalg.norm(lab_8bit(img) - lab(img), axis=-1)
    assert de.mean() < 1.0 and de.max() < 3.5
    back = np.linalg.norm(lab(from_lab8(enc)) - lab(img), axis=-1)  # back to RGB: about what the encoding lost
    assert back.mean() < 1.0 and back.max() < 3.5
    white = to_lab8(np.array([[255, 255, 255]], np.uint8))
    np.testing.assert_array_equal(white, [[255, 128, 128]])  # L * 255 / 100, a + 128, b + 128
    np.testing.assert_allclose(lab8_to_lab(white), [[100.0, 0.0, 0.0]])
