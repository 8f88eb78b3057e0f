"""Shared fixtures: small deterministic models that run in milliseconds on CPU."""

from __future__ import annotations

import pytest
import torch

from infovit.model import BottleneckConfig, ModelConfig, build_model


def tiny_config(variant: str = "ib", **kw: object) -> ModelConfig:
    """A 4-block, 3-head ViT on 16×16 images with 4×4 patches (16 patch tokens)."""
    fields = dict(
        base="vit_tiny_patch16_224",
        variant=variant,
        img_size=16,
        patch_size=4,
        num_classes=5,
        bottleneck=BottleneckConfig(rank=4, hidden=8),
    )
    fields.update(kw)
    return ModelConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def make_model():
    def make(variant: str = "ib", seed: int = 0, **kw: object):
        torch.manual_seed(seed)
        model = build_model(tiny_config(variant, **kw))
        # Shrink depth for speed: keep the first 4 blocks.
        model.blocks = model.blocks[:4]
        return model

    return make
