"""Token representations per layer of any timm VisionTransformer, via forward hooks.

Layer numbering follows the paper's trajectories: layer 0 is the output of ``norm_pre`` (embedded
patches with position embedding and the prefix tokens), layer ℓ ≥ 1 the output of ``blocks[ℓ-1]``,
and the optional layer −1 ("pixels", the paper's "data set") is the raw normalised pixels of each
patch. Hooks see every layer the model computes; the forward is cut short by an exception right
after the last layer needed, so a pass over early layers does not pay for the rest of the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import nn

from infovit.errors import InfovitError

__all__ = [
    "PIXEL_LAYER",
    "LayerSpec",
    "TokenLabels",
    "describe_layers",
    "patchify",
    "prepare_model",
    "run_layers",
    "token_labels",
]

PIXEL_LAYER = -1


@dataclass(frozen=True)
class LayerSpec:
    """One layer's token block: ``num_tokens`` rows starting at global token ``token_offset``."""

    index: int  # −1 pixels, 0 embedding, ℓ block ℓ
    name: str
    num_tokens: int
    dim: int
    token_offset: int = 0


@dataclass(frozen=True)
class TokenLabels:
    """What each global token position is: kind ("cls", "reg", "patch") and grid cell."""

    kind: tuple[str, ...]
    row: np.ndarray  # int, −1 for prefix tokens
    col: np.ndarray
    grid: tuple[int, int]

    @property
    def num_tokens(self) -> int:
        return len(self.kind)

    @property
    def spatial(self) -> np.ndarray:
        return np.array([k == "patch" for k in self.kind])


class _ViT(Protocol):
    """The timm ``VisionTransformer`` attributes read here, the ones :func:`_check_vit` checks
    (an ``nn.Module``'s own attributes are typed ``Tensor | Module``)."""

    patch_embed: Any  # a timm PatchEmbed: patch_size, grid_size, proj
    norm_pre: nn.Module
    blocks: nn.Sequential
    num_prefix_tokens: int

    def forward_features(self, x: torch.Tensor) -> Any: ...


def _vit(model: nn.Module) -> _ViT:
    """``model`` typed as the timm ViT it is duck-typed as (no check; see :func:`_check_vit`)."""
    return cast(_ViT, model)


def _check_vit(model: nn.Module) -> None:
    needed = ("patch_embed", "norm_pre", "blocks", "num_prefix_tokens", "forward_features")
    missing = [a for a in needed if not hasattr(model, a)]
    if missing:
        raise InfovitError(
            f"{type(model).__name__} is not a timm VisionTransformer (missing "
            f"{', '.join(missing)}); geometry needs a ViT with patch_embed, norm_pre and blocks"
        )


def _grid(model: nn.Module) -> tuple[int, int]:
    grid = getattr(model.patch_embed, "grid_size", None)
    if grid is None:
        raise InfovitError("the model's patch_embed has no grid_size; use a fixed image size")
    return int(grid[0]), int(grid[1])


def _patch_size(model: nn.Module) -> tuple[int, int]:
    ps = _vit(model).patch_embed.patch_size
    return (int(ps[0]), int(ps[1])) if isinstance(ps, Sequence) else (int(ps), int(ps))


def token_labels(model: nn.Module) -> TokenLabels:
    """Label the token positions of a timm ViT: class token, register tokens, then the grid."""
    _check_vit(model)
    n_cls = 1 if getattr(model, "cls_token", None) is not None else 0
    n_prefix = int(_vit(model).num_prefix_tokens)
    gh, gw = _grid(model)
    kinds = ["cls"] * n_cls + ["reg"] * (n_prefix - n_cls) + ["patch"] * (gh * gw)
    idx = np.arange(gh * gw)
    row = np.concatenate([np.full(n_prefix, -1), idx // gw])
    col = np.concatenate([np.full(n_prefix, -1), idx % gw])
    return TokenLabels(kind=tuple(kinds), row=row, col=col, grid=(gh, gw))


def describe_layers(
    model: nn.Module, layers: Sequence[int] | None = None, include_pixels: bool = False
) -> list[LayerSpec]:
    """Layer specs for the requested layer indices (default: 0 … depth), pixels first if asked."""
    labels = token_labels(model)
    vit = _vit(model)
    depth = len(vit.blocks)
    dim = int(getattr(model, "embed_dim", getattr(model, "num_features", 0)))
    chosen = list(range(depth + 1)) if layers is None else sorted(set(layers))
    bad = [i for i in chosen if not 0 <= i <= depth]
    if bad:
        raise InfovitError(f"layers {bad} out of range: this model has layers 0..{depth}")
    specs: list[LayerSpec] = []
    if include_pixels:
        ph, pw = _patch_size(model)
        chans = int(getattr(vit.patch_embed.proj, "in_channels", 3))
        n_prefix = int(vit.num_prefix_tokens)
        n_patches = labels.num_tokens - n_prefix
        specs.append(LayerSpec(PIXEL_LAYER, "pixels", n_patches, chans * ph * pw, n_prefix))
    for i in chosen:
        specs.append(LayerSpec(i, "embed" if i == 0 else f"block{i}", labels.num_tokens, dim))
    return specs


def prepare_model(model: nn.Module) -> dict[str, object]:
    """Put the model in a deterministic analysis state and say what was done.

    An infovit bottleneck samples its latent; geometry uses the posterior mean when the model
    offers it (``set_noise("mean")``), so activations are a function of the image alone.
    """
    _check_vit(model)
    model.eval()
    info: dict[str, object] = {"noise": None}
    set_noise = getattr(model, "set_noise", None)
    if callable(set_noise):
        set_noise("mean")
        info["noise"] = "mean"
    return info


def patchify(images: torch.Tensor, patch_size: tuple[int, int]) -> torch.Tensor:
    """Images [B, C, H, W] → pixel patches [B, P, C·ph·pw] in patch_embed's row-major order."""
    b, c, h, w = images.shape
    ph, pw = patch_size
    gh, gw = h // ph, w // pw
    x = images[:, :, : gh * ph, : gw * pw].reshape(b, c, gh, ph, gw, pw)  # [B, C, gh, ph, gw, pw]
    x = x.permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, C, ph, pw]
    return x.reshape(b, gh * gw, c * ph * pw)  # [B, P, C·ph·pw]


class _StopForward(Exception):
    """Raised from a hook once the last needed layer has been seen."""


@contextmanager
def _hooks(
    model: nn.Module, wanted: set[int], callback: Callable[[int, torch.Tensor], None]
) -> Iterator[None]:
    last = max(wanted)
    handles = []

    def make(index: int) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            if index in wanted:
                callback(index, output)
            if index == last:
                raise _StopForward

        return hook

    vit = _vit(model)
    handles.append(vit.norm_pre.register_forward_hook(make(0)))
    for i, block in enumerate(vit.blocks):
        if i + 1 > last:
            break
        handles.append(block.register_forward_hook(make(i + 1)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def run_layers(
    model: nn.Module,
    images: torch.Tensor,
    layers: Sequence[int],
    callback: Callable[[int, torch.Tensor], None],
) -> None:
    """Call ``callback(layer, tokens [B, T, D])`` for each requested layer, in depth order.

    Layer −1 gives the pixel patches [B, P, C·ph·pw]. The forward stops after the deepest
    requested layer; the callback must consume the tensor before returning (it is not kept).
    """
    wanted = set(layers)
    if PIXEL_LAYER in wanted:
        callback(PIXEL_LAYER, patchify(images, _patch_size(model)))
        wanted.discard(PIXEL_LAYER)
    if not wanted:
        return
    with _hooks(model, wanted, callback):
        try:
            _vit(model).forward_features(images)
        except _StopForward:
            return
    raise RuntimeError(f"forward finished without reaching layer {max(wanted)}")
