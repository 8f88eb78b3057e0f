"""Checkpoints as units: kills at every file operation, mixed and damaged units, the old format,
a full disk, temporaries, the run lock and a partial metrics line."""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from infovit.cli.main import main
from infovit.errors import InfovitError
from infovit.training import RunFolder, load_config, train
from infovit.training.lock import RunLock


@pytest.fixture
def one_epoch(tmp_path, tiny_overrides):
    return train(
        load_config(None, tiny_overrides), tmp_path / "run", progress=False, stop_after_epochs=1
    )


def _listing(run: RunFolder) -> list[str]:
    return sorted(p.relative_to(run.path).as_posix() for p in run.path.rglob("*"))


def _new_checkpoint(run: RunFolder):
    """A checkpoint of another step than the run's ``last``: weights + 1, step + 100."""
    from infovit.model import build_model

    old = run.checkpoint("last")
    model = build_model(run.config().model, load_weights=False)
    model.load_state_dict({k: v + 1 for k, v in old.tensors().items()})
    return old, model, {**old.info, "step": old.step + 100}, old.state()


def test_kill_between_any_two_file_operations_leaves_one_complete_checkpoint(one_epoch):
    run = one_epoch
    old, model, info, state = _new_checkpoint(run)
    ops: list[str] = []
    probe = RunFolder(run.path.parent / "probe")
    shutil.copytree(run.path, probe.path)
    probe.save_checkpoint("last", model, info, state, hook=ops.append)
    assert len(ops) >= 10 and ops[-1] == "remove old"
    seen = set()
    for k in range(len(ops) + 1):  # kill before op k (k = len: after the last one)
        copy = RunFolder(run.path.parent / f"kill{k}")
        shutil.copytree(run.path, copy.path)
        pid = os.fork()
        if pid == 0:  # the child dies as under SIGKILL: no cleanup, no finally blocks
            count = iter(range(len(ops) + 1))

            def die(op: str, k: int = k, count=count) -> None:
                if next(count) == k:
                    os._exit(9)

            try:
                copy.save_checkpoint("last", model, info, state, hook=die)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == (9 if k < len(ops) else 0)
        found = copy.checkpoint("last")  # a reader: never a mixed or damaged unit
        assert found.step in (old.step, info["step"]), ops[k] if k < len(ops) else "end"
        tensors, found_state = found.tensors(), found.state()
        assert found_state["step"] == found.step
        expected_shift = 0 if found.step == old.step else 1
        ref = old.tensors()
        key = next(iter(ref))
        assert torch.equal(tensors[key], ref[key] + expected_shift)
        seen.add(found.step)
        copy.recover()  # what the next trainer start does
        assert found.step == copy.checkpoint("last").step
        assert not [p for p in _listing(copy) if p.endswith(".tmp")]
    assert seen == {old.step, info["step"]}


def test_a_file_from_another_checkpoint_is_refused(one_epoch, tmp_path, tiny_overrides):
    other = train(load_config(None, tiny_overrides), tmp_path / "other", progress=False)
    unit = one_epoch.checkpoints_dir / "last"
    shutil.copy(other.checkpoints_dir / "last" / "state.pt", unit / "state.pt")
    with pytest.raises(InfovitError, match="is damaged"):
        one_epoch.checkpoint("last").state()
    # Even with a manifest rewritten to match, the state's own step gives it away.
    manifest = json.loads((unit / "manifest.json").read_text())
    data = (unit / "state.pt").read_bytes()
    import hashlib

    manifest["files"]["state.pt"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (unit / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InfovitError, match="is mixed"):
        one_epoch.checkpoint("last").state()
    assert main(["train", "--resume", str(one_epoch.path), "--quiet"]) == 2


def test_truncated_unit_files_are_one_line_errors(one_epoch, capsys):
    unit = one_epoch.checkpoints_dir / "last"
    data = (unit / "state.pt").read_bytes()
    (unit / "state.pt").write_bytes(data[: len(data) // 2])
    assert main(["train", "--resume", str(one_epoch.path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "state.pt has" in err and "is damaged" in err and len(err.splitlines()) == 1


def _to_old_format(run: RunFolder) -> None:
    """Rewrite the run's checkpoints as the loose files infovit wrote before units."""
    for tag in ("last", "best"):
        unit = run.checkpoints_dir / tag
        shutil.copy(unit / "model.safetensors", run.checkpoints_dir / f"{tag}.safetensors")
        info = json.loads((unit / "info.json").read_text())
        for key in ("batch", "epoch_complete"):
            info.pop(key, None)
        (run.checkpoints_dir / f"{tag}.json").write_text(json.dumps(info))
        if (unit / "state.pt").is_file():
            state = torch.load(unit / "state.pt", weights_only=True)
            for key in ("step", "epoch", "batch", "rng_python", "rng_numpy"):
                state.pop(key)
            torch.save(state, run.checkpoints_dir / f"{tag}.state.pt")
        shutil.rmtree(unit)


def test_an_old_format_folder_still_resumes_exactly(one_epoch, tmp_path, tiny_overrides):
    straight = train(load_config(None, tiny_overrides), tmp_path / "straight", progress=False)
    _to_old_format(one_epoch)
    assert one_epoch.checkpoint("last").unit is None
    resumed = train(None, one_epoch.path, resume=True, progress=False)
    a, b = straight.checkpoint("last").tensors(), resumed.checkpoint("last").tensors()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.checkpoint("last").unit is not None  # written as a unit from now on
    assert not (resumed.checkpoints_dir / "last.safetensors").exists()


def test_an_old_format_mixed_checkpoint_is_refused(one_epoch, tmp_path, tiny_overrides, capsys):
    other = train(load_config(None, tiny_overrides), tmp_path / "other", progress=False)
    _to_old_format(one_epoch)
    _to_old_format(other)
    shutil.copy(other.checkpoints_dir / "last.state.pt", one_epoch.checkpoints_dir)  # step 8
    assert main(["train", "--resume", str(one_epoch.path), "--quiet"]) == 2
    assert "is mixed" in capsys.readouterr().err
    (one_epoch.checkpoints_dir / "last.json").write_text('{"epoch": 0, "st')
    assert main(["train", "--resume", str(one_epoch.path), "--quiet"]) == 2
    assert "truncated or not valid JSON" in capsys.readouterr().err
    (one_epoch.checkpoints_dir / "last.state.pt").write_bytes(b"PK\x03\x04trunc")
    (one_epoch.checkpoints_dir / "last.json").write_text('{"epoch": 0, "step": 4}')
    assert main(["train", "--resume", str(one_epoch.path), "--quiet"]) == 2
    assert "truncated or unreadable" in capsys.readouterr().err


class _FullDisk:
    """``os`` as seen by one module, but every fsync fails as on a full disk."""

    def __getattr__(self, name: str):
        return getattr(os, name)

    def fsync(self, fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_old_one(
    one_epoch, monkeypatch, capsys
):
    import infovit.training.checkpoint as checkpoint_module

    before = one_epoch.checkpoint("last").fingerprint()
    monkeypatch.setattr(checkpoint_module, "os", _FullDisk())
    assert main(["train", "--resume", str(one_epoch.path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("infovit: error: no space left on the device holding")
    assert "model.safetensors" in err and len(err.splitlines()) == 1
    monkeypatch.undo()
    assert one_epoch.checkpoint("last").fingerprint() == before
    assert not [p for p in _listing(one_epoch) if ".tmp" in p]


def test_full_disk_during_a_metrics_append_leaves_the_file_as_it_was(one_epoch, monkeypatch):
    import infovit.training.run as run_module

    text = one_epoch.metrics_path.read_text()
    monkeypatch.setattr(run_module, "os", _FullDisk())
    with pytest.raises(InfovitError, match=r"no space left .*metrics\.jsonl"):
        one_epoch.append_metrics({"epoch": 1})
    assert one_epoch.metrics_path.read_text() == text


def test_temporaries_do_not_outlive_the_next_start(one_epoch):
    (one_epoch.checkpoints_dir / ".last.new-1-2.tmp").mkdir()
    (one_epoch.checkpoints_dir / ".last.new-1-2.tmp" / "model.safetensors").write_bytes(b"half")
    (one_epoch.path / ".metrics.jsonl.x1y2.tmp").write_text("{")
    train(None, one_epoch.path, resume=True, progress=False)
    assert not [p for p in _listing(one_epoch) if ".tmp" in p]


def test_partial_metrics_line_is_dropped_on_resume(one_epoch, tmp_path, tiny_overrides, capsys):
    with open(one_epoch.metrics_path, "a") as f:
        f.write('{"epoch": 1, "train_lo')  # a kill in the middle of an append
    assert len(one_epoch.read_metrics()) == 1
    assert "ignoring the partial last line" in capsys.readouterr().err
    train(None, one_epoch.path, resume=True, progress=False)
    assert [r["epoch"] for r in one_epoch.read_metrics()] == [0, 1]
    one_epoch.metrics_path.write_text('{"epoch": 0}\n{broken\n{"epoch": 1}\n')
    with pytest.raises(InfovitError, match="line 2 of"):
        one_epoch.read_metrics()


def test_a_second_trainer_is_refused_with_the_holder(one_epoch, capsys):
    with RunLock(one_epoch.path):
        assert main(["train", "--resume", str(one_epoch.path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"is being trained by pid {os.getpid()} on host" in err and len(err.splitlines()) == 1


def test_a_lock_left_by_a_killed_trainer_is_taken_over(one_epoch):
    lock = one_epoch.path / "train.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); f.write('{\"pid\": 1}'); f.flush(); print('held', "
         "flush=True); time.sleep(60)", str(lock)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(InfovitError, match="being trained by"):
        RunLock(one_epoch.path).acquire()
    holder.kill()
    holder.wait()
    train(None, one_epoch.path, resume=True, progress=False)  # the kernel released it
    with open(lock) as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and the trainer released it too


def test_a_failed_start_leaves_no_run_folder(tmp_path, tiny_overrides):
    def fail(step: int) -> None:
        raise InfovitError("a user error in the first step")

    with pytest.raises(InfovitError):
        train(load_config(None, tiny_overrides), tmp_path / "run", progress=False, on_step=fail)
    assert not (tmp_path / "run").exists()


def test_state_round_trips_without_pickled_code(one_epoch):
    data = (one_epoch.checkpoints_dir / "last" / "state.pt").read_bytes()
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert {"optimizer", "rng_cpu", "rng_python", "rng_numpy", "step", "epoch", "batch"} <= set(
        state
    )


def test_resume_before_the_first_checkpoint(tmp_path, tiny_overrides, capsys):
    out = tmp_path / "run"
    RunFolder.create(out, load_config(None, tiny_overrides))  # as a kill right after creation
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    assert "stopped before its first checkpoint" in capsys.readouterr().err


def test_a_newer_checkpoint_format_is_refused(one_epoch):
    path = one_epoch.checkpoints_dir / "last" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "format": 3}))
    with pytest.raises(InfovitError, match=r"has format 3; this infovit reads format 2"):
        one_epoch.checkpoint("last")


@pytest.mark.parametrize(
    ("value", "steps", "seconds"),
    [("500", 500, None), ("10min", None, 600.0), ("30s", None, 30.0), ("1.5h", None, 5400.0),
     ("null", None, None), ("0", None, None), ("5parsecs", "error", None), ("-3", "error", None),
     ("0min", "error", None), ("true", "error", None)],
)  # fmt: skip
def test_checkpoint_every_values(tiny_overrides, value, steps, seconds):
    from infovit.training.cadence import CheckpointCadence

    overrides = [*tiny_overrides, "--optim.checkpoint_every", value]
    if steps == "error":
        with pytest.raises(InfovitError, match=r"optim\.checkpoint_every must be"):
            load_config(None, overrides)
        return
    cadence = CheckpointCadence.parse(load_config(None, overrides).optim.checkpoint_every)
    assert (cadence.steps, cadence.seconds) == (steps, seconds)


def test_the_run_folder_rows_of_the_catalogue_name_real_tests():
    from pathlib import Path

    root = Path(__file__).parents[2]
    section = (root / "docs" / "errors.md").read_text().split("## Run folders and checkpoints")[1]
    named = set(re.findall(r"`(test_\w+)`", section))
    tests = "".join(p.read_text() for p in (root / "tests").rglob("test_*.py"))
    assert len(named) >= 12
    assert not [t for t in named if f"def {t}(" not in tests]


def test_saving_the_same_weights_twice_gives_the_same_bytes(one_epoch, tmp_path):
    """The weights file's SHA-256 names a checkpoint (manifests, analysis caches), so it must
    depend on the tensors and metadata only, not on the writer's hash-map order."""
    from infovit.model import build_model

    old = one_epoch.checkpoint("last")
    model = build_model(one_epoch.config().model, load_weights=False)
    model.load_state_dict(old.tensors())
    digests = set()
    for i in range(6):
        copy = RunFolder.create(tmp_path / f"copy{i}", one_epoch.config())
        copy.save_checkpoint("last", model, dict(old.info))
        digests.add(copy.checkpoint("last").fingerprint()["weights_sha256"])
    assert len(digests) == 1
