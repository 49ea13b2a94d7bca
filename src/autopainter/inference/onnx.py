"""ONNX export of the generator and an ONNX Runtime runner for ``Colorizer`` (``backend="onnx"``).

``export_onnx(generator, path)`` writes ``model.onnx``: one input ``input`` (1, C, H, W) float32 in
[-1, 1] (C = ``in_channels``, as ``models.inputs.encode_inputs`` builds it) and one output ``output``
(1, 3, H, W) in [-1, 1]. H and W are dynamic: the graph reflect-pads them to a multiple of
``2**depth`` and crops the result back, as ``UNetGenerator.forward`` does. Reflection needs H and W
larger than the padding; for smaller inputs ``OnnxRunner`` pads first with ``models.inputs.pad_array``
(the same rule as the PyTorch module's, ``models.inputs.padding``), and the graph then pads nothing.

A model folder (``config.json`` + ``model.safetensors``) holds no ONNX file unless ``autopainter export
--onnx`` wrote one; ``load_runner`` otherwise exports the generator once into the user cache
(``$XDG_CACHE_HOME/autopainter/onnx/``), named by a fingerprint of the weights and written atomically,
so later runs load it directly. onnxruntime (and, for exporting, onnx + onnxscript) are the optional
``onnx`` extra and are imported only here, when used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..imageio import atomic_write_bytes, remove_stale_temps
from ..models.inputs import crop, pad_array, padding
from ..models.unet import UNetGenerator

ONNX_NAME = "model.onnx"
OPSET = 18
EXPORT_VERSION = 1  # bump when the exported graph changes, so cached exports are made again
FINGERPRINT_KEY = "autopainter.fingerprint"
INSTALL_HINT = 'pip install "autopainter[onnx]" (onnxruntime, onnx, onnxscript)'


class BackendError(ValueError):
    """A backend that cannot run here; the message says what to install or change."""


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise BackendError(f"the onnx backend needs onnxruntime: {INSTALL_HINT}") from None
    return onnxruntime


def fingerprint(generator: UNetGenerator) -> str:
    """sha256 of the architecture and the float32 weights: names a cached export of exactly this model."""
    h = hashlib.sha256(f"autopainter-onnx-{EXPORT_VERSION}-opset{OPSET}".encode())
    h.update(json.dumps(dataclasses.asdict(generator.cfg), sort_keys=True).encode())
    for name, t in generator.state_dict().items():
        t = t.detach().cpu()
        t = t.float() if t.is_floating_point() else t
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


class _PadRunCrop(torch.nn.Module):
    """The generator's forward without Python branches on the shape, so H and W stay symbolic."""

    def __init__(self, generator: UNetGenerator):
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # models.inputs.pad_to_multiple's reflect case with symbolic sizes (its replicate case branches on
        # the shape, which an exported graph cannot: OnnxRunner handles those inputs before the graph)
        h, w = x.shape[-2], x.shape[-1]
        m = self.generator.multiple
        x = F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="reflect")  # (1, C, H', W'), multiples of m
        return crop(self.generator._run(x), h, w)  # (1, 3, H, W)


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter prints progress and warns about optional packages (torchvision); none of it is ours."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def export_onnx(generator: UNetGenerator, path: str | Path, example_size: tuple[int, int] = (256, 256)) -> Path:
    """Write ``generator`` (float32, eval mode) as an ONNX file with dynamic H and W, atomically.

    The file records the weights' ``fingerprint`` in its metadata (``autopainter.fingerprint``).
    Raises BackendError when the exporter's packages (onnx, onnxscript) are missing.
    """
    for mod in ("onnx", "onnxscript"):
        try:
            __import__(mod)
        except ImportError:
            raise BackendError(f"exporting to ONNX needs {mod}: {INSTALL_HINT}") from None
    import copy

    gen = copy.deepcopy(generator).float().cpu().eval()
    example = torch.zeros(1, gen.cfg.in_channels, *example_size)  # (1, C, H, W)
    dims = {2: torch.export.Dim("height", min=1, max=65536), 3: torch.export.Dim("width", min=1, max=65536)}
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            _PadRunCrop(gen), (example,), None, dynamo=True, verbose=False, opset_version=OPSET,
            input_names=["input"], output_names=["output"], dynamic_shapes={"x": dims},
        )
    program.model.metadata_props[FINGERPRINT_KEY] = fingerprint(gen)
    program.model.metadata_props["autopainter.config"] = json.dumps(dataclasses.asdict(gen.cfg), sort_keys=True)
    import onnx_ir

    data = onnx_ir.serde.serialize_model(program.model).SerializeToString()
    path = Path(path)
    remove_stale_temps(path.parent, (path.name,))  # left by an export that was killed mid-write
    atomic_write_bytes(path, data)
    return path


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/autopainter/onnx, or ~/.cache/autopainter/onnx."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "autopainter" / "onnx"


def load_runner(generator: UNetGenerator, model_dir: str | Path | None = None,
                cache_dir: str | Path | None = None, threads: int | None = None) -> "OnnxRunner":
    """An ``OnnxRunner`` for exactly ``generator``: ``model_dir/model.onnx`` when it holds these weights,
    else the cached export, made now when missing (a few seconds, once per model)."""
    _import_ort()
    fp = fingerprint(generator)
    m = generator.multiple
    candidates = [Path(model_dir) / ONNX_NAME] if model_dir is not None else []
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = cache / f"{fp[:32]}.onnx"
    for path in candidates + [cached]:
        if path.is_file():
            try:
                runner = OnnxRunner(path, m, threads)
            except BackendError:  # a truncated or foreign file: make a new one
                continue
            if runner.fingerprint == fp:
                return runner
    try:
        path = export_onnx(generator, cached)
    except OSError as e:  # an unwritable cache: export for this process only
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        tmp = Path(tempfile.mkdtemp(prefix="autopainter-onnx-"))
        print(f"autopainter: cannot write the ONNX cache {cache} ({e.strerror}); using {tmp}", file=sys.stderr)
        path = export_onnx(generator, tmp / ONNX_NAME)
    return OnnxRunner(path, m, threads)


class OnnxRunner:
    """Runs an exported generator with ONNX Runtime on the CPU: ``runner(x)`` with x (1, C, H, W)
    float32 in [-1, 1] -> (1, 3, H, W) float32 numpy array, the same as ``UNetGenerator(x)``.

    ``threads``: intra-op threads (default: ONNX Runtime's, one per core); ``runner(x, threads=n)``
    runs on a session with ``n`` threads (made on first use). Idle threads sleep rather than spin, so
    they leave the cores to other work (decoding and encoding images) between runs.
    """

    generates = True

    def __init__(self, path: str | Path, multiple: int, threads: int | None = None):
        self._ort = _import_ort()
        self.path = Path(path)
        self.multiple = int(multiple)
        self.threads = int(threads) if threads else None
        self._lock = threading.Lock()
        self._sessions = {self.threads: self._session(self.threads)}
        meta = self._sessions[self.threads].get_modelmeta()
        self.fingerprint = meta.custom_metadata_map.get(FINGERPRINT_KEY)

    def _session(self, threads: int | None):
        ort = self._ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
        try:
            return ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise BackendError(f"{self.path}: not a loadable ONNX model ({str(e).splitlines()[0][:200]})") from None

    def __call__(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        key = int(threads) if threads else self.threads
        if key not in self._sessions:
            with self._lock:
                if key not in self._sessions:
                    self._sessions[key] = self._session(key)
        session = self._sessions[key]
        x = np.ascontiguousarray(x, dtype=np.float32)
        h, w = x.shape[-2:]
        if padding(h, w, self.multiple)[2] == "replicate":
            x = pad_array(x, self.multiple)  # too small to reflect: padded here, the graph pads no more
        y = session.run(None, {"input": x})[0]
        return crop(y, h, w)  # (1, 3, h, w)
