"""Sketch extraction, hint simulation, pair datasets and synthetic data: small images, CPU, offline."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from autopainter.config import DataConfig
from autopainter.data.hints import hints_from_rgba, hints_to_rgba, simulate_hints
from autopainter.data.layouts import LAYOUT_CLASSES, detect_layout, make_layout
from autopainter.data.pairs import PairDataset, sample_tensors
from autopainter.data.sketch import SKETCH_METHODS, extract_sketch
from autopainter.data.synthetic import draw_synthetic_pair, make_synthetic_pairs
from autopainter.imageio import ImageError, read_rgb

# ------------------------------------------------------------------------------ sketches


def _line_on_white(size: int = 64, width: int = 1) -> np.ndarray:
    img = Image.new("RGB", (size, size), "white")
    ImageDraw.Draw(img).line([(8, 32), (56, 32)], fill="black", width=width)
    return np.asarray(img)


@pytest.mark.parametrize("method", SKETCH_METHODS)
def test_sketch_shapes_dtype_and_inputs(method):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    for img in (rgb, rgb[:, :, 0], rgb[:, :, :1], np.dstack([rgb, np.full((40, 30), 255, np.uint8)])):
        out = extract_sketch(img, method)
        assert out.shape == (40, 30) and out.dtype == np.uint8


@pytest.mark.parametrize("method", SKETCH_METHODS)
@pytest.mark.parametrize("width", [1, 3])
def test_black_line_stays_dark_white_stays_white(method, width):
    out = extract_sketch(_line_on_white(width=width), method)
    assert out[32, 12:52].max() < 64  # the line
    assert out[:20].min() == 255 and out[44:].min() == 255  # paper far from it
    assert (extract_sketch(np.full((32, 48, 3), 255, np.uint8), method) == 255).all()


def test_sketch_rgba_composited_on_white():
    rgba = np.zeros((32, 32, 4), np.uint8)  # fully transparent black: white paper
    assert (extract_sketch(rgba) == 255).all()
    rgba[16, 4:28] = (0, 0, 0, 255)
    assert extract_sketch(rgba)[16, 8:24].max() < 64


def test_sketch_params_override_and_errors():
    img = _line_on_white(width=1)
    assert not np.array_equal(extract_sketch(img), extract_sketch(img, sigma=2.0))
    with pytest.raises(ValueError, match="xdog"):
        extract_sketch(img, method="canny")
    with pytest.raises(ValueError, match="sigma"):  # lists the valid parameters
        extract_sketch(img, sigmaa=1.0)
    with pytest.raises(ValueError):
        extract_sketch(img, sigma=-1.0)
    with pytest.raises(ValueError, match="uint8"):
        extract_sketch(img.astype(np.float32) / 255)


def test_sketch_tiny_image():
    assert extract_sketch(np.zeros((1, 1, 3), np.uint8)).shape == (1, 1)


# ------------------------------------------------------------------------------ hints


def _target(seed: int = 1, size: int = 64) -> np.ndarray:
    from autopainter.data.synthetic import draw_synthetic_pair

    return np.asarray(draw_synthetic_pair(np.random.default_rng(seed), size)[0])


def test_hints_seeded_and_varied():
    color = _target()
    a = simulate_hints(color, np.random.default_rng(7), n=10)
    b = simulate_hints(color, np.random.default_rng(7), n=10)
    c = simulate_hints(color, np.random.default_rng(8), n=10)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    rgb, mask = a
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8 and mask.dtype == bool and mask.any()
    assert (rgb[~mask] == 0).all()


def test_hints_counts():
    color = _target()
    rgb, mask = simulate_hints(color, np.random.default_rng(0), n=0)
    assert not mask.any() and not rgb.any()
    assert all(not simulate_hints(color, np.random.default_rng(i), none_prob=1.0)[1].any() for i in range(5))
    assert all(simulate_hints(color, np.random.default_rng(i), none_prob=0.0)[1].any() for i in range(20))
    empty = sum(not simulate_hints(color, np.random.default_rng(i), none_prob=0.5)[1].any() for i in range(200))
    assert 60 < empty < 140


def test_hints_take_the_target_colors():
    flat = np.empty((64, 64, 3), np.uint8)
    flat[:] = (200, 30, 60)
    for seed in range(5):
        rgb, mask = simulate_hints(flat, np.random.default_rng(seed), n=8)
        assert mask.any() and (rgb[mask] == (200, 30, 60)).all()
    # two flat regions: strokes stay in one, so nearly every hinted pixel has its target's color
    halves = flat.copy()
    halves[:, 32:] = (20, 90, 220)
    rgb, mask = simulate_hints(halves, np.random.default_rng(0), n=20)
    assert (rgb[mask] == halves[mask]).all(axis=1).mean() > 0.9


def test_hints_rgba_round_trip_and_tensors():
    rgb, mask = simulate_hints(_target(), np.random.default_rng(3), n=6)
    rgba = hints_to_rgba(rgb, mask)
    assert rgba.shape == (64, 64, 4) and (rgba[~mask] == 0).all() and (rgba[mask, 3] == 255).all()
    rgb2, mask2 = hints_from_rgba(rgba)
    assert np.array_equal(rgb, rgb2) and np.array_equal(mask, mask2)

    soft = rgba.copy()
    soft[..., 3] = np.where(mask, 100, 0)  # below the default threshold of 128
    assert not hints_from_rgba(soft)[1].any()
    with pytest.raises(ValueError, match="RGBA"):
        hints_from_rgba(rgba[..., :3])

    t = sample_tensors(np.full((64, 64), 255, np.uint8), _target(), rgb, mask)
    hint, m = t["hint"], t["mask"]
    assert hint.shape == (3, 64, 64) and m.shape == (1, 64, 64)
    assert hint.dtype == m.dtype == torch.float32
    assert hint.min() >= -1 and hint.max() <= 1 and set(m.unique().tolist()) <= {0.0, 1.0}
    assert (hint[:, ~torch.from_numpy(mask)] == 0).all()


# ------------------------------------------------------------------------------ datasets


def _cfg(path, layout="side_by_side", **kw) -> DataConfig:
    return DataConfig(path=str(path), layout=layout, image_size=32, load_size=40, **kw)


def _check_item(item: dict, size: int = 32, in_channels: int = 5) -> None:
    assert set(item) == {"sketch", "color", "hint", "mask", "input"}
    shapes = {"sketch": (1, size, size), "color": (3, size, size), "hint": (3, size, size), "mask": (1, size, size),
              "input": (in_channels, size, size)}
    for k, t in item.items():
        assert t.dtype == torch.float32 and tuple(t.shape) == shapes[k], k
        assert t.min() >= -1.0 and t.max() <= 1.0, k
    assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    assert (item["hint"] * (1 - item["mask"]) == 0).all()
    if in_channels == 5:  # the generator's input is sketch | hint | mask
        assert torch.equal(item["input"], torch.cat([item["sketch"], item["hint"], item["mask"]]))
    else:  # pix2pix: the sketch as gray RGB
        assert torch.equal(item["input"], item["sketch"].expand(3, -1, -1))


@pytest.mark.parametrize("layout", ["side_by_side", "two_folders", "color_only"])
@pytest.mark.parametrize("train", [True, False])
def test_dataset_layouts(tmp_path, layout, train):
    root = make_synthetic_pairs(tmp_path, n=6, size=64, layout=layout)
    ds = PairDataset(_cfg(root, layout), train=train)
    assert len(ds) == len(ds.paths) == 6
    assert layout in ds.describe() and "6" in ds.describe()
    for key in (0, 5, 13):
        _check_item(ds[key])
    assert (ds[0]["sketch"] > 0.9).float().mean() > 0.5  # mostly white paper


def test_dataset_keys_are_deterministic(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=4, size=64)
    a, b = PairDataset(_cfg(root), seed=1), PairDataset(_cfg(root), seed=1)
    for key in (0, 3, 9):
        x, y = a[key], b[key]
        assert all(torch.equal(x[k], y[k]) for k in x)
    # keys 1, 5, 9, ... are the same image with fresh augmentation and hints
    differs = [not torch.equal(a[1]["color"], a[1 + 4 * e]["color"]) for e in range(1, 6)]
    assert any(differs)
    other = PairDataset(_cfg(root), seed=2)
    assert any(not torch.equal(a[k]["color"], other[k]["color"]) for k in range(4))
    # eval mode: no augmentation, hints fixed by the key
    ev = PairDataset(_cfg(root), train=False)
    assert torch.equal(ev[1]["color"], ev[5]["color"])
    assert torch.equal(ev[1]["mask"], PairDataset(_cfg(root), train=False)[1]["mask"])


def test_crop_and_flip_shared_by_sketch_and_color(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=4, size=64)
    ds = PairDataset(_cfg(root))
    aligned, mirrored = [], []
    for key in range(16):
        item = ds[key]
        lines = item["sketch"][0] < -0.4  # dark sketch pixels
        outline = item["color"].max(dim=0).values < 0.0  # dark pixels of the colored image
        assert lines.sum() > 10
        aligned.append((lines & outline).sum() / lines.sum())
        mirrored.append((lines.flip(1) & outline).sum() / lines.sum())
    assert min(aligned) > 0.95  # every sample: the sketch's lines lie on the color image's outlines
    assert np.mean(mirrored) < 0.6  # which a sketch flipped on its own would not


def test_side_by_side_sketch_side(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=2, size=32)
    pair = read_rgb(sorted(root.glob("*.png"))[0])
    assert pair.shape == (32, 64, 3)
    cfg = DataConfig(path=str(root), image_size=32, load_size=32)
    right = PairDataset(cfg, train=False)[0]
    left = PairDataset(replace(cfg, sketch_side="left"), train=False)[0]
    expect_color = torch.from_numpy(pair[:, :32].astype(np.float32) / 127.5 - 1).permute(2, 0, 1)
    assert torch.allclose(right["color"], expect_color)  # Kaggle: color left, sketch right
    assert (right["color"][0] != right["color"][1]).any()  # colored
    assert torch.equal(left["color"][0], left["color"][1])  # the gray sketch half


def test_splits_and_fallback(tmp_path):
    make_synthetic_pairs(tmp_path, n=5, size=64, split="train")
    cfg = _cfg(tmp_path)
    assert len(PairDataset(cfg, "train")) == 5
    val = PairDataset(cfg, "val", train=False)  # no val/: the training images
    assert len(val) == 5 and val.fallback and "training images" in val.describe()
    make_synthetic_pairs(tmp_path, n=3, size=64, split="val", seed=1)
    val = PairDataset(cfg, "val", train=False)
    assert len(val) == 3 and not val.fallback


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="empty"):
        PairDataset(_cfg(tmp_path / "empty"))
    with pytest.raises(ImageError, match="missing"):
        PairDataset(_cfg(tmp_path / "missing"))
    with pytest.raises(ImageError):
        PairDataset(_cfg(tmp_path / "empty", layout="two_folders"))


def test_two_folders_matching(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=4, size=32, layout="two_folders")
    (root / "color" / "0002.png").unlink()
    with pytest.warns(UserWarning, match="0002"):
        ds = PairDataset(DataConfig(path=str(root), layout="two_folders", image_size=32, load_size=32))
    assert len(ds) == 3 and [p.stem for p in ds.sketch_paths] == [p.stem for p in ds.paths]
    for p in (root / "color").iterdir():
        p.rename(p.with_name("x" + p.name))
    with pytest.raises(ImageError, match="stem"):
        PairDataset(DataConfig(path=str(root), layout="two_folders"))


def test_two_folders_size_mismatch(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=2, size=64, layout="two_folders")
    sk = root / "sketch" / "0000.png"
    Image.open(sk).resize((128, 128)).save(sk)
    item = PairDataset(_cfg(root, "two_folders"), train=False)[0]
    _check_item(item)


def test_corrupt_file_warns_and_is_skipped(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=4, size=64)
    bad = root / "0001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    ds = PairDataset(_cfg(root), train=False)
    with pytest.warns(UserWarning, match="0001.png"):
        item = ds[1]
    assert torch.equal(item["color"], ds[2]["color"])  # the next good image
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per file only
        ds[1]
    for p in root.glob("*.png"):
        p.write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(ImageError, match="no readable"):
        PairDataset(_cfg(root))[0]


def test_dataloader_with_workers(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=6, size=64, layout="color_only")
    ds = PairDataset(_cfg(root))
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2 and batches[0]["sketch"].shape == (3, 1, 32, 32)
    assert torch.equal(batches[1]["color"][0], ds[3]["color"])  # same sample as in the main process


# ------------------------------------------------------------------------------ synthetic


@pytest.mark.parametrize("layout", ["side_by_side", "two_folders", "color_only"])
def test_synthetic_layouts(tmp_path, layout):
    root = make_synthetic_pairs(tmp_path, n=3, size=32, layout=layout, split="train")
    assert root == tmp_path / "train"
    if layout == "two_folders":
        files = sorted((root / "sketch").glob("*.png")) + sorted((root / "color").glob("*.png"))
        assert len(files) == 6 and Image.open(files[0]).size == (32, 32)
    else:
        files = sorted(root.glob("*.png"))
        assert len(files) == 3 and Image.open(files[0]).size == ((64, 32) if layout == "side_by_side" else (32, 32))
    with pytest.raises(ValueError, match="side_by_side"):
        make_synthetic_pairs(tmp_path, layout="pix2pix")


def test_synthetic_is_seeded(tmp_path):
    a = make_synthetic_pairs(tmp_path / "a", n=2, seed=3)
    b = make_synthetic_pairs(tmp_path / "b", n=2, seed=3)
    assert np.array_equal(read_rgb(a / "0001.png"), read_rgb(b / "0001.png"))


# ------------------------------------------------------------------------------ layouts


@pytest.mark.parametrize("name", list(LAYOUT_CLASSES))
def test_layout_write_read_round_trip(tmp_path, name):
    color, sketch = (np.asarray(im) for im in draw_synthetic_pair(np.random.default_rng(0), 24))
    layout = make_layout(name)
    paths = layout.paths(tmp_path, "a")
    layout.write(paths, color, sketch)
    assert all(p.is_file() for p in paths) and not list(tmp_path.rglob(".*.tmp"))  # atomic: no temporary left
    assert layout.find(tmp_path) == [paths]
    got_sketch, got_color = layout.read(paths)
    assert np.array_equal(np.asarray(got_color), color) and got_color.mode == "RGB"
    if layout.stores_sketch:
        assert got_sketch.mode == "L" and np.array_equal(np.asarray(got_sketch), sketch)
    else:
        assert got_sketch is None
    with pytest.raises(ValueError, match="side_by_side"):
        make_layout("pix2pix")


def test_side_by_side_writes_the_sketch_on_its_side(tmp_path):
    color = np.zeros((4, 4, 3), np.uint8)
    color[..., 0] = 200
    sketch = np.full((4, 4), 255, np.uint8)
    for side, sketch_cols in (("right", slice(4, 8)), ("left", slice(0, 4))):
        layout = make_layout("side_by_side", sketch_side=side)
        (path,) = layout.paths(tmp_path / side, "a")
        layout.write((path,), color, sketch)
        assert (read_rgb(path)[:, sketch_cols] == 255).all()
        s, c = layout.read((path,))
        assert np.array_equal(np.asarray(c), color) and np.array_equal(np.asarray(s), sketch)


def test_detect_layout(tmp_path):
    assert detect_layout(make_synthetic_pairs(tmp_path / "a", n=1, size=16)) == "side_by_side"
    two = make_synthetic_pairs(tmp_path / "b", n=1, size=16, layout="two_folders", split="train")
    assert detect_layout(two) == "two_folders"
    assert detect_layout(two.parent) == "two_folders"  # a dataset root: its splits decide
    (two.parent / "prepare.json").write_text("{}")  # a builder's manifest is no image
    assert detect_layout(two.parent) == "two_folders"
    assert detect_layout(tmp_path / "missing") == "side_by_side"


@pytest.mark.parametrize("layout", ["side_by_side", "two_folders"])
def test_auto_layout_is_detected_per_split(tmp_path, layout):
    """train --data D works on D/train/sketch + D/train/color without --set data.layout=two_folders."""
    make_synthetic_pairs(tmp_path, n=3, size=32, layout=layout, split="train")
    cfg = DataConfig(path=str(tmp_path), image_size=32, load_size=32)
    assert cfg.layout == "auto"
    ds = PairDataset(cfg, train=False)
    assert len(ds) == 3 and ds.layout.name == layout
    assert ds.describe().startswith(f"{layout} (detected) train: 3 pairs")
    val = PairDataset(cfg, "val", train=False)  # falls back to train/: detected there too
    assert val.fallback and val.layout.name == layout and "training images" in val.describe()
    explicit = PairDataset(replace(cfg, layout=layout), train=False)
    assert all(torch.equal(ds[0][k], explicit[0][k]) for k in ds[0])
    assert "(detected)" not in explicit.describe()


def test_in_channels_3_items_and_bad_values(tmp_path):
    root = make_synthetic_pairs(tmp_path, n=2, size=32)
    _check_item(PairDataset(_cfg(root), in_channels=3)[0], in_channels=3)
    with pytest.raises(ValueError, match="in_channels"):
        PairDataset(_cfg(root), in_channels=4)


def test_data_config_is_checked_when_built(tmp_path):
    from autopainter.config import ConfigError

    with pytest.raises(ConfigError, match="layout"):
        DataConfig(path=str(tmp_path), layout="bogus")
    with pytest.raises(ConfigError, match="load_size"):
        DataConfig(path=str(tmp_path), image_size=64, load_size=32)
