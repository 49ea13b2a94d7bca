"""Resume state: everything ``--resume`` needs to continue a run exactly, written atomically.

One file, ``checkpoints/latest.pt``: G, D, the EMA generator, both optimizers, the grad scaler, the
position (epoch, batch within the epoch, global step), the torch RNG state and the resolved config as a
plain dict. Only tensors and plain Python values are stored, so it loads with ``weights_only=True``.
The release model (EMA generator only) is a separate artifact made by ``export``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ..imageio import atomic_write_bytes

STATE_NAME = "latest.pt"
STATE_VERSION = 1


class CheckpointError(ValueError):
    """A resume state that cannot be used."""


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
