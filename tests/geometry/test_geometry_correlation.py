"""Inter-token Pearson correlation of flattened (N × D) matrices, streamed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infovit.geometry.correlation import mean_lower_triangle
from infovit.geometry.moments import LayerMoments


def _stream(x: torch.Tensor, sizes: tuple[int, ...] = (3, 40, 57)) -> torch.Tensor:
    corr = LayerMoments(x.shape[1], x.shape[2], cov_tokens=(0, 0), gram=True)
    start = 0
    for size in sizes:
        corr.update(x[start : start + size])
        start += size
    corr.update(x[start:])
    return corr.correlation()


def test_equals_corrcoef_of_flattened_matrices() -> None:
    gen = torch.Generator().manual_seed(0)
    n, t, d = 120, 6, 9
    base = torch.randn(n, 1, d, generator=gen, dtype=torch.float64)
    # Shared signal, per-token noise, and per-dimension offsets (part of the flattened signal).
    x = base + 0.7 * torch.randn(n, t, d, generator=gen, dtype=torch.float64)
    x = x + 50.0 * torch.randn(1, t, d, generator=gen, dtype=torch.float64)
    got = _stream(x)
    flat = x.permute(1, 0, 2).reshape(t, -1).numpy()  # [T, N·D]
    np.testing.assert_allclose(got.numpy(), np.corrcoef(flat), rtol=1e-9, atol=1e-9)


def test_identical_affine_and_independent_tokens() -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(400, 1, 64, generator=gen)
    b = torch.randn(400, 1, 64, generator=gen)
    x = torch.cat([a, a, 3.0 * a + 2.0, -a, b], dim=1)  # [N, 5, D]
    c = _stream(x)
    assert c[0, 1].item() == pytest.approx(1.0, abs=1e-9)
    assert c[0, 2].item() == pytest.approx(1.0, abs=1e-9)
    assert c[0, 3].item() == pytest.approx(-1.0, abs=1e-9)
    assert abs(c[0, 4].item()) < 0.02  # 25 600 entries: sd of r ≈ 0.006
    assert torch.diagonal(c).tolist() == pytest.approx([1.0] * 5)
    assert torch.allclose(c, c.T)


def test_constant_token_is_nan() -> None:
    x = torch.randn(30, 3, 4)
    x[:, 1] = 2.5
    c = _stream(x, (10,))
    assert torch.isnan(c[1]).all() and torch.isnan(c[:, 1]).all()
    assert torch.isfinite(c[0, 2])


def test_mean_lower_triangle() -> None:
    c = torch.tensor([[1.0, 0.2, 0.4], [0.2, 1.0, 0.6], [0.4, 0.6, 1.0]])
    assert mean_lower_triangle(c).item() == pytest.approx(0.4)
    mask = torch.tensor([False, True, True])
    assert mean_lower_triangle(c, mask).item() == pytest.approx(0.6)
    stacked = torch.stack([c, torch.eye(3)])
    assert mean_lower_triangle(stacked).tolist() == pytest.approx([0.4, 0.0])
    c[1, 0] = float("nan")
    assert mean_lower_triangle(c).item() == pytest.approx(0.5)
