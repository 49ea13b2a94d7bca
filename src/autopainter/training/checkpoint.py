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
from .state import RunState
from .runtime import unwrap

__all__ = ["STATE_NAME", "STATE_VERSION", "CheckpointError", "Position", "checkpoint_path", "save_state",
           "load_state", "check_state", "stored_config", "models_state", "load_models_state"]

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
    version = state.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path}: version must be a whole number, got {version!r}")
    if version > STATE_VERSION:
        raise CheckpointError(f"{path} was written by a newer Auto-Painter; upgrade the package")
    check_state(state, path)
    return state


def check_state(state: dict[str, Any], source: str | Path) -> None:
    """CheckpointError unless ``state`` holds what resuming and exporting read, of the right types: the
    weights and optimizer states as mappings, the position as whole numbers >= 0, the torch RNG state as
    the bytes of a CPU generator. Checked before anything is loaded or written (``load_state``)."""
    def fail(what: str) -> None:
        raise CheckpointError(f"{source}: {what} (a damaged or foreign checkpoint)")

    for key in ("G", "G_ema", "opt_G", "epoch", "batch", "step", "rng_torch"):
        if key not in state:
            fail(f"no {key!r} entry")
    for key in ("G", "G_ema", "D"):
        sd = state.get(key, {})
        if not isinstance(sd, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in sd.items()):
            fail(f"{key!r} is not a state dict of tensors")
    for key in ("opt_G", "opt_D"):
        opt = state.get(key, {})
        if key == "opt_G" or opt:
            if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(opt.get("param_groups"), list)):
                fail(f"{key!r} is not an optimizer state")
    if not isinstance(state.get("scaler", {}), dict):
        fail("'scaler' is not a grad scaler state")
    for key in ("epoch", "batch", "step", "seen", "world_size"):
        v = state.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            fail(f"{key!r} must be a whole number >= 0, got {v!r}")
    elapsed = state.get("elapsed", 0.0)
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not 0 <= elapsed < float("inf"):
        fail(f"'elapsed' must be a number of seconds >= 0, got {elapsed!r}")
    rng, own = state["rng_torch"], torch.get_rng_state()
    if not (torch.is_tensor(rng) and rng.dtype == torch.uint8 and rng.shape == own.shape):
        got = f"{rng.dtype} {tuple(rng.shape)}" if torch.is_tensor(rng) else type(rng).__name__
        fail(f"'rng_torch' is not a CPU random generator state ({got}, expected uint8 {tuple(own.shape)})")
    cuda = state.get("rng_cuda")
    if cuda is not None and not (torch.is_tensor(cuda) and cuda.dtype == torch.uint8):
        fail("'rng_cuda' is not a CUDA random generator state")
    if not isinstance(state.get("init_trained") or {}, dict):
        fail("'init_trained' is not a mapping")


def stored_config(state: dict[str, Any], run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The config a checkpoint was written with (old layouts migrate), with ``--set`` overrides applied.
    ``state`` is left as it is (the overrides go into a copy)."""
    import copy

    from ..config import apply_override

    d = copy.deepcopy(state["config"])
    data = d.get("data")
    if isinstance(data, dict) and "hint_materials" not in data:
        data["hint_materials"] = False  # written before hints per material: the run goes on as it began
    try:
        for ov in overrides or []:
            apply_override(d, ov)
        return Config.from_dict(d)
    except ConfigError as e:
        if overrides:
            raise  # most likely the caller's --set, which the message names
        raise CheckpointError(f"{run_dir}: its stored config is invalid ({e})") from None


def models_state(models: RunState, pos: Position, cfg: Config) -> dict[str, Any]:
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


def load_models_state(models: RunState, state: dict[str, Any], source: str) -> Position:
    """Load a resume state into freshly built (unwrapped) models and the torch RNG; returns the position."""
    load_state_checked(models.G, state["G"], source)
    load_state_checked(models.G_ema, state["G_ema"], source)
    if models.D is not None:
        if not state.get("D") or not state.get("opt_D"):
            raise CheckpointError(f"{source}: the checkpoint has no discriminator, but loss.gan > 0 needs one")
        load_state_checked(models.D, state["D"], source)
        _load_optimizer(models.opt_D, state["opt_D"], f"{source}: opt_D")
    _load_optimizer(models.opt_G, state["opt_G"], f"{source}: opt_G")
    rng = torch.get_rng_state()
    try:
        if state.get("scaler"):
            models.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_torch"])
        if torch.is_tensor(state.get("rng_cuda")) and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["rng_cuda"])
    except (RuntimeError, TypeError, ValueError, KeyError) as e:
        torch.set_rng_state(rng)
        raise CheckpointError(f"{source}: unusable grad scaler or random generator state ({str(e).splitlines()[0]})") from None
    models.init_trained = dict(state.get("init_trained") or {})
    return Position(state["epoch"], state["batch"], state["step"], state.get("seen", 0), float(state.get("elapsed", 0.0)))


def _load_optimizer(opt: torch.optim.Optimizer, sd: dict[str, Any], source: str) -> None:
    """load_state_dict, with a one-line CheckpointError for another model's state, and a check that each
    moment tensor has its parameter's shape (torch itself only finds out at the next step)."""
    try:
        opt.load_state_dict(sd)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{source} does not fit the model ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    for group in opt.param_groups:
        for param in group["params"]:
            for name, value in opt.state.get(param, {}).items():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape != param.shape:
                    raise CheckpointError(f"{source} does not fit the model ({name} of shape {tuple(value.shape)} "
                                          f"for a parameter of shape {tuple(param.shape)})")
