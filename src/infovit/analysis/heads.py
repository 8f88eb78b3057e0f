"""Head firing (paper Fig. 3): which heads write information, how much, and in how many dims.

A head is **active** when its per-patch KL exceeds ``threshold`` (1e-2 nats) for at least one
validation patch. Survival functions P(KL ≥ x) are evaluated on a fixed log grid so tables of
different models line up. Latent dimension k of a head is active when its mean KL over patches
exceeds ``dim_threshold``: trained heads often use one or two dims and collapse the rest.
"""

from __future__ import annotations

import numpy as np

from infovit.analysis.extract import Extraction
from infovit.analysis.tables import Row

__all__ = ["active_heads", "head_table", "kl_grid", "survival_table"]


def kl_grid(lo: float = 1e-4, hi: float = 1e2, n: int = 61) -> np.ndarray:
    """Log-spaced KL values (nats) at which survival functions are tabulated."""
    return np.logspace(np.log10(lo), np.log10(hi), n)


def active_heads(kl_head: np.ndarray, threshold: float = 1e-2) -> np.ndarray:
    """[N, L, H, P] → [L, H] bool: the head exceeds ``threshold`` on some patch."""
    if kl_head.size == 0:
        return np.zeros(kl_head.shape[1:3], dtype=bool)
    return kl_head.astype(np.float32).max(axis=(0, 3)) > threshold


def survival_table(ext: Extraction, grid: np.ndarray | None = None) -> list[Row]:
    """Long table: model, block, head, kl, survival P(KL ≥ kl) over all validation patches."""
    grid = kl_grid() if grid is None else grid
    rows: list[Row] = []
    _, L, H, _ = ext.kl_head.shape
    for b in range(L):
        for h in range(H):
            values = np.sort(ext.kl_head[:, b, h].astype(np.float32).ravel())  # [N·P]
            below = np.searchsorted(values, grid, side="left")
            surv = 1.0 - below / len(values)
            rows.extend(
                {"model": ext.name, "block": b, "head": h, "kl": float(x), "survival": float(s)}
                for x, s in zip(grid, surv, strict=True)
            )
    return rows


def head_table(
    ext: Extraction,
    threshold: float = 1e-2,
    dim_threshold: float = 1e-2,
    low: float = 0.5,
) -> list[Row]:
    """One row per head: active flag, max/mean KL, share of patches below ``low`` nats, dims."""
    _, L, H, _ = ext.kl_head.shape
    active = active_heads(ext.kl_head, threshold)
    rows = []
    for b in range(L):
        for h in range(H):
            kl = ext.kl_head[:, b, h].astype(np.float32)  # [N, P]
            dims = ext.kl_dim[b, h] if ext.kl_dim.size else np.zeros(0)
            rows.append(
                {
                    "model": ext.name,
                    "block": b,
                    "head": h,
                    "active": bool(active[b, h]),
                    "kl_max": float(kl.max()),
                    "kl_mean": float(kl.mean()),
                    "share_below": float((kl < low).mean()),
                    "active_dims": int((dims > dim_threshold).sum()),
                    "dominant_dim": int(dims.argmax()) if dims.size else -1,
                    "threshold": threshold,
                }
            )
    return rows
