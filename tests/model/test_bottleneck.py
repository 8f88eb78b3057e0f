"""The bottleneck: batched heads equal a per-head loop; KL equals torch.distributions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from infovit.model import BottleneckConfig, HeadBottleneck, gaussian_kl


def _per_head_reference(b: HeadBottleneck, delta: torch.Tensor, eps: torch.Tensor):
    """Each head on its own with plain per-head linear layers (as the paper's code loops)."""
    r = b.config.rank
    mus, logvars, outs = [], [], []
    for h in range(b.heads):
        x = delta[:, h]  # [B, N, d]
        for i, layer in enumerate(b.enc):
            x = F.linear(x, layer.weight[h].T, layer.bias[h, 0])
            if i < len(b.enc) - 1:
                x = F.gelu(x)
        mu, logvar = x[..., :r], x[..., r:].clamp(-10, 10)
        z = mu + eps[:, h] * (0.5 * logvar).exp()
        for i, layer in enumerate(b.dec):
            z = F.linear(z, layer.weight[h].T, layer.bias[h, 0])
            if i < len(b.dec) - 1:
                z = F.gelu(z)
        mus.append(mu), logvars.append(logvar), outs.append(z)
    return torch.stack(mus, 1), torch.stack(logvars, 1), torch.stack(outs, 1)


def test_batched_heads_equal_per_head_loop():
    torch.manual_seed(0)
    for hidden in (16, 0):
        b = HeadBottleneck(heads=3, head_dim=8, config=BottleneckConfig(rank=4, hidden=hidden))
        with torch.no_grad():  # move logvar away from the init so noise matters
            b.enc[-1].bias.normal_()
        delta = torch.randn(2, 3, 5, 8)
        torch.manual_seed(1)
        out = b(delta, noise="sample")
        torch.manual_seed(1)
        eps = torch.randn(2 * 5, 3, 4).view(2, 5, 3, 4).transpose(1, 2)  # same draw order
        mu, logvar, dec = _per_head_reference(b, delta, eps)
        torch.testing.assert_close(out.mu, mu)
        torch.testing.assert_close(out.logvar, logvar)
        torch.testing.assert_close(out.delta, dec, rtol=1e-5, atol=1e-5)


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 6), torch.randn(7, 6) * 2
    q = Normal(mu, (0.5 * logvar).exp())
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), kl_divergence(q, p).sum(-1))


def test_kl_is_float32_under_half_inputs():
    mu = torch.zeros(3, 4, dtype=torch.bfloat16)
    assert gaussian_kl(mu, mu).dtype == torch.float32
    assert torch.all(gaussian_kl(mu, mu) == 0)


def test_mean_noise_is_deterministic_and_logvar_init():
    torch.manual_seed(0)
    b = HeadBottleneck(heads=2, head_dim=8, config=BottleneckConfig(rank=4, hidden=8))
    assert torch.all(b.enc[-1].bias[..., 4:] == -6.0)
    delta = torch.randn(2, 2, 3, 8)
    a, c = b(delta, noise="mean"), b(delta, noise="mean")
    torch.testing.assert_close(a.delta, c.delta)
    s1, s2 = b(delta, noise="sample"), b(delta, noise="sample")
    assert not torch.equal(s1.delta, s2.delta)


def test_hand_written_backwards_pass_gradcheck():
    """The two custom autograd nodes against finite differences, clamp edges included."""
    from infovit.model.bottleneck import _HeadwiseMatmul, _SamplePosterior

    torch.manual_seed(0)
    x = torch.randn(5, 3, 4, dtype=torch.float64, requires_grad=True)  # [M, H, in]
    w = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)  # [H, in, out]
    assert torch.autograd.gradcheck(_HeadwiseMatmul.apply, (x, w))

    stats = torch.randn(5, 3, 2 * 4, dtype=torch.float64)
    stats[..., 4:] *= 3  # some raw log-variances beyond the clamp at ±2 below
    stats.requires_grad_(True)
    eps = torch.randn(5, 3, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda s: _SamplePosterior.apply(s, eps, -2.0, 2.0), (stats,))
    assert ((stats[..., 4:].abs() > 2).any()) and ((stats[..., 4:].abs() < 2).any())


def test_sample_posterior_matches_plain_expressions():
    """z and KL from the fused node equal the textbook reparameterisation and gaussian_kl."""
    from infovit.model.bottleneck import sample_posterior

    cfg = BottleneckConfig(rank=4)
    stats = torch.randn(6, 2, 8) * 4
    torch.manual_seed(3)
    z, kl = sample_posterior(stats, "sample", cfg)
    torch.manual_seed(3)
    eps = torch.randn(6, 2, 4)
    mu, logvar = stats[..., :4], stats[..., 4:].clamp(cfg.logvar_min, cfg.logvar_max)
    torch.testing.assert_close(z, mu + eps * (0.5 * logvar).exp())
    torch.testing.assert_close(kl, gaussian_kl(mu, logvar))
