"""Build InfoViT models from a plain config, and load timm backbone weights into them."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from infovit.coerce import build_section
from infovit.errors import InfovitError
from infovit.model.bottleneck import BottleneckConfig
from infovit.model.timm_arch import vit_arch_kwargs
from infovit.model.vit import VARIANTS, InfoViT

__all__ = ["ModelConfig", "build_model", "load_backbone_weights", "read_state_dict"]


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored in every run folder."""

    base: str = "vit_tiny_patch16_224"  # any standard timm ViT name
    variant: str = "ib"  # ib | no_attn | vit
    img_size: int | None = None  # None: the timm model's own
    patch_size: int | None = None
    depth: int | None = None  # None: the base's; smaller values make CPU-sized models
    embed_dim: int | None = None
    num_heads: int | None = None
    mlp_ratio: float | None = None
    num_classes: int = 100
    class_token: bool = False  # the paper: no class token, mean over patches
    reg_tokens: int = 0
    drop_path_rate: float = 0.0
    bottleneck: BottleneckConfig = field(default_factory=BottleneckConfig)
    pretrained: bool = False  # timm hub weights for the backbone (needs internet)
    weights: str | None = None  # local backbone weights file (.safetensors, .pth, .bin, .npz)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ModelConfig:
        """From a plain mapping (YAML, overrides, registry kwargs), every field type-checked."""
        return build_section(cls, d, "model")

    def validate(self) -> None:
        """Refuse values no model can be built from, each with what to write instead.

        Sizes left as None are resolved from the timm base first, so ``--model.embed_dim 32``
        alone is checked against the base's head count.
        """
        if self.variant not in VARIANTS:
            raise InfovitError(
                f"unknown variant {self.variant!r}: model.variant must be one of "
                f"{', '.join(VARIANTS)} (e.g. --model.variant ib)"
            )
        for name, example in _SIZE_EXAMPLES.items():
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InfovitError(
                    f"model.{name} must be ≥ 1, got {value} (e.g. --model.{name} {example}, or "
                    "null for the base's own)"
                )
        if self.num_classes < 1:
            raise InfovitError(
                f"model.num_classes must be ≥ 1, got {self.num_classes} (training sets it from "
                "the data: leave it out)"
            )
        if self.mlp_ratio is not None and not self.mlp_ratio > 0:
            raise InfovitError(
                f"model.mlp_ratio must be > 0, got {self.mlp_ratio} (e.g. --model.mlp_ratio 4)"
            )
        if not 0 <= self.drop_path_rate < 1:
            raise InfovitError(
                f"model.drop_path_rate must be in [0, 1), got {self.drop_path_rate} "
                "(e.g. --model.drop_path_rate 0.1)"
            )
        if self.reg_tokens < 0:
            raise InfovitError(
                f"model.reg_tokens must be ≥ 0, got {self.reg_tokens} (e.g. --model.reg_tokens 4)"
            )
        _validate_bottleneck(self.bottleneck)
        base_img, base_patch, base_dim, base_heads = _base_dims(self.base)
        dim, heads = self.embed_dim or base_dim, self.num_heads or base_heads
        if dim % heads:
            raise InfovitError(
                f"model.embed_dim {dim}{_of_base(self.embed_dim, self.base)} is not divisible by "
                f"model.num_heads {heads}{_of_base(self.num_heads, self.base)}; "
                "set --model.embed_dim and --model.num_heads so that heads divide the width"
            )
        img, patch = self.img_size or base_img, self.patch_size or base_patch
        if img % patch:
            raise InfovitError(
                f"model.patch_size {patch}{_of_base(self.patch_size, self.base)} does not divide "
                f"model.img_size {img}{_of_base(self.img_size, self.base)}; "
                "choose a patch size that tiles the image (e.g. 16 for 224 px, 4 for 32 px)"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(config: ModelConfig, load_weights: bool = True) -> InfoViT:
    """An InfoViT of ``config.variant`` on the architecture of the timm model ``config.base``."""
    config.validate()  # also for configs built in Python, which no from_dict has seen
    arch = vit_arch_kwargs(
        config.base,
        img_size=config.img_size,
        patch_size=config.patch_size,
        depth=config.depth,
        embed_dim=config.embed_dim,
        num_heads=config.num_heads,
        mlp_ratio=config.mlp_ratio,
        num_classes=config.num_classes,
        class_token=config.class_token,
        reg_tokens=config.reg_tokens or None,
        global_pool="avg",
    )
    model = InfoViT(
        variant=config.variant,  # type: ignore[arg-type]
        bottleneck=config.bottleneck,
        drop_path_rate=config.drop_path_rate,
        **arch,
    )
    if load_weights and (config.pretrained or config.weights):
        state = (
            read_state_dict(config.weights)
            if config.weights
            else _timm_pretrained_state(config.base)
        )
        load_backbone_weights(model, state)
    return model


_SIZE_EXAMPLES = {"img_size": 224, "patch_size": 16, "depth": 4, "embed_dim": 192, "num_heads": 3}


def _validate_bottleneck(b: BottleneckConfig) -> None:
    if b.rank < 1:
        raise InfovitError(
            f"model.bottleneck.rank must be ≥ 1, got {b.rank} (e.g. --model.bottleneck.rank 32)"
        )
    if b.hidden < 0:
        raise InfovitError(
            f"model.bottleneck.hidden must be ≥ 0, got {b.hidden} (e.g. "
            "--model.bottleneck.hidden 64; 0: single linear layers)"
        )
    if not b.logvar_min < b.logvar_max:
        raise InfovitError(
            f"model.bottleneck.logvar_min ({b.logvar_min}) must be below logvar_max "
            f"({b.logvar_max}); the defaults are -10 and 10"
        )


@functools.cache
def _base_dims(base: str) -> tuple[int, int, int, int]:
    """(img_size, patch_size, embed_dim, num_heads) of a timm ViT; an unknown name or a
    non-ViT is refused here with a message naming how to find a valid one."""
    arch = vit_arch_kwargs(base)
    return arch["img_size"][0], arch["patch_size"][0], arch["embed_dim"], arch["num_heads"]


def _of_base(value: int | None, base: str) -> str:
    """Say where a number in a message came from when the user did not set it."""
    return f" (that of {base})" if value is None else ""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a local weights file, never unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise InfovitError(
            f"weights file {str(path)!r} does not exist; give the path of a local .safetensors, "
            ".pth, .bin or .npz file"
        )
    state: object  # whatever the file holds; checked to be a state dict below
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        elif path.suffix == ".npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as z:
                state = {k: torch.from_numpy(z[k]) for k in z.files}
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except InfovitError:
        raise
    except Exception as err:
        raise InfovitError(f"cannot read weights file {str(path)!r}: {err}") from err
    for key in ("model", "state_dict", "model_state_dict", "state_dict_ema", "model_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InfovitError(f"{str(path)!r} does not hold a state dict of tensors")
    return state


def _timm_pretrained_state(base: str) -> dict[str, torch.Tensor]:
    import timm

    try:
        model = timm.create_model(base, pretrained=True)
    except Exception as err:  # offline, no weights for this tag, ...
        raise InfovitError(
            f"cannot download pretrained weights for {base!r} ({type(err).__name__}: {err}); "
            "download them elsewhere and pass a local file with --model.weights FILE"
        ) from err
    return model.state_dict()


def load_backbone_weights(model: InfoViT, state: dict[str, torch.Tensor]) -> list[str]:
    """Load timm ViT weights into ``model``; returns the model keys left at their init.

    Adapts what differs by construction: a class token or head the model does not have,
    position embeddings for another grid (resampled), timm's pooled ``fc_norm`` standing in for
    the per-token final norm, attention weights of a no-attention model. Bottleneck parameters
    and a head of another size stay as initialised.
    """
    state = dict(state)
    own = model.state_dict()
    if "fc_norm.weight" in state and "norm.weight" not in state:
        state["norm.weight"], state["norm.bias"] = (
            state.pop("fc_norm.weight"),
            state.pop("fc_norm.bias"),
        )
    if "pos_embed" in state and "pos_embed" in own:
        state["pos_embed"] = _adapt_pos_embed(model, state, own["pos_embed"])
    for key in list(state):
        if key not in own or state[key].shape != own[key].shape:
            if key in own and not key.startswith("head."):
                raise InfovitError(
                    f"weights do not fit the model: {key} has shape {tuple(state[key].shape)}, "
                    f"the model expects {tuple(own[key].shape)}"
                )
            state.pop(key)
    missing, _ = model.load_state_dict(state, strict=False)
    unexpected_missing = [
        k for k in missing if ".bottleneck." not in k and not k.startswith("head.")
    ]
    if unexpected_missing:
        raise InfovitError(
            f"weights lack {len(unexpected_missing)} backbone tensors "
            f"(e.g. {unexpected_missing[:3]}); are they from a different architecture?"
        )
    return list(missing)


def _adapt_pos_embed(
    model: InfoViT, state: dict[str, torch.Tensor], own: torch.Tensor
) -> torch.Tensor:
    """Source position embeddings re-laid for the model's prefix tokens and patch grid."""
    from timm.layers import resample_abs_pos_embed

    pos = state["pos_embed"]  # [1, prefix? + P_src, D]
    n_prefix = (1 if "cls_token" in state else 0) + (
        state["reg_token"].shape[1] if "reg_token" in state else 0
    )
    side = round((pos.shape[1] - n_prefix) ** 0.5)
    src_pos_prefix = n_prefix if side * side == pos.shape[1] - n_prefix else 0
    prefix_pos, patch_pos = pos[:, :src_pos_prefix], pos[:, src_pos_prefix:]
    if patch_pos.shape[1] != model.num_patches:
        patch_pos = resample_abs_pos_embed(
            patch_pos, new_size=list(model.grid_size), num_prefix_tokens=0
        )
    own_prefix = own.shape[1] - model.num_patches  # 0 with no_embed_class or no prefix tokens
    if own_prefix == 0:
        return patch_pos
    if prefix_pos.shape[1] != own_prefix:
        prefix_pos = own[:, :own_prefix]  # keep the model's own init for new prefix tokens
    return torch.cat([prefix_pos, patch_pos], dim=1)  # [1, T, D]
