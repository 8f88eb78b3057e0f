"""Shared fixtures for the geometry tests: small random-init timm ViTs and image batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import timm
import torch


def _small_vit(**kwargs: object) -> torch.nn.Module:
    """A 3-block, 32-wide ViT on 16 px images with 4 px patches (16 patches + prefix)."""
    torch.manual_seed(0)
    config: dict[str, object] = {
        "img_size": 16,
        "patch_size": 4,
        "embed_dim": 32,
        "depth": 3,
        "num_heads": 2,
        "num_classes": 5,
    }
    config.update(kwargs)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, **config).eval()


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Run each test on one intra-op thread, restoring the setting afterwards.

    The tensors here are tiny: with two OpenMP threads on a shared 2-core machine every small op
    waits for a second core, which made the suite ~50x slower under load for no benefit.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def make_vit() -> Callable[..., torch.nn.Module]:
    return _small_vit


@pytest.fixture
def vit() -> torch.nn.Module:
    return _small_vit()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(150, 3, 16, 16, generator=torch.Generator().manual_seed(1))
