"""Training data order and augmentation as pure functions of (seed, epoch, position).

A run resumed mid-epoch must see the same images, augmented the same way, as the run that was
never stopped, whatever the number of DataLoader workers and whether they persist. Workers seed
their RNGs from a base seed drawn when an epoch's iterator starts, and samples reach workers
round-robin, so a worker's stream depends on both; nothing of it is in a checkpoint. Instead:

- :class:`EpochSampler` draws the epoch's permutation from (seed, epoch) and yields, for each
  position p of the epoch, the pair (index, sample seed), the seed a hash of (seed, epoch, p);
  ``set_epoch(epoch, start)`` starts at position ``start``, which is how a resume skips what
  was already trained on.
- :class:`SeededSamples` seeds torch's CPU generator, Python's ``random`` and NumPy's global
  (legacy) RNG, which torchvision's and timm's transforms draw from (hence the NPY002
  exemptions), with the sample seed before transforming that sample. In the main process
  (``workers = 0``) it restores the three RNGs afterwards, so the model's own noise stream is
  untouched by data loading.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

__all__ = ["EpochSampler", "RankSlices", "SeededSamples", "sample_seed"]

_MASK64 = (1 << 64) - 1


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for sample ``position`` of ``epoch``: splitmix64 of the three numbers, so
    that neighbouring positions and epochs get unrelated streams."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xD1B54A32D192ED03 + position) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1


class EpochSampler(Sampler[tuple[int, int]]):
    """The permutation of epoch ``e`` from (seed, e), yielding (index, sample seed) pairs."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch, self.start = n, seed, 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Iterate epoch ``epoch`` from position ``start`` (0: the whole epoch)."""
        self.epoch, self.start = epoch, start

    def order(self, epoch: int) -> torch.Tensor:
        """The full permutation of ``epoch`` (positions 0 … n-1)."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.order(self.epoch)[self.start :].tolist()
        for position, index in enumerate(order, self.start):
            yield index, sample_seed(self.seed, self.epoch, position)

    def __len__(self) -> int:
        return self.n - self.start


class RankSlices(Sampler[tuple[int, int]]):
    """Rank ``rank``'s slice of every global batch of ``sampler`` (distributed training).

    Global batch j holds positions [j·B, (j+1)·B) of the epoch; rank r takes the b = B / world
    positions starting at j·B + r·b. The ranks together see exactly the single-process run's
    batches, in its order, with the same per-sample seeds.
    """

    def __init__(self, sampler: EpochSampler, global_batch: int, rank: int, world: int) -> None:
        self.sampler, self.global_batch, self.rank = sampler, global_batch, rank
        self.local_batch = global_batch // world

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.sampler.set_epoch(epoch, start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        items = list(self.sampler)
        lo = self.rank * self.local_batch
        for j in range(len(items) // self.global_batch):
            batch = items[j * self.global_batch : (j + 1) * self.global_batch]
            yield from batch[lo : lo + self.local_batch]

    def __len__(self) -> int:
        return len(self.sampler) // self.global_batch * self.local_batch


class SeededSamples(Dataset):
    """Wraps a data set so that item ``(index, seed)`` is transformed under RNGs seeded with
    ``seed`` (module docstring); plain integer indices pass through unseeded."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        # A data set without a transform (the synthetic one, generated in memory) draws no
        # random numbers: its samples pass through, without the per-sample RNG save and restore.
        self.seeded = getattr(dataset, "transform", None) is not None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:  # .classes, .config, ... of the wrapped set
        if name == "dataset" or name.startswith("__"):  # not __getitems__: it would bypass
            raise AttributeError(name)  # the per-sample seeding
        return getattr(self.dataset, name)

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        if isinstance(key, int):
            return self.dataset[key]
        index, seed = key
        if not self.seeded:
            return self.dataset[index]
        in_main = get_worker_info() is None
        if in_main:
            saved = torch.get_rng_state(), random.getstate(), np.random.get_state()  # noqa: NPY002
        try:
            torch.default_generator.manual_seed(seed)  # CPU only: CUDA streams stay as they are
            random.seed(seed)
            np.random.seed([seed & 0xFFFFFFFF, seed >> 32])  # noqa: NPY002
            return self.dataset[index]
        finally:
            if in_main:
                torch.set_rng_state(saved[0])
                random.setstate(saved[1])
                np.random.set_state(saved[2])  # noqa: NPY002
