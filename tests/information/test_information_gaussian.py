"""Building blocks: GEMM-form log-densities, Bhattacharyya/KL tiles, precision choice."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from infovit.information import as_channel, log_density_matrix
from infovit.information.bhattacharyya import bhattacharyya_matrix
from infovit.information.gaussian import (
    choose_dtype,
    component_factors,
    kl_row_factors,
    sample_row_factors,
)


def _random(n: int, r: int, seed: int, offset: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    mu = offset + torch.randn(n, r, generator=g, dtype=torch.float64)
    return mu, torch.randn(n, r, generator=g, dtype=torch.float64) * 0.7 - 0.5


def test_log_density_matrix_matches_scipy() -> None:
    mu, lv = _random(7, 3, 0, offset=50.0)
    u = mu[[2, 5]] + 0.3
    got = log_density_matrix(u, mu, lv).numpy()  # [2, 7]
    for i in range(2):
        for j in range(7):
            ref = stats.multivariate_normal(mu[j].numpy(), np.diag(lv[j].exp().numpy()))
            assert got[i, j] == pytest.approx(ref.logpdf(u[i].numpy()), abs=1e-9)


def test_sample_rows_give_log_ratio_against_own_component() -> None:
    mu, lv = _random(6, 4, 1)
    eps = torch.randn(6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    center = mu.mean(dim=0)
    ell = sample_row_factors(mu, lv, eps, center) @ component_factors(mu, lv, center)  # [6, 6]
    u = mu + torch.exp(0.5 * lv) * eps
    dens = log_density_matrix(u, mu, lv)
    torch.testing.assert_close(ell, dens - torch.diagonal(dens)[:, None])
    torch.testing.assert_close(torch.diagonal(ell), torch.zeros(6, dtype=torch.float64))


def _kl(mu_i, lv_i, mu_j, lv_j) -> float:
    vi, vj = np.exp(lv_i), np.exp(lv_j)
    return 0.5 * float(np.sum(vi / vj + (mu_i - mu_j) ** 2 / vj - 1 + lv_j - lv_i))


def _bhattacharyya(mu_i, lv_i, mu_j, lv_j) -> float:
    vi, vj = np.exp(lv_i), np.exp(lv_j)
    v = (vi + vj) / 2
    return float(np.sum((mu_i - mu_j) ** 2 / (8 * v)) + 0.5 * np.sum(np.log(v / np.sqrt(vi * vj))))


def test_distance_tiles_match_formulas() -> None:
    mu, lv = _random(5, 9, 3)  # 9 dims: the log of s is taken over several groups
    m, v = mu.numpy(), lv.numpy()
    bd = bhattacharyya_matrix(mu, lv, mu, lv).numpy()
    center = mu.mean(dim=0)
    neg_kl = (kl_row_factors(mu, lv, center) @ component_factors(mu, lv, center)).numpy()
    for i in range(5):
        for j in range(5):
            assert bd[i, j] == pytest.approx(_bhattacharyya(m[i], v[i], m[j], v[j]), abs=1e-9)
            assert -neg_kl[i, j] == pytest.approx(_kl(m[i], v[i], m[j], v[j]), abs=1e-9)
    np.testing.assert_allclose(np.diag(bd), 0.0, atol=1e-12)


def test_bhattacharyya_float32_handles_extreme_variances() -> None:
    mu, _ = _random(4, 40, 4)
    lv = torch.linspace(-20, 20, 40, dtype=torch.float64).expand(4, 40)
    exact = bhattacharyya_matrix(mu, lv, mu, lv)
    single = bhattacharyya_matrix(mu.float(), lv.float(), mu.float(), lv.float())
    assert torch.isfinite(single).all()
    torch.testing.assert_close(single.double(), exact, atol=2e-3, rtol=1e-4)


def test_choose_dtype() -> None:
    mu, lv = _random(200, 8, 5)
    loose = as_channel(mu, lv)
    sharp = as_channel(mu, torch.full_like(lv, 2 * math.log(1e-4)))
    centers = [mu.mean(dim=0)]
    assert choose_dtype([loose], centers) == torch.float32
    assert choose_dtype([sharp], centers) == torch.float64
    assert choose_dtype([sharp], centers, "float32") == torch.float32
