"""The training objective ``CE + β · KL`` with an explicit β convention and β schedules."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from infovit.training.config import BetaConfig

__all__ = ["SQRT_KL_EPS", "LossParts", "beta_at", "information_loss", "topk_hits"]


def beta_at(cfg: BetaConfig, epoch: float) -> float:
    """β after ``epoch`` (fractional) epochs: constant, linear ramp from 0, or log ramp."""
    if cfg.value is None:
        raise TypeError("beta_at needs a known β; beta.value is null (an imported run)")
    if cfg.schedule == "constant" or cfg.warmup_epochs <= 0 or epoch >= cfg.warmup_epochs:
        return float(cfg.value)
    frac = max(epoch, 0.0) / cfg.warmup_epochs
    if cfg.schedule == "linear":
        return float(cfg.value) * frac
    if cfg.value == 0:
        return 0.0
    lo, hi = math.log(cfg.start), math.log(cfg.value)  # log ramp: start → value
    return math.exp(lo + (hi - lo) * frac)


@dataclass
class LossParts:
    loss: Tensor  # scalar to back-propagate
    ce: Tensor  # scalar, mean cross-entropy
    kl_image: Tensor  # scalar, mean nats per image (summed over blocks, heads, tokens)


SQRT_KL_EPS = 1e-8  # inside the square root, as in the paper's code (keeps its gradient finite)


def information_loss(
    logits: Tensor,
    target: Tensor,
    kl: Tensor | None,
    beta: float,
    convention: str,
    objective: str | None = "kl",
) -> LossParts:
    """``CE + β·KL`` where ``kl`` is [B, L, H, T] nats (None: a model without bottlenecks).

    ``mean``: β multiplies the mean over batch, blocks × heads, and tokens (paper's code).
    ``sum``: β multiplies the per-image sum over blocks, heads and tokens (paper's eq. 3).
    ``objective="sqrt_kl"`` (mean convention only): β multiplies the mean over batch and
    blocks × heads of √(mean over tokens of max(KL, 0) + ε), the paper's code's ``--sqrt-kl``.
    Concave in each head's KL, it costs less to spend a head's nats in few heads. ``kl_image``
    is always the plain KL in nats per image. An unknown ``objective`` (None, as imported runs
    record it) is only accepted without a KL; with one it raises :class:`ValueError`.
    """
    ce = F.cross_entropy(logits.float(), target)
    if kl is None:
        zero = ce.new_zeros(())
        return LossParts(loss=ce, ce=ce.detach(), kl_image=zero)
    kl_image = kl.sum(dim=(1, 2, 3))  # [B] nats per image
    if objective == "sqrt_kl":
        per_head = kl.float().clamp(min=0.0).mean(dim=-1)  # [B, L, H] mean over tokens
        penalty = torch.sqrt(per_head + SQRT_KL_EPS).mean()
    elif objective != "kl":
        raise ValueError(f"unknown objective {objective!r}")
    elif convention == "mean":
        penalty = kl.mean()
    elif convention == "sum":
        penalty = kl_image.mean()
    else:
        raise ValueError(f"unknown beta convention {convention!r}")
    loss = ce + beta * penalty if beta else ce
    return LossParts(loss=loss, ce=ce.detach(), kl_image=kl_image.mean().detach())


def topk_hits(logits: Tensor, target: Tensor, ks: tuple[int, ...] = (1, 5)) -> Tensor:
    """Number of images whose label is in the top-k logits, for each k (k capped at C), as a
    tensor on the logits' device (no host synchronisation)."""
    top = logits.topk(min(max(ks), logits.shape[-1]), dim=-1).indices  # [B, k]
    hits = top == target[:, None]
    return torch.stack([hits[:, : min(k, top.shape[1])].any(dim=1).sum() for k in ks])
