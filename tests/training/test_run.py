"""Run folders: self-describing, exact resume, checkpoints that must fit the config."""

from __future__ import annotations

import json

import pytest
import torch

from infovit.errors import InfovitError
from infovit.training import RunFolder, load_config, load_model, train


def test_run_folder_contents(tmp_path, tiny_overrides):
    run = train(load_config(None, tiny_overrides), tmp_path / "run", progress=False)
    files = {p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file()}
    assert {"config.yaml", "run.json", "metrics.jsonl", "checkpoints/last/model.safetensors",
            "checkpoints/last/info.json", "checkpoints/last/state.pt",
            "checkpoints/last/manifest.json", "checkpoints/best/model.safetensors",
            "checkpoints/best/info.json", "checkpoints/best/manifest.json"} <= files  # fmt: skip
    assert not any(".tmp" in f for f in files)
    assert "checkpoints/best/state.pt" not in files  # best is for analysis, not for resuming
    metrics = run.read_metrics()
    assert [m["epoch"] for m in metrics] == [0, 1]
    for key in ("train_loss", "train_ce", "train_kl_per_image", "val_top1", "val_top5",
                "val_kl_per_image", "beta", "lr", "images_per_s"):  # fmt: skip
        assert key in metrics[-1]
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["beta_convention"] == "mean" and "commit" in meta["git"]
    cfg = run.config()
    assert cfg.model.num_classes == 8 and cfg.model.img_size == 16  # resolved from the data
    model, _ = load_model(run.path)
    assert model.variant == "ib" and not model.training


def test_resume_continues_exactly(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides)
    straight = train(cfg, tmp_path / "a", progress=False)
    partial = train(cfg, tmp_path / "b", progress=False, stop_after_epochs=1)
    assert len(partial.read_metrics()) == 1
    resumed = train(None, tmp_path / "b", resume=True, progress=False)
    wa = straight.checkpoint("last").tensors()
    wb = resumed.checkpoint("last").tensors()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=0)
    ma, mb = straight.read_metrics(), resumed.read_metrics()
    assert [m["val_top1"] for m in ma] == [m["val_top1"] for m in mb]


def test_existing_run_is_not_overwritten(tmp_path, tiny_overrides):
    cfg = load_config(None, tiny_overrides)
    train(cfg, tmp_path / "run", progress=False, stop_after_epochs=1)
    with pytest.raises(InfovitError, match="already exists"):
        train(cfg, tmp_path / "run", progress=False)


def test_checkpoint_that_does_not_fit_the_config(tmp_path, tiny_overrides):
    run = train(
        load_config(None, tiny_overrides), tmp_path / "run", progress=False, stop_after_epochs=1
    )
    text = run.config_path.read_text().replace("rank: 4", "rank: 6")
    run.config_path.write_text(text)
    with pytest.raises(InfovitError, match="does not fit"):
        load_model(run.path)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(InfovitError, match="not an infovit run folder"):
        RunFolder.open(tmp_path)


def test_optimizer_state_loads_without_pickle(tmp_path, tiny_overrides):
    run = train(
        load_config(None, tiny_overrides), tmp_path / "run", progress=False, stop_after_epochs=1
    )
    state = torch.load(run.checkpoints_dir / "last" / "state.pt", weights_only=True)
    assert {"optimizer", "rng_cpu", "rng_python", "rng_numpy", "step"} <= set(state)


def test_best_checkpoint_comes_from_the_final_beta(tmp_path, tiny_overrides, monkeypatch):
    """During the β warm-up the model is less restricted than configured; "best" must not
    come from there even when its accuracy is higher (here: accuracy falls every epoch)."""
    import dataclasses

    import infovit.training.trainer as trainer

    real = trainer.evaluate
    accuracies = iter([90.0, 80.0, 70.0, 60.0, 90.0, 80.0])
    monkeypatch.setattr(
        trainer,
        "evaluate",
        lambda *a, **k: dataclasses.replace(real(*a, **k), top1=next(accuracies)),
    )
    overrides = [*tiny_overrides, "--optim.epochs", "4", "--beta.warmup_epochs", "3"]
    run = train(load_config(None, overrides), tmp_path / "run", progress=False)
    best = run.checkpoint_info("best")
    assert (best["epoch"], best["best_top1"]) == (2, 70.0)  # epochs 2 and 3 end at the final β

    overrides = [*tiny_overrides, "--optim.epochs", "2", "--beta.warmup_epochs", "5"]
    run = train(load_config(None, overrides), tmp_path / "never", progress=False)
    best = run.checkpoint_info("best")
    assert best["epoch"] == 1  # β never reached its value: the last epoch stands in
