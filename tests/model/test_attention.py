"""IBAttention folds W_e1 into the values and W_d2 into W_o: same function, same gradients."""

from __future__ import annotations

import pytest
import torch
from timm.layers import Attention
from torch import Tensor

from infovit.model.attention import IBAttention, Tap
from infovit.model.bottleneck import BottleneckConfig


def _unfolded(attn: IBAttention, x: Tensor, noise: str) -> tuple[Tensor, Tensor]:
    """The textbook order: timm attention, the whole channel on Δ, concat, norm, gate, W_o."""
    B, N, _ = x.shape
    H, d = attn.num_heads, attn.head_dim
    q, k, v = attn.qkv(x).reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    delta = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1) @ v  # [B, H, N, d]
    out = attn.bottleneck(delta, noise=noise)
    y = attn.norm(out.delta.transpose(1, 2).reshape(B, N, H * d))
    if attn.gate is not None:
        y = y * attn.gate(x).sigmoid()
    return attn.proj(y), out.kl


def _grads(module: torch.nn.Module, x: Tensor, out: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
    y, kl = out
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    module.zero_grad()
    x.grad = None
    ((y * weights).sum() + kl.sum()).backward()
    return {"x": x.grad.clone()} | {n: p.grad.clone() for n, p in module.named_parameters()}


CASES = {
    "default": {},
    "single-layer channel": {"hidden": 0},
    "no qkv bias": {"qkv_bias": False},
    "norm before W_o (no output fold)": {"scale_norm": True, "norm_layer": torch.nn.LayerNorm},
    "gated (no output fold)": {"gated": True},
    "head dim not D/H": {"attn_head_dim": 6},
    "b_e1 after attention": {"unbiased": True},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("noise", ["mean", "sample"])
def test_folded_attention_equals_unfolded_channel(case, noise, monkeypatch):
    opts = dict(CASES[case])
    hidden, unbiased = opts.pop("hidden", 8), opts.pop("unbiased", False)
    if unbiased:  # as under attention dropout: b_e1 is added after attention, not folded
        monkeypatch.setattr(IBAttention, "_rows_sum_to_one", property(lambda self: False))
    torch.manual_seed(0)
    base = Attention(16, num_heads=4, qkv_bias=opts.pop("qkv_bias", True), **opts)
    attn = IBAttention(base, BottleneckConfig(rank=3, hidden=hidden)).double()
    with torch.no_grad():  # open the channels: log σ² around 0, so the noise matters
        attn.bottleneck.enc[-1].bias[..., 3:].normal_()
        if attn.gate is not None:
            attn.gate.bias.normal_()
    attn.train(noise == "sample")  # training always samples; eval follows attn.noise
    attn.noise = noise
    x = torch.randn(2, 5, 16, dtype=torch.float64, requires_grad=True)

    torch.manual_seed(1)
    tap = Tap()
    folded = attn(x, tap), tap.records[0].kl
    g_folded = _grads(attn, x, folded)
    torch.manual_seed(1)
    reference = _unfolded(attn, x, noise)
    g_reference = _grads(attn, x, reference)

    torch.testing.assert_close(folded[0], reference[0], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(folded[1], reference[1], rtol=1e-9, atol=1e-10)
    assert g_folded.keys() == g_reference.keys()
    for name in g_folded:
        torch.testing.assert_close(g_folded[name], g_reference[name], rtol=1e-9, atol=1e-10)
    assert reference[1].mean() > 0.1  # open channels: not a 0 = 0 comparison
