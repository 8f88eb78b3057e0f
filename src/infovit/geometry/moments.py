"""Streamed per-token first and second moments in float64 (memory independent of N).

Each token keeps Σ y and Σ y yᵀ of its representation y = x − s, where s is a fixed per-token
shift (the mean of the first batch). Shifting removes the large common offsets of residual-stream
activations before any products are formed, so the covariance Σ yyᵀ/n − ȳȳᵀ does not cancel
catastrophically; it is exact in exact arithmetic for any shift.
"""

from __future__ import annotations

import torch

__all__ = ["TokenMoments", "pooled_covariance"]


class TokenMoments:
    """Per-token covariance accumulator for ``num_tokens`` tokens of width ``dim``.

    ``update`` takes a batch [B, T, D] and adds Σ_b y_b y_bᵀ per token with one batched float64
    matmul (``baddbmm`` on [T, D, B] × [T, B, D]), in token sub-chunks of ``chunk_tokens`` so the
    float64 copy of the batch stays small.
    """

    def __init__(
        self,
        num_tokens: int,
        dim: int,
        device: torch.device | str = "cpu",
        chunk_tokens: int | None = None,
    ) -> None:
        self.num_tokens = num_tokens
        self.dim = dim
        self.device = torch.device(device)
        self.chunk_tokens = max(1, chunk_tokens or num_tokens)
        self.count = 0
        f64 = {"dtype": torch.float64, "device": self.device}
        self.shift = torch.zeros(num_tokens, dim, **f64)  # [T, D]
        self.sum = torch.zeros(num_tokens, dim, **f64)  # [T, D] Σ y
        self.outer = torch.zeros(num_tokens, dim, dim, **f64)  # [T, D, D] Σ y yᵀ

    @staticmethod
    def nbytes_for(num_tokens: int, dim: int) -> int:
        """Bytes held by the accumulators of ``num_tokens`` tokens of width ``dim``."""
        return 8 * num_tokens * (dim * dim + 2 * dim)

    @property
    def nbytes(self) -> int:
        return self.nbytes_for(self.num_tokens, self.dim)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Add a batch of representations [B, T, D] (one row per image)."""
        if x.ndim != 3 or x.shape[1:] != (self.num_tokens, self.dim):
            raise ValueError(f"expected [B, {self.num_tokens}, {self.dim}], got {list(x.shape)}")
        if x.shape[0] == 0:
            return
        first = self.count == 0
        for start in range(0, self.num_tokens, self.chunk_tokens):
            stop = min(start + self.chunk_tokens, self.num_tokens)
            yt = torch.empty(
                stop - start, x.shape[0], self.dim, dtype=torch.float64, device=self.device
            )  # [t, B, D]
            yt.copy_(x[:, start:stop].permute(1, 0, 2))
            if first:
                self.shift[start:stop] = yt.mean(dim=1)
            yt -= self.shift[start:stop].unsqueeze(1)
            self.sum[start:stop] += yt.sum(dim=1)
            self.outer[start:stop].baddbmm_(yt.transpose(1, 2), yt)  # += [t, D, B] @ [t, B, D]
        self.count += x.shape[0]

    def mean(self) -> torch.Tensor:
        """Per-token mean [T, D] (float64)."""
        self._need(1)
        return self.shift + self.sum / self.count

    def covariance(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Unbiased per-token covariance [t, D, D] (float64) for tokens start:stop."""
        self._need(2)
        stop = self.num_tokens if stop is None else stop
        ybar = self.sum[start:stop] / self.count  # [t, D]
        cov = self.outer[start:stop] - self.count * ybar.unsqueeze(2) * ybar.unsqueeze(1)
        return cov / (self.count - 1)

    def _need(self, n: int) -> None:
        if self.count < n:
            raise ValueError(f"need at least {n} samples, have {self.count}")


def pooled_covariance(means: torch.Tensor, covs_sum: torch.Tensor, count: int) -> torch.Tensor:
    """Covariance of all tokens stacked as samples ([N·T, D]) from per-token statistics.

    ``means`` [T, D] are the per-token means, ``covs_sum`` [D, D] is Σ_t of the per-token
    unbiased covariances, each over ``count`` images. Law of total covariance: within-token
    scatter plus between-token scatter of the means, divided by N·T − 1.
    """
    t = means.shape[0]
    centred = means - means.mean(dim=0, keepdim=True)  # [T, D]
    scatter = (count - 1) * covs_sum + count * centred.T @ centred  # [D, D]
    return scatter / (count * t - 1)
