"""Data-parallel training over several processes: ``torchrun --nproc_per_node N -m infovit train``.

One process per GPU (NCCL), or per CPU worker (gloo). The run is the single-process run with the
same global batch: every rank reads the same (seed, epoch) permutation and takes its slice of
each global batch (:class:`~infovit.data.sampling.RankSlices`), so ``data.batch_size`` stays the
global batch, gradients are averaged by DistributedDataParallel, and the optimizer steps match
the single-process run up to float rounding (the bottleneck's noise is drawn per rank, so an
``ib`` model's noise is not the single process's, only distributed the same way). Rank 0 alone
writes the run folder; every rank's RNG state goes into its checkpoints, so a resume with the
same number of ranks continues each rank's streams exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from infovit.errors import InfovitError
from infovit.training.device import resolve_device

__all__ = ["Distributed"]


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a distributed run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        """Read torchrun's (or submitit's TorchDistributedEnvironment's) variables."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError as err:
            raise InfovitError(f"RANK / WORLD_SIZE / LOCAL_RANK are not integers: {err}") from err
        return cls(rank, world, local)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device_name: str, batch_size: int) -> torch.device:
        """Join the process group (NCCL on CUDA, gloo on CPU); this rank's device."""
        device = resolve_device(device_name)
        if not self.enabled:
            return device
        if batch_size % self.world:
            raise InfovitError(
                f"data.batch_size {batch_size} is the global batch and must be divisible by the "
                f"{self.world} processes; choose a multiple of {self.world}"
            )
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return device

    def stop(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()

    # -- collectives (no-ops in a single process)
    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks, in place."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any(self, flags: list[bool], device: torch.device) -> list[bool]:
        """Whether any rank has each flag: decisions (stop, checkpoint now) all ranks share."""
        if not self.enabled:
            return flags
        t = torch.tensor([float(f) for f in flags], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(x) for x in t.tolist()]

    def from_main(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out
