"""Run folders and what the loop writes into them as it goes: ``runs/00003-name/`` with
``config.yaml``, ``stats.jsonl`` (one JSON line per logged step and per epoch) and TensorBoard events."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

__all__ = ["make_run_dir", "RunLog", "Throughput"]


def make_run_dir(runs_dir: str | Path, name: str) -> Path:
    """runs/00003-name: the next free number; never reuses or overwrites a folder."""
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


class RunLog:
    """stats.jsonl (appended and flushed line by line: a crash keeps everything written so far) and,
    when the optional tensorboard package is installed, TensorBoard scalars under ``tensorboard/``."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "stats.jsonl"
        self.tb = _tensorboard(Path(run_dir))

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

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


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
