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

__all__ = ["MIN_ROWS", "MonteCarloSource"]

_F64 = torch.float64
# Rows of the default (stratified) sampling at the least. The standard error is a CLT error of
# the rows' mean: from one draw per patch at L = 5 it missed the truth (|z| > 1.96) in 17–40 %
# of seeds; repeating the patches until 1024 rows brings it to the nominal 5 %.
MIN_ROWS = 1024


class MonteCarloSource:
    """Tiles of sampled log-ratios for channels over the same L patches.

    Args:
        channels: the C channels.
        columns: sorted indices of the M patches whose posteriors form the marginal.
        n_samples: number of draws; ``None`` draws from every patch in order, as often as
            needed for at least ``MIN_ROWS`` rows (once when L ≥ MIN_ROWS).
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
        if n_samples is None:  # stratified: every patch equally often, ≥ MIN_ROWS rows in all
            self.n_rows = self.n_points * math.ceil(MIN_ROWS / self.n_points)
        else:
            self.n_rows = int(n_samples)
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
        self._column_tiles: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    def _block_factors(self, x: Tensor, block: int) -> Tensor:
        """Row factors ``A`` of one random block: ``[T, S, K]`` (T = C, or 2C with U′)."""
        streams = (STREAM_NOISE, STREAM_NOISE_DUP) if self.has_dup else (STREAM_NOISE,)
        out = torch.zeros(len(streams) * self.n_channels, x.shape[0], self.width, dtype=self.dtype)
        for s, stream in enumerate(streams):
            for a, (ch, center) in enumerate(zip(self.channels, self.centers, strict=True)):
                g = generator(self.seed, stream, a, block)
                # Always a full block, dim-major: the draws of the first k dims do not depend on
                # r or on the block being the last, partial one (torch fills in groups of 16).
                full = torch.randn(ch.dim, BLOCK, generator=g)  # [r, BLOCK] float32
                eps = full[:, : x.shape[0]].T  # [S, r]
                mu, logvar = ch.mu.index_select(0, x), ch.logvar.index_select(0, x)  # [S, r]
                rows = sample_row_factors(mu, logvar, eps, center)  # [S, K_a]
                out[s * self.n_channels + a, :, : rows.shape[1]] = rows.to(self.dtype)
        return out.to(self.device)

    def chunks(self) -> Iterator[RowChunk]:
        """One unit per random block: its patch indices, and the block number as data."""
        for block in range(math.ceil(self.n_rows / BLOCK)):
            first = block * BLOCK
            size = min(BLOCK, self.n_rows - first)
            if self.n_samples is None:
                x = torch.arange(first, first + size) % self.n_points
            else:
                x = torch.randint(
                    self.n_points, (size,), generator=generator(self.seed, STREAM_ROWS, block)
                )
            yield RowChunk(x, block)

    def prepare(self, unit: RowChunk) -> Iterator[RowChunk]:
        """Draw the block's samples, then hand out row chunks of at most ``row_chunk`` rows."""
        x = unit.rows
        factors = self._block_factors(x, unit.data)  # [T, S_block, K]
        for start in range(0, x.shape[0], self.row_chunk):
            stop = min(x.shape[0], start + self.row_chunk)
            yield RowChunk(x[start:stop], factors[:, start:stop])

    def tiles(
        self, chunk: RowChunk, cols: list[tuple[int, int]], select: Tensor | None = None
    ) -> Iterator[Tensor]:
        a = chunk.data if select is None else chunk.data[:, select.to(self.device)]  # [T, S, K]
        c, shape = self.n_channels, tuple(a.shape[:2])
        a_main, a_dup = (a[0] if c == 1 else a[:c]), a[c:]  # a plain GEMM beats a batch of one
        outs: dict[int, tuple[Tensor, Tensor]] = {}  # per tile width: the tile and its main part
        for start, stop in cols:
            b, b_main = self._column_tile(start, stop)
            if stop - start not in outs:
                out = scratch(
                    f"tile{stop - start}", (*shape, stop - start), self.dtype, self.device
                )
                outs[stop - start] = out, (out[0] if c == 1 else out[:c])
            out, out_main = outs[stop - start]
            if c == 1:
                torch.mm(a_main, b_main, out=out_main)
            else:
                torch.bmm(a_main, b, out=out_main)
            if self.has_dup:
                torch.bmm(a_dup, b, out=out[c:])
            yield out  # [T, S, Lc]

    def _column_tile(self, start: int, stop: int) -> tuple[Tensor, Tensor]:
        """Contiguous ``B`` of columns [start, stop) as [C, K, Lc] and, for one channel, [K, Lc].

        A strided slice of the [K, M] factors makes the GEMM about 20% slower.
        """
        tile = self._column_tiles.get((start, stop))
        if tile is None:
            b = self.factors[:, :, start:stop].contiguous()
            tile = self._column_tiles[start, stop] = b, b[0]
        return tile
