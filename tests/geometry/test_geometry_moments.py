"""Streamed float64 moments against numpy on the stacked activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infovit.geometry.moments import TokenMoments, pooled_covariance

BATCHES = ((0, 1), (1, 17), (17, 64), (64, 65), (65, 200))  # uneven, including single images


def _activations(n: int = 200, t: int = 5, d: int = 12, offset: float = 1e4) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(t, d, d, generator=gen, dtype=torch.float64)
    z = torch.randn(n, t, d, generator=gen, dtype=torch.float64)
    # A large common offset: a raw Σxxᵀ − nμμᵀ would cancel catastrophically.
    return torch.einsum("ntd,tde->nte", z, mix) + offset  # [N, T, D]


def test_streamed_covariance_equals_numpy_cov() -> None:
    x = _activations()
    mom = TokenMoments(5, 12, chunk_tokens=2)
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
    mom = TokenMoments(5, 12)
    for a, b in BATCHES:
        mom.update(x[a:b])
    ref = np.cov(x[:, 2].double().numpy(), rowvar=False)
    np.testing.assert_allclose(mom.covariance()[2].numpy(), ref, rtol=1e-9, atol=1e-9)


def test_pooled_covariance_is_covariance_of_stacked_tokens() -> None:
    x = _activations(offset=0.0) + torch.arange(5, dtype=torch.float64)[None, :, None]  # [N,T,D]
    mom = TokenMoments(5, 12)
    mom.update(x)
    pooled = pooled_covariance(mom.mean(), mom.covariance().sum(0), mom.count)
    ref = np.cov(x.reshape(-1, 12).numpy(), rowvar=False)  # [N·T, D] as samples
    np.testing.assert_allclose(pooled.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_bytes_and_errors() -> None:
    mom = TokenMoments(3, 4)
    assert mom.nbytes == 8 * 3 * (16 + 8)
    held = sum(t.numel() * t.element_size() for t in (mom.shift, mom.sum, mom.outer))
    assert mom.nbytes == held
    with pytest.raises(ValueError):
        mom.update(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError):
        mom.covariance()
    mom.update(torch.zeros(1, 3, 4))
    with pytest.raises(ValueError):  # one sample: no unbiased covariance
        mom.covariance()
