"""A tiny config that trains in about a second per epoch."""

from __future__ import annotations

import pytest

TINY = [
    "--model.depth", "2", "--model.embed_dim", "32", "--model.num_heads", "2",
    "--model.bottleneck.rank", "4", "--model.bottleneck.hidden", "8",
    "--data.spec", "synthetic:grid=4,n_train=128,n_val=64", "--data.batch_size", "32",
    "--optim.epochs", "2", "--optim.warmup_epochs", "1", "--optim.device", "cpu",
    "--beta.value", "1.0", "--beta.warmup_epochs", "1",
]  # fmt: skip


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)
