"""ONNX export and the ONNX Runtime backend: parity with PyTorch, dynamic sizes, the cache, clear errors.

Parity tolerance: max |ORT - PyTorch| <= 1e-4 on the generator's [-1, 1] output (measured: ~1e-6), and
equal 8-bit images end to end.
"""

import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from autopainter.cli import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from autopainter.inference import Colorizer  # noqa: E402
from autopainter.models.io import load_generator  # noqa: E402
from autopainter.inference.onnx import ONNX_NAME, BackendError, OnnxRunner, fingerprint, load_runner  # noqa: E402

TOL = 1e-4


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def onnx_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model folder copied and exported with ``autopainter export MODEL_DIR -o DIR --onnx``."""
    out = tmp_path_factory.mktemp("onnx") / "model"
    assert main(["export", str(tiny_model_dir), "-o", str(out), "--onnx"]) == 0
    assert (out / ONNX_NAME).is_file() and (out / "config.json").is_file()
    return out


def _sketch(size):
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).ellipse((3, 3, size[0] - 4, size[1] - 4), outline=0, width=2)
    return img


# slow: each alone exports the ONNX model first (the module fixture, about 5 s)
@pytest.mark.slow
@pytest.mark.parametrize("hw", [(40, 72), (97, 61), (5, 9)])  # non-square; 97x61 is no multiple of 16; 5x9 < the padding
def test_parity_with_pytorch(onnx_model_dir, hw):
    gen, _ = load_generator(onnx_model_dir)
    runner = OnnxRunner(onnx_model_dir / ONNX_NAME, gen.multiple)
    x = torch.rand(1, 5, *hw) * 2 - 1
    x[:, 4] = (x[:, 4] > 0).float()  # the hint mask is 0 or 1
    with torch.no_grad():
        ref = gen(x).numpy()
    got = runner(x.numpy())
    assert got.shape == ref.shape == (1, 3, *hw)
    assert np.abs(got - ref).max() <= TOL

# slow: each alone exports the ONNX model first (the module fixture, about 5 s)
@pytest.mark.slow
def test_colorizer_onnx_equals_torch_fp32(onnx_model_dir, tmp_path):
    torch_c = Colorizer.from_pretrained(onnx_model_dir, backend="torch", precision="fp32")
    onnx_c = Colorizer.from_pretrained(onnx_model_dir, backend="onnx")
    assert onnx_c.runner.path == onnx_model_dir / ONNX_NAME  # the folder's own file, no export
    assert not (tmp_path / "cache").exists()
    for size in [(150, 90), (64, 200)]:
        hints = Image.new("RGBA", size, (0, 0, 0, 0))
        hints.paste((255, 0, 0, 255), (10, 10, 30, 30))
        a = np.asarray(torch_c(_sketch(size), hints=hints)).astype(int)
        b = np.asarray(onnx_c(_sketch(size), hints=hints)).astype(int)
        assert a.shape == b.shape == (size[1], size[0], 3)
        assert np.abs(a - b).max() <= 1

# slow: each alone exports the ONNX model first (the module fixture, about 5 s)
@pytest.mark.slow
def test_export_is_cached_by_fingerprint(onnx_model_dir, tmp_path, monkeypatch):
    import shutil

    import autopainter.inference.onnx as ob

    gen, _ = load_generator(onnx_model_dir)
    cached = tmp_path / "cache" / "autopainter" / "onnx" / f"{fingerprint(gen)[:32]}.onnx"
    cached.parent.mkdir(parents=True)
    shutil.copy(onnx_model_dir / ONNX_NAME, cached)

    def no_export(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(ob, "export_onnx", no_export)
    assert load_runner(gen).path == cached  # no model folder: the cache
    with torch.no_grad():
        gen.downs[0].conv.bias.add_(1.0)
    assert fingerprint(gen)[:32] != cached.stem  # other weights, another file

# slow: each alone exports the ONNX model first (the module fixture, about 5 s)
@pytest.mark.slow
def test_stale_or_broken_onnx_files_are_replaced(onnx_model_dir, tmp_path, monkeypatch):
    import autopainter.inference.onnx as ob

    gen, _ = load_generator(onnx_model_dir)
    with torch.no_grad():
        gen.downs[0].conv.bias.add_(0.5)  # other weights than the folder's model.onnx
    exported = []

    def fake_export(g, path):
        exported.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((onnx_model_dir / ONNX_NAME).read_bytes())
        return path

    monkeypatch.setattr(ob, "export_onnx", fake_export)
    cached = tmp_path / "cache" / "autopainter" / "onnx" / f"{fingerprint(gen)[:32]}.onnx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    runner = load_runner(gen, model_dir=onnx_model_dir)
    assert exported == [cached] and runner.path == cached  # the folder's file holds other weights; the broken cache is rewritten


def test_missing_onnxruntime_is_a_clear_error(tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(BackendError, match="needs onnxruntime"):
        Colorizer.from_pretrained(tiny_model_dir, backend="onnx")
    _sketch((20, 20)).save("s.png")
    assert main(["colorize", "s.png", "-o", "o.png", "--model", str(tiny_model_dir), "--backend", "onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("autopainter: error:") and "autopainter[onnx]" in err[-1]


def test_onnx_backend_options(tiny_model_dir):
    with pytest.raises(ValueError, match="bf16"):
        Colorizer.from_pretrained(tiny_model_dir, backend="onnx", precision="bf16")
    with pytest.raises(ValueError, match="unknown backend"):
        Colorizer.from_pretrained(tiny_model_dir, backend="tensorrt")

# slow: each alone exports the ONNX model first (the module fixture, about 5 s)
@pytest.mark.slow
def test_cli_colorize_backend_onnx(onnx_model_dir, capsys):
    _sketch((90, 50)).save("s.png")
    assert main(["colorize", "s.png", "-o", "a.png", "--model", str(onnx_model_dir), "--backend", "onnx", "-q"]) == 0
    assert main(["colorize", "s.png", "-o", "b.png", "--model", str(onnx_model_dir), "--backend", "torch",
                 "--precision", "fp32", "-q"]) == 0
    a, b = (np.asarray(Image.open(p)).astype(int) for p in ("a.png", "b.png"))
    assert a.shape == (50, 90, 3) and np.abs(a - b).max() <= 1


def test_export_model_folder_needs_onnx_flag(tiny_model_dir, capsys):
    assert main(["export", str(tiny_model_dir), "-o", "m"]) == 2
    assert "--onnx" in capsys.readouterr().err
