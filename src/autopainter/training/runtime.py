"""Where and how training runs: the device, the precision, torch.compile and DDP, and the one way back
from those wrappers to the plain module (``unwrap``).

The run state is built plain (``training.state.build_models``), moved with ``to_device``, loaded from a
checkpoint if resuming, and only then wrapped by ``prepare_models``. Checkpoints always store
``unwrap(m).state_dict()``, so their keys never carry ``module.`` or ``_orig_mod.`` prefixes.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..config import Config, ConfigError
from ..devices import bf16_native
from . import distributed as dist

if TYPE_CHECKING:
    from .state import RunState

__all__ = ["resolve_device", "resolve_precision", "autocast_context", "compiler_available", "unwrap",
           "to_device", "prepare_models"]


def resolve_device(name: str) -> torch.device:
    """auto: CUDA when present, else CPU. Under torchrun each process takes the GPU of its LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device={name} but CUDA is not available; use train.device=auto or cpu")
        if name == "cuda":
            return torch.device("cuda", dist.local_rank())
        if dist.is_distributed():
            raise ConfigError("under torchrun use train.device=auto or cuda: each process takes its LOCAL_RANK's GPU")
        try:
            return torch.device(name)
        except RuntimeError:
            raise ConfigError(f"train.device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    return torch.device(name)


def resolve_precision(device: torch.device, mode: str) -> str:
    """``train.mixed_precision`` made concrete: auto -> bf16 where it is native (``devices.bf16_native``),
    fp16 on older CUDA GPUs, else none. Other modes are returned as given."""
    if mode != "auto":
        return mode
    if bf16_native(device):
        return "bf16"
    return "fp16" if device.type == "cuda" else "none"


def autocast_context(device: torch.device, mode: str):
    """The autocast context for ``mode`` (none | auto | bf16 | fp16) on ``device``; reusable."""
    mode = resolve_precision(device, mode)
    if mode == "none":
        return contextlib.nullcontext()
    if mode == "fp16" and device.type != "cuda":
        raise ConfigError("train.mixed_precision=fp16 needs CUDA; on CPU use bf16")
    dtype = torch.bfloat16 if mode == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def compiler_available(device: torch.device) -> bool:
    """torch.compile's CPU backend builds C++ kernels: it needs a compiler on PATH."""
    if device.type == "cuda":
        return True
    return any(shutil.which(c) for c in ("cc", "gcc", "clang", "g++", "c++"))


def unwrap(m: nn.Module) -> nn.Module:
    """The plain module under torch.compile and DistributedDataParallel wrappers, in any nesting."""
    while True:
        if isinstance(m, nn.parallel.DistributedDataParallel):
            m = m.module
        elif hasattr(m, "_orig_mod"):  # torch.compile's OptimizedModule
            m = m._orig_mod
        else:
            return m


def to_device(models: "RunState", cfg: Config, device: torch.device) -> "RunState":
    """Move the modules to the device (and memory format). Done before loading optimizer state, which
    then lands on the parameters' device."""
    for m in (models.G, models.G_ema, models.D, models.extractor):
        if m is not None:
            m.to(device)
            if cfg.train.channels_last:
                m.to(memory_format=torch.channels_last)
    return models


def prepare_models(models: "RunState", cfg: Config, device: torch.device) -> "RunState":
    """to_device, then DDP wrapping (under torchrun) and torch.compile (``train.compile``), in place.

    D's generator-step copy, ``D_frozen``, stays outside DDP: G's step needs no gradient sync in D."""
    to_device(models, cfg, device)
    models.G = dist.wrap(models.G, device)
    if models.D is not None:
        models.D = dist.wrap(models.D, device)
        models.D_frozen = unwrap(models.D)
    if cfg.train.compile:
        if compiler_available(device):
            models.G = torch.compile(models.G)
            if models.D is not None:
                single = models.D_frozen is models.D  # not distributed: one module serves both steps
                models.D = torch.compile(models.D)
                models.D_frozen = models.D if single else torch.compile(models.D_frozen)
        else:
            warnings.warn("train.compile=true but no C compiler is on PATH: training uses eager mode", stacklevel=2)
    return models
