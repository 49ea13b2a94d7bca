"""Release model files: ``config.json`` + ``model.safetensors``, so a model can always rebuild itself.

``save_pretrained`` writes a whole folder atomically: into a hidden sibling folder first, which then takes
the target's place by two renames (``replacing_model_dir``); a fault or kill at any point leaves the old
or the new model at the target, and the next load or export completes or undoes a half-done swap
(``settle_model_dir``). ``load_generator`` rebuilds the generator from the folder alone. safetensors holds tensors only: loading a model never runs code from the file.

config.json holds the generator's architecture (``model``: a ``GeneratorConfig``, nothing of the
discriminator or of training switches), the typed ``image_size`` the model was trained at (the
working resolution it colors best at), the weights' dtype and, under ``trained``, where it came from.
Folders written before the generator had its own config section carry discriminator keys under
``model`` (``ndf``, ``d_layers``, ...): they are ignored on loading, so those folders keep working.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from ..config import MAX_IMAGE_SIDE, ConfigError, DiscriminatorConfig, GeneratorConfig, build_section
from ..imageio import atomic_write_bytes, is_temp_name
from .unet import UNetGenerator

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Written by `autopainter export` beside the generator so that `train.init_from` can continue a run on
# another machine with its discriminator; inference never reads it.
DISCRIMINATOR_NAME = "discriminator.safetensors"
FORMAT = "autopainter-generator"
D_FORMAT = "autopainter-discriminator"
FORMAT_VERSION = 1
DEFAULT_IMAGE_SIZE = 256  # what a folder without an image_size is assumed to be trained at (with a warning)
# Keys that config.json files of the first release kept under "model" but that are not the generator's:
# the discriminator's architecture and a training switch. Ignored when loading.
LEGACY_MODEL_KEYS = ("ndf", "d_layers", "d_norm", "d_in_channels", "gradient_checkpointing")
MODEL_FILES = (CONFIG_NAME, WEIGHTS_NAME, DISCRIMINATOR_NAME)  # what save_pretrained writes (or drops)
# The counts of a "trained" record (whole numbers >= 0); "before" nests the record of the stage before.
TRAINED_COUNTS = ("step", "epochs_done", "images", "seconds", "total_steps", "total_images", "total_seconds")
MAX_STAGES = 1000  # "before" records nested deeper than this are refused (each train.init_from stage adds one)


class ModelFileError(ValueError):
    """A model folder that cannot be loaded; the message says why and what to do."""


@dataclass
class ModelInfo:
    """What a release folder says about its model besides the weights."""

    model: GeneratorConfig  # the generator's architecture
    image_size: int = DEFAULT_IMAGE_SIZE  # training resolution: the default working size (long side, px)
    dtype: str = "float16"  # dtype of the stored weights
    trained: dict[str, Any] = field(default_factory=dict)  # run, config name, steps ... (informative)
    extra: dict[str, Any] = field(default_factory=dict)  # any other keys of config.json, kept as read

    @classmethod
    def coerce(cls, info: "ModelInfo | Mapping[str, Any] | None", model: GeneratorConfig) -> "ModelInfo":
        """A ModelInfo from one, from a plain mapping (``{"image_size": 64}``), or from nothing (256 px)."""
        if isinstance(info, ModelInfo):
            return info
        d = dict(info or {})
        size = check_image_size(d.pop("image_size", DEFAULT_IMAGE_SIZE))
        trained = check_trained(d.pop("trained", {}) or {})
        return cls(model=model, image_size=size, dtype=str(d.pop("dtype", "float16")), trained=trained, extra=d)


def check_trained(trained: Any, where: str = "trained") -> dict[str, Any]:
    """``trained`` as a dict if it is a usable record of where a model came from: a mapping whose counts
    (``TRAINED_COUNTS``) are whole numbers >= 0 and whose ``before`` (the stage before) is one too; else a
    one-line ValueError. ``autopainter export`` adds these counts up, so they must be numbers."""
    top, record = trained, trained
    for depth in range(MAX_STAGES + 1):
        trained = record
        if not isinstance(trained, Mapping):
            raise ValueError(f"{where} must be a mapping, got {_short(trained)}")
        for key in TRAINED_COUNTS:
            v = trained.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{where}.{key} must be a whole number >= 0, got {_short(v)}")
        if "before" not in trained:
            return dict(top)
        record, where = trained["before"], f"{where}.before" if depth < 3 else "trained.before...before"
    raise ValueError(f"trained: more than {MAX_STAGES} earlier stages under 'before'")


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, (Mapping, list)) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def bundled_model_dir() -> Path:
    """The default model shipped inside the package (its ``weights/`` folder)."""
    return Path(str(resources.files("autopainter") / "weights"))


def resolve_model_dir(model_dir: str | Path) -> Path:
    """A model folder by path, or ``bundled``: the packaged default model's folder."""
    return bundled_model_dir() if str(model_dir) == "bundled" else Path(model_dir).expanduser()


def check_image_size(size: Any) -> int:
    """``size`` if it is a usable training size (a whole number in 1..MAX_IMAGE_SIDE), else ValueError."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_IMAGE_SIDE:
        raise ValueError(f"image_size must be a whole number in 1..{MAX_IMAGE_SIDE}, got {size!r}")
    return size


def check_output_dir(out_dir: str | Path) -> Path:
    """``out_dir`` if a model folder may be written there: missing, empty, or holding a model (replaced).

    Raises ModelFileError for a file, or a non-empty folder that holds no model (never written into)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelFileError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / CONFIG_NAME).is_file():
        raise ModelFileError(f"{out} is a non-empty folder that holds no model: choose a new or empty folder")
    return out


def save_pretrained(
    generator: UNetGenerator,
    out_dir: str | Path,
    image_size: int,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float16,
    discriminator: tuple[DiscriminatorConfig, Mapping[str, torch.Tensor]] | None = None,
    finish: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``out_dir/config.json`` and ``out_dir/model.safetensors`` (weights cast to ``dtype``), atomically.

    ``image_size``: the resolution the model was trained at (its default working size). ``extra`` goes
    into config.json too (e.g. ``{"trained": {"run": ..., "step": ...}}``). ``discriminator``: (its
    ``DiscriminatorConfig``, its state dict), written as ``discriminator.safetensors`` for continuing
    training elsewhere (``train.init_from``); without it one the folder held before is dropped.
    ``finish(folder)``: called on the complete new folder before it takes ``out_dir``'s place (e.g. to add
    ``model.onnx``), so that what it writes is part of the same swap. Other files of ``out_dir`` are kept.
    """
    from safetensors.torch import save

    check_image_size(image_size)
    state = _cast_state(generator.state_dict(), dtype)  # a plain module: training unwraps before it saves
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": dataclasses.asdict(generator.cfg),
        "dtype": str(dtype).replace("torch.", ""),
        **({"training_files": {DISCRIMINATOR_NAME: "not needed for inference"}} if discriminator is not None else {}),
        **(extra or {}),
        "image_size": image_size,
    }
    with replacing_model_dir(out_dir) as staged:
        atomic_write_bytes(staged / WEIGHTS_NAME, save(state, metadata={"format": FORMAT}))
        if discriminator is not None:
            d_cfg, d_state = discriminator
            d_meta = {"format": D_FORMAT, "discriminator": json.dumps(dataclasses.asdict(d_cfg)),
                      "note": "training only: train.init_from continues with it; inference does not need it"}
            atomic_write_bytes(staged / DISCRIMINATOR_NAME, save(_cast_state(d_state, dtype), metadata=d_meta))
        atomic_write_bytes(staged / CONFIG_NAME, (json.dumps(meta, indent=2, allow_nan=False) + "\n").encode())
        if finish is not None:
            finish(staged)
    return Path(out_dir)


# ---------------------------------------------------------------------------- the swap
# A model folder is replaced as a whole (as a database swaps a table): the new model is written into the
# hidden sibling ".NAME.autopainter-new", then NAME -> ".NAME.autopainter-old" and the new one -> NAME (two
# renames), then the old one is deleted. At every instant NAME is the old model, the new one, or missing
# with the old one beside it; ``settle_model_dir`` finishes (new complete) or undoes (else) that last state.
NEW_SUFFIX, OLD_SUFFIX = ".autopainter-new", ".autopainter-old"


def _swap_paths(out_dir: str | Path) -> tuple[Path, Path, Path]:
    """(the target, its staging sibling, the sibling the old model waits in during a swap)."""
    out = Path(os.path.abspath(Path(out_dir).expanduser()))
    if out.is_symlink():  # replace what the link points to; the link stays
        out = Path(os.path.realpath(out))
    return out, out.with_name(f".{out.name}{NEW_SUFFIX}"), out.with_name(f".{out.name}{OLD_SUFFIX}")


def _exists(p: Path) -> bool:
    return p.exists() or p.is_symlink()


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif _exists(p):
        p.unlink()


def settle_model_dir(out_dir: str | Path, writing: bool = False) -> Path:
    """Complete or undo a swap of ``out_dir`` that a killed or failed export left half-done; returns ``out_dir``.

    The target missing with the old model beside it: the new folder takes its place if it is complete (it
    holds a config.json: it is only renamed once it is), else the old one goes back. An old model left
    beside a target is deleted. ``writing`` (an export is about to write): a staging folder is deleted too
    (on a plain load it may be another process's export in progress)."""
    out, new, old = _swap_paths(out_dir)
    if not (_exists(old) or _exists(new)):  # the usual case: two lookups
        return Path(out_dir)
    if _exists(old) and not _exists(out):
        os.rename(new if (new / CONFIG_NAME).is_file() else old, out)
        _fsync_dir(out.parent)
    if _exists(old) and _exists(out):
        _remove(old)
    if writing and _exists(new):
        _remove(new)
    return Path(out_dir)


@contextlib.contextmanager
def replacing_model_dir(out_dir: str | Path) -> Iterator[Path]:
    """A new, empty staging folder to write a model into; when the block ends without an error it takes
    ``out_dir``'s place (two renames), else it is deleted and ``out_dir`` is left as it was.

    ``out_dir`` must be missing, empty, or a model folder (ModelFileError otherwise); its files other than
    the model's own (``MODEL_FILES``) are carried into the new folder (hard links where possible)."""
    settle_model_dir(out_dir, writing=True)
    check_output_dir(out_dir)
    out, new, old = _swap_paths(out_dir)
    new.mkdir(parents=True)
    try:
        if out.is_dir():
            shutil.copymode(out, new)
            for p in out.iterdir():
                if p.name not in MODEL_FILES and not is_temp_name(p.name):
                    _carry(p, new / p.name)
        yield new
        _fsync_dir(new)
        had_old = _exists(out)
        if had_old:
            os.rename(out, old)
        try:
            os.rename(new, out)
        except BaseException:
            if had_old:
                with contextlib.suppress(OSError):  # else settle_model_dir undoes it on the next load or export
                    os.rename(old, out)
            raise
        _fsync_dir(out.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            _remove(new)
        raise
    if had_old:
        with contextlib.suppress(OSError):  # else the next load or export deletes it
            _remove(old)


def _carry(src: Path, dst: Path) -> None:
    """``src`` (a file of the folder being replaced) into the new folder: a hard link, else a copy."""
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, dst, symlinks=True)
        return
    if not src.is_symlink():
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst, follow_symlinks=False)


def _fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (best effort: not every file system can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cast_state(state: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies with floating tensors cast to ``dtype``."""
    out = {}
    for k, v in state.items():
        v = v.detach().cpu()
        out[k] = (v.to(dtype) if v.is_floating_point() else v).contiguous()
    return out


def load_discriminator(model_dir: str | Path) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]] | None:
    """(DiscriminatorConfig, float32 state dict) of a model folder's ``discriminator.safetensors``, or
    None when the folder has none. Raises ModelFileError for an unreadable or foreign file."""
    from safetensors import SafetensorError, safe_open

    path = Path(model_dir) / DISCRIMINATOR_NAME
    if not (path.exists() or path.is_symlink()):
        return None
    if not path.is_file():  # a folder, a device (a link to /dev/zero), a broken link: never ignored silently
        raise ModelFileError(f"{path} is not a regular file: remove it, or put the discriminator file there")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("format") != D_FORMAT:
            raise ModelFileError(f"{path} is not an Auto-Painter discriminator file")
        d_cfg = build_section(DiscriminatorConfig, _loads(meta.get("discriminator", "{}")), "discriminator.")
    except RecursionError:
        raise ModelFileError(f"{path}: its discriminator metadata is nested too deeply (a damaged or foreign file)") from None
    except (SafetensorError, OSError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path} is not a readable discriminator file ({e})") from None
    except ConfigError as e:
        raise ModelFileError(f"{path}: {e}") from None
    return d_cfg, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def read_model_config(model_dir: str | Path) -> dict[str, Any]:
    """The parsed config.json of a model folder, checked for format."""
    d = Path(model_dir)
    cfg_path = d / CONFIG_NAME
    with contextlib.suppress(OSError):  # a read-only folder: load what is there
        settle_model_dir(d)  # an export killed mid-swap: its old or new model takes the folder's name again
    if not d.is_dir():
        raise ModelFileError(f"model folder not found: {d} (make one with `autopainter export RUN_DIR -o DIR`)")
    if not cfg_path.is_file():
        raise ModelFileError(f"{d} has no {CONFIG_NAME}: not an Auto-Painter model folder (see `autopainter export`)")
    try:
        meta = _loads(cfg_path.read_text())
    except RecursionError:
        raise ModelFileError(f"{cfg_path}: a value is nested too deeply (a damaged or foreign file)") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ModelFileError(f"{cfg_path} is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{cfg_path} is not an Auto-Painter generator config (format != {FORMAT!r})")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{cfg_path}: format_version must be a whole number, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{d} was written by a newer Auto-Painter; upgrade the package to load it")
    return meta


def _loads(text: str) -> Any:
    """json.loads; NaN and Infinity parse as floats here, and the checks of each field refuse them by name."""
    return json.loads(text)


def model_info(model_dir: str | Path, meta: dict[str, Any] | None = None) -> ModelInfo:
    """The typed contents of a model folder's config.json (``meta``: the parsed file, if already read)."""
    meta = dict(read_model_config(model_dir) if meta is None else meta)
    arch = meta.pop("model", {})
    if not isinstance(arch, dict):
        raise ModelFileError(f"{model_dir}: config.json's model entry must be a mapping")
    arch = {k: v for k, v in arch.items() if k not in LEGACY_MODEL_KEYS}
    try:
        mcfg = build_section(GeneratorConfig, arch, "model.")
    except ConfigError as e:
        raise ModelFileError(f"{model_dir}: {e}") from None
    for k in ("format", "format_version"):
        meta.pop(k, None)
    if "image_size" not in meta:
        warnings.warn(f"{model_dir}: config.json has no image_size; assuming {DEFAULT_IMAGE_SIZE} px "
                      "(export the model again, or pass size=)", stacklevel=3)
    try:
        return ModelInfo.coerce(meta, mcfg)
    except ValueError as e:
        raise ModelFileError(f"{model_dir}: config.json: {e}") from None


def load_generator(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[UNetGenerator, ModelInfo]:
    """Rebuild the generator of a model folder, in eval mode and float32. Returns (generator, its ModelInfo)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = model_info(model_dir)
    gen = UNetGenerator(info.model)
    wpath = Path(model_dir) / WEIGHTS_NAME
    if not wpath.is_file():
        raise ModelFileError(f"{model_dir} has no {WEIGHTS_NAME}")
    try:
        state = load_file(str(wpath))
    except (SafetensorError, OSError) as e:
        raise ModelFileError(f"{wpath} is not a readable safetensors file ({e})") from None
    load_state_checked(gen, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(wpath))
    return gen.to(device).eval(), info


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
    for k, v in own.items():
        if not v.is_floating_point():
            continue
        got = state[k]
        if not got.is_floating_point():
            raise ModelFileError(f"{source}: tensor {k} is {str(got.dtype).replace('torch.', '')}, not floating point "
                                 "(a damaged or foreign file)")
        if not bool(torch.isfinite(got).all()):
            raise ModelFileError(f"{source}: tensor {k} holds values that are not finite (NaN or Inf): the model is "
                                 "broken (export it again from a checkpoint before the training diverged)")
    module.load_state_dict(state)
