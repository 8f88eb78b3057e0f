"""Constructed models whose analysis results are known in advance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from infovit.analysis import (
    Extraction,
    active_heads,
    extract,
    extract_cached,
    extreme_patches,
    head_table,
    repetition_probe,
    survival_table,
)
from infovit.analysis.probes import paste_patch


def _data(n: int = 12, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 5, (n,), generator=g)
    )


def _silence_all_but(model: torch.nn.Module, keep: tuple[int, int]) -> None:
    """Encoder last layer → μ = 0, log σ² = 0 (the prior) for every head except ``keep``."""
    with torch.no_grad():
        for b, blk in enumerate(model.blocks):
            last = blk.attn.bottleneck.enc[-1]
            for h in range(last.weight.shape[0]):
                if (b, h) != keep:
                    last.weight[h].zero_()
                    last.bias[h].zero_()


def test_only_the_open_head_is_active(make_model) -> None:
    model = make_model("ib").eval()
    _silence_all_but(model, (2, 1))
    ext = extract(model, _data(), passes=1, batch_size=5, progress=False)
    active = active_heads(ext.kl_head)
    expected = np.zeros_like(active)
    expected[2, 1] = True
    np.testing.assert_array_equal(active, expected)
    rows = {(r["block"], r["head"]): r for r in head_table(ext)}
    assert rows[(0, 0)]["kl_max"] == 0.0 and rows[(0, 0)]["share_below"] == 1.0
    assert rows[(0, 0)]["active_dims"] == 0 and rows[(2, 1)]["active_dims"] > 0
    surv = [r for r in survival_table(ext) if (r["block"], r["head"]) == (2, 1)]
    values = [r["survival"] for r in surv]
    assert values == sorted(values, reverse=True) and values[0] == 1.0


def test_no_attn_patch_vote_ignores_other_patches(make_model) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 16, 16)
    y = x.clone()
    y[:, :, 4:, :] = torch.randn(1, 3, 12, 16)  # change every patch but the first row
    for variant, independent in (("no_attn", True), ("vit", False)):
        model = make_model(variant).eval()
        with torch.no_grad():
            a = model.forward_info(x, return_patch_logits=True).patch_logits
            b = model.forward_info(y, return_patch_logits=True).patch_logits
        same = torch.allclose(a[:, :4], b[:, :4], atol=1e-5)  # first row: patches 0..3
        assert same is independent, variant


def test_extraction_tables_agree_with_the_model(make_model, tmp_path) -> None:
    model = make_model("ib").eval().set_noise("mean")
    data = _data(10)
    ext = extract(model, data, passes=3, batch_size=4, latent_heads=[(1, 2)], progress=False)
    N, P = 10, model.num_patches
    assert ext.kl_head.shape == (N, 4, 3, P) and ext.kl_patch.shape == (N, P)
    assert ext.correct.shape == (N, 1)  # deterministic channel: one pass is enough
    assert ext.latent_mu.shape == (N, 1, P, 4)
    with torch.no_grad():
        out = model.forward_info(torch.stack([data[i][0] for i in range(N)]), return_posterior=True)
    np.testing.assert_allclose(ext.kl_total[:, 0], out.kl_per_image().numpy(), rtol=1e-4)
    np.testing.assert_allclose(ext.kl_patch.sum(1), ext.kl_total[:, 0], rtol=1e-3)
    np.testing.assert_allclose(ext.latent_mu[:, 0], out.mu[:, 1, 2].numpy(), atol=2e-3)
    np.testing.assert_array_equal(ext.labels, [int(data[i][1]) for i in range(N)])

    cache = tmp_path / "c.npz"
    first = extract_cached(model, data, cache, {"run": "x"}, batch_size=4, progress=False)
    mtime = cache.stat().st_mtime_ns
    again = extract_cached(model, data, cache, {"run": "x"}, batch_size=4, progress=False)
    assert cache.stat().st_mtime_ns == mtime  # loaded, not recomputed
    np.testing.assert_array_equal(again.kl_head, first.kl_head)
    assert isinstance(Extraction.load(cache), Extraction)
    extract_cached(model, data, cache, {"run": "y"}, batch_size=4, progress=False)
    assert cache.stat().st_mtime_ns != mtime  # a different fingerprint recomputes


def test_sampling_passes_and_unpriced_vit(make_model) -> None:
    ib = make_model("ib").eval().set_noise("sample")
    ext = extract(ib, _data(6), passes=4, progress=False)
    assert ext.correct.shape == (6, 4) and len(np.unique(ext.kl_total[0])) > 1
    vit = extract(make_model("vit").eval(), _data(6), passes=4, progress=False)
    assert vit.correct.shape == (6, 1) and np.isnan(vit.kl_total).all() and not vit.measured
    flat = extract(make_model("no_attn").eval(), _data(6), progress=False)
    assert (flat.kl_total == 0).all() and flat.measured


def test_a_models_noise_depends_on_its_seed_alone(make_model) -> None:
    """The channel noise of one model's extraction does not depend on what ran before it."""
    ib = make_model("ib").eval().set_noise("sample")
    other = make_model("ib").eval().set_noise("sample")
    alone = extract(ib, _data(6), passes=3, progress=False)
    extract(other, _data(6), passes=3, progress=False)  # draws noise of its own
    torch.rand(17)  # and the caller's random state moves on
    after = extract(ib, _data(6), passes=3, progress=False)
    np.testing.assert_array_equal(after.kl_total, alone.kl_total)
    np.testing.assert_array_equal(after.logits, alone.logits)
    reseeded = extract(ib, _data(6), passes=3, progress=False, seed=1)
    assert not np.array_equal(reseeded.kl_total, alone.kl_total)


def test_paste_patch_copies_pixels(make_model) -> None:
    model = make_model("ib")
    x = torch.arange(3 * 16 * 16, dtype=torch.float32).view(3, 16, 16)
    y = paste_patch(model, x, 5, [0, 15])  # patch 5 = row 1, col 1
    torch.testing.assert_close(y[:, 0:4, 0:4], x[:, 4:8, 4:8])
    torch.testing.assert_close(y[:, 12:16, 12:16], x[:, 4:8, 4:8])
    torch.testing.assert_close(y[:, 4:8, 4:8], x[:, 4:8, 4:8])
    assert torch.equal(y[:, 0:4, 4:16], x[:, 0:4, 4:16])


def test_repetition_probe_caps_and_silent_heads(make_model) -> None:
    model = make_model("ib").eval()
    _silence_all_but(model, (2, 1))
    ext = extract(model, _data(), progress=False)
    res = repetition_probe(model, _data(), ext.kl_dim, pairs=10, batch_pairs=4, progress=False)
    assert res.counts == [4, 15]  # 64 copies capped at P − 1 = 15
    assert res.shift.shape == (10, 2, 4, 3)
    assert np.abs(res.shift[:, :, 0, 0]).max() == 0.0  # a silenced head's μ is exactly 0
    assert np.abs(res.shift[:, :, 2, 1]).max() > 0.0  # the open head reacts to the copies


def test_extreme_patches_are_the_top_kl(make_model) -> None:
    model = make_model("ib").eval().set_noise("mean")
    data = _data()
    ext = extract(model, data, progress=False)
    res = extreme_patches(model, data, ext, 1, 0, quantile=0.98, max_patches=5)
    flat = np.sort(ext.kl_head[:, 1, 0].astype(np.float32).ravel())[::-1]
    np.testing.assert_allclose(res.kl, flat[: len(res.kl)])
    assert len(res.kl) == 4  # ceil(2% of 12·16 = 3.84)
    assert res.attn.shape == (4, 4, 4)
    np.testing.assert_allclose(res.attn.sum(axis=(1, 2)), 1.0, rtol=1e-4)  # no prefix tokens


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_passes_rejected(make_model, bad: int) -> None:
    from infovit.errors import InfovitError

    with pytest.raises(InfovitError):
        extract(make_model("ib"), _data(2), passes=bad, progress=False)
