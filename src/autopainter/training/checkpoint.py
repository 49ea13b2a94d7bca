"""Resume state: everything ``--resume`` needs to continue a run exactly, written atomically.

One file, ``checkpoints/latest.pt``: G, D, the EMA generator, both optimizers, the grad scaler, the
position (epoch, batch within the epoch, global step), the torch RNG state and the resolved config as a
plain dict. Only tensors and plain Python values are stored, so it loads with ``weights_only=True``.
The release model (EMA generator only) is a separate artifact made by ``training.export``.

Weights are stored unwrapped (``runtime.unwrap``): no ``module.``/``_orig_mod.`` prefixes. Loading still
accepts them (``models.io.load_state_checked``), for checkpoints written before that.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import Config, ConfigError
from ..imageio import atomic_write_bytes
from ..models.io import load_state_checked
from . import distributed as dist
from .models import Models
from .runtime import unwrap

__all__ = ["STATE_NAME", "STATE_VERSION", "CheckpointError", "Position", "checkpoint_path", "save_state",
           "load_state", "stored_config", "models_state", "load_models_state"]

STATE_NAME = "latest.pt"
STATE_VERSION = 1


class CheckpointError(ValueError):
    """A resume state that cannot be used."""


@dataclass
class Position:
    """Where a run stands; stored in the checkpoint so a resumed run repeats the very same batches."""

    epoch: int = 0  # epoch in progress
    batch: int = 0  # batches of that epoch already done
    step: int = 0  # optimizer steps in total
    seen: int = 0  # images seen in total (all ranks)
    elapsed: float = 0.0  # training seconds before this process started

    def advance(self, images: int) -> None:
        """One optimizer step done on ``images`` images (all ranks together)."""
        self.step += 1
        self.batch += 1
        self.seen += images

    def next_epoch(self) -> None:
        self.epoch += 1
        self.batch = 0


def checkpoint_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints" / STATE_NAME


def save_state(run_dir: str | Path, state: dict[str, Any]) -> Path:
    """Serialize to memory, then write via a temporary file and rename: a crash never leaves half a file."""
    path = checkpoint_path(run_dir)
    buf = io.BytesIO()
    torch.save({"version": STATE_VERSION, **state}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_state(run_dir: str | Path) -> dict[str, Any]:
    """Load a run's resume state (tensors and plain values only: ``weights_only=True``)."""
    path = checkpoint_path(run_dir)
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"run folder not found: {run_dir}")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no checkpoint yet ({path} is missing): nothing to resume or export")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or "config" not in state or "G" not in state:
        raise CheckpointError(f"{path} is not an Auto-Painter training checkpoint")
    if state.get("version", 0) > STATE_VERSION:
        raise CheckpointError(f"{path} was written by a newer Auto-Painter; upgrade the package")
    return state


def stored_config(state: dict[str, Any], run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The config a checkpoint was written with (old layouts migrate), with ``--set`` overrides applied."""
    from ..config import apply_override

    d = state["config"]
    try:
        for ov in overrides or []:
            apply_override(d, ov)
        return Config.from_dict(d)
    except ConfigError as e:
        if overrides:
            raise  # most likely the caller's --set, which the message names
        raise CheckpointError(f"{run_dir}: its stored config is invalid ({e})") from None


def models_state(models: Models, pos: Position, cfg: Config) -> dict[str, Any]:
    """The resume state of a run at ``pos``: plain state dicts, the RNGs and the config as a dict."""
    return {
        "config": cfg.to_dict(),
        "G": unwrap(models.G).state_dict(),
        "D": unwrap(models.D).state_dict() if models.D is not None else {},
        "G_ema": models.G_ema.state_dict(),
        "opt_G": models.opt_G.state_dict(),
        "opt_D": models.opt_D.state_dict() if models.opt_D is not None else {},
        "scaler": models.scaler.state_dict(),
        "epoch": pos.epoch,
        "batch": pos.batch,
        "step": pos.step,
        "seen": pos.seen,
        "elapsed": pos.elapsed,
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
        "world_size": dist.world_size(),
        "init_trained": models.init_trained,
    }


def load_models_state(models: Models, state: dict[str, Any], source: str) -> Position:
    """Load a resume state into freshly built (unwrapped) models and the torch RNG; returns the position."""
    load_state_checked(models.G, state["G"], source)
    load_state_checked(models.G_ema, state["G_ema"], source)
    if models.D is not None:
        load_state_checked(models.D, state["D"], source)
        models.opt_D.load_state_dict(state["opt_D"])
    models.opt_G.load_state_dict(state["opt_G"])
    if state.get("scaler"):
        models.scaler.load_state_dict(state["scaler"])
    models.init_trained = dict(state.get("init_trained") or {})
    torch.set_rng_state(state["rng_torch"])
    if torch.is_tensor(state.get("rng_cuda")) and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["rng_cuda"])
    return Position(state["epoch"], state["batch"], state["step"], state["seen"], state["elapsed"])
