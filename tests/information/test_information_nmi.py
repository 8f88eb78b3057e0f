"""Known answers and invariances of I(U;V), I(U;U′) and NMI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infovit.information import (
    as_channel,
    concat_channels,
    information_matrix,
    mutual_information,
    normalized_mutual_information,
)


def _head(seed: int, L: int = 300, r: int = 3, spread: float = 1.0, logvar: float = -1.5):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(L, r, generator=g, dtype=torch.float64) * spread
    lv = logvar + 0.3 * torch.randn(L, r, generator=g, dtype=torch.float64)
    return mu, lv


@pytest.mark.parametrize("method", ["mc", "bhattacharyya", "kl"])
def test_nmi_of_a_channel_with_itself_is_one(method: str) -> None:
    mu, lv = _head(0)
    m = information_matrix(
        {"u": (mu, lv), "same": (mu.clone(), lv.clone())}, method=method, n_samples=6000, seed=1
    )
    assert m.nmi[0, 0] == 1.0 and m.nmi_se[0, 0] == 0.0
    assert abs(m.nmi[0, 1] - 1.0) <= 3 * m.nmi_se[0, 1] + 1e-9
    assert abs(m.pair_mi[0, 1] - m.self_mi[0]) <= 3 * m.pair_mi_se[0, 1] + 1e-9
    # U – X – U′: a second draw shares less with U than X does, unless U is deterministic.
    assert m.self_mi[0] < m.mi[0]


def test_nmi_of_independent_channels_is_zero() -> None:
    """X uniform on a 15×15 grid; U reads the row, V the column: independent, I(U;V) = 0."""
    side = 15
    row, col = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    row, col = row.reshape(-1, 1).double(), col.reshape(-1, 1).double()
    lv = torch.full_like(row, math.log(0.3**2))
    channels = {"row": (row, lv), "col": (col, lv)}
    m = information_matrix(channels, n_samples=20000, seed=2)
    assert m.self_mi.min() > 1.0  # both channels carry information …
    # … but none in common. With shared rows the marginal of the joint factorises exactly over
    # the grid, so every per-row term of I(U;V) is 0, not only their mean.
    assert abs(m.pair_mi[0, 1]) < 1e-6 and abs(m.nmi[0, 1]) < 1e-6
    bd = information_matrix(channels, method="bhattacharyya")
    assert abs(bd.nmi[0, 1]) < 1e-6  # distances add exactly over independent coordinates


def test_partial_overlap_lies_between_and_is_symmetric() -> None:
    mu, lv = _head(3, r=2)
    other = mu.clone()
    other[:, 1] = _head(4, r=2)[0][:, 1]  # shares one latent dim with U
    m = information_matrix({"u": (mu, lv), "v": (other, lv)}, n_samples=8000, seed=3)
    assert 0.2 < m.nmi[0, 1] < 0.8
    assert m.nmi[0, 1] == m.nmi[1, 0] and m.nmi_se[0, 1] == m.nmi_se[1, 0]
    assert 0 < m.nmi_se[0, 1] < 0.05


def test_invariant_to_permuting_latent_dims() -> None:
    u, v = _head(5), _head(6)
    perm = [2, 0, 1]
    a = normalized_mutual_information(u, v, n_samples=8000, seed=4)
    b = normalized_mutual_information(u, (v[0][:, perm], v[1][:, perm]), n_samples=8000, seed=9)
    assert abs(a.value - b.value) <= 3 * math.hypot(a.stderr, b.stderr)
    bd_a = normalized_mutual_information(u, v, method="bhattacharyya")
    bd_b = normalized_mutual_information(u, (v[0][:, perm], v[1][:, perm]), method="bhattacharyya")
    assert bd_b.value == pytest.approx(bd_a.value, abs=1e-6)  # float32 summation order only


@pytest.mark.parametrize("method", ["mc", "bhattacharyya", "kl"])
@pytest.mark.parametrize("factor", [1e-3, 50.0])
def test_invariant_to_rescaling_one_dim(method: str, factor: float) -> None:
    """μ and σ of one dim times ``factor`` is an invertible map of U: nothing changes."""
    u, v = _head(7), _head(8, spread=0.5)
    mu, lv = u[0].clone(), u[1].clone()
    mu[:, 1] *= factor
    lv[:, 1] += 2 * math.log(factor)
    opts = dict(method=method, n_samples=5000, seed=5, dtype="float64")
    a = information_matrix({"u": u, "v": v}, **opts)
    b = information_matrix({"u": (mu, lv), "v": v}, **opts)
    np.testing.assert_allclose(b.mi, a.mi, atol=1e-8)
    np.testing.assert_allclose(b.nmi, a.nmi, atol=1e-8)
    np.testing.assert_allclose(b.nmi_se, a.nmi_se, atol=1e-8)


@pytest.mark.parametrize("method", ["mc", "bhattacharyya", "kl"])
def test_collapsed_dimension_adds_nothing(method: str) -> None:
    """A dim at the prior (μ = 0, σ = 1 for every patch) carries no information about x."""
    u, v = _head(9), _head(10)
    L = u[0].shape[0]
    mu = torch.cat([u[0], torch.zeros(L, 1, dtype=torch.float64)], dim=1)
    lv = torch.cat([u[1], torch.zeros(L, 1, dtype=torch.float64)], dim=1)
    opts = dict(method=method, n_samples=5000, seed=6)
    a = information_matrix({"u": u, "v": v}, **opts)
    b = information_matrix({"u": (mu, lv), "v": v}, **opts)
    np.testing.assert_allclose(b.mi, a.mi, atol=1e-5)
    np.testing.assert_allclose(b.pair_mi, a.pair_mi, atol=1e-5)
    np.testing.assert_allclose(b.nmi, a.nmi, atol=1e-5)


def test_matrix_agrees_with_single_channel_estimate() -> None:
    """Same draws, different code paths: pairs use a narrower float32 range than singles."""
    g = torch.Generator().manual_seed(11)
    # Broad and very narrow posteriors mixed: large log-ratios, many terms clipped from below.
    mu = torch.randn(200, 8, generator=g, dtype=torch.float64)
    lv = torch.where(torch.rand(200, 1, generator=g) < 0.5, 0.0, -12.0).expand(200, 8).clone()
    # float32 forced (auto would pick float64 here): both paths see the same float32 tiles.
    opts = dict(n_samples=3000, seed=7, dtype="float32")
    m = information_matrix({"u": (mu, lv), "v": _head(12, L=200, r=8)}, **opts)
    single = mutual_information(mu, lv, **opts)
    assert m.mi[0] == pytest.approx(single.value, abs=1e-6)
    assert m.mi_se[0] == pytest.approx(single.stderr, rel=1e-5)


def test_channel_without_information_has_undefined_nmi() -> None:
    L = 100
    flat = (torch.zeros(L, 2), torch.zeros(L, 2))
    weak = (0.02 * _head(19, L=L)[0], torch.zeros(L, 3))  # I(U;U′) ~ 1e-4: noise at n = 1000
    channels = {"flat": flat, "weak": weak, "u": _head(13, L=L)}
    m = information_matrix(channels, n_samples=1000)
    assert abs(m.mi[0]) < 1e-5 and abs(m.self_mi[0]) < 1e-5
    assert m.self_mi[1] < 3 * m.self_mi_se[1]
    assert np.isnan(m.nmi[:2, :]).all() and np.isnan(m.nmi[:, :2]).all()
    assert np.isfinite(m.pair_mi).all()  # I(U;V) itself stays reported
    assert m.nmi[2, 2] == 1.0


def test_deterministic_channel_self_information_is_log_l() -> None:
    L = 50
    mu = torch.arange(L, dtype=torch.float64)[:, None] * 100.0
    m = information_matrix([as_channel(mu, torch.zeros(L, 1), "sharp")], n_samples=2000)
    assert m.mi[0] == pytest.approx(math.log(L), abs=1e-6)
    assert m.self_mi[0] == pytest.approx(math.log(L), abs=1e-6)


def test_nmi_standard_error_matches_scatter_over_seeds() -> None:
    u, v = _head(14, L=120, r=2), _head(15, L=120, r=2)
    v = (0.7 * u[0] + 0.7 * v[0], v[1])
    runs = [normalized_mutual_information(u, v, n_samples=3000, seed=s) for s in range(30)]
    values = np.array([r.value for r in runs])
    ratio = values.std(ddof=1) / np.mean([r.stderr for r in runs])
    assert 0.6 < ratio < 1.5


@pytest.mark.parametrize("method", ["mc", "bhattacharyya", "kl"])
def test_two_draws_equal_one_draw_with_half_the_variance(method: str) -> None:
    """With σ the same for every x, (U, U′) given x is summarised by (U+U′)/2 ~ N(μ, σ²/2)
    (U−U′ does not depend on x), so I(U;U′) = 2 I(X;U) − I(X;Ū). Exact for the distance
    methods, whose distances are then the same; within the error for Monte Carlo."""
    mu, _ = _head(16, L=250, r=2)
    lv = torch.tensor([[-1.0, -2.5]], dtype=torch.float64).expand(250, 2)
    m = information_matrix([as_channel(mu, lv, "u")], method=method, n_samples=20000, seed=8)
    mean_of_two = mutual_information(mu, lv - math.log(2.0), method=method, n_samples=20000)
    expected = 2 * m.mi[0] - mean_of_two.value
    tol = 4 * math.hypot(m.self_mi_se[0] + 2 * m.mi_se[0], mean_of_two.stderr) + 1e-6
    assert abs(m.self_mi[0] - expected) <= tol


@pytest.mark.parametrize("method", ["mc", "bhattacharyya"])
def test_pair_terms_equal_the_explicitly_concatenated_channel(method: str) -> None:
    """The engine forms (U, V) from per-channel tiles; concatenating parameters must agree."""
    u, v = _head(17, L=200, r=2), _head(18, L=200, r=3)
    m = information_matrix({"u": u, "v": v}, method=method, n_samples=20000, seed=9)
    joint = concat_channels(as_channel(*u, "u"), as_channel(*v, "v"))
    uv = mutual_information(joint.mu, joint.logvar, method=method, n_samples=20000, seed=10)
    implied = m.mi[0] + m.mi[1] - m.pair_mi[0, 1]  # I(X;U,V) from eq. 5
    tol = 4 * math.hypot(uv.stderr, m.mi_se[0] + m.mi_se[1] + m.pair_mi_se[0, 1]) + 1e-6
    assert abs(implied - uv.value) <= tol
