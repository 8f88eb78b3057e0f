"""The objective's β conventions and schedules, and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch

from infovit.training.config import BetaConfig
from infovit.training.objective import beta_at, information_loss
from infovit.training.optim import build_optimizer, lr_at


def test_mean_and_sum_conventions_relate_by_heads_times_tokens():
    torch.manual_seed(0)
    logits, target = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    kl = torch.rand(4, 3, 2, 7)  # [B, L, H, T]
    mean = information_loss(logits, target, kl, beta=6.0, convention="mean")
    total = information_loss(logits, target, kl, beta=6.0 / (3 * 2 * 7), convention="sum")
    torch.testing.assert_close(mean.loss, total.loss)
    torch.testing.assert_close(mean.kl_image, kl.sum((1, 2, 3)).mean())
    none = information_loss(logits, target, None, beta=6.0, convention="mean")
    torch.testing.assert_close(none.loss, torch.nn.functional.cross_entropy(logits, target))


def test_beta_schedules():
    lin = BetaConfig(value=2.0, schedule="linear", warmup_epochs=10)
    assert beta_at(lin, 0) == 0 and beta_at(lin, 5) == 1.0 and beta_at(lin, 50) == 2.0
    log = BetaConfig(value=1.0, schedule="log", warmup_epochs=10, start=1e-8)
    assert math.isclose(beta_at(log, 0), 1e-8) and math.isclose(beta_at(log, 5), 1e-4)
    assert beta_at(BetaConfig(value=3.0, schedule="constant"), 0) == 3.0


def test_lr_warmup_then_cosine():
    assert lr_at(0, 100, 10, 1.0, 0.0) == 0.0
    assert lr_at(5, 100, 10, 1.0, 0.0) == 0.5
    assert lr_at(10, 100, 10, 1.0, 0.0) == 1.0
    assert math.isclose(lr_at(55, 100, 10, 1.0, 0.0), 0.5)
    assert lr_at(100, 100, 10, 1.0, 0.1) == pytest.approx(0.1)


def test_paper_weight_decay_groups(make_model):
    model = make_model("ib")
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.05)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in decayed}
    assert "pos_embed" in names and "patch_embed.proj.weight" in names
    assert not any(".bottleneck." in n or n.endswith(".bias") for n in names)


def test_fused_adamw_makes_the_per_tensor_update(make_model):
    """On a CPU the optimizer uses torch's fused kernel; its steps equal the plain loop's."""
    model = make_model("ib")
    plain = make_model("ib")
    plain.load_state_dict(model.state_dict())
    opt = build_optimizer(model, lr=1e-2, weight_decay=0.05)
    assert all(g["fused"] for g in opt.param_groups)
    ref = build_optimizer(plain, lr=1e-2, weight_decay=0.05)
    for g in ref.param_groups:
        g["fused"] = None  # the for-loop implementation, torch's CPU default
    torch.manual_seed(0)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in model.parameters()]
        for m, o in ((model, opt), (plain, ref)):
            for p, g in zip(m.parameters(), grads, strict=True):
                p.grad = g.clone()
            o.step()
    for (name, a), b in zip(model.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(model.pos_embed, make_model("ib").pos_embed)  # it did train


def test_sqrt_kl_is_the_paper_codes_term():
    """Per image, block and head: √(mean over tokens of max(KL, 0) + 1e-8), then the mean."""
    from infovit.training.objective import SQRT_KL_EPS

    g = torch.Generator().manual_seed(0)
    kl = torch.rand(3, 2, 4, 5, generator=g) - 0.1  # [B, L, H, T], a few negative estimates
    logits, target = torch.randn(3, 7, generator=g), torch.tensor([0, 3, 6])
    parts = information_loss(logits, target, kl, beta=2.0, convention="mean", objective="sqrt_kl")
    expected = 0.0
    for b in range(3):
        for layer in range(2):
            for h in range(4):
                per_token = [max(float(v), 0.0) for v in kl[b, layer, h]]
                expected += (sum(per_token) / 5 + SQRT_KL_EPS) ** 0.5
    expected /= 3 * 2 * 4
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert parts.loss.item() == pytest.approx(ce.item() + 2.0 * expected, rel=1e-6)
    assert parts.kl_image.item() == pytest.approx(kl.sum(dim=(1, 2, 3)).mean().item())  # plain


def test_sqrt_kl_prefers_few_heads_and_plain_kl_does_not():
    """The same nats in one head cost less than spread over four under sqrt_kl (concave);
    the plain KL is indifferent. Its gradient stays finite where a head is silent."""
    logits, target = torch.zeros(1, 2), torch.tensor([0])
    one = torch.zeros(1, 1, 4, 3)
    one[0, 0, 0] = 4.0
    spread = torch.ones(1, 1, 4, 3)
    cost = {
        (objective, name): information_loss(logits, target, kl, 1.0, "mean", objective).loss
        for objective in ("kl", "sqrt_kl")
        for name, kl in (("one", one), ("spread", spread))
    }
    assert cost["kl", "one"].item() == pytest.approx(cost["kl", "spread"].item())
    assert cost["sqrt_kl", "one"] < cost["sqrt_kl", "spread"]
    silent = torch.zeros(1, 1, 4, 3, requires_grad=True)
    information_loss(logits, target, silent, 1.0, "mean", "sqrt_kl").loss.backward()
    assert torch.isfinite(silent.grad).all()


def test_sqrt_kl_objective_is_recorded_and_needs_the_mean_convention(tmp_path, tiny_overrides):
    from infovit.errors import InfovitError
    from infovit.training import load_config, train

    cfg = load_config(None, [*tiny_overrides, "--beta.objective", "sqrt_kl", "--optim.epochs", "1"])
    run = train(cfg, tmp_path / "run", progress=False)
    assert run.config().beta.objective == "sqrt_kl"
    with pytest.raises(InfovitError, match="sqrt_kl is defined in the mean convention"):
        load_config(None, [*tiny_overrides, "--beta.objective", "sqrt_kl", "--beta.convention",
                           "sum"])  # fmt: skip
    with pytest.raises(InfovitError, match=r"beta\.objective must be one of kl, sqrt_kl"):
        load_config(None, [*tiny_overrides, "--beta.objective", "root"])
