"""Known answers for I(X;U): separated and identical posteriors, 1-D quadrature, bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from infovit.errors import InfovitError
from infovit.information import mutual_information


def _quadrature_mi(mu: list[float], sd: list[float]) -> float:
    """I(X;U) = mean_i ∫ p_i log(p_i / p̄) du for a 1-D Gaussian mixture, by adaptive quadrature."""
    m, s = np.asarray(mu, float), np.asarray(sd, float)

    def comps(u: float) -> np.ndarray:
        return np.exp(-0.5 * ((u - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    total = 0.0
    for i in range(len(m)):

        def f(u: float, i: int = i) -> float:
            c = comps(u)
            return c[i] * (math.log(c[i]) - math.log(c.mean())) if c[i] > 0 else 0.0

        lo, hi = m[i] - 12 * s[i], m[i] + 12 * s[i]
        pts = sorted({float(x) for x in np.clip(m, lo, hi)})
        total += integrate.quad(f, lo, hi, points=pts, limit=500, epsabs=1e-11)[0]
    return total / len(m)


def _params(mu: list[float], sd: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.tensor(mu, dtype=torch.float64)[:, None]  # [L, 1]
    return m, torch.log(torch.tensor(sd, dtype=torch.float64) ** 2)[:, None]


@pytest.mark.parametrize("method", ["mc", "bhattacharyya", "kl"])
def test_separated_points_give_log_l(method: str) -> None:
    L, r = 64, 3
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(L, r, generator=g) * 1e3  # centres far apart relative to σ ≤ 1
    logvar = torch.rand(L, r, generator=g) * -2
    est = mutual_information(mu, logvar, method=method, n_samples=3000 if method == "mc" else None)
    assert abs(est.value - math.log(L)) <= 3 * est.stderr + 1e-6


@pytest.mark.parametrize("method", ["mc", "bhattacharyya", "kl"])
def test_identical_posteriors_give_zero(method: str) -> None:
    mu = torch.full((40, 4), 2.5)
    logvar = torch.full((40, 4), -1.3)
    est = mutual_information(mu, logvar, method=method, n_samples=2000)
    assert abs(est.value) < 1e-5


@pytest.mark.parametrize(
    ("mu", "sd"),
    [([0.0, 1.0, 3.0], [0.5, 1.0, 0.3]), ([0.0, 0.1, 0.2, 5.0], [1.0, 1.0, 0.05, 2.0])],
)
def test_one_dim_against_quadrature(mu: list[float], sd: list[float]) -> None:
    truth = _quadrature_mi(mu, sd)
    m, lv = _params(mu, sd)
    est = mutual_information(m, lv, n_samples=60000, seed=3)
    assert est.stderr < 0.01
    assert abs(est.value - truth) < 4 * est.stderr
    # Kolchinsky–Tracey: Bhattacharyya is a lower and KL an upper bound on the exact value.
    lower = mutual_information(m, lv, method="bhattacharyya")
    upper = mutual_information(m, lv, method="kl")
    assert lower.value <= truth + 1e-9 <= upper.value + 2e-9
    assert lower.stderr == 0.0  # all patches: deterministic, no sampling error


def test_tiny_sigma_is_finite_and_scale_invariant() -> None:
    """σ = 1e-4 at an offset of 1e3: no overflow/NaN, and the same answer as the σ = 1 problem."""
    mu, sd = [0.0, 1.0, 2.5, 2.6], [1.0, 2.0, 0.5, 0.7]
    m, lv = _params(mu, sd)
    scale = 1e-4
    ref = mutual_information(m, lv, n_samples=20000, seed=5)
    tiny = mutual_information(1e3 + m * scale, lv + 2 * math.log(scale), n_samples=20000, seed=5)
    assert math.isfinite(tiny.value) and math.isfinite(tiny.stderr)
    assert tiny.value == pytest.approx(ref.value, abs=1e-6)
    for method in ("bhattacharyya", "kl"):
        a = mutual_information(m, lv, method=method).value
        b = mutual_information(1e3 + m * scale, lv + 2 * math.log(scale), method=method).value
        assert b == pytest.approx(a, abs=1e-6)


def test_bhattacharyya_and_kl_bracket_mc_in_higher_dims() -> None:
    g = torch.Generator().manual_seed(2)
    previous = None
    for spread in (0.3, 1.0, 3.0):
        mu = torch.randn(150, 3, generator=g, dtype=torch.float64) * spread
        logvar = torch.randn(150, 3, generator=g, dtype=torch.float64) * 0.5 - 1.0
        mc = mutual_information(mu, logvar, n_samples=30000, seed=1)
        bd = mutual_information(mu, logvar, method="bhattacharyya")
        kl = mutual_information(mu, logvar, method="kl")
        assert bd.value <= mc.value + 3 * mc.stderr
        assert mc.value <= kl.value + 3 * mc.stderr
        assert kl.value <= math.log(150) + 1e-9
        if previous is not None:  # all three grow with separation
            assert bd.value > previous[0] and mc.value > previous[1]
        previous = (bd.value, mc.value)


def test_component_subsampling_is_capped_and_biased_down() -> None:
    L, M = 300, 20
    g = torch.Generator().manual_seed(4)
    mu = torch.randn(L, 2, generator=g) * 5
    logvar = torch.full((L, 2), -2.0)
    full = mutual_information(mu, logvar, n_samples=4000)
    sub = mutual_information(mu, logvar, n_samples=4000, n_components=M)
    assert sub.value <= math.log(M + 1) + 1e-6
    assert sub.value < full.value - 5 * full.stderr
    bd = mutual_information(mu, logvar, method="bhattacharyya", n_components=M)
    assert bd.value <= math.log(M + 1) + 1e-6


def test_row_subsampling_is_unbiased_with_error() -> None:
    g = torch.Generator().manual_seed(6)
    mu = torch.randn(400, 2, generator=g)
    logvar = torch.full((400, 2), -1.0)
    full = mutual_information(mu, logvar, method="bhattacharyya")
    part = mutual_information(mu, logvar, method="bhattacharyya", n_samples=150, seed=2)
    assert 0 < part.stderr < 0.2
    assert abs(part.value - full.value) < 4 * part.stderr


def test_reproducible_and_independent_of_chunking() -> None:
    g = torch.Generator().manual_seed(7)
    mu, logvar = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g) * 0.3 - 1
    a = mutual_information(mu, logvar, n_samples=9000, seed=11)
    b = mutual_information(mu, logvar, n_samples=9000, seed=11, row_chunk=97, col_chunk=61)
    c = mutual_information(mu, logvar, n_samples=9000, seed=12)
    d = mutual_information(mu, logvar, n_samples=9000, seed=11, workers=2)
    assert torch.get_num_threads() == 1  # the worker pool restores the thread setting
    assert b.value == pytest.approx(a.value, abs=1e-6)
    assert b.stderr == pytest.approx(a.stderr, rel=1e-5)
    assert (d.value, d.stderr) == (a.value, a.stderr)
    assert c.value != a.value


def test_float32_matches_float64() -> None:
    """IB-like posteriors: mostly collapsed dims, a few sharp ones; auto picks float32."""
    g = torch.Generator().manual_seed(8)
    mu = torch.randn(800, 8, generator=g) * 0.02
    logvar = torch.randn(800, 8, generator=g) * 0.01
    mu[:, :2] = torch.randn(800, 2, generator=g) * 1.5
    logvar[:, :2] = -6 + torch.rand(800, 2, generator=g)
    f32 = mutual_information(mu, logvar, n_samples=8000, dtype="float32")
    f64 = mutual_information(mu, logvar, n_samples=8000, dtype="float64")
    auto = mutual_information(mu, logvar, n_samples=8000)
    assert f32.value == pytest.approx(f64.value, abs=1e-3)
    assert auto.value == f32.value


def test_standard_error_matches_scatter_over_seeds() -> None:
    g = torch.Generator().manual_seed(9)
    mu, logvar = torch.randn(60, 2, generator=g), torch.full((60, 2), -0.5)
    runs = [mutual_information(mu, logvar, n_samples=1500, seed=s) for s in range(24)]
    values = np.array([r.value for r in runs])
    ratio = values.std(ddof=1) / np.mean([r.stderr for r in runs])
    assert 0.55 < ratio < 1.6


def test_bad_input_is_reported() -> None:
    with pytest.raises(InfovitError, match=r"\[L, r\]"):
        mutual_information(torch.zeros(5), torch.zeros(5))
    with pytest.raises(InfovitError, match="finite"):
        mutual_information(torch.tensor([[float("nan")]]), torch.zeros(1, 1))
    with pytest.raises(InfovitError, match="method"):
        mutual_information(torch.zeros(3, 1), torch.zeros(3, 1), method="nope")
    with pytest.raises(InfovitError, match="dtype"):
        mutual_information(torch.zeros(3, 1), torch.zeros(3, 1), dtype="half")
