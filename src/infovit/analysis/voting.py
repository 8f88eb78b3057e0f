"""Patch voting (paper §4, App. C): how many classes the patches vote for, and how loudly.

The image logit is the mean of per-patch logits, so each patch casts a vote. Two summaries:

- **inverse Simpson index** ``1 / Σ_c p_c²`` with p_c the fraction of patches whose top class is
  c: the effective number of classes voted for (1 = unanimous, P = every patch different);
- **logit range** ``max_{i,c} ℓ_{i,c} − min_{i,c} ℓ_{i,c}`` over all patches i and classes c of
  one image: how opinionated the patches are (our reading of the paper's "min→max of the patch
  logits"; it is in logit units, i.e. nats of odds).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from infovit.analysis.tables import Row

__all__ = ["inverse_simpson", "logit_range", "patch_top_classes", "voting_table"]


def patch_top_classes(patch_logits: Tensor) -> Tensor:
    """Top class of every patch: [B, P, C] → [B, P]."""
    return patch_logits.argmax(dim=-1)


def inverse_simpson(top: Tensor, num_classes: int) -> Tensor:
    """Effective number of voted classes per image from top classes [B, P] → [B] (float32)."""
    counts = torch.zeros(top.shape[0], num_classes, device=top.device)  # [B, C]
    counts.scatter_add_(1, top.long(), torch.ones_like(top, dtype=counts.dtype))
    p = counts / top.shape[1]  # [B, C] vote shares
    return 1.0 / p.square().sum(dim=1)


def logit_range(patch_logits: Tensor) -> Tensor:
    """Max minus min over all patches and classes of one image: [B, P, C] → [B] (float32)."""
    flat = patch_logits.float().flatten(1)  # [B, P·C]
    return flat.amax(dim=1) - flat.amin(dim=1)


def voting_table(name: str, simpson: np.ndarray, ranges: np.ndarray) -> list[Row]:
    """One row per model: medians and interquartile ranges of both summaries (Fig. 1c)."""
    if len(simpson) == 0:
        return []
    s25, s50, s75 = np.percentile(simpson, [25, 50, 75])
    r25, r50, r75 = np.percentile(ranges, [25, 50, 75])
    return [
        {
            "model": name,
            "n_images": len(simpson),
            "simpson_median": float(s50),
            "simpson_q25": float(s25),
            "simpson_q75": float(s75),
            "logit_range_median": float(r50),
            "logit_range_q25": float(r25),
            "logit_range_q75": float(r75),
        }
    ]
