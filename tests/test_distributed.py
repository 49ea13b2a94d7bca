"""Two-process DistributedDataParallel training on CPU (gloo), launched the way users launch it: torchrun."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO


def _torchrun(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "autopainter", "train", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_ddp_two_processes_train_checkpoint_and_resume(pairs_dir, tmp_path):
    runs = tmp_path / "runs"
    common = ["--set", f"train.runs_dir={runs}", "--set", "train.log_every=1", "-q"]
    p = _torchrun("--config", str(REPO / "configs" / "tiny.yaml"), "--data", str(pairs_dir),
                  "--set", "train.epochs=1", *common, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    run_dirs = list(runs.iterdir())
    assert len(run_dirs) == 1  # rank 0 alone made the run folder
    run = run_dirs[0]
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    # 20 pairs, 2 ranks x batch 4: 2 steps per epoch, 16 images seen
    assert state["step"] == 2 and state["seen"] == 16
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["G"])  # no wrapper prefixes
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    sums = [r["rank_weight_checksums"] for r in stats if "rank_weight_checksums" in r]
    assert len(sums) == 1 and len(sums[0]) == 2 and sums[0][0] == sums[0][1]  # ranks agree

    p = _torchrun("--resume", str(run), "--set", "train.epochs=2", *common, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert state["step"] == 4 and state["epoch"] == 2
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    sums = [r["rank_weight_checksums"] for r in stats if "rank_weight_checksums" in r]
    assert len(sums) == 2 and sums[1][0] == sums[1][1]
