"""Pairwise-distance estimates of I(X;U) for a mixture of Gaussians (Kolchinsky & Tracey 2017).

``Î_D = −mean_i log mean_j exp(−D(p_i, p_j))``: no sampling, only distances between the
posteriors of patches. With the Bhattacharyya distance it is a *lower* bound on I(X;U) (the form
used by Murphy et al., TMLR 2025), with the KL divergence an *upper* bound, so the two bracket the
Monte Carlo value. Both equal 0 for identical posteriors and log L for well-separated ones.

For joint channels distances add (``D_(U,V) = D_U + D_V`` for product distributions), so pairs and
I(U;U′) (``D_(U,U′) = 2 D_U``) come from the same Gram construction as the Monte Carlo tiles. KL is
a GEMM (:mod:`infovit.information.gaussian`); Bhattacharyya for heteroscedastic posteriors is not
separable and is evaluated elementwise, one latent dim at a time, on cache-sized tiles.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from infovit.information.channel import GaussianChannel, check_same_points
from infovit.information.engine import RowChunk, scratch
from infovit.information.gaussian import component_factors, factor_width, kl_row_factors

__all__ = ["BhattacharyyaSource", "KLSource", "bhattacharyya_matrix"]

_F64 = torch.float64


def bhattacharyya_matrix(
    mu_rows: Tensor,
    logvar_rows: Tensor,
    mu_cols: Tensor,
    logvar_cols: Tensor,
    out: Tensor | None = None,
) -> Tensor:
    """``D_B(p_i, p_j)`` for diagonal Gaussians, ``[S, M]`` in the inputs' dtype (into ``out``).

    ``D_B = Σ_k [(μ_ik−μ_jk)² / (4 s_k) + ½ log(s_k / 2)] − ¼ Σ_k (λ_ik + λ_jk)``,
    ``s_k = σ_ik² + σ_jk²``. The log of ``s`` is taken once per group of dims, of their product
    (a group is as large as the float range allows), which keeps the cost near 5 passes per dim.
    """
    dtype, device = mu_rows.dtype, mu_rows.device
    s_rows, s_cols = torch.exp(logvar_rows), torch.exp(logvar_cols)  # [S, r], [M, r]
    n, m, r = mu_rows.shape[0], mu_cols.shape[0], mu_rows.shape[1]
    quad = torch.zeros(n, m, dtype=dtype, device=device) if out is None else out.zero_()
    logs, prod, s, d = (scratch(f"bd{i}", (n, m), dtype, device) for i in range(4))
    logs.zero_()  # Σ_k log s
    prod.fill_(1.0)
    widest = max(
        abs(math.log(2.0) + float(logvar_rows.min().clamp(max=logvar_cols.min()))),
        abs(math.log(2.0) + float(logvar_rows.max().clamp(min=logvar_cols.max()))),
        1.0,
    )
    group = max(1, int((70.0 if dtype == torch.float32 else 600.0) // widest))
    for k in range(r):
        torch.add(s_rows[:, k, None], s_cols[None, :, k], out=s)  # [S, M]
        torch.sub(mu_rows[:, k, None], mu_cols[None, :, k], out=d).square_()
        quad.addcdiv_(d, s, value=0.25)  # Σ_k Δ²/(4s)
        prod.mul_(s)
        if (k + 1) % group == 0 or k == r - 1:
            logs.add_(prod.log_())
            prod.fill_(1.0)
    quad.add_(logs, alpha=0.5).sub_(0.5 * r * math.log(2.0))
    quad.sub_(logvar_rows.sum(dim=1)[:, None], alpha=0.25)
    return quad.sub_(logvar_cols.sum(dim=1)[None, :], alpha=0.25)


class _PairwiseRows(ABC):
    """Rows are patches (no noise): all of them, or a random subset without replacement."""

    has_dup = False

    def __init__(
        self,
        channels: Sequence[GaussianChannel],
        rows: Tensor,
        columns: Tensor,
        *,
        dtype: torch.dtype,
        device: torch.device,
        row_chunk: int,
        centers: Sequence[Tensor],
    ) -> None:
        self.channels = list(channels)
        self.n_points = check_same_points(self.channels)
        self.n_channels = len(self.channels)
        self.rows, self.columns = rows, columns
        self.n_rows, self.n_columns = int(rows.shape[0]), int(columns.shape[0])
        self.in_columns = torch.zeros(self.n_points, dtype=torch.bool)
        self.in_columns[columns] = True
        self.dtype, self.device, self.row_chunk = dtype, device, int(row_chunk)
        self._setup(centers)

    @abstractmethod
    def _setup(self, centers: Sequence[Tensor]) -> None:
        """What the estimator precomputes per channel (``centers``: per-channel mean of μ)."""

    def chunks(self) -> Iterator[RowChunk]:
        for start in range(0, self.n_rows, self.row_chunk):
            stop = min(self.n_rows, start + self.row_chunk)
            yield RowChunk(self.rows[start:stop], torch.arange(start, stop))  # data: positions

    def prepare(self, unit: RowChunk) -> Iterator[RowChunk]:
        yield unit  # tiles need nothing more than the positions

    def tiles(
        self, chunk: RowChunk, cols: list[tuple[int, int]], select: Tensor | None = None
    ) -> Iterator[Tensor]:
        for start, stop in cols:
            yield self._tile(chunk, start, stop, select)

    @abstractmethod
    def _tile(self, chunk: RowChunk, start: int, stop: int, select: Tensor | None) -> Tensor:
        """One tile ``[C, S, stop−start]`` of −distances; each estimator defines its distance."""


class BhattacharyyaSource(_PairwiseRows):
    """Tiles ``−D_B(p_i, p_j)`` (≤ 0, own component 0) for each channel."""

    def _setup(self, centers: Sequence[Tensor]) -> None:
        # Centred means: differences of large, nearly equal values lose precision otherwise.
        self.mu = [
            (ch.mu.to(_F64) - c).to(device=self.device, dtype=self.dtype)
            for ch, c in zip(self.channels, centers, strict=True)
        ]
        self.logvar = [ch.logvar.to(device=self.device, dtype=self.dtype) for ch in self.channels]

    def _tile(self, chunk: RowChunk, start: int, stop: int, select: Tensor | None) -> Tensor:
        rows = chunk.rows if select is None else chunk.rows[select.cpu()]
        rows, cols = rows.to(self.device), self.columns[start:stop].to(self.device)
        shape = (self.n_channels, rows.shape[0], stop - start)
        out = scratch("tile", shape, self.dtype, self.device)
        for a in range(self.n_channels):
            mu, lv = self.mu[a], self.logvar[a]
            bhattacharyya_matrix(mu[rows], lv[rows], mu[cols], lv[cols], out=out[a]).neg_()
        return out  # [C, S, Lc]


class KLSource(_PairwiseRows):
    """Tiles ``−KL(p_i ‖ p_j)`` as one GEMM per channel (same factors as the Monte Carlo path)."""

    def _setup(self, centers: Sequence[Tensor]) -> None:
        dtype, rows, columns = self.dtype, self.rows, self.columns
        width = max(factor_width(ch.dim) for ch in self.channels)
        self.row_factors = torch.zeros(self.n_channels, self.n_rows, width, dtype=dtype)
        self.col_factors = torch.zeros(self.n_channels, width, self.n_columns, dtype=dtype)
        for a, (ch, c) in enumerate(zip(self.channels, centers, strict=True)):
            rows_a = kl_row_factors(ch.mu[rows], ch.logvar[rows], c)  # [n_rows, K_a]
            cols_a = component_factors(ch.mu[columns], ch.logvar[columns], c)  # [K_a, M]
            self.row_factors[a, :, : rows_a.shape[1]] = rows_a.to(dtype)
            self.col_factors[a, : cols_a.shape[0]] = cols_a.to(dtype)
        self.row_factors = self.row_factors.to(self.device)
        self.col_factors = self.col_factors.to(self.device)

    def _tile(self, chunk: RowChunk, start: int, stop: int, select: Tensor | None) -> Tensor:
        positions = chunk.data if select is None else chunk.data[select.cpu()]
        a = self.row_factors[:, positions.to(self.device)]  # [C, S, K]
        out = scratch("tile", (a.shape[0], a.shape[1], stop - start), self.dtype, self.device)
        return torch.bmm(a, self.col_factors[:, :, start:stop], out=out)  # [C, S, Lc]
