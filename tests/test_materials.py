"""data.materials (maps: parts x fill colors, derived from colors, files), per-material hint simulation,
augmentation that keeps the map aligned, and datasets with and without maps."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch

import autopainter.data.augment as aug
from autopainter.config import DataConfig
from autopainter.data.hints import recolor_material, simulate_material_hints
from autopainter.data.materials import (
    PAPER,
    MaterialMap,
    material_path,
    materials_from_colors,
    materials_from_parts,
    parts_from_key_render,
    read_material_map,
    resize_labels,
    write_material_map,
)
from autopainter.data.pairs import PairDataset
from autopainter.data.sources import write_pair

HAIR, SKIN, SHIRT = (200, 40, 40), (240, 200, 170), (40, 90, 200)


def _character(size=64):
    """Two hair strands cut apart by a line, a face, a shirt, eye whites and white paper around.

    Returns (color, sketch, parts): parts 1 = hair, 2 = skin, 3 = clothing, 0 = none (the eye whites)."""
    color = np.full((size, size, 3), 255, np.uint8)
    sketch = np.full((size, size), 255, np.uint8)
    parts = np.zeros((size, size), np.int32)
    color[4:20, 8:56], parts[4:20, 8:56] = HAIR, 1
    color[20:40, 16:48], parts[20:40, 16:48] = SKIN, 2
    color[40:60, 8:56], parts[40:60, 8:56] = SHIRT, 3
    color[26:30, 22:26] = color[26:30, 38:42] = 255  # eye whites: no part
    parts[26:30, 22:26] = parts[26:30, 38:42] = 0
    for box in ((4, 20, 8, 56), (20, 40, 16, 48), (40, 60, 8, 56), (25, 31, 21, 27), (25, 31, 37, 43)):
        y0, y1, x0, x1 = box
        sketch[y0, x0:x1] = sketch[y1 - 1, x0:x1] = sketch[y0:y1, x0] = sketch[y0:y1, x1 - 1] = 0
    sketch[4:20, 32] = 0  # a line through the hair: two strands
    color[sketch == 0] = 0
    return color, sketch, parts


def test_parts_join_strands_across_lines_and_keep_white_fills_apart():
    color, sketch, parts = _character()
    mm = materials_from_parts(color, sketch, parts, {1: "hair", 2: "skin", 3: "clothing"})
    hair_left, hair_right = mm.labels[10, 20], mm.labels[10, 45]
    assert hair_left == hair_right > 0 and mm.names[hair_left] == "hair"  # one material across the line
    assert mm.names[mm.labels[30, 30]] == "skin" and mm.names[mm.labels[50, 30]] == "clothing"
    assert len({hair_left, mm.labels[30, 30], mm.labels[50, 30]}) == 3
    paper, eyes = mm.labels[0, 0], mm.labels[27, 23]
    assert mm.names[paper] == PAPER and mm.is_paper(paper)
    assert eyes not in (0, paper) and mm.labels[27, 39] == eyes  # both eye whites: one material, not paper
    assert (mm.labels[sketch == 0] == 0).all()  # ink is no material


def test_anti_aliased_edges_make_no_materials_of_their_own():
    color, sketch, parts = _character()
    color = color.copy()
    color[18, 9:55] = (120, 20, 20)  # a row of blended pixels along the hair's edge
    mm = materials_from_parts(color, sketch, parts, {1: "hair"})
    assert mm.labels[18, 20] == mm.labels[10, 20]  # joined to the nearest material


def test_derived_from_colors_cannot_cross_lines():
    color, sketch, _ = _character()
    mm = materials_from_colors(color, sketch)
    assert mm.source == "colors"
    assert mm.labels[10, 20] != mm.labels[10, 45]  # strands apart: the line splits them
    assert mm.labels[30, 30] not in (0, mm.labels[10, 20])
    assert mm.names[mm.labels[0, 0]] == PAPER


def test_key_render_parts():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (255, 0, 255)
    rgb[2:, :2] = (10, 250, 250)  # near the cyan key
    rgb[2:, 2:] = (128, 128, 128)  # no key
    parts, names = parts_from_key_render(rgb, {"ff00ff": "hair", "00ffff": "skin"})
    assert names[parts[0, 0]] == "hair" and names[parts[3, 0]] == "skin" and parts[3, 3] == 0


def test_file_round_trip_8_and_16_bit(tmp_path):
    for top in (7, 300):
        labels = np.arange(16 * 20).reshape(16, 20) % (top + 1)
        mm = MaterialMap(labels.astype(np.int32), {1: "hair", 2: PAPER}, "parts")
        path = material_path(tmp_path / "train", f"x{top}")
        write_material_map(path, mm)
        back = read_material_map(path)
        assert np.array_equal(back.labels, labels) and back.names == {1: "hair", 2: PAPER} and back.source == "parts"
    (tmp_path / "bad.png").write_bytes(b"junk")
    from autopainter.imageio import ImageError

    with pytest.raises(ImageError, match="material map"):
        read_material_map(tmp_path / "bad.png")


def test_resize_labels_never_blends():
    labels = np.array([[1, 2], [3, 4]], np.int32)
    big = resize_labels(labels, (8, 8))
    assert big.shape == (8, 8) and set(np.unique(big)) == {1, 2, 3, 4}


def _map():
    color, sketch, parts = _character()
    return color, sketch, materials_from_parts(color, sketch, parts, {1: "hair", 2: "skin", 3: "clothing"})


def test_material_hints_stay_inside_their_material_and_unhinted_keep_colors():
    color, _, mm = _map()
    recolored = 0
    for seed in range(40):
        out, rgb, mask = simulate_material_hints(color, mm, np.random.default_rng(seed), none_prob=0.0, recolor=0.5)
        assert mask.any()
        hinted = set(np.unique(mm.labels[mask]))
        assert 0 not in hinted  # never on ink
        for lab in np.unique(mm.labels):
            inside = mm.labels == lab
            if lab not in hinted:
                assert np.array_equal(out[inside], color[inside])  # unhinted materials keep their colors
            else:
                m = inside & mask
                # the hint tells the (possibly new) color of its own material
                assert np.abs(rgb[m].astype(int) - np.median(out[inside], axis=0)).max() <= 2
        recolored += not np.array_equal(out, color)
        assert np.array_equal(out[mm.labels == 0], color[mm.labels == 0])  # ink untouched
    assert 8 <= recolored <= 38  # some hinted materials change color, not all


def test_material_hints_seeded_none_and_budget():
    color, _, mm = _map()
    a = simulate_material_hints(color, mm, np.random.default_rng(3))
    b = simulate_material_hints(color, mm, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    out, _, mask = simulate_material_hints(color, mm, np.random.default_rng(0), none_prob=1.0)
    assert not mask.any() and out is color
    with pytest.raises(ValueError, match="differ in size"):
        simulate_material_hints(color[:10], mm, np.random.default_rng(0))


def test_recolor_keeps_edges_toward_ink():
    px = np.array([[200, 40, 40]] * 10 + [[100, 20, 20]], np.uint8)  # a fill and a half-covered edge pixel
    new = recolor_material(px, np.random.default_rng(1)).astype(float)
    assert np.allclose(new[:10], new[0])  # one new flat color
    luma = new @ [0.299, 0.587, 0.114]
    assert luma[-1] < luma[0] * 0.7  # the edge stays darker than the fill


def test_augment_keeps_the_map_aligned(monkeypatch):
    monkeypatch.setattr(aug, "P_SKETCH", {"exact": 1.0})
    monkeypatch.setattr(aug, "P_LINES", 0.0)
    color, sketch, mm = _map()
    for p_multi, p_bg in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)):
        monkeypatch.setattr(aug, "P_MULTI", p_multi)
        monkeypatch.setattr(aug, "P_BACKGROUND", p_bg)
        monkeypatch.setattr(aug, "P_GEOMETRY", 1.0)
        for seed in range(4):
            rng = np.random.default_rng(seed)
            c, s, m = aug.augment_sample(color, sketch, mm, rng, lambda: (color, sketch, mm))
            assert m.labels.shape == s.shape
            hair = [lab for lab, n in m.names.items() if n == "hair"]
            on_hair = np.isin(m.labels, hair)
            assert on_hair.sum() > 30
            # where the map says hair, the target is hair-colored (nearest-neighbour map vs bicubic image)
            close = np.abs(c[on_hair].astype(int) - HAIR).max(axis=1) < 60
            assert close.mean() > 0.8
            if p_bg:
                bg = [lab for lab, n in m.names.items() if n == "background"]
                on_bg = np.isin(m.labels, bg)
                assert bg and on_bg.sum() > 100
                assert (np.abs(c[on_bg].astype(int) - HAIR).max(axis=1) < 30).mean() < 0.05
    # the same stream with and without a map: the images are the same
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    a = aug.augment_sample(color, sketch, mm, rng_a, lambda: (color, sketch, mm))
    b = aug.augment_pair(color, sketch, rng_b, lambda: (color, sketch))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def _dataset_with_maps(tmp_path, n=4, maps=True):
    color, sketch, parts = _character()
    for i in range(n):
        mm = materials_from_parts(color, sketch, parts, {1: "hair", 2: "skin", 3: "clothing"}) if maps else None
        write_pair(color, sketch, tmp_path, "train", f"{i:04d}", "side_by_side", materials=mm)
    return tmp_path


def test_dataset_reads_maps_and_trains_on_material_hints(tmp_path):
    root = _dataset_with_maps(tmp_path)
    assert material_path(root / "train", "0000").is_file()
    cfg = DataConfig(path=str(root), image_size=64, load_size=64, hint_none_prob=0.0, flip=False)
    ds = PairDataset(cfg, train=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # maps present: no warning
        items = [ds[k] for k in range(8)]
    assert all(it["mask"].sum() > 0 for it in items)
    mm = ds.materials(0)
    assert mm.source == "parts" and "hair" in mm.names.values()
    plain = PairDataset(dataclasses.replace(cfg, hint_materials=False), train=True)
    assert not torch.equal(plain[0]["mask"], items[0]["mask"]) or not torch.equal(plain[1]["mask"], items[1]["mask"])


def test_dataset_without_maps_derives_them_with_one_warning(tmp_path):
    root = _dataset_with_maps(tmp_path, maps=False)
    ds = PairDataset(DataConfig(path=str(root), image_size=64, load_size=64, hint_none_prob=0.0), train=True)
    with pytest.warns(UserWarning, match="no material maps"):
        ds[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per dataset
        ds[1]
    assert ds.materials(0).source == "colors"


def test_material_recolor_is_validated():
    from autopainter.config import ConfigError

    with pytest.raises(ConfigError, match="material_recolor"):
        DataConfig(material_recolor=1.5)


def test_a_named_white_part_at_the_edge_is_not_paper():
    color, sketch, parts = _character()
    color[40:60, 9:55][sketch[40:60, 9:55] > 0] = 255  # a white shirt...
    color[60:, 8:56], parts[60:, 8:56], sketch[60:, 8:56] = 255, 3, 255  # ...running off the bottom edge
    sketch[59, 9:55] = 255
    mm = materials_from_parts(color, sketch, parts, {1: "hair", 2: "skin", 3: "clothing"})
    shirt = mm.labels[63, 30]
    assert mm.names[shirt] == "clothing" and not mm.is_paper(shirt) and mm.is_paper(mm.labels[0, 0])


def test_side_by_side_keeps_white_materials(monkeypatch):
    monkeypatch.setattr(aug, "P_MULTI", 1.0)
    monkeypatch.setattr(aug, "P_SKETCH", {"exact": 1.0})
    for name in ("P_GEOMETRY", "P_LINES", "P_BACKGROUND"):
        monkeypatch.setattr(aug, name, 0.0)
    color, sketch, mm = _map()
    eyes = mm.labels[27, 23]
    counts = []
    for seed in range(5):
        _, _, m = aug.augment_sample(color, sketch, mm, np.random.default_rng(seed), lambda: (color, sketch, mm))
        inner = [lab for lab, n in m.names.items() if n == "" and (m.labels == lab).any()]
        counts.append(int(np.isin(m.labels, inner + [eyes]).sum()))
    # both characters' eye whites (2 x 32 px, shrunk to 55-75 %) keep a material of their own, not paper
    assert min(counts) >= 10 and np.mean(counts) >= 15, counts
