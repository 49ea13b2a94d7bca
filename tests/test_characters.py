"""prepare characters: rendering, filtering, skipping bad items, attribution, one-line errors (offline: the
node step is replaced by fixed SVGs; the real packages are exercised when a build is run by hand)."""

import json

import numpy as np
import pytest
from PIL import Image

from autopainter.cli import main

pytest.importorskip("resvg_py")


def _svg(fill: str, stroke: str = "#000", body: str = "") -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
            f'<circle cx="50" cy="50" r="35" fill="{fill}" stroke="{stroke}" stroke-width="4"/>{body}</svg>')


def _fake_draw(packages, source, count, seed, timeout=0):
    items = []
    for i in range(count):
        name = f"{source}-{seed}-{i}"
        if i == 1:
            items.append({"name": name, "error": "TypeError: cannot read properties of undefined"})
        elif i == 2:
            items.append({"name": name, "color": "<svg not really", "line": "<svg"})  # fails to render
        elif i == 3:
            items.append({"name": name, "color": _svg("#e4572e", "#fff"), "line": _svg("#fff")})  # lines hidden in color
        else:
            hue = ["#e4572e", "#2d7dd2", "#97cc04", "#f3a712"][i % 4]
            mark = f'<rect x="{25 + 3 * len(source) % 30}" y="{30 + 2 * i}" width="20" height="5"/>'  # one picture each
            items.append({"name": name, "color": _svg(hue, body=mark), "line": _svg("#fff", body=mark)})
    return items


@pytest.fixture
def fake_node(monkeypatch):
    import autopainter.data.sources.characters as ch

    monkeypatch.setattr(ch, "draw_svgs", _fake_draw)
    return ch


def test_build_renders_filters_and_counts_bad_items(fake_node, tmp_path, capsys):
    out = tmp_path / "chars"
    assert main(["prepare", "characters", "--count", "12", "--sources", "bigheads", "--size", "64", "-o", str(out),
                 "--packages-dir", str(tmp_path), "--workers", "1", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "9 pairs" in printed and "dropped 3" in printed  # a draw error, a render error, hidden lines: skipped
    files = sorted(out.glob("*/*.png"))
    assert len(files) == 9
    pair = np.asarray(Image.open(files[0]).convert("RGB"))
    assert pair.shape == (64, 128, 3)
    color, sketch = pair[:, :64], pair[:, 64:]
    assert (sketch.max(axis=2) - sketch.min(axis=2)).max() <= 1  # the sketch is gray
    dark = sketch[..., 0] < 128
    assert dark.mean() > 0.02 and (color[dark].max(axis=1) < 128).mean() > 0.85  # the color shows the same ink
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "Big Heads" in attribution and "MIT" in attribution and "DiceBear" not in attribution
    manifest = json.loads((out / "prepare.json").read_text())
    assert manifest["complete"] is True and manifest["settings"]["count"] == 12


def test_build_is_deterministic_and_splits_dicebear_styles(fake_node, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["prepare", "characters", "--count", "10", "--sources", "dicebear", "--size", "48",
                     "-o", str(out), "--packages-dir", str(tmp_path), "--workers", "1", "-q"]) == 0
    names = sorted(p.relative_to(a).as_posix() for p in a.glob("*/*.png"))
    assert names == sorted(p.relative_to(b).as_posix() for p in b.glob("*/*.png"))
    assert {n.split("/")[1].rsplit("-", 2)[0] for n in names} == {"dicebear-adventurer", "dicebear-micah"}
    text = (a / "ATTRIBUTION.md").read_text()
    assert "Lisa Wischofsky" in text and "Micah Lanier" in text and "CC BY 4.0" in text


def test_bad_arguments_and_missing_node_are_one_line(tmp_path, capsys, monkeypatch):
    import autopainter.data.sources.npm as npm_tools

    for args, words in ((["--count", "0"], "--count"), (["--sources", "pokemon"], "unknown source")):
        assert main(["prepare", "characters", "-o", str(tmp_path / "x"), "--packages-dir", str(tmp_path), "-q", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0]
    monkeypatch.setattr(npm_tools.shutil, "which", lambda name: None)
    assert main(["prepare", "characters", "--count", "2", "-o", str(tmp_path / "y"), "--packages-dir", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "node not found" in err[0] and "apt-get install nodejs" in err[0]


def test_comicgen_layers_and_line_art(tmp_path):
    """Comicgen: an emotion and a pose of one character in one SVG; the line art keeps only the ink."""
    from autopainter.data.sources.characters import comicgen_items, render_svg

    root = tmp_path / "node_modules" / "comicgen" / "svg" / "ava"
    for sub, body in (("emotion", '<circle cx="50" cy="30" r="12" fill="#f3d4ca"/><path d="M45 30h10v2H45z"/>'),
                      ("pose", '<rect x="30" y="45" width="40" height="50" fill="#40627c" stroke="#111" stroke-width="3"/>')):
        (root / sub).mkdir(parents=True)
        (root / sub / f"{sub}1.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 120">{body}</svg>')
    (item,) = comicgen_items(tmp_path, 5, 0)  # one emotion x one pose: one character
    assert item["name"] == "comicgen-ava-emotion1-pose1"
    assert "#f3d4ca" in item["color"] and "#40627c" in item["color"]
    assert "#f3d4ca" not in item["line"] and "#40627c" not in item["line"] and "#111" in item["line"]
    color, line = render_svg(item["color"], 64), render_svg(item["line"], 64)
    assert color.shape == line.shape == (64, 64, 3)  # tall drawings are padded to squares on white
    assert (line.min(axis=2) < 60).any() and (np.abs(line.astype(int) - line[..., :1]).max() <= 2)  # gray line art
