"""Data-parallel training: torchrun with gloo on CPU matches a single process with the same
global batch; only rank 0 writes; a stopped distributed run resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import torch

from infovit.data.sampling import EpochSampler, RankSlices
from infovit.training import RunFolder, load_config, train

# The unmodified ViT: no noise, so two processes and one must agree up to float rounding.
VIT = [
    "--model.variant", "vit", "--model.depth", "2", "--model.embed_dim", "32",
    "--model.num_heads", "2", "--data.spec", "synthetic:grid=4,n_train=128,n_val=64",
    "--data.batch_size", "32", "--optim.epochs", "3", "--optim.warmup_epochs", "1",
    "--optim.device", "cpu", "--optim.checkpoint_every", "null",
]  # fmt: skip


@pytest.mark.parametrize("world", [1, 2, 4])
def test_rank_slices_together_are_the_single_process_batches(world):
    single = EpochSampler(40, seed=3)
    single.set_epoch(2, start=8)
    batches = list(single)
    batches = [batches[i : i + 8] for i in range(0, len(batches) - 7, 8)]
    parts = []
    for rank in range(world):
        sampler = RankSlices(EpochSampler(40, seed=3), 8, rank, world)
        sampler.set_epoch(2, start=8)
        items = list(sampler)
        assert len(items) == len(sampler) == len(batches) * 8 // world
        parts.append([items[i : i + 8 // world] for i in range(0, len(items), 8 // world)])
    for j, batch in enumerate(batches):
        assert [x for rank in range(world) for x in parts[rank][j]] == batch


def torchrun(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "infovit", "train", *args]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    single = train(load_config(None, VIT), tmp_path / "one", progress=False)
    proc = torchrun("--out", str(tmp_path / "two"), "--quiet", *VIT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    two = RunFolder(tmp_path / "two")
    assert two.meta()["processes"] == 2
    ma, mb = single.read_metrics(), two.read_metrics()
    assert len(mb) == 3  # rank 0 alone appended
    for a, b in zip(ma, mb, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["val_top1"] == a["val_top1"]
    wa, wb = single.checkpoint("last").tensors(), two.checkpoint("last").tensors()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5)
    assert len(two.checkpoint("last").state()["ranks"]) == 2  # both ranks' RNG states


def test_a_stopped_distributed_run_resumes(tmp_path):
    out = tmp_path / "run"
    args = [*VIT, "--optim.epochs", "60", "--optim.checkpoint_every", "2"]
    proc = torchrun("--out", str(out), "--quiet", *args)
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "last").is_dir() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # torchrun passes it on to both ranks
    _, err = proc.communicate(timeout=120)
    assert "stopped by SIGTERM" in err, err[-2000:]
    stopped = RunFolder(out).checkpoint("last")
    assert stopped.info["epoch"] < 59
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "infovit", "train", "--resume", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    run = RunFolder(out)
    assert [r["epoch"] for r in run.read_metrics()] == list(range(60))
    assert run.checkpoint("last").step == 60 * 4
    single = train(load_config(None, args), tmp_path / "one", progress=False)
    wa, wb = single.checkpoint("last").tensors(), run.checkpoint("last").tensors()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-3, atol=1e-4)
