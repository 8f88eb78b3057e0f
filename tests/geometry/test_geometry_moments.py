"""Streamed float64 moments against numpy on the stacked activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infovit.geometry.moments import LayerMoments, pooled_covariance

BATCHES = ((0, 1), (1, 17), (17, 64), (64, 65), (65, 200))  # uneven, including single images


def _activations(n: int = 200, t: int = 5, d: int = 12, offset: float = 1e4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(t, d, d, generator=gen, dtype=torch.float64)
    z = torch.randn(n, t, d, generator=gen, dtype=torch.float64)
    # A large common offset: a raw Σxxᵀ − nμμᵀ would cancel catastrophically.
    return torch.einsum("ntd,tde->nte", z, mix) + offset  # [N, T, D]


def test_streamed_covariance_equals_numpy_cov() -> None:
    x = _activations()
    mom = LayerMoments(5, 12, chunk_tokens=2)
    for a, b in BATCHES:
        mom.update(x[a:b])
    assert mom.count == 200
    cov = mom.covariance()
    for t in range(5):
        ref = np.cov(x[:, t].numpy(), rowvar=False)
        np.testing.assert_allclose(cov[t].numpy(), ref, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(mom.mean()[t].numpy(), x[:, t].mean(0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(mom.covariance(1, 3).numpy(), cov[1:3].numpy())


def test_float32_input_matches_float64_reference() -> None:
    x = _activations(offset=30.0).float()  # what a model hands over
    mom = LayerMoments(5, 12)
    for a, b in BATCHES:
        mom.update(x[a:b])
    ref = np.cov(x[:, 2].double().numpy(), rowvar=False)
    np.testing.assert_allclose(mom.covariance()[2].numpy(), ref, rtol=1e-9, atol=1e-9)


def test_pooled_covariance_is_covariance_of_stacked_tokens() -> None:
    x = _activations(offset=0.0) + torch.arange(5, dtype=torch.float64)[None, :, None]  # [N,T,D]
    mom = LayerMoments(5, 12)
    mom.update(x)
    pooled = pooled_covariance(mom.mean(), mom.covariance().sum(0), mom.count)
    ref = np.cov(x.reshape(-1, 12).numpy(), rowvar=False)  # [N·T, D] as samples
    np.testing.assert_allclose(pooled.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_token_range_with_and_without_gram() -> None:
    """A covariance range inside the layer gives the same numbers with or without the Gram."""
    x = _activations()
    plain = LayerMoments(5, 12, cov_tokens=(1, 4), chunk_tokens=2)
    shared = LayerMoments(5, 12, cov_tokens=(1, 4), gram=True, chunk_tokens=2)
    for a, b in BATCHES:
        plain.update(x[a:b])
        shared.update(x[a:b])
    for mom in (plain, shared):
        assert mom.covariance().shape == (3, 12, 12)
        for i, t in enumerate(range(1, 4)):
            ref = np.cov(x[:, t].numpy(), rowvar=False)
            np.testing.assert_allclose(mom.covariance()[i].numpy(), ref, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(mom.mean()[i].numpy(), x[:, t].mean(0).numpy())
    flat = x.permute(1, 0, 2).reshape(5, -1).numpy()  # [T, N·D]
    np.testing.assert_allclose(shared.correlation().numpy(), np.corrcoef(flat), atol=1e-9)
    with pytest.raises(ValueError, match="gram"):
        plain.correlation()


def test_bytes_and_errors() -> None:
    for cov, gram in (((0, 3), False), ((1, 2), True), ((0, 0), True)):
        mom = LayerMoments(3, 4, cov_tokens=cov, gram=gram)
        assert mom.nbytes == LayerMoments.nbytes_for(3, 4, cov[1] - cov[0], gram)
    assert LayerMoments.nbytes_for(3, 4, 3, False) == 8 * 3 * (5 * 5 + 4)  # (D+1)² + shift
    mom = LayerMoments(3, 4)
    with pytest.raises(ValueError):
        mom.update(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError):
        mom.covariance()
    mom.update(torch.zeros(1, 3, 4))
    with pytest.raises(ValueError):  # one sample: no unbiased covariance
        mom.covariance()
    with pytest.raises(ValueError):
        LayerMoments(3, 4, cov_tokens=(2, 5))


def test_float32_products_stay_within_their_rounding_bound() -> None:
    """Opt-in float32 GEMMs per batch, summed in float64: ~B·2⁻²⁴ relative, never worse."""
    x = _activations(offset=30.0).float()
    fast, exact = LayerMoments(5, 12, gram=True, work_dtype=torch.float32), LayerMoments(5, 12)
    for a, b in BATCHES:
        fast.update(x[a:b])
        exact.update(x[a:b])
    assert fast._prod is not None and fast._prod.dtype == torch.float32  # the fast path ran
    err = (fast.covariance() - exact.covariance()).abs().max() / exact.covariance().abs().max()
    assert 0.0 < float(err) < 135 * 2.0**-24  # largest batch: 135 images
    const = torch.full((7, 5, 12), 3.25)  # a token that never changes: exactly zero variance
    still = LayerMoments(5, 12, work_dtype=torch.float32)
    still.update(const[:3])
    still.update(const[3:])
    assert float(still.covariance().abs().max()) == 0.0
