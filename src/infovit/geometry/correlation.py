"""Inter-token Pearson correlation of flattened (N × D) token matrices, streamed.

The paper correlates, for every pair of tokens a, b at one layer, the flattened matrices
vec(X_a) and vec(X_b) of length N·D: one scalar mean per token over all N·D entries, then Pearson.
Per-dimension mean structure is therefore part of the signal, as in ``np.corrcoef(Xa.ravel(),
Xb.ravel())``. Streaming needs only the cross moments Σ_{n,d} x_a x_b: per batch a [T, T] Gram of
the [T, B·D] activations, plus per-token, per-dimension sums.
"""

from __future__ import annotations

import torch

__all__ = ["FlatCorrelation", "mean_lower_triangle"]


class FlatCorrelation:
    """Accumulates what Pearson(vec X_a, vec X_b) needs for all token pairs of one layer.

    Products are formed on y = x − s with a per-token, per-dimension shift s (first batch mean) in
    float64; the exact Σ x_a x_b is recovered at the end from Σ y and s.
    """

    def __init__(self, num_tokens: int, dim: int, device: torch.device | str = "cpu") -> None:
        self.num_tokens = num_tokens
        self.dim = dim
        self.device = torch.device(device)
        self.count = 0
        f64 = {"dtype": torch.float64, "device": self.device}
        self.shift = torch.zeros(num_tokens, dim, **f64)  # [T, D]
        self.sum = torch.zeros(num_tokens, dim, **f64)  # [T, D] Σ_n y
        self.gram = torch.zeros(num_tokens, num_tokens, **f64)  # [T, T] Σ_{n,d} y_a y_b

    @staticmethod
    def nbytes_for(num_tokens: int, dim: int) -> int:
        return 8 * (num_tokens * num_tokens + 2 * num_tokens * dim)

    @property
    def nbytes(self) -> int:
        return self.nbytes_for(self.num_tokens, self.dim)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Add a batch [B, T, D]."""
        if x.ndim != 3 or x.shape[1:] != (self.num_tokens, self.dim):
            raise ValueError(f"expected [B, {self.num_tokens}, {self.dim}], got {list(x.shape)}")
        if x.shape[0] == 0:
            return
        z = torch.empty(
            self.num_tokens, x.shape[0], self.dim, dtype=torch.float64, device=self.device
        )  # [T, B, D]
        z.copy_(x.permute(1, 0, 2))
        if self.count == 0:
            self.shift.copy_(z.mean(dim=1))
        z -= self.shift.unsqueeze(1)
        self.sum += z.sum(dim=1)
        zf = z.view(self.num_tokens, -1)  # [T, B·D]
        self.gram.addmm_(zf, zf.T)
        self.count += x.shape[0]

    def correlation(self) -> torch.Tensor:
        """Pearson correlation [T, T] (float64); NaN for a token whose entries are all equal."""
        if self.count < 1:
            raise ValueError("no samples accumulated")
        n, m = self.count, self.count * self.dim  # images, entries per flattened matrix
        # c_a: mean of vec X_a; u_a = s_a − c_a, so x_a − c_a = y_a + u_a.
        c = (self.sum.sum(dim=1) + n * self.shift.sum(dim=1)) / m  # [T]
        u = self.shift - c.unsqueeze(1)  # [T, D]
        cross = self.sum @ u.T  # [T, T] Σ_d Σy_a[d] u_b[d]
        q = self.gram + cross + cross.T + n * (u @ u.T)  # centred co-moments
        var = torch.diagonal(q).clone()
        std = torch.sqrt(var.clamp_min(0.0))
        denom = std.unsqueeze(1) * std.unsqueeze(0)
        corr = q / torch.where(denom > 0, denom, torch.ones_like(denom))
        corr = corr.clamp(-1.0, 1.0)
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
