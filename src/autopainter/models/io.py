"""Release model files: ``config.json`` + ``model.safetensors``, so a model can always rebuild itself.

``save_pretrained`` writes both atomically into a folder; ``load_generator`` rebuilds the generator from
the folder alone. safetensors holds tensors only: loading a model never runs code from the file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, ModelConfig, _build
from ..imageio import atomic_write_bytes
from .unet import UNetGenerator

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "autopainter-generator"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model folder that cannot be loaded; the message says why and what to do."""


def save_pretrained(
    generator: UNetGenerator,
    out_dir: str | Path,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write ``out_dir/config.json`` and ``out_dir/model.safetensors`` (weights cast to ``dtype``).

    ``extra`` goes into config.json (e.g. the training image size and the source run).
    """
    from safetensors.torch import save

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelFileError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / CONFIG_NAME).is_file():
        raise ModelFileError(f"{out} is a non-empty folder that holds no model: choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in strip_prefixes(generator.state_dict()).items():
        v = v.detach().cpu()
        if v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": dataclasses.asdict(generator.cfg),
        "dtype": str(dtype).replace("torch.", ""),
        **(extra or {}),
    }
    # Weights first, config last: a folder with a config.json is complete.
    atomic_write_bytes(out / WEIGHTS_NAME, save(state, metadata={"format": FORMAT}))
    atomic_write_bytes(out / CONFIG_NAME, (json.dumps(meta, indent=2) + "\n").encode())
    return out


def read_model_config(model_dir: str | Path) -> dict[str, Any]:
    """The parsed config.json of a model folder, checked for format."""
    d = Path(model_dir)
    cfg_path = d / CONFIG_NAME
    if not d.is_dir():
        raise ModelFileError(f"model folder not found: {d} (make one with `autopainter export RUN_DIR -o DIR`)")
    if not cfg_path.is_file():
        raise ModelFileError(f"{d} has no {CONFIG_NAME}: not an Auto-Painter model folder (see `autopainter export`)")
    try:
        meta = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{cfg_path} is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{cfg_path} is not an Auto-Painter generator config (format != {FORMAT!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{d} was written by a newer Auto-Painter; upgrade the package to load it")
    return meta


def load_generator(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[UNetGenerator, dict[str, Any]]:
    """Rebuild the generator of a model folder, in eval mode and float32. Returns (generator, config dict)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta = read_model_config(model_dir)
    try:
        mcfg = _build(ModelConfig, meta.get("model", {}), "model.")
    except ConfigError as e:
        raise ModelFileError(f"{model_dir}: {e}") from None
    gen = UNetGenerator(mcfg)
    wpath = Path(model_dir) / WEIGHTS_NAME
    if not wpath.is_file():
        raise ModelFileError(f"{model_dir} has no {WEIGHTS_NAME}")
    try:
        state = load_file(str(wpath))
    except (SafetensorError, OSError) as e:
        raise ModelFileError(f"{wpath} is not a readable safetensors file ({e})") from None
    load_state_checked(gen, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(wpath))
    return gen.to(device).eval(), meta


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop wrapper prefixes (DistributedDataParallel's ``module.``, torch.compile's ``_orig_mod.``)."""
    out = {}
    for k, v in state.items():
        for p in ("module.", "_orig_mod."):
            while k.startswith(p):
                k = k[len(p):]
        out[k] = v
    return out


def load_state_checked(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with a one-line error when the file holds another architecture."""
    state = strip_prefixes(state)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        what = (
            f"shape of {wrong[0]} is {tuple(state[wrong[0]].shape)}, expected {tuple(own[wrong[0]].shape)}"
            if wrong
            else f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        )
        raise ModelFileError(
            f"{source} holds another architecture than its config describes ({what}; "
            f"{len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} mismatched tensors)"
        )
    module.load_state_dict(state)
