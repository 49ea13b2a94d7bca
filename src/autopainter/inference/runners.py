"""One generator run, on PyTorch or on ONNX Runtime, behind one call.

A runner is called as ``runner(x, threads=n)`` with ``x`` (1, C, h, w) float32 in [-1, 1] (made by
``models.inputs.encode_inputs``) and returns (1, 3, h, w) float32 in [-1, 1], exactly what
``UNetGenerator(x)`` returns. ``make_runner`` picks one for a backend and precision:

* ``TorchRunner``: the module itself (fp32), or a bf16 channels_last copy where bf16 is native (the
  fastest CPU path measured, ``benchmarks/bench_inference.py``).
* ``onnx.OnnxRunner``: ONNX Runtime on the CPU (the ``onnx`` extra), imported only when chosen.
* ``HintsOnlyRunner``: no generator at all (the hints-only baseline, ``--model none``): it returns None, and
  the flats come from the hints alone.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..models.unet import UNetGenerator

__all__ = ["BACKENDS", "PRECISIONS", "CORES", "Runner", "TorchRunner", "HintsOnlyRunner", "default_threads", "make_runner"]

BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "fp32", "bf16")
CORES = torch.get_num_threads()  # PyTorch's own choice at start (one per core, or OMP_NUM_THREADS)


def default_threads() -> int:
    """Threads for one generator run on the CPU: half the cores, at most 4.

    The generator runs at a small working resolution, where more threads gain little; and multi-
    threaded PyTorch kernels wait for every thread at each layer, so a run that uses every core
    stalls whenever another process takes one (on 2 cores, measured: 8 ms idle, ~0.5 s beside one busy
    core, against ~15-20 ms either way with one thread; ``benchmarks/bench_inference.py``).
    """
    return max(1, min(4, CORES // 2))


class Runner(Protocol):
    generates: bool  # False: the hints-only runner, which returns None

    def __call__(self, x: np.ndarray, threads: int | None = None) -> np.ndarray | None: ...


class HintsOnlyRunner:
    """The hints-only baseline's runner: it generates nothing (None), so the flats come from the hints alone."""

    generates = False

    def __call__(self, x: np.ndarray, threads: int | None = None) -> None:
        return None


class TorchRunner:
    """The generator on PyTorch, fp32 or bf16 (a channels_last copy: ``generator`` stays the float32
    module others may call directly).

    On the CPU a run sets PyTorch's (process-wide) thread count to ``threads`` and puts it back after.
    Runs with several threads go one at a time (a lock: they would fight over the cores); single-
    threaded runs from several threads (``colorize_files``) go side by side.
    """

    generates = True

    def __init__(self, generator: UNetGenerator, device: torch.device, precision: str = "fp32", threads: int = 1):
        self.generator = generator
        self.device = torch.device(device)
        self.threads = int(threads)
        self.fast = None
        if precision == "bf16":
            self.fast = copy.deepcopy(generator).to(torch.bfloat16, memory_format=torch.channels_last)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _run(self, threads: int | None):
        """The section one generator run holds: the lock for multi-threaded runs, PyTorch's thread count set to
        ``threads`` (default ``self.threads``) on the CPU and put back after."""
        n = int(threads or self.threads)
        with self._lock if n > 1 else contextlib.nullcontext():
            before = torch.get_num_threads()
            if self.device.type == "cpu" and before != n:
                torch.set_num_threads(n)
            try:
                yield
            finally:
                if torch.get_num_threads() != before:
                    torch.set_num_threads(before)

    def _forward(self, x: np.ndarray, **heads):
        xt = torch.from_numpy(x).to(self.device)
        if self.fast is not None:
            return self.fast(xt.to(torch.bfloat16).contiguous(memory_format=torch.channels_last), **heads)
        return self.generator(xt, **heads)

    @torch.no_grad()
    def __call__(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        with self._run(threads):
            return self._forward(x).float().cpu().numpy()  # (1, 3, h, w)

    @torch.no_grad()
    def heads(self, x: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One run that also reads the material and part heads (a model with ``model.material_dim`` and
        ``model.parts``): (1, 3, h, w) colors, (1, D, h, w) unit embeddings, (1, P, h, w) part probabilities."""
        with self._run(threads):
            y, emb, logits = self._forward(x, materials=True, parts=True)
            return (y.float().cpu().numpy(), emb.float().cpu().numpy(),
                    torch.softmax(logits.float(), dim=1).cpu().numpy())


def make_runner(generator: UNetGenerator, backend: str, precision: str, device: torch.device, threads: int,
                model_dir: str | Path | None = None) -> Runner:
    """The runner for ``backend`` ("torch" or "onnx") and ``precision`` ("fp32" or "bf16", torch only)."""
    if backend == "onnx":
        from .onnx import load_runner

        return load_runner(generator, model_dir=model_dir, threads=threads)
    if backend != "torch":
        raise ValueError(f"unknown backend {backend!r}; valid: torch, onnx")
    return TorchRunner(generator, device, precision, threads)
