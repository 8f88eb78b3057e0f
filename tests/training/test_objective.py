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
