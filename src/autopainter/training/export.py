"""From resume state to release model: a run's EMA generator as a model folder (``config.json`` +
fp16 ``model.safetensors``, ``models.io.save_pretrained``). Only the generator's architecture and the
training image size go into config.json; the training switches stay behind.

The discriminator goes beside it as fp16 ``discriminator.safetensors`` (marked as not needed for
inference), so that ``train.init_from`` can continue the run from the folder alone on another machine.
``trained`` in config.json counts the steps, images and seconds of this run and, when the run started
from another model folder (``train.init_from``), of every stage before it (``total_*``, ``before``)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Callable

from ..models.io import check_trained, load_state_checked, save_pretrained
from ..models.unet import UNetGenerator
from .checkpoint import load_state, stored_config

__all__ = ["export"]


def export(run_dir: str | Path, out_dir: str | Path, finish: Callable[[Path], None] | None = None) -> Path:
    """Write the run's EMA generator as a release model folder; returns ``out_dir``.

    The folder is replaced as a whole (``save_pretrained``): a fault or kill leaves the old or the new model.
    ``finish(folder)`` adds files to the new folder before it takes ``out_dir``'s place (``model.onnx``).
    Raises CheckpointError for a run without a readable checkpoint, ModelFileError for an ``out_dir``
    that holds something other than a model."""
    state = load_state(run_dir)
    cfg = stored_config(state, run_dir)
    G = UNetGenerator(cfg.model)
    load_state_checked(G, state["G_ema"], str(run_dir))
    seconds = float(state.get("elapsed", 0.0))
    trained = {"run": Path(run_dir).name, "config": cfg.name, "step": state["step"], "epochs_done": state["epoch"],
               "images": state.get("seen", 0), "seconds": round(seconds) if math.isfinite(seconds) and seconds > 0 else 0}
    try:  # the record train.init_from read: checked on loading since, but a checkpoint may predate that
        before = check_trained(state.get("init_trained") or {})
    except ValueError as e:
        warnings.warn(f"{run_dir}: the record of earlier stages is not usable ({e}); the totals count this run only",
                      stacklevel=2)
        before = {}
    if before:  # the stage this run continued (train.init_from): running totals over all stages
        trained["before"] = before
    for key, own in (("steps", "step"), ("images", "images"), ("seconds", "seconds")):
        trained[f"total_{key}"] = int(before.get(f"total_{key}", before.get(own, 0)) or 0) + int(trained[own])
    D = (cfg.discriminator, state["D"]) if state.get("D") else None
    return save_pretrained(G, out_dir, image_size=cfg.data.image_size, extra={"trained": trained}, discriminator=D,
                           finish=finish)
