"""The per-head variational information bottleneck (Murphy, §3; REFERENCE.md §1).

Every attention head's output Δ (``softmax(qkᵀ)v`` before W_o) is sent through a Gaussian
channel per token: an encoder maps Δ to the posterior q(z|Δ) = N(μ, diag σ²), a sample z is
drawn, and a decoder maps z back to Δ̂ of the head's width. The KL of q(z|Δ) to the prior
N(0, I) is the number of nats that head writes into that token's residual stream.

All heads of a block are computed together: their weights are stacked along a leading head
axis and applied with one batched matrix product per layer (``bmm``), never a Python loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BottleneckConfig", "BottleneckOutput", "HeadBottleneck", "Noise", "gaussian_kl"]

Noise = Literal["sample", "mean"]


@dataclass(frozen=True)
class BottleneckConfig:
    """Shape of each head's channel. Defaults are those of the paper's public code."""

    rank: int = 32  # r: latent dimensions per head and token
    hidden: int = 64  # h: hidden width of encoder and decoder MLPs; 0 = single linear layers
    logvar_init: float = -6.0  # initial bias of the log-variance half: start nearly noiseless
    logvar_min: float = -10.0
    logvar_max: float = 10.0


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag e^logvar) ‖ N(0, I)) in nats, summed over the last axis, in float32.

    Computed in float32 even under autocast: the terms nearly cancel for an inactive head, and
    half precision would turn a true 1e-3 nats into noise.
    """
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (logvar.exp() + mu.square() - 1.0 - logvar).sum(dim=-1)


@dataclass
class BottleneckOutput:
    """What one block's heads emit: the decoded message and the channel's posterior."""

    delta: Tensor  # [B, H, N, d] decoded messages Δ̂, same layout as the input
    mu: Tensor  # [B, H, N, r] posterior means
    logvar: Tensor  # [B, H, N, r] posterior log-variances (clamped)
    kl: Tensor  # [B, H, N] nats, float32


class _StackedLinear(nn.Module):
    """``H`` independent linear maps applied at once: [H, M, fan_in] → [H, M, fan_out]."""

    def __init__(self, heads: int, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(heads, fan_in, fan_out))
        self.bias = nn.Parameter(torch.empty(heads, 1, fan_out))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's default init, per head: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        # bmm then an in-place bias add: baddbmm would first copy the broadcast bias into the
        # output, a full extra pass over [H, M, fan_out] (bmm's backward does not need its output)
        return torch.bmm(x, self.weight).add_(self.bias)  # [H, M, fan_out]


class HeadBottleneck(nn.Module):
    """Variational bottleneck for all ``heads`` of one attention block, batched over heads.

    Encoder per head: d → h → 2r with GELU (μ and log σ² halves); decoder: r → h → d.
    With ``hidden == 0`` both are single linear maps.
    """

    def __init__(self, heads: int, head_dim: int, config: BottleneckConfig) -> None:
        super().__init__()
        self.heads, self.head_dim, self.config = heads, head_dim, config
        r, h = config.rank, config.hidden
        if h > 0:
            self.enc = nn.ModuleList(
                [_StackedLinear(heads, head_dim, h), _StackedLinear(heads, h, 2 * r)]
            )
            self.dec = nn.ModuleList(
                [_StackedLinear(heads, r, h), _StackedLinear(heads, h, head_dim)]
            )
        else:
            self.enc = nn.ModuleList([_StackedLinear(heads, head_dim, 2 * r)])
            self.dec = nn.ModuleList([_StackedLinear(heads, r, head_dim)])
        self.init_weights()

    def init_weights(self) -> None:
        """Per-head linear init; the log-variance bias starts at ``logvar_init`` (σ ≈ e⁻³)."""
        for layer in (*self.enc, *self.dec):
            layer.reset_parameters()
        with torch.no_grad():
            self.enc[-1].bias[..., self.config.rank :].fill_(self.config.logvar_init)

    @staticmethod
    def _mlp(layers: nn.ModuleList, x: Tensor) -> Tensor:
        for i, layer in enumerate(layers):
            x = layer(x)
            if i < len(layers) - 1:
                x = F.gelu(x)
        return x

    def forward(self, delta: Tensor, noise: Noise = "sample") -> BottleneckOutput:
        B, H, N, d = delta.shape
        r = self.config.rank
        x = delta.transpose(0, 1).reshape(H, B * N, d)  # [H, B·N, d]: heads become the bmm batch
        stats = self._mlp(self.enc, x)  # [H, B·N, 2r]
        mu, logvar = stats[..., :r], stats[..., r:]  # [H, B·N, r] each
        logvar = logvar.clamp(self.config.logvar_min, self.config.logvar_max)
        if noise == "sample":
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterised draw
        else:
            z = mu
        out = self._mlp(self.dec, z)  # [H, B·N, d]
        kl = gaussian_kl(mu, logvar)  # [H, B·N]
        return BottleneckOutput(
            delta=out.view(H, B, N, d).transpose(0, 1),  # [B, H, N, d]
            mu=mu.view(H, B, N, r).transpose(0, 1),  # [B, H, N, r]
            logvar=logvar.view(H, B, N, r).transpose(0, 1),  # [B, H, N, r]
            kl=kl.view(H, B, N).transpose(0, 1),  # [B, H, N]
        )
