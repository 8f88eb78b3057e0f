"""Fused log-sum-exp over the marginal's components, for many channels and all their pairs.

A *tile source* (Monte Carlo samples, or patches for the distance estimators) yields row chunks
and, for a range of the M marginal components, the tile ``ℓ[a, i, j]`` = log-ratio of row ``i``
against component ``j`` for channel ``a``, shifted so the row's own component scores 0. The joint
channel of two heads is a sum of tiles, ``ℓ_(U,V) = ℓ_U + ℓ_V``, so one exponentiated tile per
channel gives every pair through a batched Gram product ``Σ_j e^{ℓ_U} e^{ℓ_V}`` at GEMM speed.
Per tile the work is: GEMM, clamp, exp, row sums (+ Gram); sums accumulate linearly over the
column tiles of a row chunk and are logged once.

Range: tiles are clamped to ``[−lo, hi]`` before ``exp`` so that no value or product is subnormal
(subnormals make ``exp`` and GEMM 10–60× slower) and nothing overflows. A term clipped from below
is overstated by at most ``e^{−lo}``; in a pair it is multiplied by the other channel's term, so
the relative error of any sum is at most ``e^{−lo} · max_a S_a`` (``S_a`` the row's single-channel
sum, ≥ 1 as it holds the row's own term). Rows with some ``S_a ≥ e^{hi}`` — the only rows where a
term can exceed ``hi`` or that bound can exceed ``e^{hi−lo}`` (< 1e-7) — are recomputed in float64
(much wider range) and, beyond that, with an exact per-pair log-sum-exp: correct always, fast in
the common case.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

import torch
from torch import Tensor

__all__ = ["LogSums", "RowChunk", "TileSource", "log_sums", "scratch"]

_F64 = torch.float64
# (lo, hi) per (dtype, products needed): see the module docstring.
_LIMITS: dict[tuple[torch.dtype, bool], tuple[float, float]] = {
    (torch.float32, False): (80.0, 70.0),
    (torch.float32, True): (43.0, 26.0),
    (torch.float64, False): (700.0, 690.0),
    (torch.float64, True): (354.0, 300.0),
}


_LOCAL = threading.local()


def scratch(slot: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """A reusable per-thread buffer (contents undefined) while :func:`log_sums` runs.

    A fresh 1 MB tile per GEMM costs page faults comparable to the GEMM itself; tiles are
    consumed before the next is requested, so one buffer per slot and thread suffices. Outside
    :func:`log_sums` this allocates normally.
    """
    buffers = getattr(_LOCAL, "buffers", None)
    n = math.prod(shape)
    if buffers is None:
        return torch.empty(shape, dtype=dtype, device=device)
    key = (slot, dtype, device)
    buf = buffers.get(key)
    if buf is None or buf.numel() < n:
        buf = buffers[key] = torch.empty(n, dtype=dtype, device=device)
    return buf[:n].view(shape)


@dataclass
class RowChunk:
    """Rows of one chunk: ``rows`` [S] are patch indices; ``data`` belongs to the source."""

    rows: Tensor
    data: Any = None


class TileSource(Protocol):
    """What :func:`log_sums` needs from an estimator."""

    n_channels: int
    has_dup: bool  # tiles carry a second, independent draw U′ after the C main channels
    dtype: torch.dtype
    n_columns: int  # M components in the marginal
    in_columns: Tensor  # [L] bool: patch j is one of the M components

    def chunks(self) -> Iterator[RowChunk]:
        """Units of work, in order; cheap to make (the caller's thread makes them)."""
        ...

    def prepare(self, unit: RowChunk) -> Iterator[RowChunk]:
        """Row chunks ready for :meth:`tiles`, from one unit of :meth:`chunks`.

        Runs on the worker thread, so per-unit setup (drawing samples) is parallel too.
        """
        ...

    def tiles(
        self, chunk: RowChunk, cols: list[tuple[int, int]], select: Tensor | None = None
    ) -> Iterator[Tensor]:
        """Per column range ``[start, stop)`` of ``cols``, the ``[T, S, stop−start]`` log-ratios
        (T = C, or 2C with U′), rows optionally selected. A tile may live in a buffer that the
        next one reuses: consume it before asking for the next.

        Contract: where a row's own patch is among the columns, its entry is 0 (up to rounding);
        this own term is what bounds the relative error of the clamped small terms.
        """
        ...


@dataclass
class LogSums:
    """Per row: ``log Σ_{j ∈ J ∪ {i}} exp ℓ_ij`` for every channel, pair and (U, U′) pair."""

    rows: Tensor  # [S] patch index
    log_count: Tensor  # [S] log |J ∪ {i}|
    single: Tensor  # [S, C]
    single_dup: Tensor  # [S, C] the same for U′ (equal to ``single`` without a second draw)
    pair: Tensor | None  # [S, C, C] joint channel (U_a, U_b); the diagonal is not meaningful
    self_pair: Tensor | None  # [S, C] joint channel (U_a, U_a′)


@dataclass
class _Sums:
    single: Tensor  # [S, T] float64 log sums
    pair: Tensor | None  # [S, C, C]
    self_pair: Tensor | None  # [S, C]
    flagged: Tensor  # [S] rows outside the safe range (see the module docstring)


def _columns(source: TileSource, col_chunk: int) -> list[tuple[int, int]]:
    n = source.n_columns
    return [(start, min(n, start + col_chunk)) for start in range(0, n, col_chunk)]


def _fast(
    source: TileSource,
    chunk: RowChunk,
    select: Tensor | None,
    cols: list[tuple[int, int]],
    need_pairs: bool,
    wide: bool,
) -> _Sums:
    """Clamp, exponentiate in place and reduce every column tile; log the totals once."""
    n_main = source.n_channels
    sums = pair = self_pair = None
    lo, hi = _LIMITS[(_F64 if wide else source.dtype, need_pairs)]
    for k, ell in enumerate(source.tiles(chunk, cols, select)):
        ell = ell.to(_F64) if wide else ell
        e = ell.clamp_(min=-lo, max=hi).exp_()  # [T, S, Lc], now holds exp(ℓ)
        if sums is None:  # per column tile, reduced once at the end: no accumulate per tile
            sums = e.new_empty(len(cols), e.shape[0], e.shape[1])  # [tiles, T, S]
        torch.sum(e, dim=-1, out=sums[k])
        if need_pairs:
            main = e[:n_main].transpose(0, 1)  # [S, C, Lc]
            gram = torch.bmm(main, main.transpose(1, 2))  # [S, C, C]
            pair = gram if pair is None else pair.add_(gram)
            if e.shape[0] > n_main:
                dot = torch.linalg.vecdot(e[:n_main], e[n_main:])  # [C, S]
                self_pair = dot if self_pair is None else self_pair.add_(dot)
    assert sums is not None  # at least one column
    single = sums.sum(dim=0)  # [T, S]
    flagged = ~torch.isfinite(single).all(dim=0) | (single >= 0.999 * math.exp(hi)).any(dim=0)
    log_pair = log_self = None
    if pair is not None:
        log_pair = pair.to(_F64).log()
        if self_pair is not None:
            log_self = self_pair.T.to(_F64).log()
        else:  # no second draw: distance estimators have D_(U,U′) = 2 D_U, the Gram diagonal
            log_self = torch.diagonal(log_pair, dim1=1, dim2=2).clone()
    return _Sums(single.T.to(_F64).log(), log_pair, log_self, flagged.cpu())


def _exact(
    source: TileSource,
    chunk: RowChunk,
    select: Tensor,
    cols: list[tuple[int, int]],
    need_pairs: bool,
) -> _Sums:
    """Per-pair log-sum-exp in float64: slow, exact, for the rare rows that need it."""
    n_main = source.n_channels
    single = pair = self_pair = None
    for tile in source.tiles(chunk, cols, select):
        ell = tile.to(_F64)  # [T, S, Lc]
        s = torch.logsumexp(ell, dim=-1).T  # [S, T]
        single = s if single is None else torch.logaddexp(single, s)
        if need_pairs:
            main = ell[:n_main]  # [C, S, Lc]
            rows = [torch.logsumexp(main[a] + main, dim=-1) for a in range(n_main)]  # C × [C, S]
            p = torch.stack(rows).permute(2, 0, 1)  # [S, C, C]
            dup = ell[n_main:] if ell.shape[0] > n_main else main
            d = torch.logsumexp(main + dup, dim=-1).T  # [S, C]
            pair = p if pair is None else torch.logaddexp(pair, p)
            self_pair = d if self_pair is None else torch.logaddexp(self_pair, d)
    assert single is not None
    return _Sums(single, pair, self_pair, torch.zeros(single.shape[0], dtype=torch.bool))


def _assign(target: _Sums, rows: Tensor, value: _Sums) -> None:
    target.single[rows] = value.single.to(target.single.device)
    if target.pair is not None and value.pair is not None:
        target.pair[rows] = value.pair.to(target.pair.device)
    if target.self_pair is not None and value.self_pair is not None:
        target.self_pair[rows] = value.self_pair.to(target.self_pair.device)


def _chunk_sums(
    source: TileSource, chunk: RowChunk, cols: list[tuple[int, int]], need_pairs: bool
) -> _Sums:
    result = _fast(source, chunk, None, cols, need_pairs, wide=False)
    if not bool(result.flagged.any()):
        return result
    # Recompute only the flagged rows: in float64 first, exactly if even that is out of range.
    rows = result.flagged.nonzero().squeeze(1)  # [R]
    if source.dtype == _F64:  # already the wide range
        _assign(result, rows, _exact(source, chunk, rows, cols, need_pairs))
        return result
    redo = _fast(source, chunk, rows, cols, need_pairs, wide=True)
    if bool(redo.flagged.any()):
        _assign(redo, redo.flagged, _exact(source, chunk, rows[redo.flagged], cols, need_pairs))
    _assign(result, rows, redo)
    return result


def _finish(source: TileSource, chunk: RowChunk, sums: _Sums) -> LogSums:
    n_main = source.n_channels
    single = sums.single.cpu()
    pair, self_pair = (x.cpu() if x is not None else None for x in (sums.pair, sums.self_pair))
    # The row's own component belongs to its marginal even when not among the M columns:
    # its log-ratio is exactly 0 (for every channel and pair), so add e⁰ = 1.
    missing = ~source.in_columns[chunk.rows]  # [S]
    if bool(missing.any()):
        zero = torch.zeros((), dtype=_F64)
        single[missing] = torch.logaddexp(single[missing], zero)
        if pair is not None and self_pair is not None:
            pair[missing] = torch.logaddexp(pair[missing], zero)
            self_pair[missing] = torch.logaddexp(self_pair[missing], zero)
    count = torch.full(missing.shape, float(source.n_columns), dtype=_F64) + missing.to(_F64)
    return LogSums(
        rows=chunk.rows,
        log_count=count.log(),
        single=single[:, :n_main],
        single_dup=single[:, n_main:] if source.has_dup else single[:, :n_main],
        pair=pair,
        self_pair=self_pair,
    )


def _concat(parts: list[LogSums]) -> LogSums:
    """One :class:`LogSums` for consecutive row chunks."""

    def cat_optional(values: list[Tensor | None]) -> Tensor | None:
        # every part has the field or none has it (need_pairs is fixed for a stream)
        return None if values[0] is None else torch.cat(cast(list[Tensor], values))

    return LogSums(
        rows=torch.cat([p.rows for p in parts]),
        log_count=torch.cat([p.log_count for p in parts]),
        single=torch.cat([p.single for p in parts]),
        single_dup=torch.cat([p.single_dup for p in parts]),
        pair=cat_optional([p.pair for p in parts]),
        self_pair=cat_optional([p.self_pair for p in parts]),
    )


def log_sums(
    source: TileSource, *, col_chunk: int, need_pairs: bool, workers: int = 1
) -> Iterator[LogSums]:
    """Stream :class:`LogSums` over the source's units of work, in order.

    ``workers > 1`` processes units (``source.prepare`` included, so drawing samples is
    parallel too) on that many threads with one intra-op thread each (the caller sets MKL's
    process-wide count to 1): per-tile ops are too small to split across cores efficiently,
    and an OpenMP barrier per op stalls badly on a busy machine, while whole units are
    independent. Memory: ``2·workers`` units in flight.
    """
    cols = _columns(source, col_chunk)

    def work(unit: RowChunk) -> LogSums:
        if workers > 1:
            torch.set_num_threads(1)  # OpenMP's thread count is per thread: set it in each worker
        if getattr(_LOCAL, "buffers", None) is None:
            _LOCAL.buffers = {}  # worker threads end with log_sums, and their buffers with them
        parts = [
            _finish(source, chunk, _chunk_sums(source, chunk, cols, need_pairs))
            for chunk in source.prepare(unit)
        ]
        return parts[0] if len(parts) == 1 else _concat(parts)

    if workers <= 1:
        try:
            for chunk in source.chunks():
                yield work(chunk)
        finally:
            _LOCAL.buffers = None
        return
    yield from _ordered_map(work, source.chunks(), workers)


_STOP = object()


def _ordered_map(fn: Callable[[Any], Any], items: Iterator[Any], workers: int) -> Iterator[Any]:
    """``fn`` over ``items`` on ``workers`` threads, results in order.

    A static schedule: item ``i`` runs on thread ``i mod workers``, handed over through that
    thread's own small queue, so no shared queue or future per item (a pool's per-item
    bookkeeping cost ~5% here). At most ``2·workers`` items are in flight.
    """
    inboxes: list[queue.Queue[Any]] = [queue.Queue(maxsize=2) for _ in range(workers)]
    outboxes: list[queue.Queue[tuple[bool, Any]]] = [queue.Queue() for _ in range(workers)]

    def run(k: int) -> None:
        while (item := inboxes[k].get()) is not _STOP:
            try:
                outboxes[k].put((True, fn(item)))
            except BaseException as err:  # handed to the consumer, which re-raises it
                outboxes[k].put((False, err))

    def take(i: int) -> Any:
        ok, value = outboxes[i % workers].get()
        if not ok:
            raise value
        return value

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(workers)]
    for thread in threads:
        thread.start()
    sent = received = 0
    try:
        for item in items:
            inboxes[sent % workers].put(item)
            sent += 1
            if sent - received >= 2 * workers:
                yield take(received)
                received += 1
        while received < sent:
            yield take(received)
            received += 1
    finally:
        for box in inboxes:
            box.put(_STOP)
        for thread in threads:
            thread.join()
