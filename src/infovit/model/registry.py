"""timm registry entry points: ``timm.create_model("infovit_ib_tiny_patch16_224", ...)``.

Names are ``infovit_{variant}_{size}_patch{P}_{S}`` for the variants ``ib``, ``no_attn`` and
``vit`` on timm's standard ViTs; ``pretrained=True`` loads timm's weights of the base ViT into the
backbone (bottlenecks start from their init). Keyword arguments are :class:`ModelConfig` fields
(``bottleneck`` as a dict or :class:`BottleneckConfig`); others are passed to timm.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from timm.models import register_model

from infovit.model.factory import ModelConfig, build_model
from infovit.model.vit import VARIANTS, InfoViT

__all__ = ["BASES", "registered_names"]

# timm base name → infovit name suffix (the small-image ViT is timm's tiny with patch 4 at 32 px).
BASES: dict[str, tuple[str, dict[str, Any]]] = {
    "tiny_patch16_224": ("vit_tiny_patch16_224", {}),
    "small_patch16_224": ("vit_small_patch16_224", {}),
    "base_patch16_224": ("vit_base_patch16_224", {}),
    "small_patch8_224": ("vit_small_patch8_224", {}),
    "base_patch8_224": ("vit_base_patch8_224", {}),
    "tiny_patch4_32": ("vit_tiny_patch16_224", {"img_size": 32, "patch_size": 4}),
}

_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def _entrypoint(variant: str, base: str, defaults: dict[str, Any]) -> Callable[..., InfoViT]:
    def create(pretrained: bool = False, **kwargs: Any) -> InfoViT:
        for key in _TIMM_ONLY:
            kwargs.pop(key, None)
        fields = {**defaults, **kwargs, "base": base, "variant": variant, "pretrained": pretrained}
        return build_model(ModelConfig.from_dict(fields))

    return create


def registered_names() -> list[str]:
    """All infovit names in timm's registry."""
    return [f"infovit_{v}_{suffix}" for v in VARIANTS for suffix in BASES]


def _register_all() -> None:
    module = sys.modules[__name__]
    for variant in VARIANTS:
        for suffix, (base, defaults) in BASES.items():
            fn = _entrypoint(variant, base, defaults)
            fn.__name__ = fn.__qualname__ = f"infovit_{variant}_{suffix}"
            fn.__module__ = __name__
            fn.__doc__ = f"InfoViT ({variant}) on the architecture of timm's {base} {defaults}."
            setattr(module, fn.__name__, fn)
            register_model(fn)


_register_all()
