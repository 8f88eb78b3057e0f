"""The fused log-sum-exp engine against brute force, including the out-of-range fallbacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from infovit.information.engine import RowChunk, log_sums


class _FixedTiles:
    """A tile source serving fixed log-ratio tiles ``[T, S, M]`` in row chunks."""

    def __init__(
        self, tiles: torch.Tensor, n_main: int, rows: torch.Tensor, in_columns: torch.Tensor
    ):
        self.full, self.n_channels = tiles, n_main
        self.has_dup = tiles.shape[0] > n_main
        self.dtype = tiles.dtype
        self.n_columns = tiles.shape[2]
        self.rows, self.in_columns = rows, in_columns

    def chunks(self) -> Iterator[RowChunk]:
        for start in range(0, len(self.rows), 5):
            yield RowChunk(self.rows[start : start + 5], start)

    def prepare(self, unit: RowChunk) -> Iterator[RowChunk]:
        yield unit

    def tiles(self, chunk: RowChunk, cols, select: torch.Tensor | None = None):
        for start, stop in cols:
            t = self.full[:, chunk.data : chunk.data + len(chunk.rows), start:stop].clone()
            yield t if select is None else t[:, select]


def _brute(ell: torch.Tensor, n_main: int, add_self: torch.Tensor):
    ell = ell.double()
    own = torch.zeros(ell.shape[0], ell.shape[1], 1, dtype=torch.float64)

    def lse(x: torch.Tensor) -> torch.Tensor:  # [..., S, M] → [..., S] with the own term
        full = torch.cat([x, own[: x.shape[0]].expand(x.shape[0], -1, 1)], dim=-1)
        with_self = torch.logsumexp(full, dim=-1)
        return torch.where(add_self, with_self, torch.logsumexp(x, dim=-1))

    main = ell[:n_main]
    dup = ell[n_main:] if ell.shape[0] > n_main else main
    single = lse(main).T
    pair = torch.stack([lse(main[a][None] + main) for a in range(n_main)]).permute(2, 0, 1)
    self_pair = lse(main + dup).T
    return single, pair, self_pair


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_dup", [False, True])
def test_log_sums_match_brute_force(
    dtype: torch.dtype, with_dup: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infovit.information import engine

    calls: list[str] = []
    fast, exact = engine._fast, engine._exact

    def fast_spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("wide" if kwargs["wide"] else "fast")
        return fast(*args, **kwargs)

    def exact_spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("exact")
        return exact(*args, **kwargs)

    monkeypatch.setattr(engine, "_fast", fast_spy)
    monkeypatch.setattr(engine, "_exact", exact_spy)
    g = torch.Generator().manual_seed(0)
    C, S, M, L = 3, 17, 40, 60
    ell = torch.randn(C * (2 if with_dup else 1), S, M, generator=g, dtype=torch.float64) * 30
    ell[0, 3, 7] = 45.0  # beyond the float32 pair range → float64 recompute of that row
    ell[1, 11, 2] = 420.0  # beyond the float64 pair range → exact path
    ell[2, 5] = -2000.0  # a row of a channel where every term underflows
    columns = torch.randperm(L, generator=g)[:M].sort().values
    in_columns = torch.zeros(L, dtype=torch.bool)
    in_columns[columns] = True
    rows = torch.randint(L, (S,), generator=g)
    rows[5] = int((~in_columns).nonzero()[0])  # the underflowing row's own term is added
    for i, x in enumerate(rows.tolist()):  # contract: a row's own component scores exactly 0
        if in_columns[x]:
            ell[:, i, int((columns == x).nonzero())] = 0.0
    src = _FixedTiles(ell.to(dtype), C, rows, in_columns)
    got = list(log_sums(src, col_chunk=13, need_pairs=True))
    single = torch.cat([x.single for x in got])
    pair = torch.cat([x.pair for x in got])
    self_pair = torch.cat([x.self_pair for x in got])
    missing = ~in_columns[rows]
    ref_single, ref_pair, ref_self = _brute(ell.to(dtype), C, missing)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-9)
    torch.testing.assert_close(single, ref_single, **tol)
    torch.testing.assert_close(pair, ref_pair, **tol)
    torch.testing.assert_close(self_pair, ref_self, **tol)
    assert "exact" in calls and ("wide" in calls) == (dtype == torch.float32)
    counts = torch.cat([x.log_count for x in got]).exp()
    torch.testing.assert_close(counts, M + missing.double())


def test_worker_map_keeps_order_raises_and_closes():
    """The static worker schedule: results in input order, a worker's error reaches the caller,
    and a consumer that stops early does not hang or leave threads behind."""
    import threading

    from infovit.information.engine import _ordered_map

    assert list(_ordered_map(lambda x: x * x, iter(range(50)), 3)) == [x * x for x in range(50)]

    def fail_on_seven(x: int) -> int:
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        list(_ordered_map(fail_on_seven, iter(range(20)), 2))
    before = threading.active_count()
    results = _ordered_map(lambda x: x, iter(range(100)), 2)
    assert next(results) == 0
    results.close()
    assert threading.active_count() == before
