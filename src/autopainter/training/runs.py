"""Run folders and what the loop writes into them as it goes: ``runs/00003-name/`` with
``config.yaml``, ``stats.jsonl`` (one JSON line per logged step and per epoch) and TensorBoard events.

A run killed hard (kill -9, power loss) has logged steps past its last checkpoint; ``--resume`` repeats
them. ``cut_back`` removes those traces first, so the resumed run's records follow the checkpoint as if
it had never stopped: stats.jsonl keeps the lines up to the checkpoint's step, TensorBoard is told to drop
later events (``RunLog(purge_step=)``), sample grids of unfinished epochs go, and so do the temporary
files of atomic writes the kill interrupted (a checkpoint's is as big as the checkpoint).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from ..imageio import atomic_write_bytes, remove_stale_temps

__all__ = ["make_run_dir", "cut_back", "RunLog", "Throughput"]

STATS_NAME = "stats.jsonl"


def make_run_dir(runs_dir: str | Path, name: str) -> Path:
    """runs/00003-name: the next free number; never reuses or overwrites a folder."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "run"
    root = Path(runs_dir).expanduser()  # --set train.runs_dir=~/... reaches here unexpanded by the shell
    root.mkdir(parents=True, exist_ok=True)
    while True:
        nums = [int(p.name[:5]) for p in root.iterdir() if p.is_dir() and p.name[:5].isdigit()]
        run = root / f"{(max(nums) + 1 if nums else 0):05d}-{name}"
        try:
            run.mkdir()
            return run
        except FileExistsError:  # another process took it: try the next number
            continue


def cut_back(run_dir: str | Path, step: int, epoch: int) -> None:
    """Remove what a run wrote after its checkpoint at ``step`` (in epoch ``epoch``, not finished yet), before
    resuming from it: stats.jsonl lines of later steps (and a line cut short by the kill), sample grids of
    epoch ``epoch`` on, and temporary files of interrupted writes. TensorBoard events: ``RunLog(purge_step=)``."""
    run_dir = Path(run_dir)
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
        remove_stale_temps(folder)
    for grid in (run_dir / "samples").glob("epoch-*.png"):
        num = grid.stem.removeprefix("epoch-")
        if num.isdigit() and int(num) >= epoch:
            grid.unlink()
    path = run_dir / STATS_NAME
    if not path.is_file():
        return
    lines = path.read_text(errors="replace").splitlines(keepends=True)
    kept = [line for line in lines if _logged_by_step(line, step)]
    if len(kept) != len(lines):
        atomic_write_bytes(path, "".join(kept).encode())


def _logged_by_step(line: str, step: int) -> bool:
    """Whether a stats.jsonl line is whole and was written at or before ``step``."""
    if not line.endswith("\n"):
        return False  # the kill came mid-line
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return False
    s = rec.get("step") if isinstance(rec, dict) else None
    return not isinstance(s, int) or s <= step


class RunLog:
    """stats.jsonl (appended and flushed line by line: a crash keeps everything written so far) and,
    when the optional tensorboard package is installed, TensorBoard scalars under ``tensorboard/``.

    ``purge_step`` (resuming from a checkpoint at step ``purge_step - 1``): TensorBoard readers drop the
    events of this step and later that earlier processes of the run wrote, so no step shows twice."""

    def __init__(self, run_dir: Path, purge_step: int | None = None):
        self.path = Path(run_dir) / STATS_NAME
        self.tb = _tensorboard(Path(run_dir), purge_step)

    def write(self, rec: dict[str, Any]) -> None:
        """One stats.jsonl line: ``rec`` with the wall-clock time first."""
        rec = {"time": round(time.time(), 3), **rec}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def scalars(self, step: int, losses: dict[str, float], img_per_s: float) -> None:
        """The loss terms and the speed, to TensorBoard."""
        if self.tb is None:
            return
        for k, v in losses.items():
            self.tb.add_scalar(f"loss/{k}", v, step)
        self.tb.add_scalar("speed/img_per_s", img_per_s, step)

    def flush(self) -> None:
        """Put the TensorBoard events written so far on disk (before a checkpoint: a kill then loses none of
        the steps the checkpoint holds)."""
        if self.tb is not None:
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def _tensorboard(run_dir: Path, purge_step: int | None = None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    # purge_step writes a session-start event at that step: readers then discard the events of earlier
    # files at or after it (TensorBoard's own way to continue a run from a checkpoint)
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=purge_step)


class Throughput:
    """Images per second over the window since the last ``rate()`` call."""

    def __init__(self) -> None:
        self.t, self.images = time.perf_counter(), 0

    def add(self, images: int) -> None:
        self.images += images

    def rate(self) -> float:
        now = time.perf_counter()
        ips = self.images / max(now - self.t, 1e-9)
        self.t, self.images = now, 0
        return ips
