"""Power-law fits of covariance eigenspectra: the decay exponent α of λ_j ∝ j^(−α).

The default reproduces the α-ReQ convention (Agrawal et al. 2022, PyPI ``reptrix``): eigenvalues
normalised to sum 1, weighted least squares of log λ_j on −log j with weights 1/j over ranks
11–100. Everything is batched over leading dimensions so that all tokens of a layer are fitted in
one call; ranks beyond the available rank (zero eigenvalues when N ≤ D) are masked per element
rather than truncating the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "DEFAULT_FIT_RANGE",
    "FitConfig",
    "PowerLawFit",
    "alpha_from_samples",
    "covariance_eigenvalues",
    "fit_powerlaw",
    "intra_op_threads",
    "parse_fit_range",
]

# 1-based ranks, inclusive: α-ReQ fits 0-based indices 10..99.
DEFAULT_FIT_RANGE: tuple[int, int] = (11, 100)
# Fewer fitted points than this gives no α: two points always fit a line exactly (R² = 1).
MIN_FIT_POINTS = 3


@dataclass(frozen=True)
class FitConfig:
    """How α is fitted; recorded in every result so a number always carries its convention."""

    first_rank: int = DEFAULT_FIT_RANGE[0]
    last_rank: int = DEFAULT_FIT_RANGE[1]
    weighted: bool = True
    # Eigenvalues below rtol · λ_max count as numerically zero (outside the available rank).
    rtol: float = 1e-10

    def __post_init__(self) -> None:
        if self.first_rank < 1 or self.last_rank < self.first_rank + MIN_FIT_POINTS - 1:
            raise ValueError(
                f"fit range {self.first_rank}:{self.last_rank} must satisfy "
                f"1 <= first and last - first >= {MIN_FIT_POINTS - 1}"
            )
        if not 0.0 <= self.rtol < 1.0:
            raise ValueError(f"rtol must be in [0, 1), got {self.rtol}")

    def as_dict(self) -> dict[str, object]:
        return {
            "first_rank": self.first_rank,
            "last_rank": self.last_rank,
            "weighted": self.weighted,
            "weights": "1/rank" if self.weighted else "uniform",
            "normalisation": "eigenvalues / sum(eigenvalues)",
            "rtol": self.rtol,
        }


@dataclass(frozen=True)
class PowerLawFit:
    """Batched fit results; every tensor has the batch shape of the eigenvalues given."""

    alpha: torch.Tensor  # decay exponent (NaN where fewer than MIN_FIT_POINTS ranks available)
    intercept: torch.Tensor  # log λ at rank 1 of the fitted line (normalised eigenvalues)
    r2: torch.Tensor  # unweighted R² of log λ over the fitted ranks
    n_fit: torch.Tensor  # number of ranks actually fitted (int64)


def parse_fit_range(text: str) -> tuple[int, int]:
    """Parse ``"11:100"`` (1-based inclusive ranks) into a tuple; ValueError if malformed."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"fit range must look like FIRST:LAST (e.g. 11:100), got {text!r}")
    try:
        first, last = int(parts[0]), int(parts[1])
    except ValueError as err:
        raise ValueError(f"fit range must be two integers FIRST:LAST, got {text!r}") from err
    FitConfig(first_rank=first, last_rank=last)  # validates
    return first, last


def fit_powerlaw(
    eigenvalues: torch.Tensor,
    config: FitConfig | None = None,
    max_rank: int | torch.Tensor | None = None,
) -> PowerLawFit:
    """Fit λ_j ∝ j^(−α) to eigenvalues [..., K] (any order; sorted here), batched.

    ``max_rank`` caps the usable rank (e.g. N − 1 for N centred samples), per element if a
    tensor. Ranks whose eigenvalue is ≤ rtol · λ_max are excluded too, so rank-deficient spectra
    are fitted over the ranks that exist ("fit range clipped to the available rank").
    """
    config = config or FitConfig()
    lam = eigenvalues.to(torch.float64)
    lam = torch.sort(lam.clamp_min(0.0), dim=-1, descending=True).values  # [..., K]
    k = lam.shape[-1]
    total = lam.sum(dim=-1, keepdim=True)
    lam = lam / torch.where(total > 0, total, torch.ones_like(total))
    ranks = torch.arange(1, k + 1, dtype=torch.float64, device=lam.device)  # [K]
    mask = (ranks >= config.first_rank) & (ranks <= config.last_rank)  # [K]
    mask = mask.expand_as(lam) & (lam > config.rtol * lam[..., :1]) & (lam > 0)
    if max_rank is not None:
        cap = torch.as_tensor(max_rank, device=lam.device).unsqueeze(-1)
        mask = mask & (ranks <= cap)
    w = mask.to(torch.float64)
    if config.weighted:
        w = w / ranks
    x = -torch.log(ranks).expand_as(lam)
    y = torch.where(mask, torch.log(torch.where(mask, lam, torch.ones_like(lam))), 0.0)
    sw = w.sum(dim=-1)
    n_fit = mask.sum(dim=-1)
    ok = n_fit >= MIN_FIT_POINTS
    sw_safe = torch.where(ok, sw, torch.ones_like(sw))
    xm = (w * x).sum(dim=-1) / sw_safe
    ym = (w * y).sum(dim=-1) / sw_safe
    dx = x - xm.unsqueeze(-1)
    sxx = (w * dx * dx).sum(dim=-1)
    sxy = (w * dx * (y - ym.unsqueeze(-1))).sum(dim=-1)
    alpha = sxy / torch.where(ok, sxx, torch.ones_like(sxx))
    intercept = ym - alpha * xm
    # R² of the fitted line on log λ over the fitted ranks, unweighted (how straight it is).
    pred = intercept.unsqueeze(-1) + alpha.unsqueeze(-1) * x
    n_safe = torch.where(ok, n_fit, torch.ones_like(n_fit)).to(torch.float64)
    y_mean = (y * mask).sum(dim=-1) / n_safe
    ss_res = (((y - pred) ** 2) * mask).sum(dim=-1)
    ss_tot = (((y - y_mean.unsqueeze(-1)) ** 2) * mask).sum(dim=-1)
    r2 = 1.0 - ss_res / torch.where(ss_tot > 0, ss_tot, torch.ones_like(ss_tot))
    nan = torch.full_like(alpha, float("nan"))
    return PowerLawFit(
        alpha=torch.where(ok, alpha, nan),
        intercept=torch.where(ok, intercept, nan),
        r2=torch.where(ok, r2, nan),
        n_fit=torch.where(ok, n_fit, torch.zeros_like(n_fit)),
    )


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (restored on exit)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def covariance_eigenvalues(cov: torch.Tensor, workers: int | None = None) -> torch.Tensor:
    """Eigenvalues of symmetric matrices [..., D, D] in float64, descending, batched.

    On CPU LAPACK runs with one intra-op thread and the batch is split over ``workers`` threads
    (default: torch's thread count): the tridiagonalisation of a few-hundred-wide matrix is a long
    chain of small BLAS calls, each an OpenMP fork/join, which parallelises poorly and stalls badly
    when another process holds a core (a 192 × 192 matrix took 1.4 s instead of 1 ms on a busy
    2-core host).
    """
    cov = cov.to(torch.float64)  # eigvalsh reads the lower triangle only: no symmetrising pass
    if cov.device.type != "cpu":
        return torch.flip(torch.linalg.eigvalsh(cov), dims=(-1,))
    workers = workers or torch.get_num_threads()
    flat = cov.reshape(-1, *cov.shape[-2:])  # [M, D, D]
    with intra_op_threads(1):
        if workers < 2 or flat.shape[0] < 2:
            lam = torch.linalg.eigvalsh(flat)
        else:
            with ThreadPoolExecutor(workers) as pool:
                lam = torch.cat(list(pool.map(torch.linalg.eigvalsh, flat.chunk(workers))))
    return torch.flip(lam.reshape(cov.shape[:-1]), dims=(-1,))


def alpha_from_samples(
    samples: torch.Tensor | np.ndarray, config: FitConfig | None = None
) -> PowerLawFit:
    """α of one representation matrix [N, D] (rows are samples): centre, covariance, fit.

    The reference path used to check the α-ReQ values; the streamed pipeline gets the same
    covariance from accumulated moments instead.
    """
    x = torch.as_tensor(np.asarray(samples) if isinstance(samples, np.ndarray) else samples)
    x = x.to(torch.float64).reshape(x.shape[0], -1)  # [N, D]
    if x.shape[0] < 2:
        raise ValueError("need at least 2 samples for a covariance")
    xc = x - x.mean(dim=0, keepdim=True)
    if x.shape[1] <= x.shape[0]:
        cov = xc.T @ xc / (x.shape[0] - 1)  # [D, D]
    else:  # same non-zero eigenvalues, smaller matrix
        cov = xc @ xc.T / (x.shape[0] - 1)  # [N, N]
    lam = covariance_eigenvalues(cov)
    return fit_powerlaw(lam, config, max_rank=x.shape[0] - 1)
