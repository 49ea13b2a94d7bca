"""The loop's one tick gate: after each step, what happens (log, sample grid, checkpoint, stop check,
epoch end, done), decided in one place from the position and the config's cadences; and the learning
rate's scale for the next step (``train.lr_decay_steps``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from .checkpoint import Position

__all__ = ["Schedule", "Tick"]


@dataclass(frozen=True)
class Tick:
    """What to do after a step; the loop does it in this order."""

    log: bool = False  # a stats.jsonl line and TensorBoard scalars (every train.log_every steps)
    read: bool = False  # bring the losses to the host (it waits for the device): when logging, and at the end
    epoch_end: bool = False  # the epoch's last batch is done: an epoch line, then the next epoch
    sample: bool = False  # a sample grid (every train.sample_every epochs, and the last)
    checkpoint: bool = False  # resume state (every train.checkpoint_every epochs, and when done)
    check_stop: bool = False  # ask whether any rank was interrupted (each step alone, every log_every under DDP)
    done: bool = False  # the run is complete (train.epochs or train.max_steps reached)
    export: bool = False  # resume state and a release model in RUN/export (every train.export_every steps)


@dataclass(frozen=True)
class Schedule:
    steps_per_epoch: int  # the sampler's batches per epoch (per rank)
    total_steps: int  # steps_per_epoch * epochs, capped by train.max_steps
    epochs: int
    log_every: int
    sample_every: int
    checkpoint_every: int
    world: int = 1  # processes under torchrun
    lr_decay_steps: int = 0  # the run's last N steps take the learning rates linearly down (0: constant)
    export_every: int = 0  # steps between exports to RUN/export (0: never)

    @classmethod
    def from_config(cls, cfg: Config, steps_per_epoch: int, world: int = 1) -> "Schedule":
        t = cfg.train
        total = steps_per_epoch * t.epochs
        if t.max_steps:
            total = min(total, t.max_steps)
        return cls(steps_per_epoch, total, t.epochs, t.log_every, t.sample_every, t.checkpoint_every, world,
                   t.lr_decay_steps, t.export_every)

    def lr_scale(self, done: int) -> float:
        """The factor on ``train.lr_g`` and ``train.lr_d`` for the step after ``done`` steps: 1 until the
        last ``lr_decay_steps`` steps of the run, then linearly down to 1/N for its very last step (pix2pix's
        linear decay, in steps). It depends on the step alone, so a resumed run repeats it exactly."""
        n = self.lr_decay_steps
        if n <= 0:
            return 1.0
        return min(1.0, max(self.total_steps - done, 1) / n)

    def finished(self, pos: Position) -> bool:
        return pos.epoch >= self.epochs or pos.step >= self.total_steps

    def tick(self, pos: Position, stepped: bool = True) -> Tick:
        """The gate, after ``pos.advance`` and before the epoch is counted done. ``stepped=False``: no step
        was made (resuming from a checkpoint written at an epoch's end): only the epoch-end part applies."""
        epoch_end = pos.batch >= self.steps_per_epoch
        done = pos.step >= self.total_steps or (epoch_end and pos.epoch + 1 >= self.epochs)
        log = stepped and pos.step % self.log_every == 0
        finished_epochs = pos.epoch + 1
        return Tick(
            log=log,
            read=stepped and (log or done),
            epoch_end=epoch_end,
            sample=epoch_end and (finished_epochs % self.sample_every == 0 or done),
            checkpoint=done or (epoch_end and finished_epochs % self.checkpoint_every == 0),
            # under DDP the ranks agree on stopping with one tiny all-reduce, so not on every step
            check_stop=stepped and (self.world == 1 or log),
            done=done,
            export=stepped and self.export_every > 0 and (pos.step % self.export_every == 0 or done),
        )
