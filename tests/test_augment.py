"""data.augment: seeded, shape-keeping, one geometry for sketch and color, backgrounds only outside."""

import numpy as np
import pytest

import autopainter.data.augment as aug
from autopainter.config import DataConfig
from autopainter.data.pairs import PairDataset


def _pair(size=96):
    """A character-like pair: a colored disc with a black outline on white, and its line art."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    color = np.full((size, size, 3), 255, np.uint8)
    color[r < size * 0.3] = (200, 60, 40)
    ring = (r >= size * 0.3) & (r < size * 0.3 + 3)
    color[ring] = 0
    sketch = np.full((size, size), 255, np.uint8)
    sketch[ring] = 0
    return color, sketch


def test_seeded_and_shapes_kept():
    color, sketch = _pair()
    a = aug.augment_pair(color, sketch, np.random.default_rng(7), lambda: _pair())
    b = aug.augment_pair(color, sketch, np.random.default_rng(7), lambda: _pair())
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == color.shape and a[1].shape == sketch.shape and a[0].dtype == a[1].dtype == np.uint8
    outs = [aug.augment_pair(color, sketch, np.random.default_rng(s), lambda: _pair()) for s in range(20)]
    assert len({o[0].tobytes() for o in outs}) > 15  # seeds give different samples


def test_one_geometry_for_sketch_and_color(monkeypatch):
    monkeypatch.setattr(aug, "P_SKETCH", {"exact": 1.0})  # keep the stored line art
    monkeypatch.setattr(aug, "P_LINES", 0.0)
    monkeypatch.setattr(aug, "P_BACKGROUND", 0.0)
    monkeypatch.setattr(aug, "P_GEOMETRY", 1.0)
    color, sketch = _pair()
    for seed in range(5):
        c, s = aug.augment_pair(color, sketch, np.random.default_rng(seed))
        ink = s < 60
        assert ink.sum() > 50
        assert (c[ink].max(axis=1) < 120).mean() > 0.9  # the color's outline is where the sketch's is


def test_background_paints_only_the_outside(monkeypatch):
    color, _ = _pair()
    inner = color.copy()
    inner[45:51, 45:51] = 255  # white paper enclosed by the disc: not background
    out = aug._background(inner, np.random.default_rng(3))
    assert not (out[0, 0] == 255).all() and (out[47, 47] == 255).all()
    assert np.array_equal(out[40:56, 40:56][inner[40:56, 40:56].min(axis=2) < 245],
                          inner[40:56, 40:56][inner[40:56, 40:56].min(axis=2) < 245])


def test_dataset_augments_in_training_only(pairs_dir):
    cfg = DataConfig(path=str(pairs_dir), image_size=32, load_size=36, augment=True)
    plain = DataConfig(path=str(pairs_dir), image_size=32, load_size=36)
    trained = [PairDataset(c, split="train", train=True)[3]["color"] for c in (cfg, plain)]
    assert not np.array_equal(trained[0].numpy(), trained[1].numpy())
    evals = [PairDataset(c, split="train", train=False)[3]["color"] for c in (cfg, plain)]
    assert np.array_equal(evals[0].numpy(), evals[1].numpy())  # eval mode never augments
    again = PairDataset(cfg, split="train", train=True)[3]["color"]
    assert np.array_equal(again.numpy(), trained[0].numpy())  # keyed: the same sample again


@pytest.mark.parametrize("bad", ["yes", 1])
def test_config_flag_is_a_bool(bad):
    from autopainter.config import Config, ConfigError

    with pytest.raises(ConfigError, match="data.augment"):
        Config.from_dict({"data": {"augment": bad}})
