"""autopainter evaluate --protocol locality: the AUC, strokes, materials chosen, the figures with fake
colorizers whose answers are known, and the command end to end."""

import json

import numpy as np
import pytest
from PIL import Image

from autopainter.cli import main
from autopainter.data.materials import MaterialMap, write_material_map
from autopainter.evaluate_locality import (
    deepest_point,
    format_locality,
    hint_stroke,
    measure_image,
    roc_auc,
    turn_hue,
)
from autopainter.inference.regions import segment

# the synthetic drawing: a frame with paper around it; inside, material A (red) cut in two by a line,
# material B (yellow) cut in two, material D (purple) one region. Turned 120 degrees, no hint color meets
# another material's color.
A, B, D, PAPER = 1, 2, 3, 4
COLORS = {A: (220, 60, 60), B: (230, 200, 60), D: (150, 80, 200), PAPER: (255, 255, 255)}
SIZE = 64


def drawing(size: int = SIZE) -> tuple[np.ndarray, np.ndarray, MaterialMap]:
    """(sketch (H, W) uint8, target (H, W, 3) uint8, its material map), 2 px lines."""
    s = size / 64

    def v(x):
        return round(x * s)

    sketch = np.full((size, size), 255, np.uint8)
    labels = np.full((size, size), PAPER, np.int32)
    labels[v(8):v(56), v(8):v(32)] = A
    labels[v(8):v(32), v(32):v(56)] = B
    labels[v(32):v(56), v(32):v(56)] = D
    lines = np.zeros((size, size), bool)
    for y0, y1, x0, x1 in ((8, 56, 7, 9), (8, 56, 55, 57), (7, 9, 7, 57), (55, 57, 7, 57),  # the frame
                           (8, 56, 31, 33), (31, 33, 32, 56),  # A | B, D; B / D
                           (8, 56, 19, 21), (8, 32, 43, 45)):  # A cut in two; B cut in two
        lines[v(y0):v(y1), v(x0):v(x1)] = True
    sketch[lines] = 0
    labels[lines] = 0
    target = np.zeros((size, size, 3), np.uint8)
    for lab, rgb in COLORS.items():
        target[labels == lab] = rgb
    target[lines] = 0
    return sketch, target, MaterialMap(labels, {A: "hair", B: "skin", D: "clothing", PAPER: "paper"}, "parts")


def run(colorize, size: int = SIZE, styles=("flat",)):
    sketch, target, mm = drawing(size)
    regions = segment(sketch).labels
    return measure_image(colorize, Image.fromarray(sketch), target, mm, regions, styles=styles), target, mm


def test_roc_auc_on_known_inputs():
    assert roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert roc_auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([5, 5, 5, 5], [0, 1, 0, 1]) == 0.5  # ties count half
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)  # sklearn's documented example
    assert roc_auc([1, 2, 2, 3], [0, 1, 0, 1]) == pytest.approx(0.875)  # one tie between the classes
    assert roc_auc([1, 2], [1, 1]) is None and roc_auc([], []) is None
    with pytest.raises(ValueError):
        roc_auc([1, 2, 3], [0, 1])


def test_deepest_point_and_stroke_stay_inside_their_material():
    mask = np.zeros((40, 60), bool)
    mask[5:35, 5:25] = True  # an L: a tall bar and a thin foot
    mask[28:35, 25:55] = True
    y, x = deepest_point(mask)
    assert mask[y, x] and 12 <= y <= 26 and 12 <= x <= 17  # the middle of the bar, not the foot
    edge = np.zeros((10, 10), bool)
    edge[:, :3] = True  # the image border is a boundary too
    assert deepest_point(edge)[1] == 1
    for point in ((y, x), (31, 50)):  # also on the foot, 7 px thin: clipped
        stroke = hint_stroke(mask, point, length=20, width=3)
        assert stroke[point] and stroke.sum() >= 15 and not (stroke & ~mask).any()
    with pytest.raises(ValueError):
        hint_stroke(mask, (0, 0), 20, 3)


def test_turn_hue():
    assert turn_hue((255, 0, 0)) == (0, 255, 0) and turn_hue((0, 255, 0)) == (0, 0, 255)
    assert turn_hue((128, 128, 128)) == (128, 128, 128)  # a gray stays gray


def test_paper_and_single_region_materials_are_skipped():
    res, _, _ = run(lambda sketch, hints: {"flat": np.zeros((SIZE, SIZE, 3), np.uint8)})
    assert [m.label for m in res.materials] == [A, B]  # the largest first
    assert [m.name for m in res.materials] == ["hair", "skin"] and all(m.regions == 2 for m in res.materials)
    assert res.materials[0].median == COLORS[A]
    assert res.left_out == {"paper": 1, "single_region": 1, "beyond_k": 0}


def test_a_model_that_ignores_hints_changes_nothing_off_its_material():
    res, target, _ = run(lambda sketch, hints: {"flat": target_of(sketch)})
    for c in ("median", "turned"):
        assert res.runs["flat"][c]["off_material"] == [0.0, 0.0]
    assert res.runs["flat"]["median"]["reach"] == [1.0, 1.0]  # the target already has the median color
    assert res.runs["flat"]["turned"]["reach"] == [0.0, 0.0]
    # the pairs: A's halves and B's halves are "same"; the output is the target, so its colors separate perfectly
    assert res.same.sum() == 2 and (~res.same).sum() >= 4
    assert roc_auc(res.scores["flat"]["output_color"], res.same) == 1.0


def target_of(sketch: Image.Image) -> np.ndarray:
    return drawing(sketch.width)[1]


def test_a_model_that_recolors_everything_changes_everything():
    def paint_all(sketch, hints):
        out = target_of(sketch)
        if hints is not None:
            rgb = hints[hints[..., 3] > 0][0, :3]
            out = np.broadcast_to(rgb, out.shape).copy()
        return {"flat": out, "soft": out}

    res, _, _ = run(paint_all, styles=("flat", "soft"))
    for s in ("flat", "soft"):
        for c in ("median", "turned"):
            assert res.runs[s][c]["off_material"] == [1.0, 1.0]
            assert res.runs[s][c]["reach"] == [1.0, 1.0]


def test_a_model_that_fills_the_hinted_material_reaches_it_all_and_nothing_else():
    sketch0, _, mm = drawing()

    def fill_material(sketch, hints):
        out = target_of(sketch)
        if hints is not None:
            painted = hints[..., 3] > 0
            lab = np.bincount(mm.labels[painted]).argmax()
            out[mm.labels == lab] = hints[painted][0, :3]
        return {"flat": out}

    res, _, _ = run(fill_material)
    for c in ("median", "turned"):
        assert res.runs["flat"][c]["off_material"] == [0.0, 0.0]
        assert res.runs["flat"][c]["reach"] == [1.0, 1.0]


def test_strokes_are_inside_their_material_and_runs_are_one_plus_two_k():
    sketch, target, mm = drawing()
    seen = []

    def record(sk, hints):
        seen.append(hints)
        return {"flat": target}

    res = measure_image(record, Image.fromarray(sketch), target, mm, segment(sketch).labels)
    assert seen[0] is None and len(seen) == 1 + 2 * len(res.materials)
    ink = (mm.labels == 0) | (sketch < 217)
    for hints, lab in zip(seen[1:], (A, A, B, B)):
        painted = hints[..., 3] > 0
        assert painted.sum() >= 4 and (mm.labels[painted] == lab).all() and not ink[painted].any()
    assert tuple(seen[1][seen[1][..., 3] > 0][0, :3]) == COLORS[A]
    assert tuple(seen[2][seen[2][..., 3] > 0][0, :3]) == turn_hue(COLORS[A])


@pytest.fixture(scope="module")
def material_set(tmp_path_factory):
    """A dataset with a test/ split of two copies of the drawing (side by side, 64 px) and their maps."""
    from autopainter.data.layouts import make_layout
    from autopainter.data.materials import material_path

    root = tmp_path_factory.mktemp("locality-set")
    layout = make_layout("side_by_side")
    sketch, target, mm = drawing()
    for name in ("a", "b"):
        layout.write(layout.paths(root / "test", name), target, sketch)
        write_material_map(material_path(root / "test", name), mm)
    return root


def test_evaluate_cli_locality(tiny_model_dir, material_set, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(["evaluate", "--protocol", "locality", "--model", str(tiny_model_dir), "--data", str(material_set),
               "-o", str(out), "-q"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "off-material" in text and "material AUC" in text and "| flat |" in text
    rep = json.loads((out / "metrics.json").read_text())
    assert rep["protocol"] == "locality" and rep["style"] == "flat" and rep["images"] == 2
    assert rep["materials"] == 4 and rep["runs"] == 2 + 8 and rep["maps"] == {"parts": 2}
    assert rep["materials_left_out"] == {"paper": 2, "single_region": 2, "beyond_k": 0}
    r = rep["results"]["flat"]
    for key in ("off_material", "reach"):
        assert all(0.0 <= r[key][c] <= 1.0 for c in ("median", "turned"))
    assert set(r["material_auc"]) == {"output_color", "centroid"}
    assert rep["pairs"]["same"] == 4
    assert (out / "examples.png").is_file()
    assert "| flat |" in format_locality(rep)


def test_evaluate_cli_locality_refuses_stroke_options(tiny_model_dir, material_set, capsys):
    rc = main(["evaluate", "--protocol", "locality", "--model", str(tiny_model_dir), "--data", str(material_set),
               "--hints", "5", "-q"])
    assert rc == 2 and "--hints" in capsys.readouterr().err


def test_evaluate_locality_measures_both_styles_from_the_same_runs(tiny_model_dir, material_set):
    from autopainter.evaluate import EvalError
    from autopainter.evaluate_locality import evaluate_locality

    both = evaluate_locality(tiny_model_dir, material_set, limit=1, style="flat", styles=("flat", "soft"))
    flat = evaluate_locality(tiny_model_dir, material_set, limit=1, style="flat")
    assert both["styles"] == ["flat", "soft"] and both["runs"] == 1 + 2 * 2
    assert both["results"]["flat"] == flat["results"]["flat"]  # the same figures as a flat-only run
    assert both["results"]["soft"]["material_auc"]["centroid"] == flat["results"]["flat"]["material_auc"]["centroid"]
    fill = evaluate_locality("none", material_set, limit=1)  # the hints-only fill: a hint fills its region only
    assert fill["results"]["flat"]["off_material"] == {"median": 0.0, "turned": 0.0}
    assert fill["results"]["flat"]["reach"]["median"] == pytest.approx(0.5, abs=0.05)  # one region of two
    with pytest.raises(EvalError, match="flat"):
        evaluate_locality("none", material_set, limit=1, styles=("soft",))
