"""Streamed per-token moments of one layer in float64 (memory independent of N).

Each token keeps Σ y and, for the tokens whose covariance is wanted, Σ y yᵀ of its representation
y = x − s, where s is a fixed per-(token, dim) shift (the mean of the first batch). Shifting removes
the large common offsets of residual-stream activations before any product is formed, so the
covariance Σyyᵀ/n − ȳȳᵀ does not cancel catastrophically; it is exact for any shift.

Optionally the same shifted batch also feeds the token Gram Σ_{n,d} y_a y_b of all token pairs,
from which :func:`~infovit.geometry.correlation.flat_pearson` recovers the inter-token correlation.
Both share one float64 copy of the batch: the conversion costs as much as either product.
"""

from __future__ import annotations

import torch

from infovit.geometry.correlation import flat_pearson

__all__ = ["LayerMoments", "pooled_covariance"]


class LayerMoments:
    """Moments of one layer's tokens [B, T, D] for one pass over the data.

    Args:
        num_tokens, dim: the layer's T and D.
        cov_tokens: token range ``(start, stop)`` whose D × D second moments are kept (default
            all; ``(0, 0)`` for none).
        gram: also keep the [T, T] token Gram for the flattened Pearson correlation.
        chunk_tokens: tokens per batched matmul / float64 copy, bounding scratch memory.
    """

    def __init__(
        self,
        num_tokens: int,
        dim: int,
        cov_tokens: tuple[int, int] | None = None,
        gram: bool = False,
        device: torch.device | str = "cpu",
        chunk_tokens: int | None = None,
    ) -> None:
        start, stop = cov_tokens if cov_tokens is not None else (0, num_tokens)
        if not 0 <= start <= stop <= num_tokens:
            raise ValueError(f"cov_tokens {cov_tokens} outside 0..{num_tokens}")
        self.num_tokens, self.dim = num_tokens, dim
        self.start, self.stop = start, stop
        # Tokens whose shift and Σy are kept: all of them for the Gram, else the covariance range.
        self.lo, self.hi = (0, num_tokens) if gram else (start, stop)
        self.device = torch.device(device)
        self.chunk_tokens = max(1, chunk_tokens or num_tokens)
        self.count = 0
        f64 = {"dtype": torch.float64, "device": self.device}
        self.shift = torch.zeros(self.hi - self.lo, dim, **f64)  # [t, D]
        self.sum = torch.zeros(self.hi - self.lo, dim, **f64)  # [t, D] Σ y
        self.outer = torch.zeros(stop - start, dim, dim, **f64)  # [t_cov, D, D] Σ y yᵀ
        self.gram = torch.zeros(num_tokens, num_tokens, **f64) if gram else None  # [T, T]

    @staticmethod
    def nbytes_for(num_tokens: int, dim: int, cov_tokens: int, gram: bool) -> int:
        """Bytes of the accumulators for ``cov_tokens`` covariances (+ the Gram if asked)."""
        kept = num_tokens if gram else cov_tokens
        return 8 * (2 * kept * dim + cov_tokens * dim * dim + (num_tokens**2 if gram else 0))

    @property
    def nbytes(self) -> int:
        tensors = [self.shift, self.sum, self.outer]
        if self.gram is not None:
            tensors.append(self.gram)
        return sum(t.numel() * t.element_size() for t in tensors)

    @property
    def num_cov_tokens(self) -> int:
        return self.stop - self.start

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Add a batch of all the layer's tokens [B, T, D] (one row per image)."""
        if x.ndim != 3 or x.shape[1:] != (self.num_tokens, self.dim):
            raise ValueError(f"expected [B, {self.num_tokens}, {self.dim}], got {list(x.shape)}")
        if x.shape[0] == 0:
            return
        if self.gram is not None:
            y = self._shifted(x, 0, self.num_tokens)  # [T, B, D]
            flat = y.view(self.num_tokens, -1)  # [T, B·D]
            self.gram.addmm_(flat, flat.T)
            for a in range(self.start, self.stop, self.chunk_tokens):
                b = min(a + self.chunk_tokens, self.stop)
                self._outer(y[a:b], a)
        else:
            for a in range(self.start, self.stop, self.chunk_tokens):
                b = min(a + self.chunk_tokens, self.stop)
                self._outer(self._shifted(x, a, b), a)
        self.count += x.shape[0]

    def _shifted(self, x: torch.Tensor, a: int, b: int) -> torch.Tensor:
        """Float64 copy of tokens a:b, shifted, token-major [t, B, D]; also adds to Σy."""
        y = torch.empty(b - a, x.shape[0], self.dim, dtype=torch.float64, device=self.device)
        y.copy_(x[:, a:b].permute(1, 0, 2))
        rows = slice(a - self.lo, b - self.lo)
        if self.count == 0:
            self.shift[rows] = y.mean(dim=1)
        y -= self.shift[rows].unsqueeze(1)
        self.sum[rows] += y.sum(dim=1)
        return y

    def _outer(self, y: torch.Tensor, a: int) -> None:
        rows = slice(a - self.start, a - self.start + y.shape[0])
        self.outer[rows].baddbmm_(y.transpose(1, 2), y)  # += [t, D, B] @ [t, B, D]

    def mean(self) -> torch.Tensor:
        """Per-token mean [t_cov, D] (float64) of the covariance tokens."""
        self._need(1)
        rows = slice(self.start - self.lo, self.stop - self.lo)
        return self.shift[rows] + self.sum[rows] / self.count

    def covariance(self, a: int = 0, b: int | None = None) -> torch.Tensor:
        """Unbiased covariance [b − a, D, D] (float64) of covariance tokens a:b (range-local)."""
        self._need(2)
        b = self.num_cov_tokens if b is None else b
        ybar = self.sum[self.start - self.lo + a : self.start - self.lo + b] / self.count  # [t, D]
        cov = self.outer[a:b] - self.count * ybar.unsqueeze(2) * ybar.unsqueeze(1)
        return cov / (self.count - 1)

    def correlation(self) -> torch.Tensor:
        """Pearson correlation [T, T] of the flattened (N × D) token matrices."""
        if self.gram is None:
            raise ValueError("constructed without gram=True")
        self._need(1)
        return flat_pearson(self.gram, self.sum, self.shift, self.count)

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
