"""AdamW with the paper's parameter groups and a per-iteration warm-up + cosine schedule."""

from __future__ import annotations

import math

import torch
from timm.optim import param_groups_weight_decay
from torch import nn

__all__ = ["build_optimizer", "lr_at"]

_FUSED_DEVICES = {"cpu", "cuda"}  # where torch.optim.AdamW(fused=True) has a kernel


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """No decay for biases, 1-D parameters and ``model.no_weight_decay()`` (all bottleneck
    parameters and prefix tokens for InfoViT); decay on everything else incl. embeddings.

    Build it after moving the model to its device: on CPU and CUDA torch's fused AdamW kernel
    updates all parameters in one pass (on a CPU about 3× faster than the per-tensor loop
    that is torch's CPU default; the same update up to float rounding).
    """
    # a module's attributes are typed Tensor | Module by torch, so mypy sees a Tensor call
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()  # type: ignore[operator]
    groups = param_groups_weight_decay(model, weight_decay, no_weight_decay_list=skip)
    fused = all(
        p.device.type in _FUSED_DEVICES and p.dtype.is_floating_point for p in model.parameters()
    )
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), fused=fused or None)


def lr_at(step: int, total_steps: int, warmup_steps: int, lr: float, min_lr: float) -> float:
    """Linear warm-up from ``min_lr`` to ``lr``, then cosine decay to ``min_lr``; stateless, so a
    resumed run reproduces the schedule from the step count alone."""
    if warmup_steps > 0 and step < warmup_steps:
        return min_lr + (lr - min_lr) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))
