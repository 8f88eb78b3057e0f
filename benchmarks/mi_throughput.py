"""Throughput of the information estimators (``make bench`` runs every file in benchmarks/).

Prints, in one run:
1. the machine's torch float32 matmul GFLOP/s (square 2048² products, best of several);
2. the effective GFLOP/s of the Monte Carlo log-density evaluation, counting the matrix-product
   form's flops (2 · samples · components · (2r+2)): every tile's GEMM with the clamp/exp/row-sum
   of the log-sum-exp fused per tile, the per-chunk range checks and logs, on the worker pool
   exactly as ``mutual_information`` runs it, with the samples drawn beforehand; and its ratio
   to (1), the target (≥ 50%);
3. the time of one whole I(X;U) call at L = 10⁴ components, 10⁵ samples, r = 32 (drawing the
   samples, evaluation, moments), also as an effective rate;
4. the time of a full 36 × 36 NMI matrix at L = 10⁴ with 10⁴ samples (Monte Carlo), and, with
   ``--bhattacharyya``, the distance-based matrix for comparison.

Options: ``--threads N`` (default: torch's), ``--sweep`` (try tile sizes), ``--quick``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Iterator

import torch

from infovit.information import information_matrix, mutual_information
from infovit.information.channel import GaussianChannel
from infovit.information.engine import RowChunk, log_sums
from infovit.information.gaussian import choose_dtype
from infovit.information.mc import MonteCarloSource
from infovit.information.nmi import _chunks, _one_intra_op_thread


def matmul_gflops(n: int = 2048, repeats: int = 6) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def posteriors(L: int, r: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Trained-head-like posteriors: a few informative dims, the rest near the prior."""
    g = torch.Generator().manual_seed(seed)
    mu = 0.05 * torch.randn(L, r, generator=g)
    logvar = 0.05 * torch.randn(L, r, generator=g)
    k = 4
    mu[:, :k] = torch.randn(L, k, generator=g)
    logvar[:, :k] = -2.0 + torch.rand(L, k, generator=g)
    return mu, logvar


class _Drawn:
    """A Monte Carlo source whose samples are drawn up front, to time the evaluation alone."""

    def __init__(self, source: MonteCarloSource) -> None:
        self.__dict__.update(source.__dict__)
        self._source = source
        self._chunks = [c for unit in source.chunks() for c in source.prepare(unit)]

    def chunks(self) -> Iterator[RowChunk]:
        return iter(self._chunks)

    def prepare(self, unit: RowChunk) -> Iterator[RowChunk]:
        yield unit

    def tiles(self, *args, **kwargs) -> Iterator[torch.Tensor]:  # type: ignore[no-untyped-def]
        return self._source.tiles(*args, **kwargs)


def evaluation_seconds(
    mu: torch.Tensor, logvar: torch.Tensor, n: int, tiles: tuple[int | None, int | None]
) -> float:
    """Seconds of the log-density evaluation with fused log-sum-exp, samples drawn beforehand."""
    workers = torch.get_num_threads()
    channel = GaussianChannel(mu, logvar)
    centers = [mu.double().mean(dim=0)]
    rows, cols = _chunks("mc", 1, *tiles)
    with _one_intra_op_thread(workers > 1), torch.inference_mode():
        source = _Drawn(
            MonteCarloSource(
                [channel], torch.arange(mu.shape[0]), n_samples=n, seed=0, with_dup=False,
                dtype=choose_dtype([channel], centers), device=torch.device("cpu"),
                row_chunk=rows, centers=centers,
            )
        )  # fmt: skip
        t0 = time.perf_counter()
        for _ in log_sums(source, col_chunk=cols, need_pairs=False, workers=workers):
            pass
        return time.perf_counter() - t0


def time_call(fn, repeats: int = 1) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help="try several tile sizes")
    parser.add_argument("--quick", action="store_true", help="10× fewer samples")
    parser.add_argument("--bhattacharyya", action="store_true", help="also time the BD matrix")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scale = 10 if args.quick else 1
    L, r, n = 10_000, 32, 100_000 // scale
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load:.2f} (other processes lower every figure below)"
    )
    peak = matmul_gflops()

    mu, logvar = posteriors(L, r, seed=0)
    flops = 2.0 * n * L * (2 * r + 2)
    tiles: list[tuple[int | None, int | None]] = [(None, None)]
    if args.sweep:
        tiles = [(rc, cc) for rc in (256, 512, 1024) for cc in (512, 1024, 2048)]
    best = (math.inf, (None, None))
    for rc, cc in tiles:
        seconds = min(evaluation_seconds(mu, logvar, n, (rc, cc)) for _ in range(3))
        if args.sweep:
            print(f"  tiles rows={rc:5d} cols={cc:5d}: {seconds:6.3f} s")
        best = min(best, (seconds, (rc, cc)))
    evaluation, tile = best
    whole, est = time_call(
        lambda: mutual_information(
            mu, logvar, n_samples=n, seed=0, row_chunk=tile[0], col_chunk=tile[1]
        ),
        repeats=3,
    )
    peak = max(peak, matmul_gflops())  # measured again: contention varies during the run
    print(f"matmul (float32, 2048², best of 2×6):  {peak:8.1f} GFLOP/s")
    eff = flops / evaluation / 1e9
    print(
        f"log-density evaluation (effective):    {eff:8.1f} GFLOP/s = {eff / peak:.0%} of matmul"
        "  (target ≥ 50%)"
    )
    eff = flops / whole / 1e9
    print(
        f"I(X;U), L=1e4, {n:.0e} samples, r=32: {whole:8.2f} s  ({est}); whole call "
        f"{eff:.1f} GFLOP/s = {eff / peak:.0%} of matmul"
    )

    heads = {f"{b}.{h}": posteriors(L, r, seed=1 + 3 * b + h) for b in range(12) for h in range(3)}
    n_nmi = 10_000 // scale
    seconds, m = time_call(lambda: information_matrix(heads, n_samples=n_nmi, seed=0))
    print(
        f"36×36 NMI (mc), L=1e4, {n_nmi:.0e} samples:  {seconds:8.2f} s  "
        f"(GEMM {m.settings['dtype']}, mean NMI off-diagonal "
        f"{(m.nmi.sum() - 36) / (36 * 35):.3f})"
    )
    if args.bhattacharyya:
        rows = 2000 // scale
        seconds, _ = time_call(
            lambda: information_matrix(heads, method="bhattacharyya", n_samples=rows, seed=0)
        )
        print(f"36×36 NMI (Bhattacharyya), {rows} rows:    {seconds:8.2f} s")


if __name__ == "__main__":
    main()
