"""Streamed per-token moments of one layer in float64 (memory independent of N).

For the tokens whose covariance is wanted each token keeps Σ y, Σ y yᵀ of its representation
y = x − s, where s is a fixed per-(token, dim) shift (the mean of the first batch). Shifting removes
the large common offsets of residual-stream activations before any product is formed, so the
covariance Σyyᵀ/n − ȳȳᵀ does not cancel catastrophically; it is exact for any shift.

Optionally the same shifted batch also feeds the token Gram Σ_{n,d} y_a y_b of all token pairs,
from which :func:`~infovit.geometry.correlation.flat_pearson` recovers the inter-token correlation.
Both share one copy of the batch in a working precision: float64 (exact to ~1e-12), or, with
``work_dtype=torch.float32`` (``compute_geometry(precision="float32")``), float32 GEMMs whose
products collect in a float32 partial sum that is added into the float64 accumulators every
``flush_samples`` images (1024 by default): the rounding of one float32 sum then covers at most
that many images (≈ 1024·2⁻²⁴ relative in the worst case, ~6e-5; ~√1024·2⁻²⁴ ≈ 2e-6 typically),
never the whole data set, and the float64 additions — slow when they convert float32 — happen a
few times per pass instead of once per batch. Shifting also makes a token that never changes (the
class token before the first block) exactly zero-variance, not rounding noise: its shifted rows
are 0.
"""

from __future__ import annotations

from typing import TypedDict

import torch

from infovit.geometry.correlation import flat_pearson

__all__ = ["LayerMoments", "pooled_covariance"]


class _Placement(TypedDict):
    """Keyword arguments placing a new tensor (``torch.zeros(..., **placement)``)."""

    dtype: torch.dtype
    device: torch.device


class LayerMoments:
    """Moments of one layer's tokens [B, T, D] for one pass over the data.

    Args:
        num_tokens, dim: the layer's T and D.
        cov_tokens: token range ``(start, stop)`` whose D × D second moments are kept (default
            all; ``(0, 0)`` for none).
        gram: also keep the [T, T] token Gram for the flattened Pearson correlation.
        chunk_tokens: tokens per batched matmul (and per batch copy without the Gram).
        work_dtype: precision of the per-batch copy and products (float64, or float32 for
            speed; the sums are float64 either way; float64 input always stays float64).
        flush_samples: with float32 products, images per float32 partial sum before it is added
            into the float64 sums (when all covariance tokens fit one chunk; otherwise every
            batch's products are added at once).

    Each batch is copied once into a persistent buffer [t, B, D + 1] (working precision, see the
    module docstring) whose last column is 1, so one ``bmm`` yields Σ yyᵀ, Σ y and n together
    ([D + 1, D + 1] per token, added to the float64 sums) and the Gram of the same buffer carries
    Σ_{n,d} y_a y_b (+ n from the ones).
    """

    def __init__(
        self,
        num_tokens: int,
        dim: int,
        cov_tokens: tuple[int, int] | None = None,
        gram: bool = False,
        device: torch.device | str = "cpu",
        chunk_tokens: int | None = None,
        work_dtype: torch.dtype = torch.float64,
        flush_samples: int = 1024,
    ) -> None:
        start, stop = cov_tokens if cov_tokens is not None else (0, num_tokens)
        if not 0 <= start <= stop <= num_tokens:
            raise ValueError(f"cov_tokens {cov_tokens} outside 0..{num_tokens}")
        self.num_tokens, self.dim = num_tokens, dim
        self.start, self.stop = start, stop
        # Tokens whose shift is kept: all of them for the Gram, else the covariance range.
        self.lo, self.hi = (0, num_tokens) if gram else (start, stop)
        self.device = torch.device(device)
        self.chunk_tokens = max(1, chunk_tokens or num_tokens)
        self.work_dtype = work_dtype
        self.count = 0
        f64: _Placement = {"dtype": torch.float64, "device": self.device}
        self.shift = torch.zeros(self.hi - self.lo, dim, **f64)  # [t, D]
        self.outer = torch.zeros(stop - start, dim + 1, dim + 1, **f64)  # [t_cov, D+1, D+1]
        self.gram = torch.zeros(num_tokens, num_tokens, **f64) if gram else None  # [T, T]
        # Σy of Gram tokens outside the covariance range (inside it, Σy sits in ``outer``).
        self.rest_sum = torch.zeros(num_tokens - (stop - start) if gram else 0, dim, **f64)
        self.flush_samples = max(1, flush_samples)
        self._buf: torch.Tensor | None = None  # [t, B, D+1] working-precision scratch, reused
        # float32 products only: [t, D+1, D+1] one batch's products (several chunks), or the
        # partial sum of all covariance tokens since the last flush (one chunk), and the Gram's.
        self._prod: torch.Tensor | None = None
        self._gram_part: torch.Tensor | None = None
        self._pending = 0  # images in the float32 partial sums, not yet in the float64 ones
        self._consumed = torch.zeros(stop - start, dtype=torch.bool)  # see ``covariance``

    @staticmethod
    def nbytes_for(num_tokens: int, dim: int, cov_tokens: int, gram: bool) -> int:
        """Bytes of the accumulators for ``cov_tokens`` covariances (+ the Gram if asked)."""
        kept = num_tokens if gram else cov_tokens
        rest = num_tokens - cov_tokens if gram else 0
        gram_bytes = num_tokens * num_tokens if gram else 0
        return 8 * (cov_tokens * (dim + 1) ** 2 + (kept + rest) * dim + gram_bytes)

    @staticmethod
    def scratch_bytes_for(tokens: int, dim: int, batch_size: int) -> int:
        """Bytes of the batch buffer for ``tokens`` tokens (float64: an upper bound)."""
        return 8 * tokens * batch_size * (dim + 1)

    @property
    def nbytes(self) -> int:
        tensors = [self.shift, self.outer, self.rest_sum]
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
            y = self._shifted(x, 0, self.num_tokens)  # [T, B, D+1]
            flat = y.view(self.num_tokens, -1)  # [T, B·(D+1)]
            if y.dtype == torch.float64:
                self.gram.addmm_(flat, flat.T)
            else:  # float32 products into the float32 partial Gram (see the module docstring)
                if self._gram_part is None:
                    self._gram_part = torch.zeros_like(self.gram, dtype=y.dtype)
                self._gram_part.addmm_(flat, flat.T)
            for a in range(self.start, self.stop, self.chunk_tokens):
                b = min(a + self.chunk_tokens, self.stop)
                self._outer(y[a:b], a)
            if self.rest_sum.shape[0]:
                rest = torch.cat([y[: self.start, :, : self.dim], y[self.stop :, :, : self.dim]])
                self.rest_sum += rest.sum(dim=1, dtype=torch.float64)
        else:
            for a in range(self.start, self.stop, self.chunk_tokens):
                b = min(a + self.chunk_tokens, self.stop)
                self._outer(self._shifted(x, a, b), a)
        self.count += x.shape[0]
        self._pending += x.shape[0]
        if self._pending >= self.flush_samples:
            self._flush()

    def _shifted(self, x: torch.Tensor, a: int, b: int) -> torch.Tensor:
        """Tokens a:b of the batch, shifted, token-major with a ones column [t, B, D+1], in the
        working precision (see ``work_dtype``)."""
        t, batch = b - a, x.shape[0]
        work = torch.promote_types(x.dtype, self.work_dtype)
        buf = self._buf
        if buf is None or buf.shape[1] != batch or buf.shape[0] < t or buf.dtype != work:
            n_rows = self.num_tokens if self.gram is not None else min(self.chunk_tokens, self.stop)
            buf = torch.ones(max(n_rows, t), batch, self.dim + 1, dtype=work, device=self.device)
            self._buf = buf
        y = buf[:t]
        body = y[:, :, : self.dim]  # [t, B, D] view; the last column stays 1
        body.copy_(x[:, a:b].permute(1, 0, 2))
        rows = slice(a - self.lo, b - self.lo)
        if self.count == 0:
            self.shift[rows] = body.mean(dim=1)  # exact in float64: the same shift every batch
        body -= self.shift[rows].to(work).unsqueeze(1)
        return y

    def _outer(self, y: torch.Tensor, a: int) -> None:
        """Add one batch's augmented products of tokens a:a+t ([t, D+1, B] @ [t, B, D+1])."""
        t, w = y.shape[0], self.dim + 1
        rows = slice(a - self.start, a - self.start + t)
        yt = y.transpose(1, 2)  # [t, D+1, B]
        if y.dtype == torch.float64:
            self.outer[rows].baddbmm_(yt, y)  # straight into the float64 sums
            return
        prod = self._prod
        if self.chunk_tokens >= self.num_cov_tokens:  # one chunk: a float32 partial sum
            if prod is None:
                prod = self._prod = torch.zeros(t, w, w, dtype=y.dtype, device=self.device)
            prod.baddbmm_(yt, y)  # flushed into float64 every ``flush_samples`` images
            return
        if prod is None or prod.shape[0] < t:
            prod = self._prod = torch.empty(
                self.chunk_tokens, w, w, dtype=y.dtype, device=self.device
            )
        torch.bmm(yt, y, out=prod[:t])  # one batch, several chunks: summed in float64 now
        self.outer[rows] += prod[:t]

    def _flush(self) -> None:
        """Add the float32 partial sums into the float64 ones and restart them at zero."""
        if self._pending and self.chunk_tokens >= self.num_cov_tokens and self._prod is not None:
            self.outer += self._prod.to(torch.float64)
            self._prod.zero_()
        if self._gram_part is not None:
            assert self.gram is not None
            self.gram += self._gram_part.to(torch.float64)
            self._gram_part.zero_()
        self._pending = 0

    def release(self) -> None:
        """Drop the batch buffers once streaming is over (the moments stay)."""
        self._flush()
        self._buf = None
        self._prod = None
        self._gram_part = None

    def _sum(self) -> torch.Tensor:
        """Σy of the covariance tokens [t_cov, D] (the ones column of the augmented moments)."""
        self._flush()
        return self.outer[:, self.dim, : self.dim]

    def mean(self) -> torch.Tensor:
        """Per-token mean [t_cov, D] (float64) of the covariance tokens."""
        self._need(1)
        rows = slice(self.start - self.lo, self.stop - self.lo)
        return self.shift[rows] + self._sum() / self.count

    def covariance(
        self, a: int = 0, b: int | None = None, *, consume: bool = False
    ) -> torch.Tensor:
        """Unbiased covariance [b − a, D, D] (float64) of covariance tokens a:b (range-local).

        ``consume=True`` computes it in place, in the accumulators themselves (no new
        [t, D, D] tensors: ~6× faster for ViT-Tiny's layers), and returns that non-contiguous
        view; those tokens' covariance cannot be asked for again (means and the correlation
        stay available). The fit, which reads each token once, consumes.
        """
        self._need(2)
        self._flush()
        b = self.num_cov_tokens if b is None else b
        if bool(self._consumed[a:b].any()):
            raise ValueError(f"the covariance of tokens {a}:{b} was already consumed")
        d = self.dim
        ybar = self.outer[a:b, d, :d] / self.count  # [t, D] (a copy: row d stays Σy)
        if consume:
            self._consumed[a:b] = True
            scatter = self.outer[a:b, :d, :d]  # [t, D, D] view, overwritten below
            scatter.baddbmm_(ybar.unsqueeze(2), ybar.unsqueeze(1), alpha=-self.count)
            return scatter.div_(self.count - 1)
        cov = self.outer[a:b, :d, :d] - self.count * ybar.unsqueeze(2) * ybar.unsqueeze(1)
        return cov / (self.count - 1)

    def correlation(self) -> torch.Tensor:
        """Pearson correlation [T, T] of the flattened (N × D) token matrices."""
        if self.gram is None:
            raise ValueError("constructed without gram=True")
        self._need(1)
        self._flush()
        sums = torch.cat([self.rest_sum[: self.start], self._sum(), self.rest_sum[self.start :]])
        # Each image adds 1 · 1 from the ones column to every Gram entry.
        return flat_pearson(self.gram - self.count, sums, self.shift, self.count)

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
