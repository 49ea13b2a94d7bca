"""torchrun / DistributedDataParallel plumbing, a no-op in a single process.

``torchrun --nproc_per_node=N -m autopainter.cli train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; the
same ``train`` then runs one process per device with gloo (CPU) or NCCL (CUDA).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import torch
import torch.distributed as td
from torch import nn


def is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return td.get_rank() if td.is_available() and td.is_initialized() else 0


def world_size() -> int:
    return td.get_world_size() if td.is_available() and td.is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init(device_type: str = "auto") -> None:
    """Join the process group torchrun describes (nothing to do for a single process). NCCL when the run
    trains on CUDA, gloo on CPUs."""
    if not is_distributed() or td.is_initialized():
        return
    use_cuda = torch.cuda.is_available() if device_type == "auto" else device_type.startswith("cuda")
    backend = "nccl" if use_cuda else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    td.init_process_group(backend=backend)


def shutdown() -> None:
    """Leave the process group (call it once all ranks are done talking). Its threads may outlive this
    call; ``autopainter train`` then ends torchrun workers with ``exit_process`` (see there)."""
    if td.is_available() and td.is_initialized():
        td.destroy_process_group()


def exit_process(code: int) -> None:
    """End a torchrun worker now, with ``code``, once its output is flushed (``os._exit``).

    The cause of the rare abort at the end of a distributed run ("terminate called without an active
    exception", SIGABRT, about 1 run in 3 of ``tests/test_distributed.py``): once a
    DistributedDataParallel has been built on a gloo group, its C++ side keeps the group alive after
    ``destroy_process_group`` (and after the wrapper is collected), so gloo's threads (``gloo_tcp_loop``
    and one ``pt_gloo_runloop`` per device) still run when the interpreter finalizes; they are torn down
    there, racing the interpreter's own teardown (pytorch/pytorch#179291 describes the same race). Every
    file the run writes is closed and atomically in place by then, so the worker leaves without
    finalizing, and those threads die with the process instead."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def barrier() -> None:
    if td.is_available() and td.is_initialized():
        td.barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's value on every rank."""
    if not (td.is_available() and td.is_initialized()):
        return obj
    box = [obj]
    td.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: bool) -> bool:
    """True on every rank if it is True on any (so all ranks stop at the same step)."""
    if not (td.is_available() and td.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device="cuda" if td.get_backend() == "nccl" else "cpu")
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item() > 0)


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's value, in rank order, on every rank."""
    if not (td.is_available() and td.is_initialized()):
        return [obj]
    out: list[Any] = [None] * td.get_world_size()
    td.all_gather_object(out, obj)
    return out


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP-wrap a model when distributed; batch norm becomes SyncBatchNorm on CUDA (it needs no sync
    elsewhere: group and instance norm are per-sample)."""
    if not (td.is_available() and td.is_initialized()):
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    return nn.parallel.DistributedDataParallel(model)


def weights_checksum(model: nn.Module) -> str:
    """A digest of a plain module's parameters (not the norm statistics, which each rank keeps from its
    own batches): equal on every rank when DDP kept them in step."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.named_parameters()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
