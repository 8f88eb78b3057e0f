"""Monte Carlo tiles for I(X;U) with the aggregated posterior as marginal (paper 001, eq. 4).

Row ``i`` is one draw: a patch ``x_i`` (uniform, or every patch once) and ``u_i ~ p(u|x_i)``; the
tile entry against component ``j`` is ``log p(u_i|x_j) − log p(u_i|x_i)``, one GEMM per channel.
All channels share the patches ``x_i`` (common random numbers: the joint channel (U, V) reuses
both draws and I(U;V)'s error is that of a single per-sample difference) and draw their noise
independently, which is exactly a sample of the joint channel. With ``with_dup`` every channel
gets a second, independent draw U′ for I(U;U′).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from infovit.information.channel import GaussianChannel, check_same_points
from infovit.information.engine import RowChunk, scratch
from infovit.information.gaussian import component_factors, factor_width, sample_row_factors
from infovit.information.rng import BLOCK, STREAM_NOISE, STREAM_NOISE_DUP, STREAM_ROWS, generator

__all__ = ["MonteCarloSource"]

_F64 = torch.float64


class MonteCarloSource:
    """Tiles of sampled log-ratios for channels over the same L patches.

    Args:
        channels: the C channels.
        columns: sorted indices of the M patches whose posteriors form the marginal.
        n_samples: number of draws; ``None`` draws once from every patch, in order.
        seed: everything random derives from it (see :mod:`infovit.information.rng`).
        dtype: GEMM precision (see :func:`infovit.information.gaussian.choose_dtype`).
        with_dup: also draw U′ for I(U;U′).
    """

    def __init__(
        self,
        channels: Sequence[GaussianChannel],
        columns: Tensor,
        *,
        n_samples: int | None,
        seed: int,
        dtype: torch.dtype,
        device: torch.device,
        with_dup: bool,
        row_chunk: int,
        centers: Sequence[Tensor],
    ) -> None:
        self.channels = list(channels)
        self.n_points = check_same_points(self.channels)
        self.n_channels = len(self.channels)
        self.has_dup = with_dup
        self.dtype, self.device = dtype, device
        self.n_samples = n_samples
        self.n_rows = self.n_points if n_samples is None else int(n_samples)
        self.seed, self.row_chunk = int(seed), int(row_chunk)
        self.centers = [c.to(_F64) for c in centers]
        self.n_columns = int(columns.shape[0])
        self.in_columns = torch.zeros(self.n_points, dtype=torch.bool)
        self.in_columns[columns] = True
        self.width = max(factor_width(ch.dim) for ch in self.channels)
        # B for every channel, zero-padded to a common width: [C, K, M] in the GEMM dtype.
        self.factors = torch.zeros(
            self.n_channels, self.width, self.n_columns, dtype=dtype, device=device
        )
        for a, (ch, center) in enumerate(zip(self.channels, self.centers, strict=True)):
            b = component_factors(ch.mu[columns], ch.logvar[columns], center)  # [K_a, M]
            self.factors[a, : b.shape[0]] = b.to(device=device, dtype=dtype)

    def _block_factors(self, x: Tensor, block: int) -> Tensor:
        """Row factors ``A`` of one random block: ``[T, S, K]`` (T = C, or 2C with U′)."""
        streams = (STREAM_NOISE, STREAM_NOISE_DUP) if self.has_dup else (STREAM_NOISE,)
        out = torch.zeros(len(streams) * self.n_channels, x.shape[0], self.width, dtype=self.dtype)
        for s, stream in enumerate(streams):
            for a, (ch, center) in enumerate(zip(self.channels, self.centers, strict=True)):
                g = generator(self.seed, stream, a, block)
                # Always a full block, dim-major: the draws of the first k dims do not depend on
                # r or on the block being the last, partial one (torch fills in groups of 16).
                full = torch.randn(ch.dim, BLOCK, generator=g, dtype=_F64)  # [r, BLOCK]
                eps = full[:, : x.shape[0]].T  # [S, r]
                rows = sample_row_factors(ch.mu[x], ch.logvar[x], eps, center)  # [S, K_a]
                out[s * self.n_channels + a, :, : rows.shape[1]] = rows.to(self.dtype)
        return out.to(self.device)

    def chunks(self) -> Iterator[RowChunk]:
        for block in range(math.ceil(self.n_rows / BLOCK)):
            first = block * BLOCK
            size = min(BLOCK, self.n_rows - first)
            if self.n_samples is None:
                x = torch.arange(first, first + size)
            else:
                x = torch.randint(
                    self.n_points, (size,), generator=generator(self.seed, STREAM_ROWS, block)
                )
            factors = self._block_factors(x, block)  # [T, S_block, K]
            for start in range(0, size, self.row_chunk):
                stop = min(size, start + self.row_chunk)
                yield RowChunk(x[start:stop], factors[:, start:stop])

    def tiles(self, chunk: RowChunk, start: int, stop: int, select: Tensor | None = None) -> Tensor:
        a = chunk.data if select is None else chunk.data[:, select.to(self.device)]  # [T, S, K]
        b = self.factors[:, :, start:stop]  # [C, K, Lc]
        c = self.n_channels
        out = scratch("tile", (a.shape[0], a.shape[1], stop - start), self.dtype, self.device)
        if c == 1:  # a plain GEMM is ~10% faster than a batch of one
            torch.mm(a[0], b[0], out=out[0])
        else:
            torch.bmm(a[:c], b, out=out[:c])
        if self.has_dup:
            torch.bmm(a[c:], b, out=out[c:])
        return out  # [T, S, Lc]
