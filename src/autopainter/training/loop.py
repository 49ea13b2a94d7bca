"""Training: ``train(cfg) -> run_dir``, one discriminator step then one generator step per batch
(``training.step``), and one tick gate (``training.schedule``) deciding what follows each step.

Determinism: each epoch's order comes from (seed, epoch) and each sample's augmentation and hints from
(seed, key) in the dataset, so a run resumed from its checkpoint, mid-epoch or not, repeats the very
same batches; the torch RNG (dropout) is restored from the checkpoint.
"""

from __future__ import annotations

import math
import signal
import sys
import time
import warnings
from pathlib import Path

import torch

from ..config import Config, DataConfig
from ..data.pairs import PairDataset
from ..imageio import atomic_write_bytes
from . import distributed as dist
from .checkpoint import Position, checkpoint_path, load_models_state, load_state, models_state, save_state, stored_config
from .ema import ema_decay_at, ema_update
from .state import RunState, build_models, set_learning_rates
from .runs import RunLog, Throughput, cut_back, make_run_dir
from .runtime import prepare_models, resolve_device, to_device, unwrap
from .samples import SampleWriter
from .sampler import EpochBatchSampler
from .schedule import Schedule, Tick
from .signals import Interrupt, Interrupted, StopNow, ignore_signals_in_worker
from .step import train_step

__all__ = ["train", "resume_config", "build_models", "train_step", "EpochBatchSampler", "EXPORT_DIR", "TrainingDiverged"]

EXPORT_DIR = "export"  # RUN/export: the release model that train.export_every keeps up to date


class TrainingDiverged(ValueError):
    """The weights went NaN or Inf: training stops rather than go on with NaN losses (nothing more is saved)."""


def _weights_finite(models: RunState) -> bool:
    """Whether every weight of G and its EMA is finite (one device sync: called only when it matters)."""
    return all(bool(torch.isfinite(p).all()) for m in (unwrap(models.G), models.G_ema) for p in m.parameters())


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


# The resume state ``resume_config`` read, kept until ``train`` takes it: a resumed run reads its checkpoint once.
# Keyed by the checkpoint file and its modification time, so a file written since is read again.
_read_for_resume: dict[tuple[str, int], dict] = {}


def _checkpoint_key(run_dir: str | Path) -> tuple[str, int] | None:
    try:
        path = checkpoint_path(run_dir).resolve()
        return str(path), path.stat().st_mtime_ns
    except OSError:
        return None


def resume_config(run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The config stored in a run's checkpoint, with ``--set`` overrides (e.g. more epochs) applied. The state
    it read is kept for the ``train(cfg, resume=run_dir)`` that follows (and dropped there)."""
    state = load_state(run_dir)
    cfg = stored_config(state, run_dir, overrides)
    _read_for_resume.clear()
    key = _checkpoint_key(run_dir)
    if key is not None:
        _read_for_resume[key] = state
    return cfg


def _resume_state(run_dir: str | Path) -> dict:
    """The run's resume state: the one ``resume_config`` just read, else read now."""
    key = _checkpoint_key(run_dir)
    state = _read_for_resume.pop(key, None) if key is not None else None
    _read_for_resume.clear()
    return state if state is not None else load_state(run_dir)


def _open_run(cfg: Config, resume: str | Path | None, models: RunState, is_main: bool) -> tuple[Path, Position]:
    """The run folder and the position to start from: a checkpoint's (what the run wrote after it cut
    away: ``runs.cut_back``), or a new numbered folder's."""
    if resume is not None:
        state = _resume_state(resume)
        pos = load_models_state(models, state, str(resume))
        was, now = state.get("world_size", 1), dist.world_size()
        if was != now and pos.batch:
            warnings.warn(f"resuming mid-epoch with {now} processes instead of {was}: the rest of this "
                          "epoch will not repeat the original batches exactly", stacklevel=3)
        stored = state.get("config", {}).get("data", {})
        default = DataConfig()
        changed = [k for k in ("path", "extra_paths", "repeats") if stored.get(k, getattr(default, k)) != getattr(cfg.data, k)]
        if changed and pos.batch:
            warnings.warn(f"resuming mid-epoch with another {', '.join('data.' + k for k in changed)}: the rest of this "
                          "epoch will not repeat the original batches exactly", stacklevel=3)
        if is_main:
            cut_back(resume, pos.step, pos.epoch)
        return Path(resume), pos
    run_dir = None
    if is_main:
        run_dir = make_run_dir(cfg.train.runs_dir, cfg.train.name or cfg.name)
        atomic_write_bytes(run_dir / "config.yaml", cfg.to_yaml().encode())
    return Path(dist.broadcast_object(str(run_dir) if run_dir else None)), Position()


def _loader(train_set: PairDataset, sampler: EpochBatchSampler, cfg: Config, device: torch.device):
    nw = cfg.data.num_workers
    return torch.utils.data.DataLoader(
        train_set,
        batch_sampler=sampler,
        num_workers=nw,
        persistent_workers=nw > 0,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if nw > 0 else None,
        # its own generator: creating a loader iterator must not consume the global RNG (dropout)
        generator=torch.Generator().manual_seed(cfg.train.seed),
        worker_init_fn=ignore_signals_in_worker if nw > 0 else None,
    )


def _train(cfg: Config, resume: str | Path | None, progress: bool) -> Path:
    rank, world = dist.rank(), dist.world_size()
    is_main = rank == 0
    device = resolve_device(cfg.train.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(cfg.train.seed)

    data = dict(seed=cfg.train.seed, in_channels=cfg.model.in_channels)
    targets = cfg.loss.material > 0 or cfg.loss.locality > 0  # the maps in the batch
    train_set = PairDataset(cfg.data, split="train", train=True, material_targets=targets,
                            part_classes=cfg.model.parts if cfg.loss.parts > 0 else (), **data)
    val_set = PairDataset(cfg.data, split="val", train=False, **data)
    models = to_device(build_models(cfg, device, init=resume is None), cfg, device)
    run_dir, pos = _open_run(cfg, resume, models, is_main)
    prepare_models(models, cfg, device)
    sampler = EpochBatchSampler(len(train_set), cfg.train.batch_size, cfg.train.seed, rank, world)
    loader = _loader(train_set, sampler, cfg, device)
    sched = Schedule.from_config(cfg, sampler.batches, world)
    if resume is not None:
        _warn_if_rate_jumps(models, cfg, sched, pos)

    log = samples = bar = None
    if is_main:
        log = RunLog(run_dir, purge_step=pos.step + 1 if resume is not None else None)
        samples = SampleWriter(run_dir, val_set, cfg)
        if progress:
            from tqdm.auto import tqdm

            for ds in (train_set, val_set):  # e.g. that the val split fell back to the training images
                print(ds.describe())
            bar = tqdm(total=sched.total_steps, initial=pos.step, unit="step", dynamic_ncols=True, desc=run_dir.name)
    models.G.train()
    if models.D is not None:
        models.D.train()
    start_time, speed = time.perf_counter(), Throughput()
    last: dict[str, float] = {}  # the losses last brought to the host

    def diverged(why: str) -> TrainingDiverged:
        return TrainingDiverged(
            f"training stopped at step {pos.step}: {why}; nothing of it was saved (the last checkpoint, if any, is "
            "intact). Check train.init_from's model, or lower train.lr_g / train.lr_d")

    def checkpoint() -> None:
        if not _weights_finite(models):  # never a state (or a release model) with NaN weights
            raise diverged("the generator's weights are not finite (NaN or Inf)")
        if is_main:
            log.flush()
            save_state(run_dir, models_state(models, pos, cfg) | {"elapsed": pos.elapsed + time.perf_counter() - start_time})

    def after_step(tick: Tick, losses: dict[str, torch.Tensor], stop: Interrupt) -> None:
        """Everything between two steps, as the tick gate says."""
        nonlocal last
        if tick.read:
            last = {k: float(v) for k, v in losses.items()}  # float() waits for the device
            bad = [k for k, v in last.items() if not math.isfinite(v)]
            # an fp16 step that overflowed has an Inf loss but finite weights (the scaler skips it): go on
            if bad and not _weights_finite(models):
                raise diverged(f"the losses are not finite ({', '.join(f'{k}={last[k]}' for k in bad[:3])}) and "
                               "neither are the generator's weights")
        if tick.log and log is not None:
            ips = speed.rate()
            decay = {"lr_scale": round(sched.lr_scale(pos.step - 1), 6)} if sched.lr_decay_steps else {}
            log.write({"step": pos.step, "epoch": pos.epoch, "images": pos.seen, "img_per_s": round(ips, 3), **decay, **last})
            log.scalars(pos.step, {**decay, **last}, ips)
        if bar is not None and losses:
            bar.update(1)
            shown = {k: f"{v:.3g}" for k, v in last.items() if k in ("total", "l1", "gan", "d")}
            if rate := bar.format_dict.get("rate"):
                shown["img/s"] = f"{rate * cfg.train.batch_size * world:.1f}"
            bar.set_postfix(shown, refresh=False)
        if tick.epoch_end:
            finished = pos.epoch
            pos.next_epoch()
            if is_main:
                log.write({"epoch_end": finished, "step": pos.step, **last})
                if tick.sample:
                    samples.write(models.G_ema, finished, device)
        if tick.checkpoint or tick.export:
            checkpoint()
        if tick.export and is_main:
            from .export import export  # the release model beside the state, so an interrupted run has both

            export(run_dir, run_dir / EXPORT_DIR)
        if tick.epoch_end or tick.done:
            dist.barrier()  # rank 0 wrote samples and checkpoints: the ranks set off together again
        if tick.check_stop and dist.any_rank(stop.hit):
            raise KeyboardInterrupt

    def batches():
        while not sched.finished(pos):
            sampler.set_epoch(pos.epoch, pos.batch)
            yield from loader

    interrupted = False
    with Interrupt() as stop:
        try:
            if pos.batch >= sched.steps_per_epoch and not sched.finished(pos):
                # a checkpoint written at an epoch's very end (by older versions, or with fewer ranks)
                after_step(sched.tick(pos, stepped=False), {}, stop)
            for batch in batches():
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                set_learning_rates(models, cfg, sched.lr_scale(pos.step))
                losses = train_step(models, cfg, batch, pos.step)
                ema_update(models.G_ema, unwrap(models.G), ema_decay_at(pos.step, cfg.train.ema_decay))
                pos.advance(batch["sketch"].shape[0] * world)
                speed.add(batch["sketch"].shape[0] * world)
                tick = sched.tick(pos)
                after_step(tick, losses, stop)
                if tick.done:
                    break
        except StopNow:  # a second Ctrl-C, perhaps mid-step: a half-done step is never saved
            if is_main:
                print(f"stopped at once: nothing saved; `autopainter train --resume {run_dir}` continues from the "
                      "last checkpoint", file=sys.stderr)
            raise
        except KeyboardInterrupt:  # the first signal, acted on between two steps
            interrupted = True
            checkpoint()
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
    _check_ranks_agree(models, pos, log)
    if interrupted:
        if is_main:
            print(f"interrupted: state saved; continue with `autopainter train --resume {run_dir}`")
        raise Interrupted(stop.signum or signal.SIGINT)  # the CLI exits 128 + signal number
    return run_dir


def _warn_if_rate_jumps(models: RunState, cfg: Config, sched: Schedule, pos: Position) -> None:
    """A resumed run whose rate had decayed and now goes back up (its end moved with train.epochs or
    train.max_steps, or lr_decay_steps changed): the decay starts over, and it says so."""
    was = models.opt_G.param_groups[0]["lr"]  # the checkpoint's: the rate of the last step done
    now = cfg.train.lr_g * sched.lr_scale(pos.step)
    if was < 0.99 * cfg.train.lr_g and now > 1.01 * was:
        warnings.warn(f"resuming raises the generator's learning rate from {was:.3g} to {now:.3g}: the run had "
                      "decayed and its end moved; to carry the decay on, set train.max_steps=END and "
                      "train.lr_decay_steps=N with (END - step) / N equal to the rate's current fraction",
                      stacklevel=3)


def _check_ranks_agree(models: RunState, pos: Position, log: RunLog | None) -> None:
    """Under DDP: every rank must end with the same generator weights; the digests go to stats.jsonl."""
    if dist.world_size() == 1:
        return
    sums = dist.all_gather_object(dist.weights_checksum(unwrap(models.G)))
    if log is not None:
        log.write({"step": pos.step, "rank_weight_checksums": sums})
        if len(set(sums)) != 1:
            warnings.warn(f"ranks ended with different generator weights: {sums}", stacklevel=3)
