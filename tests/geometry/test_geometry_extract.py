"""Token representations per layer via hooks, token labels, pixel patches."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from infovit.errors import InfovitError
from infovit.geometry.extract import (
    PIXEL_LAYER,
    describe_layers,
    patchify,
    prepare_model,
    run_layers,
    token_labels,
)


def test_layers_match_a_manual_forward(vit: nn.Module, images: torch.Tensor) -> None:
    x = images[:4]
    with torch.no_grad():
        h = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))  # [B, T, D]
        manual = [h]
        for blk in vit.blocks:
            h = blk(h)
            manual.append(h)
    got: dict[int, torch.Tensor] = {}
    run_layers(vit, x, [0, 1, 2, 3], lambda i, t: got.__setitem__(i, t.clone()))
    assert sorted(got) == [0, 1, 2, 3]
    for i in range(4):
        torch.testing.assert_close(got[i], manual[i])


def test_forward_stops_after_last_needed_block(vit: nn.Module, images: torch.Tensor) -> None:
    calls: list[int] = []
    handles = [
        b.register_forward_hook(lambda *_a, i=i: calls.append(i)) for i, b in enumerate(vit.blocks)
    ]
    try:
        seen: list[int] = []
        run_layers(vit, images[:2], [1], lambda i, _t: seen.append(i))
    finally:
        for h in handles:
            h.remove()
    assert seen == [1]
    assert calls == [0]  # blocks 2 and 3 never ran
    assert len(vit.blocks[0]._forward_hooks) == 0  # run_layers removed its hooks
    assert len(vit.norm_pre._forward_hooks) == 0


def test_patchify_matches_unfold() -> None:
    x = torch.randn(2, 3, 12, 8)
    ref = F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)  # [B, P, C·4·4]
    torch.testing.assert_close(patchify(x, (4, 4)), ref)


def test_pixel_layer(vit: nn.Module, images: torch.Tensor) -> None:
    got: dict[int, torch.Tensor] = {}
    run_layers(vit, images[:3], [PIXEL_LAYER], lambda i, t: got.__setitem__(i, t))
    assert got[PIXEL_LAYER].shape == (3, 16, 48)
    specs = describe_layers(vit, [0, 2], include_pixels=True)
    assert [(s.index, s.num_tokens, s.dim, s.token_offset) for s in specs] == [
        (-1, 16, 48, 1),
        (0, 17, 32, 0),
        (2, 17, 32, 0),
    ]
    with pytest.raises(InfovitError):
        describe_layers(vit, [4])


def test_token_labels(make_vit: Callable[..., nn.Module]) -> None:
    labels = token_labels(make_vit(reg_tokens=2))
    assert labels.kind[:4] == ("cls", "reg", "reg", "patch")
    assert labels.num_tokens == 3 + 16 and labels.grid == (4, 4)
    assert labels.row[3:7].tolist() == [0, 0, 0, 0] and labels.col[3:7].tolist() == [0, 1, 2, 3]
    assert labels.row[-1] == 3 and labels.col[-1] == 3
    gap = token_labels(make_vit(class_token=False, global_pool="avg"))
    assert set(gap.kind) == {"patch"} and gap.spatial.all()


def test_prepare_model_uses_posterior_mean(vit: nn.Module) -> None:
    class Noisy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = vit
            self.noise = "sample"
            for name in ("patch_embed", "norm_pre", "blocks", "num_prefix_tokens"):
                setattr(self, name, getattr(vit, name))

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner.forward_features(x)

        def set_noise(self, noise: str) -> None:
            self.noise = noise

    model = Noisy().train()
    assert prepare_model(model) == {"noise": "mean"}
    assert model.noise == "mean" and not model.training
    assert prepare_model(vit) == {"noise": None}
    with pytest.raises(InfovitError, match="not a timm VisionTransformer"):
        prepare_model(nn.Linear(2, 2))
