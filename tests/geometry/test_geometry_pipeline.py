"""The streamed pass against direct computations on stacked activations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from infovit.geometry.budget import plan_passes
from infovit.geometry.extract import describe_layers, run_layers
from infovit.geometry.pipeline import compute_geometry
from infovit.geometry.powerlaw import alpha_from_samples


def _stacked(model: nn.Module, images: torch.Tensor, layers: list[int]) -> dict[int, torch.Tensor]:
    out: dict[int, list[torch.Tensor]] = {i: [] for i in layers}
    for batch in images.split(50):
        run_layers(model, batch, layers, lambda i, t: out[i].append(t.double()))
    return {i: torch.cat(v) for i, v in out.items()}  # [N, T, D]


def _batches(images: torch.Tensor, size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b, torch.zeros(len(b))) for b in images.split(size)]


@pytest.mark.parametrize(("precision", "tol"), [("float64", 1e-8), ("auto", 1e-4)])
def test_alpha_and_correlation_equal_direct_computation(
    vit: nn.Module, images: torch.Tensor, precision: str, tol: float
) -> None:
    res = compute_geometry(
        vit, _batches(images), include_pixels=True, progress=False, precision=precision
    )
    assert res.count == 150
    assert [s.index for s in res.layers] == [-1, 0, 1, 2, 3]
    acts = _stacked(vit, images, [-1, 0, 1, 2, 3])
    for row, spec in enumerate(res.layers):
        x = acts[spec.index]
        for tok in (0, 1, 9, 16):
            g = tok - spec.token_offset
            if g < 0:
                assert np.isnan(res.alpha[row, tok])  # no pixels for the class token
                continue
            ref = alpha_from_samples(x[:, g])
            if np.isnan(ref.alpha.item()):
                assert np.isnan(res.alpha[row, tok])
            else:
                assert res.alpha[row, tok] == pytest.approx(ref.alpha.item(), abs=tol)
                assert res.r2[row, tok] == pytest.approx(ref.r2.item(), abs=tol)
        flat = x.permute(1, 0, 2).reshape(x.shape[1], -1).numpy()  # [T, N·D]
        with np.errstate(invalid="ignore", divide="ignore"):
            ref_corr = np.corrcoef(flat)
        sl = slice(spec.token_offset, spec.token_offset + spec.num_tokens)
        np.testing.assert_allclose(res.corr[row, sl, sl], ref_corr, rtol=1e-5, atol=1e-5)
        pooled = alpha_from_samples(x.reshape(-1, x.shape[2]))  # all tokens as samples
        assert res.pooled_alpha[row] == pytest.approx(pooled.alpha.item(), abs=tol)
    # The class token is identical for every image at the embedding layer: no spectrum.
    assert np.isnan(res.alpha[1, 0]) and res.total_variance[1, 0] == 0.0
    assert np.isfinite(res.alpha[1, 1:]).all() and np.isfinite(res.alpha[2:]).all()


def test_auto_measures_again_in_float64_where_float32_cannot_resolve_the_spectrum(
    vit: nn.Module,
) -> None:
    """Known answer: pixels built from 40 patterns whose scales fall by 10× every 4 patterns
    have eigenvalues down to ~1e-20 of the largest. float32 products resolve ~1e-6: alone they
    fit fewer ranks (never rounding noise), and "auto" measures that layer again in float64,
    giving the float64 α exactly."""
    g = torch.Generator().manual_seed(5)
    basis = torch.randn(40, 3, 16, 16, generator=g)
    scales = 10.0 ** (-torch.arange(40) / 4.0)
    images = torch.einsum("nk,k,kchw->nchw", torch.randn(300, 40, generator=g), scales, basis)
    run = {
        p: compute_geometry(
            vit, _batches(images, 100), include_pixels=True, progress=False, precision=p
        )
        for p in ("float64", "float32", "auto")
    }
    exact, fast, auto = run["float64"], run["float32"], run["auto"]
    assert -1 in auto.info["float64_layers"]  # type: ignore[operator]
    pix = 0  # row of the pixel layer
    assert (fast.n_fit[pix] < exact.n_fit[pix]).any()  # the floor cut ranks, nothing was fitted
    np.testing.assert_array_equal(auto.n_fit, exact.n_fit)
    np.testing.assert_allclose(auto.alpha[pix], exact.alpha[pix], rtol=0, atol=1e-12)
    np.testing.assert_allclose(auto.alpha, exact.alpha, rtol=0, atol=1e-4)
    assert exact.info["float32_layers"] == [] and fast.info["float64_layers"] == []


def test_many_passes_give_the_same_answer(vit: nn.Module, images: torch.Tensor) -> None:
    one = compute_geometry(vit, _batches(images), progress=False, precision="float64")
    specs = describe_layers(vit)
    probe = plan_passes(specs, 2**30, 32)
    budget = probe.work_bytes + probe.fixed_bytes + 40_000  # a few tokens per pass
    many = compute_geometry(
        vit,
        _batches(images),
        max_memory=budget,
        batch_size=32,
        progress=False,
        precision="float64",
    )
    assert len(one.plan.passes) == 1 and len(many.plan.passes) > 8
    np.testing.assert_allclose(many.alpha, one.alpha, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(many.corr, one.corr, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(many.pooled_alpha, one.pooled_alpha, rtol=1e-10)


def test_selected_layers_and_registers(make_vit: Callable[..., nn.Module]) -> None:
    model = make_vit(reg_tokens=2)
    imgs = torch.randn(40, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    res = compute_geometry(model, [imgs[:25], imgs[25:]], layers=[2], correlation=False)
    assert [s.index for s in res.layers] == [2]
    assert res.alpha.shape == (1, 19) and res.corr is None and res.corr_mean is None
    assert res.n_fit.max() == 22  # ranks 11..32 of a 32-wide token (N − 1 = 39)


def test_too_few_images(vit: nn.Module) -> None:
    with pytest.raises(ValueError, match="at least 2 images"):
        compute_geometry(vit, [torch.randn(1, 3, 16, 16)], progress=False)
