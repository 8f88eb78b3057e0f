"""Read the architecture of any timm ViT so InfoViT can rebuild it with the paper's changes.

timm's model entry points hard-code their arguments; rather than copy those tables, we build the
named model on the ``meta`` device (no memory, no weights) and read back the constructor arguments
from its modules. Only the standard pre-norm ViT is supported: anything else is refused with a
message instead of being silently changed.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, cast

import timm
import torch
from timm.layers import Attention, LayerScale, Mlp, PatchEmbed
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from infovit.errors import InfovitError

__all__ = ["arch_kwargs_from_vit", "create_timm_vit", "vit_arch_kwargs"]


def create_timm_vit(name: str, device: str | torch.device = "meta", **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, pretrained=False, **kwargs)`` with a clear error for bad names."""
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models("vit_*"), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InfovitError(
            f'unknown timm model {name!r}{hint} (list ViT names with: python -c "import timm; '
            "print(timm.list_models('vit_*'))\")"
        )
    with torch.device(device):
        return timm.create_model(name, pretrained=False, **kwargs)


def _norm_factory(norm: nn.Module) -> Any:
    eps = getattr(norm, "eps", 1e-6)
    return functools.partial(type(norm), eps=eps)


def arch_kwargs_from_vit(model: nn.Module, name: str = "model") -> dict[str, Any]:
    """Constructor arguments of a standard timm ``VisionTransformer`` instance.

    Raises :class:`InfovitError` for models that are not ViTs or use blocks, attention, MLPs or
    pooling heads that infovit does not rebuild faithfully.
    """
    if not isinstance(model, VisionTransformer):
        raise InfovitError(
            f"{name!r} is a {type(model).__name__}, not a timm VisionTransformer; infovit needs a "
            "ViT such as vit_tiny_patch16_224"
        )
    blk = model.blocks[0]
    problems = []
    if type(blk) is not Block:
        problems.append(f"block type {type(blk).__name__}")
    elif type(blk.attn) is not Attention:
        problems.append(f"attention type {type(blk.attn).__name__}")
    elif type(blk.mlp) is not Mlp:
        problems.append(f"MLP type {type(blk.mlp).__name__}")
    if type(model.patch_embed) is not PatchEmbed:
        problems.append(f"patch embedding {type(model.patch_embed).__name__}")
    if getattr(model, "attn_pool", None) is not None:
        problems.append("attention-pool head")
    if problems:
        raise InfovitError(
            f"{name!r} is a ViT variant infovit cannot rebuild ({', '.join(problems)}); use a "
            "standard pre-norm ViT (vit_tiny/small/base_patchN_SIZE)"
        )
    # the checks above passed: a plain Block with timm's Attention and Mlp (narrows the types)
    assert isinstance(blk, Block) and isinstance(blk.attn, Attention) and isinstance(blk.mlp, Mlp)
    pe = model.patch_embed
    return dict(
        img_size=tuple(pe.img_size),
        patch_size=tuple(pe.patch_size),
        in_chans=pe.proj.in_channels,
        num_classes=model.num_classes,
        embed_dim=model.embed_dim,
        depth=len(model.blocks),
        num_heads=blk.attn.num_heads,
        # typed Linear | Conv2d (Mlp's use_conv); a ViT's MLP is linear
        mlp_ratio=cast(nn.Linear, blk.mlp.fc1).out_features / model.embed_dim,
        qkv_bias=blk.attn.qkv.bias is not None,
        qk_norm=not isinstance(blk.attn.q_norm, nn.Identity),
        proj_bias=blk.attn.proj.bias is not None,
        init_values=1e-5 if isinstance(blk.ls1, LayerScale) else None,
        class_token=model.cls_token is not None,
        reg_tokens=model.num_reg_tokens,
        no_embed_class=model.no_embed_class,
        pos_embed="learn" if model.pos_embed is not None else "none",
        pre_norm=not isinstance(model.norm_pre, nn.Identity),
        dynamic_img_size=model.dynamic_img_size,
        norm_layer=_norm_factory(blk.norm1),
        act_layer=type(blk.mlp.act),
    )


def vit_arch_kwargs(name: str, **overrides: Any) -> dict[str, Any]:
    """Architecture of the timm model ``name`` with ``overrides`` (img_size, patch_size, ...)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    arch_kwargs_from_vit(create_timm_vit(name), name)  # refuse non-ViTs before passing ViT args
    try:
        model = create_timm_vit(name, **overrides)
    except (TypeError, AssertionError, RuntimeError) as err:
        raise InfovitError(f"cannot build timm model {name!r} with {overrides}: {err}") from err
    return arch_kwargs_from_vit(model, name)
