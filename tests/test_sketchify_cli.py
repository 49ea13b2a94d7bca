"""`autopainter sketchify`: colored images of any mode to line art, the same function as training."""

import numpy as np
import pytest
from PIL import Image

from autopainter.cli import main
from autopainter.data.sketch import extract_sketch
from autopainter.data.synthetic import draw_synthetic_pair
from autopainter.imageio import read_rgb


def _err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopainter: error:"), err
    return err[0]


@pytest.fixture
def colored(tmp_path):
    """One drawing saved as RGB, RGBA (transparent border), gray, palette (with transparency) and 1-bit."""
    color, _ = draw_synthetic_pair(np.random.default_rng(3), 40)
    d = tmp_path / "in"
    d.mkdir()
    color.save(d / "rgb.png")
    rgba = color.convert("RGBA")
    a = np.asarray(rgba).copy()
    a[:5, :, 3] = 0  # a transparent strip: must become white paper
    Image.fromarray(a).save(d / "rgba.png")
    color.convert("L").save(d / "gray.png")
    pal = color.quantize(16)
    pal.info["transparency"] = 0
    pal.save(d / "palette.png", transparency=0)
    color.convert("1").save(d / "bw.gif")
    color.resize((57, 23)).save(d / "odd.jpg")
    return d


def test_sketchify_modes(colored, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sketchify", str(colored), "-o", str(out), "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["bw.png", "gray.png", "odd.png", "palette.png", "rgb.png", "rgba.png"]
    for src in colored.iterdir():
        sketch = Image.open(out / f"{src.stem}.png")
        assert sketch.mode == "L" and sketch.size == Image.open(src).size
        # exactly the training function on the image as the training reader sees it
        assert (np.asarray(sketch) == extract_sketch(read_rgb(src))).all()
    rgba = np.asarray(Image.open(out / "rgba.png"))
    assert (rgba[:3] == 255).all()  # transparent -> white paper, no line along the strip
    assert rgba.min() < 100  # and lines elsewhere


def test_sketchify_single_file_method_and_params(colored, tmp_path, capsys):
    assert main(["sketchify", str(colored / "rgb.png"), "-o", str(tmp_path / "one.png"), "--method", "thin",
                 "--set-param", "sigma=0.7"]) == 0
    assert capsys.readouterr().out.strip().endswith("one.png")
    a = np.asarray(Image.open(tmp_path / "one.png"))
    assert set(np.unique(a)) <= {0, 255}
    assert (a == extract_sketch(read_rgb(colored / "rgb.png"), method="thin", sigma=0.7)).all()


def test_sketchify_errors(colored, tmp_path, capsys):
    assert main(["sketchify", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")]) == 2
    assert "input not found" in _err_line(capsys)
    assert main(["sketchify", str(colored / "rgb.png"), "-o", str(tmp_path / "o"), "--set-param", "bogus=1"]) == 2
    line = _err_line(capsys)
    assert "bogus" in line and "sigma" in line  # lists the valid names
    assert main(["sketchify", str(colored / "rgb.png"), "-o", str(tmp_path / "o"), "--set-param", "sigma"]) == 2
    assert "NAME=VALUE" in _err_line(capsys)


def test_sketchify_skips_unreadable(colored, tmp_path, capsys):
    (colored / "broken.png").write_bytes(b"not a png")
    assert main(["sketchify", str(colored), "-o", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "broken.png" in err[0] and err[1].startswith("autopainter: error: 1 of 7")
    assert len(list((tmp_path / "o").iterdir())) == 6
    assert main(["sketchify", str(colored / "broken.png"), "-o", str(tmp_path / "b.png")]) == 2
    assert "broken.png" in _err_line(capsys)  # one input: its error in one line
    assert not (tmp_path / "b.png").exists()


def test_sketchify_single_file_rule(colored, tmp_path, capsys):
    """An -o with an image suffix is one file in that format; several inputs with it: one line, exit 2."""
    a, b = colored / "rgb.png", colored / "gray.png"
    assert main(["sketchify", str(a), str(b), "-o", str(tmp_path / "out.png")]) == 2
    assert "give a folder" in _err_line(capsys)
    assert not (tmp_path / "out.png").exists()  # no folder named out.png/ either
    assert main(["sketchify", str(colored), "-o", str(tmp_path / "all.webp"), "-q"]) == 2  # a folder of 6
    assert "6 inputs" in _err_line(capsys)
    assert not (tmp_path / "all.webp").exists()

    assert main(["sketchify", str(a), "-o", str(tmp_path / "x.jpg"), "-q"]) == 0
    assert (tmp_path / "x.jpg").is_file()
    with Image.open(tmp_path / "x.jpg") as img:
        assert img.format == "JPEG" and img.mode == "L" and img.size == Image.open(a).size
    assert main(["sketchify", str(a), "-o", str(tmp_path / "x.WEBP"), "-q"]) == 0
    assert Image.open(tmp_path / "x.WEBP").format == "WEBP"
    assert main(["sketchify", str(a), "-o", str(tmp_path / "lines"), "-q"]) == 0  # no suffix: a folder
    assert [p.name for p in (tmp_path / "lines").iterdir()] == ["rgb.png"]


def test_sketchify_help_states_the_rule(capsys):
    with pytest.raises(SystemExit):
        main(["sketchify", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ".jpg" in out and "written in that format" in out
