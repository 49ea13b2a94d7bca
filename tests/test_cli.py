"""The CLI end to end through main([...]) on generated pairs, and its one-line errors."""

import numpy as np
import pytest
from PIL import Image

from autopainter.cli import main

from conftest import REPO


def _err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error message"
    assert err[-1].startswith("autopainter: error:")
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.fixture(scope="module")
def trained(pairs_dir, tmp_path_factory):
    """train tiny on 20 pairs -> export: (run_dir, model_dir)."""
    root = tmp_path_factory.mktemp("cli")
    assert main(["train", "--config", str(REPO / "configs" / "tiny.yaml"), "--data", str(pairs_dir),
                 "--set", f"train.runs_dir={root / 'runs'}", "-q"]) == 0
    run = next((root / "runs").iterdir())
    assert main(["export", str(run), "-o", str(root / "model")]) == 0
    return run, root / "model"


def _sketch(path, size):
    img = Image.new("L", size, 255)
    from PIL import ImageDraw

    ImageDraw.Draw(img).ellipse((10, 10, size[0] - 10, size[1] - 10), outline=0, width=3)
    img.save(path)
    return path


def test_train_export_colorize_odd_size(trained, tmp_path):
    _, model = trained
    sk = _sketch(tmp_path / "sketch.png", (333, 517))
    assert main(["colorize", str(sk), "-o", str(tmp_path / "out.png"), "--model", str(model), "-q"]) == 0
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (333, 517) and out.mode == "RGB"


def test_colorize_folder_with_hints_folder(trained, tmp_path):
    _, model = trained
    (tmp_path / "in").mkdir()
    (tmp_path / "hints").mkdir()
    _sketch(tmp_path / "in" / "a.png", (64, 40))
    _sketch(tmp_path / "in" / "b.jpg", (50, 90))
    Image.new("RGBA", (64, 40), (255, 0, 0, 0)).save(tmp_path / "hints" / "a.png")
    assert main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(model),
                 "--hints", str(tmp_path / "hints"), "-q"]) == 0
    assert Image.open(tmp_path / "out" / "a.png").size == (64, 40)
    assert Image.open(tmp_path / "out" / "b.png").size == (50, 90)


def test_corrupt_image_in_folder_is_reported_others_colored(trained, tmp_path, capsys):
    _, model = trained
    (tmp_path / "in").mkdir()
    _sketch(tmp_path / "in" / "good.png", (40, 40))
    (tmp_path / "in" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code = main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(model), "-q"])
    assert code == 2
    assert (tmp_path / "out" / "good.png").is_file()
    assert not (tmp_path / "out" / "bad.png").exists()
    assert "bad.png" in capsys.readouterr().err


def test_resume_finished_run_and_dry_run(trained, capsys):
    run, _ = trained
    assert main(["train", "--resume", str(run), "--set", "train.epochs=3", "-q"]) == 0
    import torch

    assert torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["epoch"] == 3
    capsys.readouterr()
    assert main(["train", "--config", "tiny", "--dry-run", "--set", "train.epochs=9"]) == 0
    assert "epochs: 9" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--config", "tiny", "--set", "train.epochz=1", "--data", "."], "unknown config key train.epochz"),
        (["train", "--config", "tiny", "--set", "train.epochs=abc", "--data", "."], "must be an integer"),
        (["train", "--config", "tiny", "--set", "oops", "--data", "."], "expected section.key=value"),
        (["train", "--config", "nosuchpreset"], "no config file or preset named"),
        (["train", "--config", "tiny"], "no training data"),
        (["train", "--config", "tiny", "--data", "missing_dir"], "data folder not found"),
        (["export", "no_such_run", "-o", "m"], "run folder not found"),
        (["colorize", "missing.png", "-o", "out", "--model", "."], "input not found"),
    ],
)
def test_bad_input_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in _err_line(capsys)


def test_empty_data_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--config", "tiny", "--data", str(tmp_path / "empty"), "-q"]) == 2
    assert "no images" in _err_line(capsys)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_corrupt_sketch_and_bad_model(trained, tmp_path, capsys):
    _, model = trained
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    assert main(["colorize", str(bad), "-o", str(tmp_path / "o.png"), "--model", str(model), "-q"]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    sk = _sketch(tmp_path / "s.png", (20, 20))
    assert main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--model", str(tmp_path)]) == 2
    assert "config.json" in _err_line(capsys)


def test_checkpoint_of_another_architecture(trained, tmp_path, capsys):
    run, _ = trained
    import shutil

    other = tmp_path / "other"
    shutil.copytree(run, other)
    import torch

    st = torch.load(other / "checkpoints" / "latest.pt", weights_only=True)
    st["config"]["model"]["ngf"] = 16
    torch.save(st, other / "checkpoints" / "latest.pt")
    assert main(["export", str(other), "-o", str(tmp_path / "m")]) == 2
    assert "another architecture" in _err_line(capsys)
    assert not (tmp_path / "m" / "config.json").exists()


def test_more_bad_inputs(trained, tmp_path, capsys):
    run, model = trained
    sk = _sketch(tmp_path / "s.png", (30, 30))
    # hints without transparency would make every pixel a hint
    Image.new("RGB", (30, 30), (255, 0, 0)).save(tmp_path / "opaque.png")
    assert main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--model", str(model),
                 "--hints", str(tmp_path / "opaque.png")]) == 2
    assert "transparen" in _err_line(capsys)
    assert main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--model", str(model), "--size", "0"]) == 2
    assert "--size must be > 0" in _err_line(capsys)
    assert main(["colorize", str(sk), str(sk), "-o", str(tmp_path / "o.png"), "--model", str(model)]) == 2
    assert "give a folder" in _err_line(capsys)
    assert main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--model", str(model), "--device", "gpu"]) == 2
    assert "not available" in _err_line(capsys)
    # export never writes into a folder that holds something else
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["export", str(run), "-o", str(tmp_path / "busy")]) == 2
    assert "non-empty" in _err_line(capsys)
    assert not (tmp_path / "busy" / "config.json").exists()
    # an output path inside a file is an OS error, reported in one line
    assert main(["colorize", str(sk), "-o", str(tmp_path / "s.png" / "x.png"), "--model", str(model)]) == 2
    _err_line(capsys)


def test_jpeg_output(trained, tmp_path):
    _, model = trained
    sk = _sketch(tmp_path / "s.png", (30, 20))
    assert main(["colorize", str(sk), "-o", str(tmp_path / "o.jpg"), "--model", str(model), "-q"]) == 0
    assert Image.open(tmp_path / "o.jpg").format == "JPEG"


def test_colorize_layers_and_backend(trained, tmp_path, capsys):
    import numpy as np

    from autopainter.inference.compose import composite_layers

    _, model = trained
    sk = _sketch(tmp_path / "s.png", (120, 90))
    assert main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--model", str(model), "--layers",
                 "--backend", "torch", "--precision", "fp32"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / n) for n in ("o.png", "o_color.png", "o_lines.png", "o_flats.png")]
    img, color, lines, flats = (Image.open(tmp_path / n) for n in ("o.png", "o_color.png", "o_lines.png", "o_flats.png"))
    assert img.size == color.size == lines.size == flats.size == (120, 90)
    assert (img.mode, color.mode, lines.mode, flats.mode) == ("RGB", "RGB", "RGBA", "RGB")
    assert np.array_equal(np.asarray(flats), np.asarray(color))  # the flat style: the color layer is the flats
    over = composite_layers(np.asarray(color), np.asarray(lines))
    assert np.abs(over.astype(int) - np.asarray(img)).max() <= 1
    assert (np.asarray(img)[np.asarray(Image.open(sk)) == 0] == 0).all()  # the sketch's own black lines


def test_colorize_folder_layers_never_overwrite(trained, tmp_path):
    _, model = trained
    (tmp_path / "in").mkdir()
    _sketch(tmp_path / "in" / "a.png", (40, 30))
    _sketch(tmp_path / "in" / "a_color.png", (50, 30))  # would collide with a.png's color layer
    assert main(["colorize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(model),
                 "--layers", "--jobs", "2", "-q"]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a.png", "a_color-1.png", "a_color-1_color.png", "a_color-1_flats.png", "a_color-1_lines.png",
                     "a_color.png", "a_flats.png", "a_lines.png"]
    assert Image.open(tmp_path / "out" / "a_color.png").size == (40, 30)  # a's layer, not the other input
    assert Image.open(tmp_path / "out" / "a_color-1.png").size == (50, 30)


def test_plan_outputs():
    from pathlib import Path

    from autopainter.cli import plan_outputs

    files = [Path("x/a.png"), Path("y/a.jpg"), Path("x/b.png")]
    assert plan_outputs(files, Path("out"), False) == {
        files[0]: Path("out/a.png"), files[1]: Path("out/a-1.png"), files[2]: Path("out/b.png")}
    assert plan_outputs(files[:1], Path("one.jpg"), True) == {files[0]: Path("one.jpg")}


def test_plan_outputs_single_file_rule(tmp_path):
    from pathlib import Path

    from autopainter.cli import CLIError, plan_outputs

    a, b = Path("x/a.png"), Path("x/b.png")
    for name in ("one.png", "one.JPG", "one.jpeg", "one.webp"):  # an image suffix: one file
        assert plan_outputs([a], tmp_path / name) == {a: tmp_path / name}
        with pytest.raises(CLIError, match="give a folder"):
            plan_outputs([a, b], tmp_path / name)
    for name in ("out", "out.d", "v1.5"):  # anything else: a folder of STEM.png
        assert plan_outputs([a], tmp_path / name) == {a: tmp_path / name / "a.png"}
    (tmp_path / "file").write_text("x")
    with pytest.raises(CLIError, match="not a folder"):
        plan_outputs([a], tmp_path / "file")
    (tmp_path / "made.png").mkdir()
    with pytest.raises(CLIError, match="is a folder"):
        plan_outputs([a], tmp_path / "made.png")
    assert plan_outputs([a, Path("y/a.png")], tmp_path / "o", extras=("_color",)) == {
        a: tmp_path / "o" / "a.png", Path("y/a.png"): tmp_path / "o" / "a-1.png"}


def test_colorize_single_file_rule(trained, tmp_path, capsys):
    _, model = trained
    a = _sketch(tmp_path / "a.png", (30, 20))
    b = _sketch(tmp_path / "b.png", (20, 30))
    assert main(["colorize", str(a), str(b), "-o", str(tmp_path / "out.png"), "--model", str(model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopainter: error:") and "give a folder" in err[0]
    assert not (tmp_path / "out.png").exists()
    assert main(["colorize", str(a), "-o", str(tmp_path / "x.jpg"), "--model", str(model), "--layers", "-q"]) == 0
    with Image.open(tmp_path / "x.jpg") as img:
        assert img.format == "JPEG" and img.size == (30, 20)
    for layer in ("x_color.png", "x_lines.png"):  # layers stay PNG next to the output
        assert Image.open(tmp_path / layer).format == "PNG"
    assert main(["colorize", str(a), "-o", str(tmp_path / "x.webp"), "--model", str(model), "-q"]) == 0
    assert Image.open(tmp_path / "x.webp").format == "WEBP"


def test_help_of_every_command(capsys):
    import subprocess
    import sys

    for cmd in ("colorize", "sketchify"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert ".jpg" in out and "written in that format" in out, cmd
    for cmd in ("train", "export", "serve", "evaluate", "prepare"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
    r = subprocess.run([sys.executable, "-m", "autopainter", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "colorize" in r.stdout


def test_serve_defaults_come_from_the_settings():
    from autopainter.cli import build_parser
    from autopainter.server import ServerSettings

    args = build_parser().parse_args(["serve"])
    s = ServerSettings()
    assert (args.device, args.size, args.max_pixels, args.max_in_flight, args.model, args.data_dir) == (
        s.device, s.size, s.max_pixels, s.max_in_flight, s.model_dir, s.data_dir)
    assert args.max_upload_mb * 2**20 == s.max_upload_bytes


def test_evaluate_layout_defaults_to_auto():
    from autopainter.cli import build_parser

    assert build_parser().parse_args(["evaluate", "--data", "d"]).layout == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--data", "d", "--layout", "bogus"])


def test_cli_modules_import_only_the_leaf():
    """No cycles: command modules may import cli.outputs, never each other; outputs imports no cli module."""
    import ast
    from pathlib import Path

    import autopainter.cli as pkg

    root = Path(pkg.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import ...
                target = node.module or ""
                if path.stem in ("__init__", "__main__"):
                    continue
                assert path.stem != "outputs" and target == "outputs", f"{path.name} imports .{target}"


def test_colorize_option_errors(trained, tmp_path, capsys):
    _, model = trained
    sk = _sketch(tmp_path / "s.png", (40, 30))
    assert main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--model", str(model), "--max-pixels", "1000"]) == 2
    assert "over the 1,000-pixel limit" in _err_line(capsys)
    assert not (tmp_path / "o.png").exists()
    for flag in ("--max-pixels", "--jobs", "--threads"):
        assert main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--model", str(model), flag, "0"]) == 2
        assert f"{flag} must be > 0" in _err_line(capsys)
    with pytest.raises(SystemExit):
        main(["colorize", str(sk), "-o", str(tmp_path / "o.png"), "--backend", "tensorrt"])


@pytest.mark.slow
def test_export_onnx_from_a_run(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    run, _ = trained
    out = tmp_path / "m"
    assert main(["export", str(run), "-o", str(out), "--onnx"]) == 0
    # discriminator.safetensors: for train.init_from; inference reads the other three
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "discriminator.safetensors", "model.onnx"}


def test_colorize_styles_and_model_none(trained, tmp_path, capsys):
    """--model none: each hinted region in its hint's color, the rest white; --style soft differs from flat;
    a soft style without a model, or a bad gap, is a one-line error."""
    from PIL import ImageDraw

    _, model = trained
    sk = Image.new("L", (80, 60), 255)
    ImageDraw.Draw(sk).rectangle((10, 10, 69, 49), outline=0, width=2)
    sk.save(tmp_path / "box.png")
    hints = Image.new("RGBA", (80, 60), (0, 0, 0, 0))
    ImageDraw.Draw(hints).line((30, 30, 45, 30), fill=(20, 120, 230, 255), width=3)
    hints.save(tmp_path / "h.png")
    assert main(["colorize", str(tmp_path / "box.png"), "--hints", str(tmp_path / "h.png"), "--model", "none",
                 "-o", str(tmp_path / "none.png"), "-q"]) == 0
    out = np.asarray(Image.open(tmp_path / "none.png"))
    assert (out[15:45, 15:65] == (20, 120, 230)).all()  # the whole inside of the box, exactly
    assert (out[2:8, 2:78] == 255).all()  # outside: paper
    for style in ("flat", "soft"):
        assert main(["colorize", str(tmp_path / "box.png"), "--model", str(model), "--style", style,
                     "-o", str(tmp_path / f"{style}.png"), "-q"]) == 0
    flat, soft = (np.asarray(Image.open(tmp_path / f"{s}.png")).astype(int) for s in ("flat", "soft"))
    inside = flat[15:45, 15:65].reshape(-1, 3)
    assert (inside == inside[0]).all()  # flat: one color per region
    assert np.abs(soft - flat).max() > 0
    capsys.readouterr()
    assert main(["colorize", str(tmp_path / "box.png"), "--model", "none", "--style", "soft", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["colorize", str(tmp_path / "box.png"), "--gap", "-1", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "flat style" in err[0] and "gap" in err[1]
    assert not (tmp_path / "x.png").exists()


def test_colorize_hint_scope_matches_the_library(trained, tmp_path):
    """--hint-scope local (the default) and global color as Colorizer(local=True / False) does."""
    from autopainter.inference import Colorizer

    _, model = trained
    sk = _sketch(tmp_path / "s.png", (64, 48))
    hints = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    hints.paste((200, 30, 40, 255), (28, 20, 36, 26))
    hints.save(tmp_path / "h.png")
    for scope in ("local", "global"):
        assert main(["colorize", str(sk), "--hints", str(tmp_path / "h.png"), "-o", str(tmp_path / f"{scope}.png"),
                     "--model", str(model), "--hint-scope", scope, "-q"]) == 0
        want = Colorizer.from_pretrained(model, local=scope == "local")(sk, hints)
        assert np.array_equal(np.asarray(Image.open(tmp_path / f"{scope}.png")), np.asarray(want))


def test_colorize_closing_and_empty_files(tmp_path, capsys):
    """--closing closes a box whose side is missing; --empty keeps a region paper; both come back in the .ora;
    a bad file or gap is one line and exit 2."""
    from PIL import ImageDraw

    sk = Image.new("L", (120, 80), 255)
    d = ImageDraw.Draw(sk)
    for xy in ((10, 10, 60, 10), (10, 70, 60, 70), (10, 10, 10, 70)):  # a box open on its right side
        d.line(xy, fill=0, width=2)
    sk.save(tmp_path / "s.png")
    closing = Image.new("RGBA", sk.size, (0, 0, 0, 0))
    ImageDraw.Draw(closing).line((60, 10, 60, 70), fill=(0, 170, 255, 255), width=2)
    closing.save(tmp_path / "c.png")
    hints = Image.new("RGBA", sk.size, (0, 0, 0, 0))
    ImageDraw.Draw(hints).rectangle((30, 35, 34, 39), fill=(230, 40, 30, 255))
    hints.save(tmp_path / "h.png")
    base = ["colorize", str(tmp_path / "s.png"), "--model", "none", "--hints", str(tmp_path / "h.png"), "-q"]
    assert main(base + ["-o", str(tmp_path / "open.png")]) == 0
    assert main(base + ["-o", str(tmp_path / "closed.png"), "--closing", str(tmp_path / "c.png")]) == 0
    opened, closed = (np.asarray(Image.open(tmp_path / n).convert("RGB")) for n in ("open.png", "closed.png"))
    assert (opened[40, 100] == (230, 40, 30)).all() and (closed[40, 100] == 255).all() and (closed[40, 45] == (230, 40, 30)).all()
    empty = Image.new("RGBA", sk.size, (0, 0, 0, 0))
    empty.putpixel((45, 50), (255, 0, 170, 255))
    empty.save(tmp_path / "e.png")
    out = tmp_path / "o.ora"
    assert main(base + ["-o", str(out), "--closing", str(tmp_path / "c.png"), "--empty", str(tmp_path / "e.png")]) == 0
    import zipfile

    z = zipfile.ZipFile(out)
    assert (np.asarray(Image.open(z.open("mergedimage.png")).convert("RGB"))[40, 45] == 255).all()
    assert 'name="Leave empty"' in z.read("stack.xml").decode()
    capsys.readouterr()
    for extra, words in ((["--gap", "41"], "--gap must be"), (["--closing", str(tmp_path / "s.png")], "closing"),
                         (["--empty", str(tmp_path / "nope.png")], "empty not found")):
        assert main(base + ["-o", str(tmp_path / "x.png")] + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "x.png").exists()
