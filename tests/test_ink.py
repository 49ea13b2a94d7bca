"""ink: every threshold that says which pixels of line art are ink, defined once; the old names are aliases."""

import numpy as np
from PIL import Image

from autopainter import ink
from autopainter.data import hints, materials
from autopainter.data.sources import characters, openmoji
from autopainter.inference import compose, regions


def test_each_threshold_has_one_value_and_the_old_names_read_it():
    # the values the product's bytes (tests/test_golden.py) and the datasets were made with
    assert (ink.LINE_INK, ink.REGION_INK) == (0.15, 0.3)
    assert (ink.MATERIAL_INK_BELOW, ink.RENDER_DARK_BELOW, ink.COMICGEN_INK_LUMA, ink.TARGET_LINE_MAX) == (128, 128, 70, 40)
    assert compose.INK_THRESHOLD is ink.LINE_INK and regions.REGION_INK is ink.REGION_INK
    assert materials.INK_BELOW is ink.MATERIAL_INK_BELOW and openmoji._DARK is ink.RENDER_DARK_BELOW
    assert characters.INK_LUMA is ink.COMICGEN_INK_LUMA and hints._BLACK_MAX is ink.TARGET_LINE_MAX


def test_ink_mask_is_the_region_walls():
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert ink.gray_below(ink.REGION_INK) == 178  # round(178.5): to even
    np.testing.assert_array_equal(ink.ink_mask(gray), gray < round(255 * (1.0 - 0.3)))
    np.testing.assert_array_equal(regions.segment(gray).ink, ink.ink_mask(gray))
    np.testing.assert_array_equal(materials.ink_of(gray), gray < 128)


def test_coverage_and_the_products_paper():
    gray = np.arange(256, dtype=np.uint8)
    cov = ink.coverage(gray)
    assert cov.dtype == np.float32 and cov[0] == 1.0 and cov[255] == 0.0
    paper = compose.paper_mask(gray)
    assert not paper[:217].any() and paper[217:].all()  # coverage below 0.15: gray 217 and lighter


def test_luma_is_itu_601_truncated():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    np.testing.assert_array_equal(ink.luma(rgb), (299 * r + 587 * g + 114 * b) // 1000)
    pillow = np.asarray(Image.fromarray(rgb).convert("L")).astype(int)  # the same weights, rounded
    assert 0 <= (pillow - ink.luma(rgb)).min() and (pillow - ink.luma(rgb)).max() <= 1
