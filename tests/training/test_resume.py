"""Exact resume at any step: with and without DataLoader workers, after crashes and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from infovit.errors import RunInterrupted
from infovit.training import RunFolder, load_config, train

TIMING = {"images_per_s", "epoch_seconds"}  # wall-clock figures: never reproducible


class Crash(Exception):
    """Stands in for a process dying after a step (the file-level side: test_checkpoint)."""


def crash_at(step: int):
    def hook(s: int) -> None:
        if s == step:
            raise Crash(s)

    return hook


def assert_same_run(a: RunFolder, b: RunFolder) -> None:
    """Bit-identical weights, optimizer state, RNG state and metrics (but for timings)."""
    ca, cb = a.checkpoint("last"), b.checkpoint("last")
    assert ca.step == cb.step
    wa, wb = ca.tensors(), cb.tensors()
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    sa, sb = ca.state(), cb.state()
    assert torch.equal(sa["rng_cpu"], sb["rng_cpu"])
    for pa, pb in zip(
        sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values(), strict=True
    ):
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
    ma, mb = a.read_metrics(), b.read_metrics()
    assert len(ma) == len(mb) == a.config().optim.epochs
    for ra, rb in zip(ma, mb, strict=True):
        assert {k: v for k, v in ra.items() if k not in TIMING} == {
            k: v for k, v in rb.items() if k not in TIMING
        }


def test_mid_epoch_crash_resumes_bit_identical_synthetic(tmp_path, tiny_overrides):
    # 4 steps per epoch, a checkpoint every 3 steps (3 and 6; 4 and 8 end epochs): the crash
    # after step 7 resumes from step 6, batch 2 of epoch 1.
    cfg = load_config(None, [*tiny_overrides, "--optim.checkpoint_every", "3"])
    straight = train(cfg, tmp_path / "straight", progress=False)
    with pytest.raises(Crash):
        train(cfg, tmp_path / "crashed", progress=False, on_step=crash_at(7))
    info = RunFolder(tmp_path / "crashed").checkpoint("last").info
    assert (info["epoch"], info["batch"], info["epoch_complete"]) == (1, 2, False)  # step 6
    resumed = train(None, tmp_path / "crashed", resume=True, progress=False)
    assert_same_run(straight, resumed)


@pytest.mark.parametrize("workers", [0, 2])
def test_mid_epoch_crash_resumes_bit_identical_with_augmentation(tmp_path, jpeg_overrides, workers):
    """The paper's augmentation (RandAugment draws from Python's random) on real JPEGs."""
    cfg = load_config(None, jpeg_overrides(workers))
    straight = train(cfg, tmp_path / "straight", progress=False)
    with pytest.raises(Crash):
        train(cfg, tmp_path / "crashed", progress=False, on_step=crash_at(11))
    assert RunFolder(tmp_path / "crashed").checkpoint("last").step == 8  # mid epoch 1
    resumed = train(None, tmp_path / "crashed", resume=True, progress=False)
    assert_same_run(straight, resumed)


def test_workers_do_not_change_the_result(tmp_path, jpeg_overrides):
    """Two uninterrupted runs, with 0 and with 2 (persistent) workers, are bit-identical."""
    a = train(load_config(None, jpeg_overrides(0, None)), tmp_path / "w0", progress=False)
    b = train(load_config(None, jpeg_overrides(2, None)), tmp_path / "w2", progress=False)
    assert_same_run(a, b)


def test_augmentation_is_deterministic_and_not_constant(tmp_path, jpeg_overrides):
    """Same seed → same run; another seed → other weights (the augmentation is random)."""
    cfg = jpeg_overrides(0, None)
    a = train(load_config(None, cfg), tmp_path / "a", progress=False)
    b = train(load_config(None, cfg), tmp_path / "b", progress=False)
    assert_same_run(a, b)
    c = train(load_config(None, [*cfg, "--optim.seed", "7"]), tmp_path / "c", progress=False)
    wa, wc = a.checkpoint("last").tensors(), c.checkpoint("last").tensors()
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 75), (signal.SIGUSR1, 75),
                                           (signal.SIGINT, 130)])  # fmt: skip
def test_signal_saves_at_the_next_step_and_resumes_exactly(tmp_path, tiny_overrides, sig, code):
    cfg = load_config(None, [*tiny_overrides, "--optim.checkpoint_every", "null"])
    straight = train(cfg, tmp_path / "straight", progress=False)
    before = signal.getsignal(sig)  # SIG_IGN for SIGINT where the shell started us in background

    def send(step: int) -> None:
        if step == 2:
            os.kill(os.getpid(), sig)

    with pytest.raises(RunInterrupted) as stop:
        train(cfg, tmp_path / "stopped", progress=False, on_step=send)
    assert stop.value.exit_code == code
    assert f"infovit train --resume {tmp_path / 'stopped'}" in stop.value.message
    assert RunFolder(tmp_path / "stopped").checkpoint("last").step == 2  # this step's boundary
    assert signal.getsignal(sig) == before  # the trainer's handler is gone again
    resumed = train(None, tmp_path / "stopped", resume=True, progress=False)
    assert_same_run(straight, resumed)


def test_sigterm_from_outside_checkpoints_and_exits_for_requeue(tmp_path, tiny_overrides):
    """The real command under SIGTERM (what SLURM sends): message, checkpoint, exit code 75."""
    out = tmp_path / "run"
    overrides = [*tiny_overrides, "--optim.epochs", "400", "--optim.checkpoint_every", "null"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "infovit", "train", "--out", str(out), "--quiet", *overrides],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err
    assert "stopped by SIGTERM" in err and f"infovit train --resume {out}" in err
    assert len(err.strip().splitlines()) == 1
    last = RunFolder(out).checkpoint("last")
    assert not last.info["epoch_complete"] or last.info["epoch"] >= 0
    assert last.state()["step"] == last.step


def test_resume_of_a_finished_run_says_so(tmp_path, tiny_overrides, capsys):
    run = train(load_config(None, tiny_overrides), tmp_path / "run", progress=False)
    before = run.checkpoint("last").fingerprint()
    train(None, run.path, resume=True, progress=False)
    assert "is finished (2 epochs); nothing to do" in capsys.readouterr().out
    assert run.checkpoint("last").fingerprint() == before


def test_analysis_cache_is_keyed_by_the_checkpoint_analysed(tmp_path, tiny_overrides):
    from infovit.analysis.loading import load_runs

    cfg = load_config(None, tiny_overrides)
    run = train(cfg, tmp_path / "run", progress=False, stop_after_epochs=1)
    first = load_runs([run.path], tag="last")[0].fingerprint
    train(None, run.path, resume=True, progress=False)
    second = load_runs([run.path], tag="last")[0].fingerprint
    assert first["step"] < second["step"] and first["weights_sha256"] != second["weights_sha256"]
    best = load_runs([run.path], tag="best")[0].fingerprint
    assert best["tag"] == "best" and best == {**run.checkpoint("best").fingerprint(), **{
        k: best[k] for k in ("run", "data")}}  # fmt: skip


def test_sigkill_with_live_workers_leaves_the_run_resumable_at_once(tmp_path, jpeg_overrides):
    """Workers forked by a killed trainer live on for seconds; they must not keep its lock."""
    from infovit.training.lock import RunLock

    out = tmp_path / "run"
    overrides = [*jpeg_overrides(2, 2), "--optim.epochs", "200"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "infovit", "train", "--out", str(out), "--quiet", *overrides],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (out / "checkpoints" / "last").is_dir() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # well into training, workers running
    proc.kill()
    proc.wait()
    with RunLock(out):  # at once: the orphaned workers hold no copy of the lock
        pass
    killed_at = RunFolder(out).checkpoint("last").step
    run = train(None, out, resume=True, progress=False, stop_after_epochs=1)
    assert run.checkpoint("last").step > killed_at and run.read_metrics()


def test_a_stop_at_the_last_step_still_finishes_the_run(tmp_path, tiny_overrides):
    """A signal that lands in the run's very last step: the run ends finished, not stopped."""
    cfg = load_config(None, tiny_overrides)  # 2 epochs × 4 steps

    def send(step: int) -> None:
        if step == 8:
            os.kill(os.getpid(), signal.SIGTERM)

    run = train(cfg, tmp_path / "run", progress=False, on_step=send)
    assert "finished" in run.meta()


def test_a_kill_between_best_and_last_keeps_the_best_of_an_uninterrupted_run(
    tmp_path, tiny_overrides, monkeypatch
):
    """The kill falls between the two checkpoint writes that end the best epoch, whichever
    order they come in: the resumed run's ``best`` is still the uninterrupted run's."""
    cfg = load_config(None, [*tiny_overrides, "--optim.epochs", "3"])
    straight = train(cfg, tmp_path / "straight", progress=False)
    best_epoch = straight.checkpoint_info("best")["epoch"]
    real = RunFolder.save_checkpoint
    ends = []

    def save(self, tag, model, info, state=None, hook=None):
        if info.get("epoch_complete") and info["epoch"] == best_epoch:
            ends.append(tag)
            if len(ends) == 2:
                raise Crash(f"killed between {ends[0]} and {tag}")
        return real(self, tag, model, info, state, hook)

    monkeypatch.setattr(RunFolder, "save_checkpoint", save)
    with pytest.raises(Crash):
        train(cfg, tmp_path / "killed", progress=False)
    monkeypatch.undo()
    resumed = train(None, tmp_path / "killed", resume=True, progress=False)
    assert resumed.checkpoint_info("best")["epoch"] == best_epoch
    a, b = straight.checkpoint("best").tensors(), resumed.checkpoint("best").tensors()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_data_curriculum_resumes_bit_identical(tmp_path, tiny_overrides):
    """synthetic:ambiguity_from=1 trains epoch 0 without stray tiles and epoch 1 with them. A crash
    in epoch 0 resumes into the same images (the data set's state is a function of the epoch),
    and the curriculum is not a no-op: the run differs from one with strays throughout."""
    spec = "synthetic:grid=4,n_train=128,n_val=64,stray_tiles=0.4"
    base = [*tiny_overrides, "--optim.checkpoint_every", "2"]
    cfg = load_config(None, [*base, "--data.spec", spec + ",ambiguity_from=1"])
    straight = train(cfg, tmp_path / "straight", progress=False)
    with pytest.raises(Crash):
        train(cfg, tmp_path / "crashed", progress=False, on_step=crash_at(3))
    info = RunFolder(tmp_path / "crashed").checkpoint("last").info
    assert (info["epoch"], info["batch"]) == (0, 2)  # resumes inside the clean epoch
    resumed = train(None, tmp_path / "crashed", resume=True, progress=False)
    assert_same_run(straight, resumed)
    always = train(load_config(None, [*base, "--data.spec", spec]), tmp_path / "always", False)
    wa, wb = straight.checkpoint("last").tensors(), always.checkpoint("last").tensors()
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)
