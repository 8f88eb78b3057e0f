"""InfoViT: a timm VisionTransformer whose attention writes are priced in nats.

Three variants of one architecture span the paper's spectrum:

- ``ib``: every attention head's output passes a variational bottleneck; the loss pays β per nat.
- ``no_attn``: attention sub-blocks removed; each patch is processed independently (β → ∞).
- ``vit``: the unmodified ViT (β = 0 without any channel noise).

Pooling follows the paper's code, not timm's ``global_pool='avg'`` default: the final norm is
applied to every token, the linear head to the mean over patch tokens. Because the head is linear,
the image logit is exactly the mean of per-patch logits ``head(norm(x_i))`` — patch voting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import Tensor

from infovit.model.attention import Tap
from infovit.model.block import InfoBlock
from infovit.model.bottleneck import BottleneckConfig, Noise

__all__ = ["VARIANTS", "InfoOutput", "InfoViT", "Variant"]

Variant = Literal["ib", "no_attn", "vit"]
VARIANTS: tuple[str, ...] = ("ib", "no_attn", "vit")


@dataclass
class InfoOutput:
    """Everything one forward pass can report. Shapes: L blocks, H heads, T tokens, P patches."""

    logits: Tensor  # [B, C] image logits (= mean of patch_logits over P)
    kl: Tensor | None  # [B, L, H, T] nats per head and token; None without bottlenecks
    patch_logits: Tensor | None = None  # [B, P, C] on request
    mu: Tensor | None = None  # [B, L, H, T, r] on request
    logvar: Tensor | None = None  # [B, L, H, T, r] on request
    attn: Tensor | None = None  # [B, L', H, T, T] on request (L' = blocks with attention)

    def kl_per_image(self) -> Tensor:
        """Total nats written by all heads into all tokens, per image: [B] (zeros without IB)."""
        if self.kl is None:
            return self.logits.new_zeros(self.logits.shape[0], dtype=torch.float32)
        return self.kl.sum(dim=(1, 2, 3))


class InfoViT(VisionTransformer):
    """A timm ViT with per-head information bottlenecks (or no attention, or neither).

    Args:
        variant: ``"ib"``, ``"no_attn"`` or ``"vit"``.
        bottleneck: channel shape for ``"ib"`` (ignored otherwise).
        **vit_kwargs: any ``timm.models.vision_transformer.VisionTransformer`` argument; pooling
            arguments are fixed to the paper's (final norm per token, mean over patch tokens).
    """

    def __init__(
        self,
        variant: Variant = "ib",
        bottleneck: BottleneckConfig | None = None,
        **vit_kwargs: Any,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        for key in ("global_pool", "fc_norm", "final_norm", "block_fn", "attn_layer"):
            vit_kwargs.pop(key, None)
        super().__init__(global_pool="avg", fc_norm=False, final_norm=True, **vit_kwargs)
        self.variant: Variant = variant
        self.bottleneck_config = (bottleneck or BottleneckConfig()) if variant == "ib" else None
        self.blocks = torch.nn.Sequential(
            *[
                InfoBlock(blk, attention=variant != "no_attn", bottleneck=self.bottleneck_config)
                for blk in self.blocks
            ]
        )

    # ----------------------------------------------------------------- configuration
    @property
    def grid_size(self) -> tuple[int, int]:
        """Patch grid (rows, cols); patch token i sits at (i // cols, i % cols)."""
        return tuple(self.patch_embed.grid_size)

    @property
    def num_patches(self) -> int:
        return int(self.patch_embed.num_patches)

    def set_noise(self, noise: Noise) -> InfoViT:
        """Evaluation noise of every bottleneck: ``"sample"`` (paper) or ``"mean"`` (μ only)."""
        if noise not in ("sample", "mean"):
            raise ValueError(f"noise must be 'sample' or 'mean', got {noise!r}")
        for blk in cast(Sequence[InfoBlock], self.blocks):  # nn.Sequential iterates as Module
            if blk.attn is not None:
                blk.attn.noise = noise
        return self

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """The paper decays pos/patch embeddings; not tokens, and no bottleneck parameter."""
        names = {"cls_token", "reg_token"}
        names |= {n for n, _ in self.named_parameters() if ".bottleneck." in n}
        return names

    # ----------------------------------------------------------------- forward
    def _embed(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)  # [B, P, D] (or NHWC with dynamic size)
        x = self._pos_embed(x)  # [B, T, D], T = prefix + P
        x = self.patch_drop(x)
        return self.norm_pre(x)

    # timm's forward/forward_features take (x, attn_mask, is_causal); InfoViT's take a Tap and
    # no mask (deliberately narrower signatures, so mypy's override check is silenced)
    def forward_features(self, x: Tensor, tap: Tap | None = None) -> Tensor:  # type: ignore[override]
        """Normed token features [B, T, D]; ``tap`` collects per-block analysis records."""
        x = self._embed(x)
        for blk in self.blocks:
            x = blk(x, tap=tap)
        return self.norm(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Mean over patch tokens of the per-token normed features, then the linear head."""
        x = x[:, self.num_prefix_tokens :].mean(dim=1)  # [B, D]
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward_patch_logits(self, features: Tensor) -> Tensor:
        """Per-patch logits [B, P, C] from normed features: each patch's own vote."""
        return self.head(self.head_drop(features[:, self.num_prefix_tokens :]))

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return self.forward_head(self.forward_features(x))

    def forward_info(
        self,
        x: Tensor,
        noise: Noise | None = None,
        return_posterior: bool = False,
        return_attn: bool = False,
        return_patch_logits: bool = False,
    ) -> InfoOutput:
        """Logits plus the information record (KL per block, head, token) of one pass.

        ``noise`` overrides the evaluation noise for this call (training always samples).
        """
        tap = Tap(noise=noise, need_posterior=return_posterior, need_attn=return_attn)
        features = self.forward_features(x, tap=tap)  # [B, T, D]
        out = InfoOutput(logits=self.forward_head(features), kl=None)
        records = tap.records
        if self.variant == "ib":
            out.kl = _stack([r.kl for r in records])  # [B, L, H, T]
            if return_posterior:
                out.mu = _stack([r.mu for r in records])  # [B, L, H, T, r]
                out.logvar = _stack([r.logvar for r in records])
        if return_attn and records:
            out.attn = _stack([r.attn for r in records])  # [B, L', H, T, T]
        if return_patch_logits:
            out.patch_logits = self.forward_patch_logits(features)  # [B, P, C]
        return out


def _stack(fields: list[Tensor | None]) -> Tensor:
    """One field of every block's record, stacked on dim 1. The tap asked for the field, so
    each record has it (typed ``Tensor | None`` as records fill only what is asked for)."""
    return torch.stack(cast(list[Tensor], fields), dim=1)
