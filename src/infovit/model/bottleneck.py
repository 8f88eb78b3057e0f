"""The per-head variational information bottleneck (Murphy, arXiv 2602.04784, §3 and eq. 3).

Every attention head's output Δ (``softmax(qkᵀ)v`` before W_o) is sent through a Gaussian
channel per token: an encoder maps Δ to the posterior q(z|Δ) = N(μ, diag σ²), a sample z is
drawn, and a decoder maps z back to Δ̂ of the head's width. The KL of q(z|Δ) to the prior
N(0, I) is the number of nats that head writes into that token's residual stream.

All heads of a block are computed together: their weights are stacked along a leading head
axis and applied with one batched matrix product per layer (``bmm``), never a Python loop.
Activations stay token-major, [B·N, H, width], the layout attention produces and W_o consumes,
so no layer pays for a transpose copy.

Inside attention the two outer layers are folded into the neighbouring projections, which is
exact because attention is linear in the values: the first encoder layer W_e1 moves into the
value projection (softmax(qkᵀ)·(x W_v) W_e1 = softmax(qkᵀ)·(x W_v W_e1)) and the last decoder
layer W_d2 into W_o. The folded weights are products of the original parameters, recomputed
every forward, so parameters, gradients and checkpoints are unchanged; only half of the
bottleneck's matrix products remain per token (see ``fold_value`` and ``fold_output``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = [
    "BottleneckConfig",
    "BottleneckOutput",
    "HeadBottleneck",
    "HeadOverride",
    "Noise",
    "gaussian_kl",
    "sample_posterior",
    "split_posterior",
]

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


class _SamplePosterior(torch.autograd.Function):
    """z = μ + σ·ε and the KL to N(0, I), from the encoder's [μ | raw log σ²] in one node.

    Autograd of the plain expressions builds about a dozen elementwise nodes (slice, clamp,
    exp, randn, mul, add, the KL terms) whose backward passes dominate the channel's cost on a
    CPU; this hand-written backward does the same maths in a few passes over the latents.
    """

    @staticmethod
    def forward(ctx, stats: Tensor, eps: Tensor, lo: float, hi: float) -> tuple[Tensor, Tensor]:
        work = torch.promote_types(stats.dtype, torch.float32)  # float32 under autocast
        mu, raw = stats.to(work).chunk(2, dim=-1)  # [..., r] each
        logvar = raw.clamp(lo, hi)
        var = logvar.exp()  # σ²
        std = var.sqrt()
        z = torch.addcmul(mu, eps, std)  # reparameterised draw
        var_m1 = var.sub_(1.0)  # σ² − 1, in place: σ² itself is not needed again
        # KL = ½ Σ (σ² − 1 − log σ² + μ²), summed per latent, so near-zero terms stay exact
        kl = (var_m1 - logvar).addcmul_(mu, mu).sum(-1).mul_(0.5)  # [...] nats, float32
        ctx.save_for_backward(mu, raw, eps, std, var_m1)
        ctx.stats_dtype, ctx.range = stats.dtype, (lo, hi)
        return z.to(stats.dtype), kl

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, g_z: Tensor, g_kl: Tensor) -> tuple[Tensor, None, None, None]:
        mu, raw, eps, std, var_m1 = ctx.saved_tensors
        g_z, g_kl = g_z.to(mu.dtype), g_kl.to(mu.dtype).unsqueeze(-1)  # [..., r], [..., 1]
        g_stats = mu.new_empty(*mu.shape[:-1], 2 * mu.shape[-1])
        g_mu, g_logvar = g_stats.chunk(2, dim=-1)  # views: written in place, no concatenation
        torch.addcmul(g_z, g_kl, mu, out=g_mu)  # ∂z/∂μ = 1, ∂KL/∂μ = μ
        # ∂KL/∂logvar = (σ² − 1)/2, ∂z/∂logvar = ε·σ/2
        torch.mul(var_m1, g_kl * 0.5, out=g_logvar)
        g_logvar.addcmul_(g_z * eps, std, value=0.5)
        # through the clamp: gradient only where the raw value lies inside the range
        lo, hi = ctx.range
        torch.ops.aten.hardtanh_backward.grad_input(g_logvar, raw, lo, hi, grad_input=g_logvar)
        return g_stats.to(ctx.stats_dtype), None, None, None


def split_posterior(stats: Tensor, config: BottleneckConfig) -> tuple[Tensor, Tensor]:
    """The encoder output [..., 2r] as (μ, log σ²), log σ² clamped to the configured range."""
    r = config.rank
    return stats[..., :r], stats[..., r:].clamp(config.logvar_min, config.logvar_max)


def sample_posterior(
    stats: Tensor, noise: Noise, config: BottleneckConfig
) -> tuple[Tensor, Tensor]:
    """Draw z from the posterior given by the encoder output [..., 2r]; return (z, KL).

    ``noise="sample"`` draws z = μ + σ·ε with ε from torch's generator (seeded runs repeat);
    ``"mean"`` returns z = μ. KL is float32 nats summed over the r latents.
    """
    if noise == "mean":
        mu, logvar = split_posterior(stats, config)
        return mu, gaussian_kl(mu, logvar)
    eps = torch.randn(*stats.shape[:-1], config.rank, device=stats.device)  # float32
    return _SamplePosterior.apply(stats, eps, config.logvar_min, config.logvar_max)


@dataclass(frozen=True)
class HeadOverride:
    """An intervention on one head's message z (head ablation, a causal test of routing).

    - ``"prior"``: the head's posterior is replaced by the prior N(0, I) before sampling, so
      z ~ N(0, I) drawn with the same reparameterisation noise ε the head would have used
      (z = 0 under ``noise="mean"``) and the head's KL is exactly 0: a head that routes nothing.
      A head whose posterior already equals the prior is therefore left exactly unchanged.
    - ``"constant"``: z is replaced by ``value`` [r] at every token (e.g. the head's
      data-set mean message E[μ]) and its KL set to 0: the message no longer depends on the
      input, so nothing flows through the head from other patches.
    """

    mode: Literal["prior", "constant"]
    value: Tensor | None = None  # [r], detached; required for "constant"

    def __post_init__(self) -> None:
        if self.mode not in ("prior", "constant"):
            raise ValueError(f"override mode must be 'prior' or 'constant', got {self.mode!r}")
        if self.mode == "constant" and self.value is None:
            raise ValueError("a constant override needs its message value [r]")


@dataclass
class BottleneckOutput:
    """What one block's heads emit: the decoded message and the channel's posterior."""

    delta: Tensor  # [B, H, N, d] decoded messages Δ̂, same layout as the input
    mu: Tensor  # [B, H, N, r] posterior means
    logvar: Tensor  # [B, H, N, r] posterior log-variances (clamped)
    kl: Tensor  # [B, H, N] nats, float32


class _HeadwiseMatmul(torch.autograd.Function):
    """[M, H, in] @ [H, in, out] → [M, H, out]: one bmm over heads, token-major in and out.

    ``bmm`` reads the token-major input as a strided [H, M, in] view and writes into a strided
    view of a token-major output, in the forward and in both backward products; autograd's own
    bmm would return [H, M, out] and cost a transpose copy per layer and direction.
    """

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor) -> Tensor:
        if torch.is_autocast_enabled(x.device.type):  # bmm under autocast: match its dtype
            dtype = torch.get_autocast_dtype(x.device.type)
            x, w = x.to(dtype), w.to(dtype)
        y = x.new_empty(x.shape[0], x.shape[1], w.shape[2])  # [M, H, out]
        torch.bmm(x.transpose(0, 1), w, out=y.transpose(0, 1))  # [H, M, out] views
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, w = ctx.saved_tensors
        g = g.to(x.dtype)
        g_x = g_w = None
        if ctx.needs_input_grad[0]:
            g_x = g.new_empty(x.shape)  # [M, H, in]
            torch.bmm(g.transpose(0, 1), w.transpose(1, 2), out=g_x.transpose(0, 1))
        if ctx.needs_input_grad[1]:
            g_w = torch.bmm(x.permute(1, 2, 0), g.transpose(0, 1))  # [H, in, out]
        return g_x, g_w


class _StackedLinear(nn.Module):
    """``H`` independent linear maps applied at once: [M, H, fan_in] → [M, H, fan_out]."""

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

    def matmul(self, x: Tensor) -> Tensor:
        """The product without the bias: [M, H, fan_in] → [M, H, fan_out]."""
        return _HeadwiseMatmul.apply(x, self.weight)

    def forward(self, x: Tensor) -> Tensor:
        # the bias [H, 1, out] broadcasts per head as [H, out]; in place, as bmm's backward
        # does not need its output
        return self.matmul(x).add_(self.bias.squeeze(1))  # [M, H, fan_out]


class HeadBottleneck(nn.Module):
    """Variational bottleneck for all ``heads`` of one attention block, batched over heads.

    Encoder per head: d → h → 2r with GELU (μ and log σ² halves); decoder: r → h → d.
    With ``hidden == 0`` both are single linear maps. :meth:`forward` runs the whole channel
    on given head outputs; attention instead calls :meth:`fold_value`, :meth:`channel` and
    :meth:`fold_output`, which compute the same function with the outer layers folded away.
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
        # Per-head interventions {head: HeadOverride}; empty in training and normal use. Plain
        # data (no parameters, no buffers): never saved in checkpoints; see HeadOverride.
        self.overrides: dict[int, HeadOverride] = {}
        self.init_weights()

    def _enc(self, i: int) -> _StackedLinear:
        # nn.ModuleList indexing is typed as Module; every layer in enc/dec is a _StackedLinear
        return cast(_StackedLinear, self.enc[i])

    def _dec(self, i: int) -> _StackedLinear:
        return cast(_StackedLinear, self.dec[i])

    def init_weights(self) -> None:
        """Per-head linear init; the log-variance bias starts at ``logvar_init`` (σ ≈ e⁻³)."""
        for layer in (*self.enc, *self.dec):
            layer.reset_parameters()
        with torch.no_grad():
            self._enc(-1).bias[..., self.config.rank :].fill_(self.config.logvar_init)

    @property
    def folded_width(self) -> tuple[int, int]:
        """Per-head widths after folding: (value width e = first encoder layer's output,
        message width k = last decoder layer's input)."""
        return self._enc(0).weight.shape[2], self._dec(-1).weight.shape[1]

    def fold_value(
        self, weight: Tensor, bias: Tensor | None, layer_bias: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Value projection [H·d, D] (+ bias) times W_e1 → [H·e, D]: values pre-encoded.

        Attention is linear in the values, so attending over x·W_v·W_e1 gives Δ·W_e1 for any
        attention weights. With ``layer_bias`` the first layer's bias b_e1 joins the value bias
        too, which is exact when every attention row sums to one (no attention dropout);
        otherwise :meth:`channel` adds it after attention.
        """
        H, d, D = self.heads, self.head_dim, weight.shape[1]
        w_e1, b_e1 = self._enc(0).weight, self._enc(0).bias  # [H, d, e], [H, 1, e]
        w = torch.bmm(w_e1.transpose(1, 2), weight.view(H, d, D))  # [H, e, D]
        b = None if bias is None else torch.bmm(bias.view(H, 1, d), w_e1)  # [H, 1, e]
        if layer_bias:
            b = b_e1 if b is None else b + b_e1
        return w.flatten(0, 1), (None if b is None else b.flatten())  # [H·e, D], [H·e]

    def fold_output(self, weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor]:
        """W_d2 (+ bias) times the output projection W_o [D, H·d] → [D, H·k] (+ bias [D]).

        Valid when nothing acts between the concatenated head outputs and W_o (no norm, no
        gate): Σ_h (g_h W_d2,h + b_d2,h) W_o,h = Σ_h g_h (W_d2,h W_o,h) + Σ_h b_d2,h W_o,h.
        """
        H, d, D = self.heads, self.head_dim, weight.shape[0]
        w_o = weight.t().reshape(H, d, D)  # [H, d, D]: rows of W_oᵀ belonging to each head
        w = torch.bmm(self._dec(-1).weight, w_o)  # [H, k, D]
        b = torch.bmm(self._dec(-1).bias, w_o).sum(0).view(D)  # [D]
        return w.flatten(0, 1).t(), (b if bias is None else b + bias)  # [D, H·k], [D]

    def channel(
        self, pre: Tensor, noise: Noise = "sample", biased: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """From Δ·W_e1 [M, H, e] (+ b_e1 when ``biased``) to the decoder's last hidden
        activations [M, H·k].

        Returns (hidden, stats, KL): ``stats`` [M, H, 2r] is the encoder output (see
        :func:`split_posterior`), KL [M, H]. ``hidden`` has the heads concatenated per token,
        so the folded W_o applies to it as one GEMM.
        """
        stats = pre if biased else pre + self._enc(0).bias.squeeze(1)  # [M, H, e]
        for layer in self.enc[1:]:
            stats = layer(F.gelu(stats))  # [M, H, 2r] after the last layer
        if self.overrides:
            stats = self._prior_overrides(stats)
        z, kl = sample_posterior(stats, noise, self.config)  # [M, H, r], [M, H]
        if self.overrides:
            z, kl = self._constant_overrides(z, kl)
        hidden = z if len(self.dec) == 1 else F.gelu(self.dec[0](z))  # [M, H, k]
        return hidden.flatten(1), stats, kl  # [M, H·k]: heads concatenated per token

    def _heads_with(self, mode: str, device: torch.device) -> Tensor:
        """[H] bool: the heads overridden with ``mode``."""
        mask = torch.zeros(self.heads, dtype=torch.bool, device=device)
        for h, o in self.overrides.items():
            if o.mode == mode:
                mask[h] = True
        return mask

    def _prior_overrides(self, stats: Tensor) -> Tensor:
        """Encoder output [M, H, 2r] with (μ, log σ²) = (0, 0), the prior, at "prior" heads."""
        mask = self._heads_with("prior", stats.device)
        if not mask.any():
            return stats
        return stats.masked_fill(mask[None, :, None], 0.0)

    def _constant_overrides(self, z: Tensor, kl: Tensor) -> tuple[Tensor, Tensor]:
        """z [M, H, r] set to each "constant" head's value, its KL [M, H] to 0."""
        mask = self._heads_with("constant", z.device)
        if not mask.any():
            return z, kl
        value = torch.zeros(self.heads, z.shape[-1], dtype=z.dtype, device=z.device)  # [H, r]
        for h, o in self.overrides.items():
            if o.mode == "constant":
                assert o.value is not None  # checked by HeadOverride
                value[h] = o.value.to(z.device, z.dtype)
        z = torch.where(mask[None, :, None], value[None], z)
        return z, kl.masked_fill(mask[None, :], 0.0)

    def forward(self, delta: Tensor, noise: Noise = "sample") -> BottleneckOutput:
        """The channel on given head outputs Δ [B, H, N, d], without folding."""
        B, H, N, d = delta.shape
        r, (_, k) = self.config.rank, self.folded_width
        x = delta.transpose(1, 2).reshape(B * N, H, d)  # [B·N, H, d]: token-major
        pre = self._enc(0).matmul(x)  # [B·N, H, e]; its bias is added in channel()
        hidden, stats, kl = self.channel(pre, noise)  # [B·N, H·k], [B·N, H, 2r], [B·N, H]
        mu, logvar = split_posterior(stats, self.config)  # [B·N, H, r] each
        out = self.dec[-1](hidden.view(B * N, H, k))  # [B·N, H, d]
        return BottleneckOutput(
            delta=out.view(B, N, H, d).transpose(1, 2),  # [B, H, N, d]
            mu=mu.view(B, N, H, r).transpose(1, 2),  # [B, H, N, r]
            logvar=logvar.view(B, N, H, r).transpose(1, 2),  # [B, H, N, r]
            kl=kl.view(B, N, H).transpose(1, 2),  # [B, H, N]
        )
