"""Self-attention with an optional bottleneck on each head's write, timm-compatible.

:class:`IBAttention` takes over the sub-modules of a timm ``Attention`` (``qkv``, ``q_norm``,
``k_norm``, ``norm``, ``proj``, dropouts, optional gate), so state-dict keys and numerics stay
timm's. Between the per-head output ``softmax(qkᵀ)v`` and the output projection W_o it runs
:class:`~infovit.model.bottleneck.HeadBottleneck` when one is attached.

Analysis needs more than the output (attention maps, posteriors). Those are returned through a
caller-owned :class:`Tap`, so no graph tensor is ever stored on a module (deepcopy/EMA safe).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn.functional as F
from timm.layers import Attention
from torch import Tensor, nn

from infovit.model.bottleneck import BottleneckConfig, HeadBottleneck, Noise

__all__ = ["AttnRecord", "IBAttention", "Tap"]


@dataclass
class AttnRecord:
    """One block's per-head analysis record; fields not asked for stay ``None``."""

    kl: Tensor | None = None  # [B, H, N] nats
    mu: Tensor | None = None  # [B, H, N, r]
    logvar: Tensor | None = None  # [B, H, N, r]
    attn: Tensor | None = None  # [B, H, N, N] attention probabilities (query → key)


@dataclass
class Tap:
    """What a forward pass should report, and the list it reports into (one record per block)."""

    noise: Noise | None = None  # None: the module's own setting
    need_posterior: bool = False
    need_attn: bool = False
    records: list[AttnRecord] = field(default_factory=list)


class IBAttention(nn.Module):
    """timm multi-head self-attention whose per-head outputs pass through a bottleneck."""

    def __init__(self, attn: Attention, bottleneck: BottleneckConfig | None) -> None:
        super().__init__()
        if attn.__class__ is not Attention:
            raise TypeError(f"expected timm.layers.Attention, got {type(attn).__name__}")
        self.num_heads, self.head_dim, self.attn_dim = attn.num_heads, attn.head_dim, attn.attn_dim
        self.scale, self.fused_attn = attn.scale, attn.fused_attn
        self.qkv, self.q_norm, self.k_norm = attn.qkv, attn.q_norm, attn.k_norm
        self.attn_drop, self.norm, self.gate = attn.attn_drop, attn.norm, attn.gate
        self.proj, self.proj_drop = attn.proj, attn.proj_drop
        self.bottleneck = (
            HeadBottleneck(self.num_heads, self.head_dim, bottleneck) if bottleneck else None
        )
        self.noise: Noise = "sample"  # evaluation noise; training always samples

    def forward(self, x: Tensor, tap: Tap | None = None) -> Tensor:
        B, N, _ = x.shape
        H, d = self.num_heads, self.head_dim
        gate = self.gate(x).sigmoid() if self.gate is not None else None
        qkv = self.qkv(x).reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4)  # [3, B, H, N, d]
        q, k, v = qkv.unbind(0)  # [B, H, N, d] each
        q, k = self.q_norm(q), self.k_norm(k)

        attn_probs = None
        if self.fused_attn and not (tap and tap.need_attn):
            dropout_p = self.attn_drop.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)  # [B, H, N, d]
        else:
            attn_probs = (q * self.scale) @ k.transpose(-2, -1)  # [B, H, N, N]
            attn_probs = attn_probs.softmax(dim=-1)
            out = self.attn_drop(attn_probs) @ v  # [B, H, N, d]

        record = AttnRecord(attn=attn_probs if tap and tap.need_attn else None)
        if self.bottleneck is not None:
            noise = "sample" if self.training else (tap.noise if tap and tap.noise else self.noise)
            b = self.bottleneck(out, noise=noise)
            out, record.kl = b.delta, b.kl
            if tap and tap.need_posterior:
                record.mu, record.logvar = b.mu, b.logvar
        if tap is not None:
            tap.records.append(record)

        x = out.transpose(1, 2).reshape(B, N, self.attn_dim)  # [B, N, H·d]: concat heads
        x = self.norm(x)
        if gate is not None:
            x = x * gate
        return self.proj_drop(self.proj(x))
