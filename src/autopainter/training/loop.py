"""Training: ``train(cfg) -> run_dir``, one discriminator step then one generator step per batch.

The update is pix2pix's (Isola et al. 2017) with Auto-Painter's generator objective (Liu et al. 2017):
D learns to tell (sketch, target) from (sketch, G(sketch, hints)); G minimizes
w_p*L1 + w_f*L_feature + w_G*L_GAN + w_tv*L_TV. An EMA copy of G makes the samples and the export.

Determinism: each epoch's order comes from (seed, epoch) and each sample's augmentation and hints from
(seed, key) in the dataset, so a run resumed from its checkpoint, mid-epoch or not, repeats the very
same batches; the torch RNG (dropout) is restored from the checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..config import Config, ConfigError
from ..data.pairs import PairDataset
from ..imageio import atomic_write_bytes
from ..losses import adversarial_d, generator_objective
from ..models.io import load_state_checked, save_pretrained, strip_prefixes
from ..models.patchgan import build_discriminator, discriminator_condition
from ..devices import bf16_native
from ..models.unet import UNetGenerator, build_generator
from . import distributed as dist
from .samples import SampleWriter
from .state import CheckpointError, load_state, save_state


# --------------------------------------------------------------------------------------- sampler
class EpochBatchSampler:
    """Yields batches of dataset keys for one epoch: ``key = epoch * N + index``.

    The order comes from (seed, epoch) alone; ranks take interleaved slices; ``start`` skips batches
    already done (mid-epoch resume).
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.epoch, self.start = 0, 0
        per_rank = n // world if n >= world else 1
        # Drop the ragged last batch (batch norm dislikes batches of 1) unless that leaves nothing.
        self.batches = max(1, per_rank // batch_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.batches - self.start

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        need = self.batches * self.batch_size * self.world
        perm = (perm * math.ceil(need / self.n))[:need]  # tiny sets: wrap around
        mine = perm[self.rank :: self.world]
        base = self.epoch * self.n
        for b in range(self.start, self.batches):
            yield [base + i for i in mine[b * self.batch_size : (b + 1) * self.batch_size]]


# --------------------------------------------------------------------------------------- helpers
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


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 math is native here (CPUs with AVX-512 BF16 / AMX, CUDA GPUs from Ampere on)."""
    return bf16_native(device)


def resolve_precision(device: torch.device, mode: str) -> str:
    """auto -> bf16 where it is native, fp16 on older CUDA GPUs, else none."""
    if mode != "auto":
        return mode
    if bf16_supported(device):
        return "bf16"
    return "fp16" if device.type == "cuda" else "none"


def autocast_context(device: torch.device, mode: str):
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
    import shutil

    return any(shutil.which(c) for c in ("cc", "gcc", "clang", "g++", "c++"))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * model for parameters; buffers (norm statistics) are copied."""
    ema_p = dict(ema.named_parameters())
    names = [n for n, _ in model.named_parameters()]
    # one multi-tensor kernel instead of a Python loop over ~100 tensors
    torch._foreach_lerp_([ema_p[n] for n in names], [p.detach() for _, p in model.named_parameters()], 1.0 - decay)
    ema_b = dict(ema.named_buffers())
    for name, b in model.named_buffers():
        ema_b[name].copy_(b)


def ema_decay_at(step: int, decay: float) -> float:
    # Warm-up so that short runs still get a meaningful average: 0, 0.17, 0.25, ... -> decay.
    return min(decay, (1 + step) / (10 + step))


def make_run_dir(runs_dir: str | Path, name: str) -> Path:
    """runs/00003-name: the next free number; never reuses or overwrites a folder."""
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "run"
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    while True:
        nums = [int(p.name[:5]) for p in root.iterdir() if p.is_dir() and p.name[:5].isdigit()]
        run = root / f"{(max(nums) + 1 if nums else 0):05d}-{name}"
        try:
            run.mkdir()
            return run
        except FileExistsError:  # another process took it: try the next number
            continue


def _unwrap_ddp(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


def _unwrap(m: nn.Module) -> nn.Module:
    """The plain module under torch.compile and DistributedDataParallel wrappers."""
    m = getattr(m, "_orig_mod", m)  # torch.compile
    m = _unwrap_ddp(m)
    return getattr(m, "_orig_mod", m)


@dataclass
class Models:
    G: nn.Module  # as trained: possibly DDP-wrapped and compiled
    D: nn.Module | None  # likewise
    G_ema: UNetGenerator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer | None
    scaler: Any
    extractor: nn.Module | None = None
    D_frozen: nn.Module | None = None  # D without the DDP wrapper, for G's step (no gradient sync needed)
    amp: Any = contextlib.nullcontext()  # autocast context of the run


@dataclass
class Position:
    epoch: int = 0  # epoch in progress
    batch: int = 0  # batches of that epoch already done
    step: int = 0  # optimizer steps in total
    seen: int = 0  # images seen in total (all ranks)
    elapsed: float = 0.0  # training seconds before this process started


def _init_generator(G: torch.nn.Module, model_dir: str) -> None:
    """Copy a model folder's generator weights into G (fine-tuning); the architectures must match."""
    from ..models.io import load_generator

    src, _ = load_generator(model_dir)
    load_state_checked(G, src.state_dict(), model_dir)


def build_models(cfg: Config, device: torch.device, init: bool = True) -> Models:
    """G, D, the EMA generator, optimizers and the feature network. ``init=False`` (resuming: the weights
    come from the checkpoint) skips ``train.init_from``."""
    G = build_generator(cfg.model, cfg.train.gradient_checkpointing)
    if init and cfg.train.init_from:
        _init_generator(G, cfg.train.init_from)
    D = build_discriminator(cfg.discriminator) if cfg.loss.gan > 0 else None
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    t = cfg.train
    # fused: one kernel for the whole update (4x faster than the per-tensor loop on CPU), same algorithm
    opt_G = torch.optim.Adam(G.parameters(), lr=t.lr_g, betas=(t.beta1, t.beta2), fused=True)
    opt_D = torch.optim.Adam(D.parameters(), lr=t.lr_d, betas=(t.beta1, t.beta2), fused=True) if D is not None else None
    extractor = None
    if cfg.loss.feature > 0:
        from ..models.features import build_feature_extractor

        extractor = build_feature_extractor(
            cfg.loss.feature_backbone, cfg.loss.feature_weights, cfg.loss.feature_layers or None
        )
    precision = resolve_precision(device, t.mixed_precision)
    scaler = torch.amp.GradScaler("cuda", enabled=(precision == "fp16" and device.type == "cuda"))
    return Models(G, D, G_ema, opt_G, opt_D, scaler, extractor, D_frozen=D, amp=autocast_context(device, precision))


def to_device(models: Models, cfg: Config, device: torch.device) -> Models:
    """Move the modules to the device (and memory format). Done before loading optimizer state, which
    then lands on the parameters' device."""
    for m in (models.G, models.G_ema, models.D, models.extractor):
        if m is not None:
            m.to(device)
            if cfg.train.channels_last:
                m.to(memory_format=torch.channels_last)
    return models


def prepare_models(models: Models, cfg: Config, device: torch.device) -> Models:
    """to_device, then DDP wrapping and torch.compile."""
    to_device(models, cfg, device)
    models.G = dist.wrap(models.G, device)
    if models.D is not None:
        models.D = dist.wrap(models.D, device)
        models.D_frozen = _unwrap_ddp(models.D)
    if cfg.train.compile:
        if compiler_available(device):
            models.G = torch.compile(models.G)
            if models.D is not None:
                single = models.D_frozen is models.D  # not distributed: one module serves both steps
                models.D = torch.compile(models.D)
                models.D_frozen = models.D if single else torch.compile(models.D_frozen)
        else:
            import warnings

            warnings.warn("train.compile=true but no C compiler is on PATH: training uses eager mode", stacklevel=2)
    return models


def _state_dict(models: Models, pos: Position, cfg: Config) -> dict[str, Any]:
    return {
        "config": cfg.to_dict(),
        "G": strip_prefixes(_unwrap(models.G).state_dict()),
        "D": strip_prefixes(_unwrap(models.D).state_dict()) if models.D is not None else {},
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
    }


def _load_into(models: Models, state: dict[str, Any], source: str) -> Position:
    load_state_checked(models.G, state["G"], source)
    load_state_checked(models.G_ema, state["G_ema"], source)
    if models.D is not None:
        load_state_checked(models.D, state["D"], source)
        models.opt_D.load_state_dict(state["opt_D"])
    models.opt_G.load_state_dict(state["opt_G"])
    if state.get("scaler"):
        models.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_torch"])
    if torch.is_tensor(state.get("rng_cuda")) and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["rng_cuda"])
    return Position(state["epoch"], state["batch"], state["step"], state["seen"], state["elapsed"])


# --------------------------------------------------------------------------------------- steps
def d_step(models: Models, cfg: Config, cond: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, amp) -> torch.Tensor:
    """One discriminator update on (cond, real) vs (cond, fake.detach()). Returns the loss (detached)."""
    D, opt = models.D, models.opt_D
    D.requires_grad_(True)
    opt.zero_grad(set_to_none=True)
    with amp:
        loss = adversarial_d(D(cond, real), D(cond, fake.detach()), cfg.loss.gan_mode)
    models.scaler.scale(loss).backward()
    models.scaler.step(opt)
    return loss.detach()


def g_step(
    models: Models, cfg: Config, cond: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, amp, hint_mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """One generator update on the objective's total. Returns the named terms (detached)."""
    models.opt_G.zero_grad(set_to_none=True)
    with amp:
        logits = None
        if models.D is not None:
            models.D.requires_grad_(False)  # G's step must not leave gradients in D
            logits = models.D_frozen(cond, fake)
        terms = generator_objective(cfg.loss, fake, real, logits, models.extractor, hint_mask)
    models.scaler.scale(terms["total"]).backward()
    models.scaler.step(models.opt_G)
    return {k: v.detach() for k, v in terms.items()}


def train_step(models: Models, cfg: Config, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One D step then one G step on a batch (``batch["input"]``: the generator's input, models.inputs)."""
    sketch, real, x = batch["sketch"], batch["color"], batch["input"]
    cond = discriminator_condition(sketch, cfg.discriminator.in_channels)
    amp = models.amp
    if cfg.train.channels_last:
        x, cond, real = (t.contiguous(memory_format=torch.channels_last) for t in (x, cond, real))
    with amp:
        fake = models.G(x)  # (B, 3, H, W)
    logs = {}
    if models.D is not None:
        logs["d"] = d_step(models, cfg, cond, real, fake, amp)
    logs.update(g_step(models, cfg, cond, real, fake, amp, batch["mask"]))
    models.scaler.update()
    return logs


# --------------------------------------------------------------------------------------- train
class _Interrupt:
    """Ctrl-C and SIGTERM (cluster pre-emption) set a flag; the loop stops between two steps and saves a
    checkpoint, so a half-done step is never saved. A second Ctrl-C stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.hit = False
        self._old: dict = {}

    def __enter__(self):
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handler(self, signum, frame):
        if self.hit and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def _ignore_signals_in_worker(_worker_id: int) -> None:
    # DataLoader workers share the terminal's process group: Ctrl-C or a scheduler's SIGTERM reaches them
    # too. The main process decides when to stop and shuts them down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def train(cfg: Config, resume: str | Path | None = None, progress: bool = True) -> Path:
    """Train a model; returns the run folder. ``resume``: a run folder to continue exactly.

    When resuming, the run's own config is used (``cfg`` supplies only what the caller changed on top
    of it, see ``resume_config``) and the run folder is appended to.
    """
    dist.init(cfg.train.device)
    try:
        run_dir = _train(cfg, resume, progress)
        dist.barrier()  # no rank tears the group down while another still talks to it
        return run_dir
    finally:
        dist.shutdown()


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The config stored in a run's checkpoint, with ``--set`` overrides (e.g. more epochs) applied."""
    from ..config import apply_override

    state = load_state(run_dir)
    d = state["config"]
    for ov in overrides or []:
        apply_override(d, ov)
    return Config.from_dict(d)


def _train(cfg: Config, resume: str | Path | None, progress: bool) -> Path:
    rank, world = dist.rank(), dist.world_size()
    is_main = rank == 0
    device = resolve_device(cfg.train.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(cfg.train.seed)

    train_set = PairDataset(cfg.data, split="train", train=True, seed=cfg.train.seed, in_channels=cfg.model.in_channels)
    val_set = PairDataset(cfg.data, split="val", train=False, seed=cfg.train.seed, in_channels=cfg.model.in_channels)
    if is_main and progress:  # e.g. that val fell back to the training images
        print(train_set.describe())
        print(val_set.describe())

    models = to_device(build_models(cfg, device, init=resume is None), cfg, device)
    pos = Position()
    if resume is not None:
        run_dir = Path(resume)
        state = load_state(run_dir)
        pos = _load_into(models, state, str(run_dir))
        if state.get("world_size", 1) != world and pos.batch:
            import warnings

            warnings.warn(f"resuming mid-epoch with {world} processes instead of {state.get('world_size', 1)}: "
                          "the rest of this epoch will not repeat the original batches exactly", stacklevel=2)
    else:
        run_dir = None
        if is_main:
            run_dir = make_run_dir(cfg.train.runs_dir, cfg.train.name or cfg.name)
            atomic_write_bytes(run_dir / "config.yaml", cfg.to_yaml().encode())
        run_dir = Path(dist.broadcast_object(str(run_dir) if run_dir else None))

    prepare_models(models, cfg, device)

    sampler = EpochBatchSampler(len(train_set), cfg.train.batch_size, cfg.train.seed, rank, world)
    nw = cfg.data.num_workers
    loader = torch.utils.data.DataLoader(
        train_set,
        batch_sampler=sampler,
        num_workers=nw,
        persistent_workers=nw > 0,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if nw > 0 else None,
        # its own generator: creating a loader iterator must not consume the global RNG (dropout)
        generator=torch.Generator().manual_seed(cfg.train.seed),
        worker_init_fn=_ignore_signals_in_worker if nw > 0 else None,
    )
    amp = models.amp
    steps_per_epoch = sampler.batches
    total_steps = steps_per_epoch * cfg.train.epochs
    if cfg.train.max_steps:
        total_steps = min(total_steps, cfg.train.max_steps)

    writer = tb = None
    if is_main:
        writer = _StatsWriter(run_dir / "stats.jsonl")
        tb = _tensorboard(run_dir)
        samples = SampleWriter(run_dir, val_set, cfg)

    bar = None
    if is_main and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=pos.step, unit="step", dynamic_ncols=True, desc=run_dir.name)

    models.G.train()
    if models.D is not None:
        models.D.train()
    start_time = time.perf_counter()
    window_t, window_imgs = time.perf_counter(), 0
    interrupted = False
    last_logs: dict[str, float] = {}

    def checkpoint() -> None:
        if is_main:
            st = _state_dict(models, pos, cfg)
            st["elapsed"] = pos.elapsed + (time.perf_counter() - start_time)
            save_state(run_dir, st)

    with _Interrupt() as stop:
        try:
            while pos.epoch < cfg.train.epochs and pos.step < total_steps:
                sampler.set_epoch(pos.epoch, pos.batch)
                for batch in loader:
                    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    logs = train_step(models, cfg, batch)
                    ema_update(models.G_ema, _unwrap(models.G), ema_decay_at(pos.step, cfg.train.ema_decay))
                    pos.step += 1
                    pos.batch += 1
                    n_img = batch["sketch"].shape[0] * world
                    pos.seen += n_img
                    window_imgs += n_img
                    if pos.step % cfg.train.log_every == 0 or pos.step == total_steps:
                        # float() syncs with the device: only when something will be shown or written
                        last_logs = {k: float(v) for k, v in logs.items()}
                    if is_main and pos.step % cfg.train.log_every == 0:
                        now = time.perf_counter()
                        ips = window_imgs / max(now - window_t, 1e-9)
                        window_t, window_imgs = now, 0
                        rec = {"step": pos.step, "epoch": pos.epoch, "images": pos.seen, "img_per_s": round(ips, 3), **last_logs}
                        writer.write(rec)
                        if tb is not None:
                            for k, v in last_logs.items():
                                tb.add_scalar(f"loss/{k}", v, pos.step)
                            tb.add_scalar("speed/img_per_s", ips, pos.step)
                    if bar is not None:
                        bar.update(1)
                        shown = {k: f"{v:.3g}" for k, v in last_logs.items() if k in ("total", "l1", "gan", "d")}
                        rate = bar.format_dict.get("rate")
                        if rate:
                            shown["img/s"] = f"{rate * cfg.train.batch_size * world:.1f}"
                        bar.set_postfix(shown, refresh=False)
                    # Under DDP the ranks agree on stopping (one tiny all-reduce, only every log_every steps).
                    if (world == 1 or pos.step % cfg.train.log_every == 0) and dist.any_rank(stop.hit):
                        raise KeyboardInterrupt
                    if pos.step >= total_steps:
                        break
                epoch_done = pos.batch >= steps_per_epoch
                if epoch_done:
                    finished_epoch = pos.epoch
                    pos.epoch += 1
                    pos.batch = 0
                    last = pos.epoch >= cfg.train.epochs or pos.step >= total_steps
                    if is_main:
                        writer.write({"epoch_end": finished_epoch, "step": pos.step, **last_logs})
                        if (finished_epoch + 1) % cfg.train.sample_every == 0 or last:
                            samples.write(models.G_ema, finished_epoch, device)
                    if (finished_epoch + 1) % cfg.train.checkpoint_every == 0 or last:
                        checkpoint()
                elif pos.step >= total_steps:
                    checkpoint()  # max_steps reached mid-epoch: resumable from here
                dist.barrier()
        except KeyboardInterrupt:
            interrupted = True
            checkpoint()
        finally:
            if bar is not None:
                bar.close()
            if tb is not None:
                tb.close()
    if world > 1:
        sums = dist.all_gather_object(_weights_checksum(models.G))
        if is_main:
            writer.write({"step": pos.step, "rank_weight_checksums": sums})
            if len(set(sums)) != 1:
                import warnings

                warnings.warn(f"ranks ended with different generator weights: {sums}", stacklevel=2)
    if interrupted:
        if is_main:
            print(f"interrupted: state saved; continue with `autopainter train --resume {run_dir}`")
        raise KeyboardInterrupt
    return run_dir


def _weights_checksum(model: nn.Module) -> str:
    """A digest of the parameters (not the norm statistics, which each rank keeps from its own batches)."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(_unwrap(model).named_parameters()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class _StatsWriter:
    """Appends JSON lines, flushed at once (a crash keeps everything written so far)."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, rec: dict[str, Any]) -> None:
        rec = {"time": round(time.time(), 3), **rec}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


# --------------------------------------------------------------------------------------- export
def export(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the run's EMA generator as a release model folder (config.json + fp16 model.safetensors)."""
    state = load_state(run_dir)
    try:
        cfg = Config.from_dict(state["config"])
    except ConfigError as e:
        raise CheckpointError(f"{run_dir}: its stored config is invalid ({e})") from None
    G = UNetGenerator(cfg.model)
    load_state_checked(G, state["G_ema"], str(run_dir))
    trained = {"run": Path(run_dir).name, "config": cfg.name, "step": state["step"], "epochs_done": state["epoch"]}
    return save_pretrained(G, out_dir, image_size=cfg.data.image_size, extra={"trained": trained})
