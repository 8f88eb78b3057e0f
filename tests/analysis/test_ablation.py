"""Head ablation (prior / data-set mean message): interventions with known answers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from infovit.analysis import ablation_tables, extract, head_ablation
from infovit.analysis.ablation import mean_messages, overrides_for, top1
from infovit.model.ablation import ablate_heads
from infovit.model.bottleneck import HeadOverride


def _data(n: int = 12, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 5, (n,), generator=g)
    )


def _to_prior(model: torch.nn.Module, block: int, head: int) -> None:
    """The encoder's last layer of one head → μ = 0, log σ² = 0: posterior = prior, always."""
    with torch.no_grad():
        last = model.blocks[block].attn.bottleneck.enc[-1]
        last.weight[head].zero_()
        last.bias[head].zero_()


@pytest.mark.parametrize("noise", ["sample", "mean"])
def test_ablating_a_head_at_the_prior_changes_nothing(make_model, noise) -> None:
    model = make_model("ib").eval()
    _to_prior(model, 1, 2)
    x = _data(6).tensors[0]
    with torch.no_grad():
        torch.manual_seed(3)
        before = model.forward_info(x, noise=noise)
        with ablate_heads(model, {(1, 2): HeadOverride("prior")}):
            torch.manual_seed(3)
            after = model.forward_info(x, noise=noise)
    assert torch.equal(before.logits, after.logits)
    assert torch.equal(before.kl, after.kl)
    # an open head does change the logits when sent to the prior (the test can fail)
    with torch.no_grad(), ablate_heads(model, {(2, 0): HeadOverride("prior")}):
        torch.manual_seed(3)
        moved = model.forward_info(x, noise=noise)
    assert not torch.allclose(before.logits, moved.logits)
    assert float(moved.kl[:, 2, 0].abs().max()) == 0.0  # the ablated head routes nothing


def test_every_head_at_its_mean_message_isolates_the_patches(make_model) -> None:
    model = make_model("ib").eval()
    data = _data(8)
    batches = [(data.tensors[0], data.tensors[1])]
    means = mean_messages(model, batches, noise="mean", seed=0, device=torch.device("cpu"))
    every = [(b, h) for b in range(len(model.blocks)) for h in range(3)]
    x = data.tensors[0][:1]  # [1, 3, 16, 16]: a 4 × 4 grid of 4 px patches

    def cross_patch_gradient() -> tuple[float, float]:
        """|∂ (patch 5's logits) / ∂ pixels| outside patch 5 and inside it."""
        image = x.clone().requires_grad_(True)
        out = model.forward_info(image, noise="mean", return_patch_logits=True)
        out.patch_logits[0, 5].sum().backward()
        g = image.grad[0].abs().sum(dim=0)  # [16, 16]
        inside = torch.zeros(16, 16, dtype=torch.bool)
        inside[4:8, 4:8] = True  # patch 5 = grid row 1, col 1
        return float(g[~inside].max()), float(g[inside].max())

    def moved_by_other_patches() -> float:
        """Largest change of any patch's logits when one *other* patch's pixels change."""
        g = torch.Generator().manual_seed(1)
        worst = 0.0
        with torch.no_grad():
            ref = model.forward_info(x, noise="mean", return_patch_logits=True).patch_logits
            for j in range(16):
                y = x.clone()
                r, c = divmod(j, 4)
                y[:, :, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = torch.randn(1, 3, 4, 4, generator=g)
                out = model.forward_info(y, noise="mean", return_patch_logits=True).patch_logits
                others = torch.arange(16) != j
                worst = max(worst, float((out - ref)[0, others].abs().max()))
        return worst

    free_cross, _ = cross_patch_gradient()
    assert free_cross > 0.0 and moved_by_other_patches() > 1e-4  # attention mixes patches
    with ablate_heads(model, overrides_for(every, "mean", means)):
        cross, own = cross_patch_gradient()
        assert cross == 0.0 and own > 0.0  # zero cross-patch Jacobian, as in no_attn
        assert moved_by_other_patches() < 1e-6
    assert all(not blk.attn.bottleneck.overrides for blk in model.blocks)  # restored on exit


def test_overrides_are_restored_after_an_error(make_model) -> None:
    model = make_model("ib").eval()
    with pytest.raises(ValueError, match="head 7 out of range"):
        with ablate_heads(model, {(0, 0): HeadOverride("prior"), (1, 7): HeadOverride("prior")}):
            pass  # pragma: no cover
    assert not model.blocks[0].attn.bottleneck.overrides
    clone = copy.deepcopy(model)  # plain data on the module: deepcopy works, no state dict keys
    assert set(clone.state_dict()) == set(model.state_dict())
    with pytest.raises(ValueError, match="no bottleneck"):
        with ablate_heads(make_model("vit"), {(0, 0): HeadOverride("prior")}):
            pass  # pragma: no cover


def test_head_ablation_tables(make_model) -> None:
    model = make_model("ib").eval()
    for b, h in [(0, 0), (0, 1), (1, 1)]:
        _to_prior(model, b, h)  # three heads silent: not ablated (KL below the threshold)
    data = _data(12)
    ext = extract(model, data, batch_size=6, progress=False)
    result = head_ablation(model, data, ext, images=None, seed=1, batch_size=6)
    assert (0, 0) not in result.heads and (1, 1) not in result.heads
    assert len(result.heads) == 4 * 3 - 3
    assert list(result.kl) == sorted(result.kl, reverse=True) and result.kl.min() > 0
    batches = [(data.tensors[0][a : a + 6], data.tensors[1][a : a + 6]) for a in (0, 6)]
    base = top1(model, batches, noise="sample", seed=1, device=torch.device("cpu"))
    assert result.base == base  # common random numbers: the same draws as a plain evaluation
    for mode in ("prior", "mean"):
        assert result.cumulative[mode][0] == base
        assert len(result.cumulative[mode]) == len(result.heads) + 1
    heads, cumulative = ablation_tables(result, "ib beta=1 (mean)")
    assert len(heads) == 2 * len(result.heads)
    assert len(cumulative) == 2 * (len(result.heads) + 1)
    first = next(r for r in heads if r["mode"] == "prior")
    assert (first["block"], first["head"]) == result.heads[0]
    assert first["top1_drop"] == pytest.approx(base - result.single["prior"][0])
    steps = [r["kl_removed"] for r in cumulative if r["mode"] == "mean"]
    np.testing.assert_allclose(steps, np.concatenate([[0.0], np.cumsum(result.kl)]))
