"""Inter-token Pearson correlation of flattened (N × D) token matrices.

The paper correlates, for every pair of tokens a, b at one layer, the flattened matrices
vec(X_a) and vec(X_b) of length N·D: one scalar mean per token over all N·D entries, then Pearson.
Per-dimension mean structure is therefore part of the signal, exactly as in
``np.corrcoef(Xa.ravel(), Xb.ravel())``. Streaming needs only the cross moments Σ_{n,d} x_a x_b —
per batch a [T, T] Gram of the [T, B·D] activations — and per-token, per-dimension sums
(accumulated by :class:`~infovit.geometry.moments.LayerMoments`).
"""

from __future__ import annotations

import torch

__all__ = ["flat_pearson", "mean_lower_triangle"]


def flat_pearson(
    gram: torch.Tensor, sums: torch.Tensor, shift: torch.Tensor, count: int
) -> torch.Tensor:
    """Pearson(vec X_a, vec X_b) for all token pairs from shifted streamed moments.

    ``gram`` [T, T] = Σ_{n,d} y_a y_b and ``sums`` [T, D] = Σ_n y over ``count`` images, where
    y = x − ``shift`` [T, D]. NaN for a token whose N·D entries are all equal.
    """
    n, m = count, count * shift.shape[1]  # images, entries per flattened matrix
    # c_a: mean of vec X_a; u_a = s_a − c_a, so x_a − c_a = y_a + u_a.
    c = (sums.sum(dim=1) + n * shift.sum(dim=1)) / m  # [T]
    u = shift - c.unsqueeze(1)  # [T, D]
    cross = sums @ u.T  # [T, T]: Σ_d Σy_a[d] u_b[d]
    q = gram + cross + cross.T + n * (u @ u.T)  # centred co-moments Σ (x_a − c_a)(x_b − c_b)
    std = torch.sqrt(torch.diagonal(q).clamp_min(0.0))  # [T]
    denom = std.unsqueeze(1) * std.unsqueeze(0)
    corr = (q / torch.where(denom > 0, denom, torch.ones_like(denom))).clamp(-1.0, 1.0)
    bad = (std <= 0).unsqueeze(1) | (std <= 0).unsqueeze(0)
    return torch.where(bad, torch.full_like(corr, float("nan")), corr)


def mean_lower_triangle(corr: torch.Tensor, tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the strictly lower triangle of [..., T, T] correlation matrices, NaN-aware.

    ``tokens`` (bool [T]) restricts the mean to pairs of selected tokens. This is the paper's
    per-layer "expected correlation between any pair of tokens" (Fig. 2).
    """
    t = corr.shape[-1]
    keep = torch.tril(torch.ones(t, t, dtype=torch.bool, device=corr.device), diagonal=-1)
    if tokens is not None:
        keep = keep & tokens.unsqueeze(0) & tokens.unsqueeze(1)
    keep = keep & ~torch.isnan(corr)
    vals = torch.where(keep, corr, torch.zeros_like(corr))
    n = keep.sum(dim=(-1, -2))
    mean = vals.sum(dim=(-1, -2)) / n.clamp_min(1)
    return torch.where(n > 0, mean, torch.full_like(mean, float("nan")))
