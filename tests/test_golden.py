"""No behaviour change where it is not asked for: the CLI's and the API's outputs on the page's example sketches
are byte for byte what they were when this file was recorded (``tests/fixtures/golden_outputs.json``).

Everything after the generator is covered exactly: the generator run itself is replaced by a fixed numpy
function of its input (``_replay``), so the figures do not depend on the CPU's float kernels, while
reading, the working resolution, the input encoding, the regions, the flats, the composition, the layers,
the OpenRaster file and the PNG encoding all run as shipped. The hints-only baseline (``--model none``)
runs as shipped from end to end.

Re-record (only when a change of output is intended, and say so in the change): ``python tests/test_golden.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

HERE = Path(__file__).parent
GOLDEN = HERE / "fixtures" / "golden_outputs.json"
EXAMPLES = HERE.parent / "src" / "autopainter" / "server" / "static" / "examples"
SKETCHES = ("cat", "house", "shapes")


def _replay(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """A stand-in generator run: (1, C, h, w) float32 in [-1, 1] -> (1, 3, h, w), a fixed function of the sketch
    and the hint channels (so hints change it), exact on every CPU."""
    x = np.asarray(x, np.float32)
    sk = x[:, :1]
    h, w = x.shape[2:]
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    base = np.stack([np.sin(xx / 17.0), np.cos(yy / 13.0), np.sin((xx + yy) / 29.0)])[None] * 0.5  # (1, 3, h, w)
    out = base + 0.3 * sk
    if x.shape[1] >= 5:
        out = np.where(x[:, 4:5] > 0, x[:, 1:4], out)
    return np.round(np.clip(out, -1, 1) * 64) / 64


def _replay_heads(self, x: np.ndarray, threads: int | None = None):
    """The heads' stand-in (a model that names materials): the colors of ``_replay``, an embedding and part
    probabilities that are fixed functions of the position and the sketch: the left third of the picture is
    skin, the middle hair, the right clothing, two kinds of it by row; ink and paper are paper."""
    y = _replay(self, x)
    h, w = x.shape[2:]
    parts = self.generator.cfg.parts
    yy, xx = np.mgrid[:h, :w]
    third = np.minimum(xx * 3 // w, 2)
    names = np.array(["skin", "hair", "clothing"])[third]
    probs = np.zeros((1, len(parts), h, w), np.float32)
    for k, name in enumerate(parts):
        probs[0, k][names == name] = 1.0
    emb = np.zeros((1, 16, h, w), np.float32)
    emb[0, 0] = 1.0
    emb[0, 1] = np.where((third == 2) & (yy > h // 2), 2.0, 0.0)  # the lower clothing: another material
    return y, emb / np.linalg.norm(emb, axis=1, keepdims=True), probs


def _hints(path: Path, size: tuple[int, int]) -> Path:
    w, h = size
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.line((w * 0.3, h * 0.5, w * 0.45, h * 0.52), fill=(220, 60, 40, 255), width=max(3, w // 60))
    d.line((w * 0.6, h * 0.3, w * 0.62, h * 0.42), fill=(40, 90, 210, 255), width=max(3, w // 60))
    img.save(path)
    return path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _digest(p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def compute(tmp: Path) -> dict[str, dict[str, str]]:
    """Every case's outputs, as {case: {file or response: sha256 prefix}}."""
    from autopainter.cli import main
    from autopainter.inference.runners import TorchRunner

    tmp = Path(tmp)
    inputs, hints = tmp / "in", tmp / "hints"
    inputs.mkdir()
    hints.mkdir()
    for name in SKETCHES:
        src = EXAMPLES / f"{name}.png"
        (inputs / src.name).write_bytes(src.read_bytes())
        with Image.open(src) as im:
            _hints(hints / src.name, im.size)
    out: dict[str, dict[str, str]] = {}
    cases = {
        "none-flat-layers": ["--model", "none", "--layers"],
        "none-ora": ["--model", "none", "--format", "ora"],
        "model-flat-layers": ["--precision", "fp32", "--layers"],
        "model-soft-layers": ["--precision", "fp32", "--style", "soft", "--layers"],
        "model-soft-ora": ["--precision", "fp32", "--style", "soft", "--format", "ora"],
        "model-flat-nohints": ["--precision", "fp32", "--no-hints"],
        "model-gap0": ["--precision", "fp32", "--gap", "0"],
        "model-variant2-nohints": ["--precision", "fp32", "--variant", "2", "--no-hints"],
    }
    original, original_heads = TorchRunner.__call__, TorchRunner.heads
    TorchRunner.__call__, TorchRunner.heads = _replay, _replay_heads
    try:
        for case, extra in cases.items():
            dest = tmp / case
            args = ["colorize", str(inputs), "-o", str(dest), "-q", "--jobs", "1"]
            if "--no-hints" in extra:
                extra = [a for a in extra if a != "--no-hints"]
            else:
                args += ["--hints", str(hints)]
            assert main(args + extra) == 0, case
            out[case] = _files(dest)
        out["api"] = _api(inputs, hints, tmp)
    finally:
        TorchRunner.__call__, TorchRunner.heads = original, original_heads
    return out


def _api(inputs: Path, hints: Path, data_dir: Path) -> dict[str, str]:
    from fastapi.testclient import TestClient

    from autopainter.inference import Colorizer
    from autopainter.server.app import create_app
    from autopainter.server.settings import ServerSettings

    colorizer = Colorizer.from_pretrained("bundled", precision="fp32")
    client = TestClient(create_app(ServerSettings(data_dir=data_dir, allowed_hosts=("testserver",)), colorizer=colorizer))
    got: dict[str, str] = {}
    name = "cat.png"
    sk, hi = (inputs / name).read_bytes(), (hints / name).read_bytes()
    for label, data in {"png": {}, "json-layers": {"format": "json", "layers": "true"}, "ora": {"format": "ora"},
                        "soft-json-layers": {"format": "json", "layers": "true", "style": "soft"}}.items():
        r = client.post("/api/v1/colorize", files={"sketch": (name, sk, "image/png"), "hints": ("h.png", hi, "image/png")},
                        data=data)
        assert r.status_code == 200, (label, r.text)
        got[f"colorize-{label}"] = _digest(r.content)
    for label, data in {"png": {}, "json": {"format": "json"}, "gap1": {"gap": "1"}}.items():
        r = client.post("/api/v1/regions", files={"sketch": (name, sk, "image/png")}, data=data)
        assert r.status_code == 200, (label, r.text)
        got[f"regions-{label}"] = _digest(r.content) + "|" + ",".join(
            f"{k}={r.headers[k]}" for k in ("x-region-count", "x-region-gap") if k in r.headers)
    return got


@pytest.mark.skipif(not GOLDEN.is_file(), reason="no recording: run python tests/test_golden.py")
def test_outputs_are_byte_identical_to_the_recording(tmp_path):
    want = json.loads(GOLDEN.read_text())
    got = compute(tmp_path)
    assert set(got) == set(want)
    for case in want:
        assert got[case] == want[case], case


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        result = compute(Path(d))
    GOLDEN.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"recorded {sum(len(v) for v in result.values())} outputs in {GOLDEN}", file=sys.stderr)
