"""Mixed precision: the autocast path runs on CPU (bf16); CUDA runs only where a GPU exists."""

from __future__ import annotations

import pytest
import torch

from infovit.training import load_config, train
from infovit.training.device import resolve_amp


def test_amp_choices():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_amp("auto", cpu) is None  # CPU trains in float32 unless asked
    assert resolve_amp("off", cuda) is None
    assert resolve_amp("bf16", cpu) is torch.bfloat16
    assert resolve_amp("fp16", cpu) is torch.float16


def test_bf16_autocast_training_on_cpu(tmp_path, tiny_overrides):
    cfg = load_config(None, [*tiny_overrides, "--optim.amp", "bf16", "--optim.epochs", "1"])
    run = train(cfg, tmp_path / "run", progress=False)
    record = run.read_metrics()[-1]
    assert torch.isfinite(torch.tensor(record["train_loss"]))
    assert record["val_kl_per_image"] > 0  # KL stays float32 and positive under autocast


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_step(tmp_path, tiny_overrides):
    overrides = [o if o != "cpu" else "cuda" for o in tiny_overrides]
    cfg = load_config(None, [*overrides, "--optim.epochs", "1", "--optim.amp", "auto"])
    run = train(cfg, tmp_path / "run", progress=False)
    assert run.read_metrics()[-1]["val_top1"] >= 0
