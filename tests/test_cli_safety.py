"""The CLI never destroys a user's file and validates everything it loads: a table of bad inputs (each one
line on stderr, exit 2, no traceback, every file as it was and none added), outputs that are inputs,
model-config and checkpoint checks, and resuming after kill -9 without duplicated records or temp files."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

import autopainter
from autopainter.cli import main

from conftest import REPO

TINY = str(REPO / "configs" / "tiny.yaml")
SRC = str(Path(autopainter.__file__).resolve().parents[1])  # subprocesses import this very package


# ------------------------------------------------------------------------------------------ helpers
def snapshot(root: Path) -> dict[str, str]:
    """Every file (hidden ones too) and link under ``root``: relative path -> content digest or link target."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def sketch(path: Path, size=(48, 40)) -> Path:
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).ellipse((4, 4, size[0] - 5, size[1] - 5), outline=0, width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def hints(path: Path, size=(48, 40)) -> Path:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((10, 10, 20, 20), fill=(255, 0, 0, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def bad_model(src: Path, dest: Path, edit) -> str:
    """A copy of model folder ``src`` whose parsed config.json ``edit`` changes in place."""
    shutil.copytree(src, dest)
    meta = json.loads((dest / "config.json").read_text())
    edit(meta)
    (dest / "config.json").write_text(json.dumps(meta))  # json writes NaN for float("nan"), as a hostile file may
    return str(dest)


def bad_run(src: Path, dest: Path, edit) -> str:
    """A copy of run folder ``src`` whose checkpoint ``edit`` changes in place."""
    shutil.copytree(src, dest)
    path = dest / "checkpoints" / "latest.pt"
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)
    return str(dest)


def first_moment(state):
    state["opt_G"]["state"][0]["exp_avg"] = torch.zeros(3)


@pytest.fixture(scope="module")
def run_dir(pairs_dir, tmp_path_factory) -> Path:
    """A finished one-epoch tiny run with its checkpoint."""
    root = tmp_path_factory.mktemp("safety-run")
    assert main(["train", "--config", TINY, "--data", str(pairs_dir), "--set", f"train.runs_dir={root}",
                 "--set", "train.epochs=1", "-q"]) == 0
    return next(root.iterdir())


class Ctx:
    def __init__(self, tmp: Path, model: Path, run: Path, pairs: Path):
        self.tmp, self.model, self.run, self.pairs = tmp, model, run, pairs

    def m(self, edit) -> str:
        return bad_model(self.model, self.tmp / "badmodel", edit)

    def r(self, edit) -> str:
        return bad_run(self.run, self.tmp / "badrun", edit)

    def train(self, *sets: str) -> list[str]:
        args = ["train", "--config", TINY, "--data", str(self.pairs), "--set", f"train.runs_dir={self.tmp / 'runs'}", "-q"]
        return args + [x for s in sets for x in ("--set", s)]


def _same_dir(c):
    sketch(c.tmp / "in" / "a.png"), sketch(c.tmp / "in" / "b.png")
    return ["colorize", "in", "-o", "in", "--model", str(c.model), "-q"], "output in/a.png is the input in/a.png (and 1 more)"


def _dir_link(c):
    sketch(c.tmp / "in" / "a.png")
    (c.tmp / "link").symlink_to(c.tmp / "in", target_is_directory=True)
    return ["colorize", "in", "-o", "link", "--model", str(c.model)], "is the same file as the input in/a.png"


def _file_link(c):
    sketch(c.tmp / "a.png")
    (c.tmp / "out.png").symlink_to(c.tmp / "a.png")
    return ["colorize", "a.png", "-o", "out.png", "--model", str(c.model)], "is the same file as the input a.png"


def _hard_link(c):
    sketch(c.tmp / "a.png")
    os.link(c.tmp / "a.png", c.tmp / "out.png")
    return ["colorize", "a.png", "-o", "out.png", "--model", str(c.model)], "is the same file as the input a.png"


def _layer_over_hints(c):
    sketch(c.tmp / "a.png"), hints(c.tmp / "out_color.png")
    return (["colorize", "a.png", "--hints", "out_color.png", "--layers", "-o", "out.png", "--model", str(c.model)],
            "output out_color.png is the input out_color.png")


def _hints_dir_as_output(c):
    sketch(c.tmp / "in" / "a.png"), sketch(c.tmp / "in" / "b.png"), hints(c.tmp / "h" / "a.png")
    return ["colorize", "in", "--hints", "h", "-o", "h", "--model", str(c.model)], "output h/a.png is the input h/a.png"


def _eval_into_data(c):
    split = c.tmp / "data" / "test"
    split.mkdir(parents=True)
    shutil.copy(next(c.pairs.glob("*.png")), split / "examples.png")  # a pair that happens to have that name
    return (["evaluate", "--model", str(c.model), "--data", "data", "-o", "data/test", "-q"],
            "output data/test/examples.png is the input")


def _pillow_sized(c):
    sketch(c.tmp / "a.png", (60, 60))
    return ["sketchify", "a.png", "-o", "o.png", "--max-pixels", "1000"], "over the 1,000-pixel limit (--max-pixels N"


def _junk(path: Path) -> Path:
    path.write_bytes(b"not an image at all")
    return path


# (id, setup(ctx) -> (argv, a part of the expected message)); paths are relative to the test's folder
CASES = [
    # 1. outputs that are inputs: refused unless --overwrite
    ("colorize-file-onto-itself", lambda c: (["colorize", str(sketch(c.tmp / "x.png").name), "-o", "x.png",
                                              "--model", str(c.model)], "output x.png is the input x.png")),
    ("colorize-dir-onto-itself", _same_dir),
    ("colorize-dir-other-spelling", lambda c: (_same_dir(c)[0][:3] + ["./in/", "--model", str(c.model)],
                                               "is the input in/a.png")),
    ("colorize-dir-through-symlink", _dir_link),
    ("colorize-onto-symlink-to-input", _file_link),
    ("colorize-onto-hard-link-of-input", _hard_link),
    ("colorize-onto-its-hints", lambda c: (["colorize", str(sketch(c.tmp / "a.png").name), "--hints",
                                            hints(c.tmp / "h.png").name, "-o", "h.png", "--model", str(c.model)],
                                           "output h.png is the input h.png")),
    ("colorize-layer-onto-hints", _layer_over_hints),
    ("colorize-into-hints-folder", _hints_dir_as_output),
    ("sketchify-into-own-folder", lambda c: (["sketchify", str(sketch(c.tmp / "art" / "c.png").relative_to(c.tmp)),
                                              "-o", "art"], "output art/c.png is the input art/c.png")),
    ("sketchify-file-onto-itself", lambda c: (["sketchify", sketch(c.tmp / "c.png").name, "-o", "c.png"],
                                              "output c.png is the input c.png")),
    ("evaluate-into-the-dataset", _eval_into_data),
    # 2. model folders (colorize, serve, train.init_from)
    ("model-ngf-negative", lambda c: (["colorize", "x.png", "-o", "o.png", "--model", c.m(lambda d: d["model"].update(ngf=-1))],
                                      "model.ngf must be > 0")),
    ("model-ngf-huge", lambda c: (["colorize", "x.png", "-o", "o.png", "--model", c.m(lambda d: d["model"].update(ngf=200000))],
                                  "model.ngf must be at most 4,096")),
    ("model-over-parameter-bound", lambda c: (["colorize", "x.png", "-o", "o.png", "--model",
                                               c.m(lambda d: d["model"].update(ngf=2048, max_mult=16))],
                                              "over the 200M limit")),
    ("model-image-size-null", lambda c: (["colorize", "x.png", "-o", "o.png", "--model", c.m(lambda d: d.update(image_size=None))],
                                         "image_size must be a whole number")),
    ("model-image-size-huge", lambda c: (["colorize", "x.png", "-o", "o.png", "--model", c.m(lambda d: d.update(image_size=10**9))],
                                         "image_size must be a whole number in 1..8192")),
    ("model-format-version-string", lambda c: (["colorize", "x.png", "-o", "o.png", "--model",
                                                c.m(lambda d: d.update(format_version="1"))], "format_version must be a whole number")),
    ("model-depth-huge", lambda c: (["colorize", "x.png", "-o", "o.png", "--model", c.m(lambda d: d["model"].update(depth=40))],
                                    "model.depth must be at most 10")),
    ("model-dropout-nan", lambda c: (["colorize", "x.png", "-o", "o.png", "--model",
                                      c.m(lambda d: d["model"].update(dropout=float("nan")))], "model.dropout must be a finite number")),
    ("model-trained-not-mapping", lambda c: (["colorize", "x.png", "-o", "o.png", "--model", c.m(lambda d: d.update(trained=5))],
                                             "trained must be a mapping")),
    ("serve-model-format-version-string", lambda c: (["serve", "--port", "0", "-q", "--model",
                                                      c.m(lambda d: d.update(format_version="1"))], "format_version")),
    ("init-from-model-ngf-huge", lambda c: (c.train("train.init_from=" + c.m(lambda d: d["model"].update(ngf=200000))),
                                            "model.ngf must be at most 4,096")),
    # 3. checkpoints (train --resume, export)
    ("resume-without-opt_G", lambda c: (["train", "--resume", c.r(lambda s: s.pop("opt_G")), "-q"], "no 'opt_G' entry")),
    ("resume-without-G_ema", lambda c: (["train", "--resume", c.r(lambda s: s.pop("G_ema")), "-q"], "no 'G_ema' entry")),
    ("resume-rng-wrong-size", lambda c: (["train", "--resume", c.r(lambda s: s.update(rng_torch=torch.zeros(5, dtype=torch.uint8))),
                                          "-q"], "'rng_torch' is not a CPU random generator state")),
    ("resume-rng-none", lambda c: (["train", "--resume", c.r(lambda s: s.update(rng_torch=None)), "-q"], "'rng_torch'")),
    ("resume-rng-garbage", lambda c: (["train", "--resume", c.r(lambda s: s["rng_torch"].fill_(255)), "-q"],
                                      "random generator state")),
    ("resume-step-string", lambda c: (["train", "--resume", c.r(lambda s: s.update(step="x")), "-q"],
                                      "'step' must be a whole number >= 0")),
    ("resume-step-negative", lambda c: (["train", "--resume", c.r(lambda s: s.update(step=-5)), "-q"], "'step' must be")),
    ("resume-moment-shape", lambda c: (["train", "--resume", c.r(first_moment), "-q"], "opt_G does not fit the model")),
    ("resume-nan-in-stored-config", lambda c: (["train", "--resume", c.r(lambda s: s["config"]["loss"].update(l1=float("nan"))),
                                                "-q"], "loss.l1 must be a finite number")),
    ("resume-set-nan", lambda c: (["train", "--resume", str(c.run), "--set", "loss.gan=.nan", "-q"], "loss.gan must be a finite")),
    ("export-without-G_ema", lambda c: (["export", c.r(lambda s: s.pop("G_ema")), "-o", "m"], "no 'G_ema' entry")),
    # 4. --set values
    ("set-l1-nan", lambda c: (c.train("loss.l1=.nan"), "loss.l1 must be a finite number, got nan")),
    ("set-l1-inf", lambda c: (c.train("loss.l1=.inf"), "loss.l1 must be a finite number, got inf")),
    ("set-lr-nan", lambda c: (c.train("train.lr_g=.nan"), "train.lr_g must be a finite number")),
    ("set-load-size-huge", lambda c: (c.train("data.load_size=100000"), "data.load_size must be at most 8,192")),
    ("set-image-size-huge", lambda c: (c.train("data.image_size=16384", "data.load_size=16384"), "data.image_size must be at most")),
    ("set-ngf-huge", lambda c: (c.train("model.ngf=100000"), "model.ngf must be at most")),
    ("set-ndf-over-parameter-bound", lambda c: (c.train("discriminator.ndf=2048"), "over the 200M limit")),
    ("set-batch-huge", lambda c: (c.train("train.batch_size=100000000"), "train.batch_size must be at most 4,096")),
    ("set-beta-out-of-range", lambda c: (c.train("train.beta1=2"), "train.beta1 must be in [0, 1)")),
    ("set-sketch-features-depth-1", lambda c: (c.train("model.sketch_features=efficientnet-lite0", "model.depth=1"),
                                               "needs model.depth >= 2")),
    # 5. pixel limits name the flag
    ("colorize-over-max-pixels", lambda c: (["colorize", sketch(c.tmp / "a.png").name, "-o", "o.png", "--model", str(c.model),
                                             "--max-pixels", "1000"], "over the 1,000-pixel limit (--max-pixels N")),
    ("sketchify-over-max-pixels", _pillow_sized),
    # 6. names and sizes a user may mistype
    ("colorize-to-a-gif", lambda c: (["colorize", sketch(c.tmp / "a.png").name, "-o", "out.gif", "--model", str(c.model)],
                                     ".gif is not a format this command writes; name a file ending in .png .jpg")),
    ("sketchify-to-a-tif", lambda c: (["sketchify", sketch(c.tmp / "a.png").name, "-o", "out.tif"],
                                      ".tif is not a format this command writes")),
    ("colorize-size-huge", lambda c: (["colorize", sketch(c.tmp / "a.png").name, "-o", "o.png", "--model", str(c.model),
                                       "--size", "100000"], "16 to 4096 px")),
    ("colorize-not-an-image", lambda c: (["colorize", _junk(c.tmp / "j.png").name, "-o", "o.png", "--model", str(c.model)],
                                         "j.png: not a readable image (an unknown format, or a damaged file)")),
]


@pytest.mark.parametrize("case", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(case, tmp_path, tiny_model_dir, run_dir, pairs_dir, capsys):
    ctx = Ctx(tmp_path, tiny_model_dir, run_dir, pairs_dir)
    sketch(tmp_path / "x.png")
    argv, expected = case(ctx)
    before, run_before = snapshot(tmp_path), snapshot(run_dir)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopainter: error: "), err
    assert expected in err[0]
    assert snapshot(tmp_path) == before  # inputs untouched, nothing left behind
    assert snapshot(run_dir) == run_before


def _cli(*args, cwd, timeout=120):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "autopainter", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("which", ["colorize-onto-itself", "model-ngf-huge", "resume-without-opt_G"])
def test_bad_input_in_a_real_process_has_no_traceback(which, tmp_path, tiny_model_dir, run_dir):
    """The same rule outside pytest: the process exits 2 with one line, and no traceback anywhere."""
    ctx = Ctx(tmp_path, tiny_model_dir, run_dir, tmp_path)
    sketch(tmp_path / "x.png")
    argv = {
        "colorize-onto-itself": lambda: ["colorize", "x.png", "-o", "x.png", "--model", str(tiny_model_dir)],
        "model-ngf-huge": lambda: ["colorize", "x.png", "-o", "o.png", "--model", ctx.m(lambda d: d["model"].update(ngf=200000))],
        "resume-without-opt_G": lambda: ["train", "--resume", ctx.r(lambda s: s.pop("opt_G")), "-q"],
    }[which]()
    before = snapshot(tmp_path)
    p = _cli(*argv, cwd=tmp_path)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "Traceback" not in p.stderr + p.stdout
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("autopainter: error: ")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------- --overwrite and the planner
def test_overwrite_flag_replaces_inputs_when_asked(tmp_path, tiny_model_dir):
    a = sketch(tmp_path / "in" / "a.png")
    sketch(tmp_path / "in" / "b.png")
    original = a.read_bytes()
    assert main(["colorize", "in", "-o", "in", "--model", str(tiny_model_dir), "-q", "--overwrite"]) == 0
    assert a.read_bytes() != original and Image.open(a).mode == "RGB"
    c = tmp_path / "art" / "c.png"
    c.parent.mkdir()
    art = Image.new("RGB", (48, 40), "white")
    ImageDraw.Draw(art).ellipse((4, 4, 40, 34), fill=(200, 40, 40))  # colored art: its sketch differs
    art.save(c)
    original = c.read_bytes()
    assert main(["sketchify", "art", "-o", "art", "-q", "--overwrite"]) == 0
    assert c.read_bytes() != original


def test_output_beside_inputs_without_a_clash_is_fine(tmp_path, tiny_model_dir):
    """A folder output equal to the input folder is refused only where names clash: a.jpg -> a.png is new."""
    img = Image.open(sketch(tmp_path / "tmp.png")).convert("RGB")
    (tmp_path / "in").mkdir()
    img.save(tmp_path / "in" / "a.jpg")
    jpg = (tmp_path / "in" / "a.jpg").read_bytes()
    assert main(["colorize", "in", "-o", "in", "--model", str(tiny_model_dir), "-q"]) == 0
    assert (tmp_path / "in" / "a.png").is_file() and (tmp_path / "in" / "a.jpg").read_bytes() == jpg


def test_hints_folder_warns_for_each_sketch_without_hints(tmp_path, tiny_model_dir, capsys):
    for name in ("a", "b", "c"):
        sketch(tmp_path / "in" / f"{name}.png")
    hints(tmp_path / "h" / "a.png")
    assert main(["colorize", "in", "--hints", "h", "-o", "out", "--model", str(tiny_model_dir), "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: no hints for in/b.png in h (looked for b.png or b.webp)" in err
    assert "warning: no hints for in/c.png" in err and "no hints for in/a.png" not in err
    assert err.strip().splitlines()[-1] == "autopainter: warning: 2 of 3 sketches had no hints file in h"
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_max_pixels_lifts_pillows_own_guard(tmp_path, monkeypatch):
    """--max-pixels above Pillow's bomb limit (~89 MP, shrunk here to 1,000 px to keep the test small)
    decodes; over --max-pixels it is our error, naming the limit."""
    from autopainter.imageio import ImageTooLargeError, open_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = sketch(tmp_path / "a.png", (50, 40))  # 2,000 px: over Pillow's (shrunk) limit
    assert open_image(path, max_pixels=2500).size == (50, 40)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ImageTooLargeError, match=r"2,000 pixels is over the 1,000-pixel limit"):
        open_image(path, max_pixels=1000)  # Pillow's guard (lifted to 1,000) fires first, with our message


# --------------------------------------------------------------------------------- library-level validation
def test_parameter_count_matches_the_built_networks():
    """config.py works the parameter count out without building; the networks agree (sketch features: at most
    the frozen network's unused stages more)."""
    import itertools

    from autopainter.config import SKETCH_FEATURE_PARAMETERS, DiscriminatorConfig, GeneratorConfig
    from autopainter.models.patchgan import PatchDiscriminator
    from autopainter.models.unet import UNetGenerator

    def built(net):
        return sum(p.numel() for p in net.parameters())

    for depth, k, norm, up, mult in itertools.product((1, 3, 6), (3, 4), ("batch", "instance", "group"), ("transposed", "resize"), (2, 8)):
        cfg = GeneratorConfig(ngf=6, depth=depth, kernel_size=k, norm=norm, upsample=up, max_mult=mult)
        with torch.device("meta"):
            assert cfg.parameter_count() == built(UNetGenerator(cfg)), cfg
    for depth in (2, 4, 7):
        cfg = GeneratorConfig(ngf=8, depth=depth, sketch_features="efficientnet-lite0")
        with torch.device("meta"):
            n = built(UNetGenerator(cfg))
        assert n <= cfg.parameter_count() <= n + SKETCH_FEATURE_PARAMETERS
    for layers, norm, cin in itertools.product((1, 3, 5), ("batch", "none"), (4, 6)):
        cfg = DiscriminatorConfig(ndf=8, layers=layers, norm=norm, in_channels=cin)
        with torch.device("meta"):
            assert cfg.parameter_count() == built(PatchDiscriminator(cfg)), cfg


def test_model_folder_type_errors_are_model_file_errors(tmp_path, tiny_model_dir):
    from autopainter.models.io import ModelFileError, load_generator

    for i, edit in enumerate([lambda d: d.update(image_size=None), lambda d: d.update(format_version="1"),
                              lambda d: d.update(trained=[1]), lambda d: d["model"].update(ngf=10**6)]):
        with pytest.raises(ModelFileError):
            load_generator(bad_model(tiny_model_dir, tmp_path / str(i), edit))


def test_checkpoint_checks(tmp_path, run_dir):
    from autopainter.training.checkpoint import CheckpointError, load_state

    assert load_state(run_dir)["step"] == 5
    for i, (edit, msg) in enumerate([(lambda s: s.pop("opt_G"), "no 'opt_G'"),
                                     (lambda s: s.update(epoch=1.5), "'epoch' must be a whole number"),
                                     (lambda s: s.update(elapsed=float("inf")), "'elapsed'"),
                                     (lambda s: s.update(rng_cuda="x"), "'rng_cuda'"),
                                     (lambda s: s.update(D=[1]), "'D' is not a state dict")]):
        with pytest.raises(CheckpointError, match=msg):
            load_state(bad_run(run_dir, tmp_path / str(i), edit))


# --------------------------------------------------------------------------------- signals and resume
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_and_exits_128_plus_its_number(sig, code, pairs_dir, tmp_path, monkeypatch, capsys):
    import autopainter.training.loop as loop
    from autopainter.training.checkpoint import load_state

    real_step, calls = loop.train_step, {"n": 0}

    def step_then_signal(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            signal.raise_signal(sig)  # arrives mid-step: the step finishes, then the loop saves and stops
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", step_then_signal)
    assert main(["train", "--config", TINY, "--data", str(pairs_dir), "--set", f"train.runs_dir={tmp_path / 'runs'}",
                 "--set", "train.epochs=3", "-q"]) == code
    assert "autopainter: interrupted" in capsys.readouterr().err
    assert load_state(next((tmp_path / "runs").iterdir()))["step"] == 3


def test_a_second_ctrl_c_stops_at_once_and_saves_nothing(pairs_dir, tmp_path, monkeypatch, capsys):
    """The first Ctrl-C is acted on between steps; a second one inside the same step stops there, and the
    half-done step is not written over the last good checkpoint."""
    import autopainter.training.loop as loop
    from autopainter.training.checkpoint import load_state

    real_step, calls = loop.train_step, {"n": 0}

    def step_with_two_ctrl_c(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)  # mid-step: StopNow
        return real_step(*args, **kwargs)

    runs = tmp_path / "runs"
    base = ["train", "--config", TINY, "--data", str(pairs_dir), "--set", f"train.runs_dir={runs}", "-q"]
    assert main(base + ["--set", "train.epochs=1"]) == 0
    run = next(runs.iterdir())
    before = (run / "checkpoints" / "latest.pt").read_bytes()
    monkeypatch.setattr(loop, "train_step", step_with_two_ctrl_c)
    assert main(["train", "--resume", str(run), "--set", "train.epochs=3", "-q"]) == 130
    assert "nothing saved" in capsys.readouterr().err
    assert (run / "checkpoints" / "latest.pt").read_bytes() == before  # the last good checkpoint stands
    assert load_state(run)["step"] == 5


def test_sigterm_during_a_write_leaves_no_temp_file_and_exits_143(tmp_path, monkeypatch, capsys):
    """Any command stopped by SIGTERM unwinds: the half-written output's temp file is removed."""
    import autopainter.imageio as imageio
    from autopainter.cli import _run

    real_fsync = os.fsync

    def fsync_then_term(fd):
        real_fsync(fd)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(imageio.os, "fsync", fsync_then_term)
    out = tmp_path / "out"
    args = type("Args", (), {"func": staticmethod(lambda a: imageio.atomic_write_bytes(out / "x.png", b"x" * 1000))})()
    assert _run(args) == 143
    assert "interrupted" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # neither the result nor its temp file
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the command's handler is gone again


def _stats(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _logged_step(run: Path) -> int:
    """The last step in stats.jsonl while a run writes it (whole lines only)."""
    steps = [0]
    for line in (run / "stats.jsonl").read_text().splitlines(keepends=True) if (run / "stats.jsonl").is_file() else []:
        try:
            steps.append(json.loads(line)["step"] if line.endswith("\n") else 0)
        except (ValueError, KeyError):
            pass
    return max(steps)


def test_cut_back_keeps_what_the_checkpoint_has_seen(tmp_path):
    from autopainter.training.runs import cut_back

    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    lines = [{"step": s, "l1": 0.5} for s in range(1, 9)] + [{"epoch_end": 1, "step": 8}, {"step": 9}]
    (run / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 10, "l1"')  # cut mid-line
    for e in (0, 1, 2):
        sketch(run / "samples" / f"epoch-{e:04d}.png")
    cut_back(run, step=8, epoch=2)
    assert [r["step"] for r in _stats(run)] == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0000.png", "epoch-0001.png"]


@pytest.mark.slow
def test_kill_9_then_resume_leaves_no_trace(pairs_dir, tmp_path):
    """kill -9 mid-run (after a checkpoint, with steps logged past it) and a stale temporary checkpoint as a
    kill during its write leaves it; --resume then gives one record per step, in stats.jsonl and TensorBoard,
    and no temporary file."""
    from autopainter.imageio import atomic_write_bytes  # noqa: F401  (the temp names below are its names)

    runs = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "autopainter", "train", "--config", TINY, "--data", str(pairs_dir),
                          "--set", f"train.runs_dir={runs}", "--set", "train.epochs=30", "--set", "train.checkpoint_every=2",
                          "--set", "train.sample_every=1", "-q"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"})
    run = ckpt = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and p.poll() is None:  # until steps are logged past a checkpoint
            p.send_signal(signal.SIGSTOP)  # frozen while we look: no checkpoint can land between look and kill
            run = next(runs.iterdir(), None) if runs.is_dir() else None
            ckpt = run / "checkpoints" / "latest.pt" if run else None
            if ckpt is not None and ckpt.is_file():
                if _logged_step(run) >= torch.load(ckpt, weights_only=True)["step"] + 2:
                    break
            p.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGKILL)  # kill -9 (a stopped process dies as well)
        p.wait()
    assert p.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    ckpt_step = torch.load(ckpt, weights_only=True)["step"]
    assert _logged_step(run) > ckpt_step  # the traces a resume must cut away

    # A kill during a checkpoint write leaves atomic_write_bytes's temporary file, ".latest.pt.XXXXXXXX.tmp"
    # (hundreds of MB for real presets): made here as it would be, with a grid's and a line cut short too.
    (run / "checkpoints" / ".latest.pt.k9x_1a2b.tmp").write_bytes(b"half a checkpoint")
    (run / "samples" / ".epoch-0003.png.zz9yy8xx.tmp").write_bytes(b"half a png")
    (run / "checkpoints" / "notes.tmp").write_text("the user's own file")  # not ours: stays
    with open(run / "stats.jsonl", "a") as f:
        f.write('{"step": 999, "l1')
    r = _cli("train", "--resume", str(run), "-q", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]

    stats = _stats(run)
    steps = [s["step"] for s in stats if "epoch_end" not in s]
    assert steps == list(range(1, 151))  # every step once, in order: nothing repeated, nothing lost
    ends = [s["epoch_end"] for s in stats if "epoch_end" in s]
    assert ends == list(range(30))
    assert sorted(p.name for p in run.rglob("*.tmp")) == ["notes.tmp"]
    tb = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = tb.EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/total")] == list(range(1, 151))
