"""Self-attention with an optional bottleneck on each head's write, timm-compatible.

:class:`IBAttention` takes over the sub-modules of a timm ``Attention`` (``qkv``, ``q_norm``,
``k_norm``, ``norm``, ``proj``, dropouts, optional gate), so state-dict keys and numerics stay
timm's. Between the per-head output ``softmax(qkᵀ)v`` and the output projection W_o it runs
:class:`~infovit.model.bottleneck.HeadBottleneck` when one is attached, with the channel's
first layer folded into the value projection and its last into W_o (exact; the bottleneck
module says why), so the values carry Δ·W_e1 and W_o reads the decoder's hidden layer.

Analysis needs more than the output (attention maps, posteriors). Those are returned through a
caller-owned :class:`Tap`, so no graph tensor is ever stored on a module (deepcopy/EMA safe).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn.functional as F
from timm.layers import Attention
from torch import Tensor, nn

from infovit.model.bottleneck import BottleneckConfig, HeadBottleneck, Noise, split_posterior

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

    def __init__(self, attn: nn.Module, bottleneck: BottleneckConfig | None) -> None:
        super().__init__()
        if attn.__class__ is not Attention:
            raise TypeError(f"expected timm.layers.Attention, got {type(attn).__name__}")
        assert isinstance(attn, Attention)  # implied by the class check; narrows the type
        self.num_heads, self.head_dim, self.attn_dim = attn.num_heads, attn.head_dim, attn.attn_dim
        self.scale, self.fused_attn = attn.scale, attn.fused_attn
        self.qkv, self.q_norm, self.k_norm = attn.qkv, attn.q_norm, attn.k_norm
        self.attn_drop, self.norm, self.gate = attn.attn_drop, attn.norm, attn.gate
        self.proj, self.proj_drop = attn.proj, attn.proj_drop
        self.bottleneck = (
            HeadBottleneck(self.num_heads, self.head_dim, bottleneck) if bottleneck else None
        )
        self.noise: Noise = "sample"  # evaluation noise; training always samples
        if bottleneck and not (
            isinstance(self.qkv, nn.Linear) and isinstance(self.proj, nn.Linear)
        ):
            raise TypeError("a bottleneck needs plain nn.Linear qkv and proj layers to fold into")

    @property
    def _fold_output(self) -> bool:
        """Whether W_d2 folds into W_o: nothing acts between the concatenated heads and W_o."""
        return isinstance(self.norm, nn.Identity) and self.gate is None

    @property
    def _rows_sum_to_one(self) -> bool:
        """Whether the attention weights applied to v are a softmax, untouched by dropout."""
        return not (self.training and self.attn_drop.p > 0)

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k [B, H, N, d] as timm's; v [B, H, N, e], pre-encoded by W_e1 when bottlenecked.

        Without a bottleneck this is timm's fused qkv GEMM. With one, the values' weight is a
        product (see ``fold_value``), so the qkv weight would have to be re-concatenated every
        step; three GEMMs on its row blocks avoid that, and each output is a view of a
        [B, N, H, ·] tensor, the layout SDPA reads, whose gradient comes back in that layout,
        so the backward stacks and copies nothing either.
        """
        B, N, _ = x.shape
        H = self.num_heads
        if self.bottleneck is None:  # timm's own computation, bit for bit
            qkv = self.qkv(x).view(B, N, 3, H, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)  # [B, H, N, d] each
            return q, k, v
        w_q, w_k, w_v = self.qkv.weight.split(self.attn_dim)  # [H·d, D] each
        b_q, b_k, b_v = (None,) * 3 if self.qkv.bias is None else self.qkv.bias.split(self.attn_dim)
        w_v, b_v = self.bottleneck.fold_value(w_v, b_v, self._rows_sum_to_one)  # [H·e, D]
        q, k, v = (
            F.linear(x, w, b).view(B, N, H, -1).transpose(1, 2)  # [B, H, N, d or e]
            for w, b in ((w_q, b_q), (w_k, b_k), (w_v, b_v))
        )
        return q, k, v

    def forward(self, x: Tensor, tap: Tap | None = None) -> Tensor:
        B, N, _ = x.shape
        H = self.num_heads
        gate = self.gate(x).sigmoid() if self.gate is not None else None
        q, k, v = self._project(x)  # [B, H, N, d], [B, H, N, d], [B, H, N, e]
        q, k = self.q_norm(q), self.k_norm(k)

        attn_probs = None
        if self.fused_attn and not (tap and tap.need_attn):
            dropout_p = self.attn_drop.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)  # [B, H, N, e]
        else:
            attn_probs = (q * self.scale) @ k.transpose(-2, -1)  # [B, H, N, N]
            attn_probs = attn_probs.softmax(dim=-1)
            out = self.attn_drop(attn_probs) @ v  # [B, H, N, e]

        record = AttnRecord(attn=attn_probs if tap and tap.need_attn else None)
        if tap is not None:
            tap.records.append(record)
        if self.bottleneck is None:
            x = out.transpose(1, 2).reshape(B, N, self.attn_dim)  # [B, N, H·d]: concat heads
        else:
            hidden = self._channel(self.bottleneck, out, record, tap)  # [B·N, H·k]
            if self._fold_output:  # W_d2 is folded into W_o: one GEMM gives the block's update
                w, b = self.bottleneck.fold_output(self.proj.weight, self.proj.bias)
                return self.proj_drop(F.linear(hidden, w, b).view(B, N, -1))  # [B, N, D]
            x = self.bottleneck.dec[-1](hidden.view(B * N, H, -1))  # [B·N, H, d]
            x = x.view(B, N, self.attn_dim)  # [B, N, H·d]: concat heads
        x = self.norm(x)
        if gate is not None:
            x = x * gate
        return self.proj_drop(self.proj(x))

    def _channel(
        self, bottleneck: HeadBottleneck, out: Tensor, record: AttnRecord, tap: Tap | None
    ) -> Tensor:
        """Pre-encoded head outputs [B, H, N, e] → decoder activations [B·N, H·k]; records KL."""
        B, H, N, _ = out.shape
        noise = "sample" if self.training else (tap.noise if tap and tap.noise else self.noise)
        pre = out.transpose(1, 2).reshape(B * N, H, -1)  # [B·N, H, e] = Δ·W_e1 (+ b_e1)
        hidden, stats, kl = bottleneck.channel(pre, noise, biased=self._rows_sum_to_one)
        record.kl = kl.view(B, N, H).transpose(1, 2)  # [B, H, N]
        if tap and tap.need_posterior:
            mu, logvar = split_posterior(stats, bottleneck.config)  # [B·N, H, r] each
            record.mu = mu.view(B, N, H, -1).transpose(1, 2)  # [B, H, N, r]
            record.logvar = logvar.view(B, N, H, -1).transpose(1, 2)  # [B, H, N, r]
        return hidden
