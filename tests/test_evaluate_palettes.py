"""autopainter evaluate --protocol palettes: each figure on synthetic outputs whose answer is known (a constant
color, the target itself, a recolored share, the mode against the mean), the skin range, part naming, and the
command end to end."""

import json

import numpy as np
import pytest

from autopainter.cli import main
from autopainter.colorspace import lab
from autopainter.data.materials import MaterialMap, write_material_map
from autopainter.evaluate_palettes import (
    PARTS,
    colorfulness,
    dominant_colors,
    format_palettes,
    in_skin_range,
    measure_image,
    parse_variants,
    part_overlap,
    predicted_parts,
    psnr,
    true_parts,
)

# the synthetic drawing, 64 px, 2 px lines: paper around a frame; inside, skin (left half), hair (top right),
# clothing (bottom right, cut in two by a line) and a small unnamed material (the mouth: "other")
SKIN, HAIR, CLOTH, MOUTH, PAPER = 1, 2, 3, 4, 5
COLORS = {SKIN: (224, 172, 140), HAIR: (60, 40, 30), CLOTH: (50, 90, 200), MOUTH: (200, 30, 30), PAPER: (255, 255, 255)}
NAMES = {SKIN: "skin", HAIR: "hair", CLOTH: "clothing", MOUTH: "", PAPER: "paper"}


def drawing() -> tuple[np.ndarray, np.ndarray, MaterialMap]:
    """(sketch (64, 64) uint8, target (64, 64, 3) uint8, its material map)."""
    sketch = np.full((64, 64), 255, np.uint8)
    labels = np.full((64, 64), PAPER, np.int32)
    labels[8:56, 8:32] = SKIN
    labels[40:50, 14:26] = MOUTH  # 10 x 12 = 120 px, inside the skin
    labels[8:32, 32:56] = HAIR
    labels[32:56, 32:56] = CLOTH
    lines = np.zeros((64, 64), bool)
    for y0, y1, x0, x1 in ((8, 56, 7, 9), (8, 56, 55, 57), (7, 9, 7, 57), (55, 57, 7, 57), (8, 56, 31, 33),
                           (31, 33, 32, 56), (32, 56, 43, 45)):
        lines[y0:y1, x0:x1] = True
    sketch[lines] = 0
    labels[lines] = 0
    target = np.zeros((64, 64, 3), np.uint8)
    for k, rgb in COLORS.items():
        target[labels == k] = rgb
    return sketch, target, MaterialMap(labels, dict(NAMES), "parts")


def test_the_synthetic_colors_are_what_the_tests_assume():
    assert in_skin_range(lab(np.array(COLORS[SKIN], np.uint8)))
    for k in (HAIR, CLOTH, MOUTH):
        assert not in_skin_range(lab(np.array(COLORS[k], np.uint8)))


def test_one_color_everywhere_is_consistent_but_not_distinct():
    sketch, target, mm = drawing()
    out = np.full_like(target, (120, 200, 90))
    f = measure_image(out, target, sketch, mm)
    assert f.pairs == 6  # 4 true materials (paper left out), every pair >= ΔE 20 apart in the target
    assert f.apart == 0  # one color: no pair apart
    assert f.consistent == f.area > 0  # every pixel is its material's dominant color
    assert f.skin > 0 and f.skin_in == 0  # green is no skin tone
    assert f.inter is None  # no prediction: no part naming


def test_the_target_as_output_scores_full_marks():
    sketch, target, mm = drawing()
    f = measure_image(target, target, sketch, mm)
    assert f.apart == f.pairs == 6 and f.consistent == f.area and f.skin_in == f.skin > 0
    assert f.psnr == 60.0
    assert len(f.dominant) == 4
    np.testing.assert_allclose(f.dominant[0], lab(np.array(COLORS[SKIN], np.uint8)), atol=1e-4)


def test_paper_and_small_materials_are_not_scored():
    sketch, target, mm = drawing()
    mm.labels[mm.labels == MOUTH] = SKIN
    mm.labels[20:27, 20:27] = MOUTH  # 49 px < MIN_PIXELS
    f = measure_image(target, target, sketch, mm)
    assert len(f.dominant) == 3 and f.pairs == 3


def test_consistency_is_the_share_of_the_area_near_the_dominant_color():
    sketch, target, mm = drawing()
    out = target.copy()
    recolored = (mm.labels == CLOTH) & (np.arange(64)[None, :] >= 50)  # 5 of the clothing's 20 columns
    out[recolored] = (250, 250, 0)
    f = measure_image(out, target, sketch, mm)
    assert f.area - f.consistent == recolored.sum()
    assert f.apart == f.pairs  # the majority keeps the dominant color


def test_distinctness_counts_the_pairs_that_merge():
    sketch, target, mm = drawing()
    out = target.copy()
    out[mm.labels == HAIR] = COLORS[CLOTH]  # hair and clothing: one color
    f = measure_image(out, target, sketch, mm)
    assert (f.pairs, f.apart) == (6, 5)
    near = target.copy()
    near[mm.labels == MOUTH] = (214, 165, 135)  # the mouth within ΔE 20 of the skin in the target: not a pair
    assert measure_image(out, near, sketch, mm).pairs == 5


def test_the_dominant_color_is_the_mode_not_the_mean():
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[:6] = (200, 40, 40)
    rgb[6:] = (40, 40, 200)
    labels = np.ones((10, 10), np.int64)
    dom = dominant_colors(rgb, labels, np.ones((10, 10), bool), 1)
    assert np.isnan(dom[0]).all()
    np.testing.assert_allclose(dom[1], lab(np.array((200, 40, 40), np.uint8)), atol=1e-4)


def test_skin_range():
    assert not in_skin_range(lab(np.array((252, 234, 43), np.uint8)))  # OpenMoji's yellow: too chromatic
    assert not in_skin_range(lab(np.array((128, 128, 128), np.uint8)))  # gray: no chroma
    assert not in_skin_range(lab(np.array((60, 40, 30), np.uint8)))  # too dark
    assert in_skin_range(lab(np.array((141, 85, 36), np.uint8)))  # a dark skin tone


def test_part_naming_iou():
    sketch, target, mm = drawing()
    ink = sketch < 128
    truth = true_parts(mm, ink)
    assert (truth[mm.labels == MOUTH] == PARTS.index("other")).all()  # unnamed on a map that names parts
    assert (truth[mm.labels == PAPER] == -1).all() and (truth[ink] == -1).all()
    # a prediction that names each true material by its part: IoU 1 for every part present
    order = [SKIN, HAIR, CLOTH, MOUTH]
    mat = np.zeros_like(mm.labels)
    for i, k in enumerate(order, start=1):
        mat[mm.labels == k] = i
    f = measure_image(target, target, sketch, mm, mat, ["skin", "hair", "clothing", "other"])
    assert f.miou == 1.0
    # everything inside the frame named skin: skin IoU = skin / (all 4 materials); the other parts 0
    f = measure_image(target, target, sketch, mm, (mat > 0).astype(np.int32), ["skin"])
    inter, union = f.inter, f.union
    n = {k: int(((mm.labels == k) & ~ink).sum()) for k in order}
    assert inter[0] == n[SKIN] and union[0] == sum(n.values())
    assert f.miou == pytest.approx(n[SKIN] / sum(n.values()) / 4)  # 4 parts present: skin, hair, clothing, other
    # no names on the map (a map derived from colors): no truth, no figure
    bare = MaterialMap(mm.labels, {PAPER: "paper"}, "colors")
    assert measure_image(target, target, sketch, bare, mat, ["skin", "hair", "clothing", "other"]).miou is None


def test_part_overlap_and_predicted_parts():
    truth = np.array([[0, 0, 1, -1]])
    pred = predicted_parts(np.array([[1, 2, 2, 1]]), ["skin", "hair"], np.array([[False, False, False, True]]))
    assert pred.tolist() == [[0, 1, 1, -1]]
    inter, union = part_overlap(truth, pred)
    assert inter[:2].tolist() == [1, 1] and union[:2].tolist() == [2, 2] and union[2:].sum() == 0


def test_colorfulness_and_psnr():
    assert colorfulness(np.full((4, 4, 3), 90, np.uint8)) == 0.0
    assert colorfulness(np.full((4, 4, 3), (255, 0, 0), np.uint8)) == pytest.approx(0.3 * np.hypot(255, 127.5))
    half = np.zeros((2, 1, 3), np.uint8)
    half[0] = (255, 0, 0)  # rg: 255 and 0, yb: 127.5 and 0
    assert colorfulness(half) == pytest.approx(np.hypot(127.5, 63.75) + 0.3 * np.hypot(127.5, 63.75))
    a = np.full((4, 4, 3), 100, np.uint8)
    assert psnr(a, a) == 60.0
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255 ** 2))


def test_parse_variants():
    assert parse_variants("0,1,2") == [0, 1, 2]
    assert parse_variants("2, 0,2") == [2, 0]
    for bad in ("", "-1", "a", "1.5"):
        with pytest.raises(ValueError, match="variants"):
            parse_variants(bad)


# ------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def palette_set(tmp_path_factory):
    """A dataset with a test/ split of two copies of the drawing (side by side, 64 px) and their maps."""
    from autopainter.data.layouts import make_layout
    from autopainter.data.materials import material_path

    root = tmp_path_factory.mktemp("palette-set")
    layout = make_layout("side_by_side")
    sketch, target, mm = drawing()
    for name in ("a", "b"):
        layout.write(layout.paths(root / "test", name), target, sketch)
        write_material_map(material_path(root / "test", name), mm)
    return root


@pytest.fixture(scope="module")
def headed_model_dir(tmp_path_factory):
    """A tiny model with a part head (naming everything skin) and a material head (random weights), and a
    palette library of two."""
    import torch

    from autopainter.config import GeneratorConfig
    from autopainter.data.materials import PART_CLASSES
    from autopainter.inference.palettes import LIBRARY_NAME, PaletteLibrary
    from autopainter.models.io import save_pretrained
    from autopainter.models.unet import build_generator

    torch.manual_seed(0)
    gen = build_generator(GeneratorConfig(ngf=8, depth=4, norm="group", dropout=0.0, material_dim=4,
                                          parts=list(PART_CLASSES)))
    with torch.no_grad():  # the part head names every pixel skin: its last layer's bias decides
        last = gen.part_head.out[-1]
        last.weight.zero_()
        last.bias.fill_(-10.0)
        last.bias[PART_CLASSES.index("skin")] = 10.0
    folder = save_pretrained(gen, tmp_path_factory.mktemp("headed") / "model", image_size=32)
    pals = [{p: ["#e0ac8c", "#3c281e"] for p in PARTS}, {p: ["#8d5524", "#3264c8"] for p in PARTS}]
    PaletteLibrary(pals).save(folder / LIBRARY_NAME)
    return folder


def test_evaluate_cli_palettes(tiny_model_dir, palette_set, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["evaluate", "--protocol", "palettes", "--model", str(tiny_model_dir), "--data", str(palette_set),
               "--variants", "0,1", "--no-fd", "-o", str(out), "-q"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "consistency" in text and "distinctness" in text and "| 0 |" in text and "| 1 |" in text
    rep = json.loads((out / "metrics.json").read_text())
    assert rep["protocol"] == "palettes" and rep["images"] == 2 and rep["variants"] == [0, 1]
    assert rep["materials"] == 8 and rep["pairs"] == 12 and rep["maps_naming_parts"] == 2
    assert rep["reference"]["consistency"] == 1.0 and rep["reference"]["distinctness"] == 1.0
    assert rep["names_materials"] is False
    for r in rep["results"].values():
        assert r["miou"] is None and r["fd_lite0"] is None  # a model that names nothing; --no-fd
        assert 0.0 <= r["consistency"] <= 1.0 and 0.0 <= r["distinctness"] <= 1.0
    assert rep["results"]["0"]["consistency"] == rep["results"]["1"]["consistency"]  # no palettes: one image
    assert (out / "examples.png").is_file()
    assert "| 0 |" in format_palettes(rep)


def test_evaluate_palettes_names_parts_and_reports_fd(headed_model_dir, palette_set, tiny_features):
    from autopainter.evaluate_palettes import evaluate_palettes

    rep = evaluate_palettes(headed_model_dir, palette_set, variants="0,1", feature_net=tiny_features)
    assert rep["names_materials"] is True and rep["palette_library"] == 2
    sketch, _, mm = drawing()
    ink = sketch < 128
    for r in rep["results"].values():
        assert isinstance(r["fd_lite0"], float)
        # every region is named skin, the paper too (random colors: no white open paper), so skin's union is
        # every non-ink pixel; the other parts present score 0
        assert r["part_iou"]["skin"] == pytest.approx(((mm.labels == SKIN) & ~ink).sum() / (~ink).sum())
        assert r["part_iou"]["hair"] == 0.0 and r["part_iou"]["other"] == 0.0
        assert r["part_iou"]["eyes"] is None  # in neither truth nor prediction
        assert r["miou"] == pytest.approx(r["part_iou"]["skin"] / 4)
    first = rep["per_image"][0]["variants"]
    assert set(first["0"]["palette"]) >= {"skin"} and first["0"]["palette"] != first["1"]["palette"]


def test_evaluate_cli_palettes_refuses_other_options(tiny_model_dir, palette_set, capsys):
    base = ["evaluate", "--model", str(tiny_model_dir), "--data", str(palette_set), "-q"]
    assert main([*base, "--protocol", "palettes", "--hints", "3"]) == 2
    assert "--hints" in capsys.readouterr().err
    assert main([*base, "--protocol", "palettes", "--style", "soft"]) == 2
    assert "flat" in capsys.readouterr().err
    assert main([*base, "--protocol", "palettes", "--variants", "x"]) == 2
    assert "--variants" in capsys.readouterr().err
    assert main([*base, "--variants", "0"]) == 2  # strokes
    assert "palettes" in capsys.readouterr().err
