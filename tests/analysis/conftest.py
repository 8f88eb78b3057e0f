"""Tiny trained runs (one epoch each, seconds) shared by the analysis tests."""

from __future__ import annotations

from pathlib import Path

import pytest

SPEC = "synthetic:grid=4,n_train=128,n_val=48"


def _train(root: Path, variant: str, seed: int = 42) -> Path:
    from infovit.training import load_config, train

    cfg = load_config(
        None,
        [
            "--model.variant", variant,
            "--model.depth", "2",
            "--model.embed_dim", "32",
            "--model.num_heads", "2",
            "--data.spec", SPEC,
            "--data.batch_size", "64",
            "--optim.epochs", "1",
            "--optim.seed", str(seed),
            "--model.bottleneck.rank", "4",
            "--model.bottleneck.hidden", "8",
        ],
    )  # fmt: skip
    out = root / f"{variant}_s{seed}"
    train(cfg, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {v: _train(root, v) for v in ("no_attn", "ib", "vit")}
