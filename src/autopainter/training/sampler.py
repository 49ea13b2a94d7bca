"""The epoch batch sampler: which dataset keys each rank trains on, batch by batch.

The order comes from (seed, epoch) alone, so a resumed run, mid-epoch or not, repeats the very same
batches, and ranks under DDP take interleaved, disjoint slices of it.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

__all__ = ["EpochBatchSampler"]


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
        return max(0, self.batches - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        need = self.batches * self.batch_size * self.world
        perm = (perm * math.ceil(need / self.n))[:need]  # tiny sets: wrap around
        mine = perm[self.rank :: self.world]
        base = self.epoch * self.n
        for b in range(self.start, self.batches):
            yield [base + i for i in mine[b * self.batch_size : (b + 1) * self.batch_size]]
