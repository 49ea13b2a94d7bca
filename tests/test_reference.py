"""Reference coloring (``inference.reference``, ``Colorizer(reference=)``, sequences, ``--reference``): on a small
drawn character (a head with two eyes over a body) drawn again moved, scaled and rotated, never warped."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from autopainter.cli import main
from autopainter.color_metrics import segment_accuracy, sketch_segments
from autopainter.inference import Colorizer
from autopainter.inference.reference import ReferenceDrawing, align, looks_like_line_art

SKIN, SHIRT, EYES, HAIR = (236, 188, 150), (200, 40, 50), (40, 90, 200), (90, 60, 30)


def character(colored: bool, dx: float = 0, dy: float = 0, scale: float = 1.0, angle: float = 0.0,
              size: int = 256, mouth: bool = False) -> np.ndarray:
    """A head (hair cap, two eyes) over a body, drawn with black 3 px outlines, moved/scaled/rotated about the
    centre by drawing the shapes again (polygons), never by warping pixels."""
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    c = size / 2
    a = math.radians(angle)

    def pt(x, y):  # design coordinates (256 px canvas) -> canvas
        x, y = (x - 128) * scale * size / 256, (y - 128) * scale * size / 256
        return (c + dx + x * math.cos(a) - y * math.sin(a), c + dy + x * math.sin(a) + y * math.cos(a))

    def ellipse(cx, cy, rx, ry, n=48):
        return [pt(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in np.linspace(0, 2 * math.pi, n, endpoint=False)]

    def shape(points, fill):
        d.polygon(points, fill=fill if colored else "white", outline="black", width=3)

    shape([pt(78, 150), pt(178, 150), pt(190, 240), pt(66, 240)], SHIRT)  # body
    shape(ellipse(128, 100, 48, 52), SKIN)  # head
    shape([pt(80, 96)] + [pt(128 + 48 * math.cos(t), 100 - 52 * math.sin(t)) for t in np.linspace(0.2, math.pi - 0.2, 16)]
          + [pt(176, 96)], HAIR)  # hair cap
    shape(ellipse(110, 106, 7, 9, 16), EYES)
    shape(ellipse(146, 106, 7, 9, 16), EYES)
    if mouth:
        d.line([pt(116, 130), pt(140, 130)], fill="black", width=3)
    return np.asarray(img)


def lines_of(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


@pytest.fixture(scope="module")
def hints_only():
    return Colorizer.hints_only()


def test_align_recovers_a_known_move():
    ref = lines_of(character(False))
    new = lines_of(character(False, dx=20, dy=-10, scale=0.85, angle=12))
    a = align(np.asarray(Image.fromarray(ref).resize((512, 512))), new)
    assert abs(a.angle - 12) < 3
    assert abs(a.scale - 0.85 * 256 / 512) < 0.05 * 0.85 * 256 / 512
    assert a.fit > 0.7
    # the reference's head centre lands on the new head centre
    hx, hy = a.apply(np.array([128.0 * 2]), np.array([100.0 * 2]))
    ex = 128 + 20 + (0 * math.cos(math.radians(12)) - (100 - 128) * 0.85 * math.sin(math.radians(12)))
    ey = 128 - 10 + (0 * math.sin(math.radians(12)) + (100 - 128) * 0.85 * math.cos(math.radians(12)))
    assert math.hypot(hx[0] - ex, hy[0] - ey) < 4


def test_line_art_is_not_a_reference():
    assert looks_like_line_art(character(False))
    assert not looks_like_line_art(character(True))
    # black trousers on white: colors a reference can hold though nothing is chromatic
    bw = character(True).copy()
    bw[(bw != 0).any(2) & (bw != 255).any(2)] = 255
    bw[170:230, 90:160] = 0
    assert not looks_like_line_art(bw)
    with pytest.raises(ValueError, match="line art"):
        ReferenceDrawing.build(character(False))


@pytest.mark.parametrize("move", [dict(), dict(dx=18, dy=6, scale=0.9, angle=-15), dict(dx=-10, scale=1.15, angle=20)])
def test_regions_take_the_reference_colors(hints_only, move):
    ref = character(True)
    truth = character(True, mouth=True, **move)
    sketch = lines_of(character(False, mouth=True, **move))
    res = hints_only.colorize(sketch, reference=ref, reference_lines=lines_of(character(False)))
    color = np.asarray(res.color)
    assert segment_accuracy(color, truth, sketch, min_area=10) == 1.0
    report = res.reference_report()
    assert report["alignment"]["fit"] > 0.5
    assert {"region", "color", "source", "confidence", "matched", "part"} <= set(report["regions"][0])
    assert all(r["source"] == "reference" for r in report["regions"] if r["confidence"] >= 0.5)


def test_extracted_reference_lines_work_too(hints_only):
    truth = character(True, dx=10, angle=8)
    sketch = lines_of(character(False, dx=10, angle=8))
    res = hints_only.colorize(sketch, reference=character(True))  # its lines extracted with XDoG
    assert segment_accuracy(np.asarray(res.color), truth, sketch, min_area=10) >= 0.8


def test_hints_win_and_lines_stay(hints_only):
    sketch = lines_of(character(False, dx=8))
    hints = np.zeros((256, 256, 4), np.uint8)
    hints[200:210, 120:140] = (20, 200, 20, 255)  # on the body
    res = hints_only.colorize(sketch, Image.fromarray(hints, "RGBA"), reference=character(True))
    color = np.asarray(res.color)
    assert tuple(color[220, 128]) == (20, 200, 20)  # the body takes the hint
    assert tuple(color[100, 136]) == SKIN  # the face keeps the reference's skin
    plain = hints_only.colorize(sketch)
    np.testing.assert_array_equal(np.asarray(res.lines), np.asarray(plain.lines))  # the lines are the sketch's
    body = [r for r in res.reference_report()["regions"] if r["color"] == "#14c814"]
    assert body and all(r["source"] == "hint" and r["confidence"] == 1.0 for r in body)


def test_sequence_follows_a_correction(hints_only):
    frames = [lines_of(character(False, dx=4 * i, angle=3 * i)) for i in range(4)]
    green = (20, 200, 20)
    fix = np.zeros((256, 256, 4), np.uint8)
    fix[205:212, 124:136] = (*green, 255)  # frame 1: the shirt corrected to green
    fix_img = Image.fromarray(fix, "RGBA")
    results = list(hints_only.colorize_sequence(frames, character(True), lines_of(character(False)),
                                                hints=[None, fix_img, None, None]))
    body = [tuple(np.asarray(r.color)[225, 128 + 4 * i]) for i, r in enumerate(results)]
    assert body[0] == SHIRT
    assert body[1] == green and body[2] == green and body[3] == green  # later frames take the correction
    face = [tuple(np.asarray(r.color)[100, 136 + 4 * i]) for i, r in enumerate(results)]
    assert all(f == SKIN for f in face)


def test_segment_accuracy_counts_segments():
    truth = character(True)
    sketch = lines_of(character(False))
    assert segment_accuracy(truth, truth, sketch) == 1.0
    wrong = truth.copy()
    wrong[(wrong == EYES).all(2)] = SHIRT  # both eyes wrong
    n = int(sketch_segments(sketch).max())
    assert segment_accuracy(wrong, truth, sketch) == pytest.approx((n - 2) / n)


# ------------------------------------------------------------------------------ the CLI
def _save(tmp_path, name, a, mode=None):
    p = tmp_path / name
    Image.fromarray(a, mode).save(p)
    return p


def test_cli_reference_and_report(tmp_path, capsys):
    ref = _save(tmp_path, "ref.png", character(True))
    sketch = _save(tmp_path, "new.png", lines_of(character(False, dx=12, angle=10, mouth=True)))
    out, report = tmp_path / "out.png", tmp_path / "match.json"
    assert main(["colorize", str(sketch), "--model", "none", "--reference", str(ref), "-o", str(out),
                 "--report", str(report), "-q"]) == 0
    got = np.asarray(Image.open(out).convert("RGB"))
    truth = character(True, dx=12, angle=10, mouth=True)
    assert segment_accuracy(got, truth, lines_of(character(False, dx=12, angle=10, mouth=True)), 10) == 1.0
    body = json.loads(report.read_text())
    assert body["sketch"] == str(sketch) and body["regions"] and "fit" in body["alignment"]


def test_cli_sequence_folder(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        _save(frames, f"f{i}.png", lines_of(character(False, dx=5 * i, angle=-4 * i)))
    ref = _save(tmp_path, "ref.png", character(True))
    report = tmp_path / "r.json"
    assert main(["colorize", str(frames), "--model", "none", "--reference", str(ref), "-o", str(tmp_path / "out"),
                 "--report", str(report), "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f0.png", "f1.png", "f2.png"]
    body = json.loads(report.read_text())
    assert [f["sketch"] for f in body["frames"]] == [str(frames / f"f{i}.png") for i in range(3)]


@pytest.mark.parametrize("case", ["line-art", "missing", "lines-alone", "soft", "report-alone", "unreadable", "too-large"])
def test_cli_bad_reference_is_one_line(tmp_path, capsys, case):
    sketch = _save(tmp_path, "new.png", lines_of(character(False)))
    ref = _save(tmp_path, "ref.png", character(True))
    args = ["colorize", str(sketch), "--model", "none", "-o", str(tmp_path / "out.png")]
    if case == "line-art":
        args += ["--reference", str(sketch)]
    elif case == "missing":
        args += ["--reference", str(tmp_path / "nope.png")]
    elif case == "lines-alone":
        args += ["--reference-lines", str(sketch)]
    elif case == "soft":
        args += ["--reference", str(ref), "--style", "soft"]
    elif case == "report-alone":
        args += ["--report", str(tmp_path / "r.json")]
    elif case == "too-large":  # the sketch (256 x 256) fits, the reference (512 x 512) does not
        args += ["--reference", str(_save(tmp_path, "big.png", character(True, size=512))), "--max-pixels", "100000"]
    else:
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"not an image at all")
        args += ["--reference", str(bad)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopainter: error:") and "Traceback" not in err[0]
    assert not (tmp_path / "out.png").exists()


def test_cli_sequence_takes_corrections_by_name(tmp_path):
    frames, fixes = tmp_path / "frames", tmp_path / "fixes"
    frames.mkdir()
    fixes.mkdir()
    for i in range(3):
        _save(frames, f"f{i}.png", lines_of(character(False, dx=4 * i, angle=3 * i)))
    fix = np.zeros((256, 256, 4), np.uint8)
    fix[205:212, 128:140] = (20, 200, 20, 255)  # frame 1's shirt corrected to green
    _save(fixes, "f1.png", fix, "RGBA")
    ref = _save(tmp_path, "ref.png", character(True))
    out = tmp_path / "out"
    assert main(["colorize", str(frames), "--model", "none", "--reference", str(ref), "--hints", str(fixes),
                 "-o", str(out), "-q"]) == 0
    shirt = [tuple(np.asarray(Image.open(out / f"f{i}.png").convert("RGB"))[225, 128 + 4 * i]) for i in range(3)]
    assert shirt == [SHIRT, (20, 200, 20), (20, 200, 20)]  # the frame after the correction follows it


def test_edge_cases_do_not_crash(hints_only):
    # a sketch that is all ink, a blank one, and a reference whose every region is tiny
    black = np.zeros((64, 64), np.uint8)
    res = hints_only.colorize(black, reference=character(True))
    assert res.image.size == (64, 64) and res.reference_report()["regions"] is not None
    blank = np.full((64, 64), 255, np.uint8)
    assert hints_only.colorize(blank, reference=character(True)).image.size == (64, 64)
    noise = (np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)
    assert hints_only.colorize(lines_of(character(False)), reference=noise).image.size == (256, 256)
