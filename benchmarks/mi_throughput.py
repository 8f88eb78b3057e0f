"""Throughput of the information estimators (``make bench`` runs every file in benchmarks/).

Prints, in one run:
1. the machine's torch float32 matmul GFLOP/s (square 2048² products, best of several);
2. the effective GFLOP/s of the Monte Carlo log-density evaluation, counting the matrix-product
   form's flops (2 · samples · components · (2r+2)) over the *whole* I(X;U) call — sampling,
   GEMMs, the fused clamp/exp/sum and the reductions — and its ratio to (1);
3. the time of one I(X;U) at L = 10⁴ components, 10⁵ samples, r = 32;
4. the time of a full 36 × 36 NMI matrix at L = 10⁴ with 10⁴ samples (Monte Carlo), and, with
   ``--bhattacharyya``, the distance-based matrix for comparison.

Options: ``--threads N`` (default: torch's), ``--sweep`` (try tile sizes), ``--quick``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch

from infovit.information import information_matrix, mutual_information


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
    tiles = [(None, None)]
    if args.sweep:
        tiles = [(rc, cc) for rc in (128, 256, 512, 1024) for cc in (1024, 2048, 4096)]
    best = (math.inf, None, None)
    for rc, cc in tiles:
        seconds, est = time_call(
            lambda rc=rc, cc=cc: mutual_information(
                mu, logvar, n_samples=n, seed=0, row_chunk=rc, col_chunk=cc
            ),
            repeats=2,
        )
        if args.sweep:
            print(f"  tiles rows={rc:5d} cols={cc:5d}: {seconds:6.2f} s")
        if seconds < best[0]:
            best = (seconds, est, (rc, cc))
    seconds, est, _ = best
    peak = max(peak, matmul_gflops())  # measured again: contention varies during the run
    print(f"matmul (float32, 2048², best of 2×6):  {peak:8.1f} GFLOP/s")
    eff = flops / seconds / 1e9
    print(f"log-density evaluation (effective):    {eff:8.1f} GFLOP/s = {eff / peak:.0%} of matmul")
    print(f"I(X;U), L=1e4, {n:.0e} samples, r=32: {seconds:8.2f} s  ({est})")

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
