"""The SLURM code path through submitit's LocalExecutor: a job array, and a preempted job that
is checkpointed, requeued and resumed to the same final weights as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch
import yaml

from infovit.cli.main import main
from infovit.sweep import SweepFolder, load_spec, run_submitit
from infovit.training import Config, RunFolder, train

pytest.importorskip("submitit")

TINY = {
    "model": {"depth": 1, "embed_dim": 32, "num_heads": 2, "bottleneck": {"rank": 2, "hidden": 0}},
    "data": {"spec": "synthetic:grid=4,n_train=64,n_val=32", "batch_size": 32},
    "optim": {"epochs": 1, "warmup_epochs": 0, "device": "cpu", "checkpoint_every": None},
    "beta": {"value": 1.0, "warmup_epochs": 0},
}


def test_a_two_by_two_sweep_as_a_submitit_job_array(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": TINY, "grid": {"beta.value": [1, 0.1],
                                                           "optim.seed": [0, 1]}}))  # fmt: skip
    out = tmp_path / "sweep"
    argv = ["sweep", str(spec), "--out", str(out), "--executor", "submitit-local", "--quiet"]
    assert main(argv) == 0
    rows = SweepFolder.open(out).status()
    assert [r.state for r in rows] == ["done"] * 4
    assert all(r.where.startswith("slurm job ") for r in rows)
    assert (out / "slurm").is_dir()  # submitit's scripts and logs live in the sweep folder
    capsys.readouterr()
    assert main(argv) == 0  # everything is done: nothing is submitted again
    assert "nothing to submit" in capsys.readouterr().out


def _task_pids(folder: Path) -> list[int]:
    """The submitit task processes of jobs in ``folder`` (what SLURM signals on preemption)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if "submitit.core._submit" in cmd and str(folder) in cmd:
            pids.append(int(proc.name))
    return pids


def test_a_preempted_job_is_requeued_and_resumes_exactly(tmp_path):
    """The job's task gets SLURM's preemption signal (SIGUSR2) while training: the run saves a
    checkpoint, submitit requeues the job, and the new job resumes from the run folder to the
    same final weights as a run that was never interrupted."""
    base = {**TINY, "optim": {**TINY["optim"], "epochs": 40},
            "data": {**TINY["data"], "spec": "synthetic:grid=4,n_train=256,n_val=32"}}  # fmt: skip
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": base, "points": [{"name": "long"}]}))
    sweep = SweepFolder.prepare(tmp_path / "sweep", load_spec(spec))
    (job,) = run_submitit(sweep, ["long"], {"time": 10}, local=True)
    run = RunFolder(sweep.run_dir("long"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(run.read_metrics(warn=False)) < 2:
        time.sleep(0.05)
    (pid,) = _task_pids(sweep.path / "slurm")
    os.kill(pid, signal.SIGUSR2)
    job.result()
    assert [r.state for r in sweep.status()] == ["done"]
    record = sweep.status_record("long")
    assert "interrupted" in record  # it was stopped, requeued, and went on
    reference = train(Config.from_dict(sweep.run_config("long")), tmp_path / "ref", progress=False)
    a = run.checkpoint("last").tensors()
    b = reference.checkpoint("last").tensors()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_slurm_options_become_sbatch_lines(tmp_path):
    """--slurm.KEY VALUE: known keys are submitit's SlurmExecutor parameters, others extra
    #SBATCH lines; the script is submitit's own (no sbatch needed to check it)."""
    from submitit.slurm.slurm import _make_sbatch_string

    from infovit.sweep.runner import _slurm_params

    params = _slurm_params(
        {
            "partition": "gpu",
            "time": "1:30:00",
            "gpus_per_task": 1,
            "cpus_per_task": 10,
            "mem": "48G",
            "array_parallelism": 12,
            "account": "lab",
            "qos": "high",
            "reservation": "paper",
        }
    )
    assert params["time"] == 90 and params["additional_parameters"] == {"reservation": "paper"}
    assert _slurm_params({"time": "1:30"})["time"] == 2  # SLURM's --time takes whole minutes
    script = _make_sbatch_string(command="python -u job.py", folder=tmp_path, map_count=30,
                                 **params)  # fmt: skip
    for line in ("--partition=gpu", "--time=90", "--gpus-per-task=1", "--cpus-per-task=10",
                 "--mem=48G", "--array=0-29%12", "--account=lab", "--qos=high",
                 "--reservation=paper", "--signal=USR2@120"):  # fmt: skip
        assert f"#SBATCH {line}\n" in script, line


@pytest.mark.parametrize(("value", "minutes"), [(30, 30.0), ("45", 45.0), ("2:00:00", 120.0),
                                                ("1:30", 1.5), ("0:0:30", 0.5)])  # fmt: skip
def test_slurm_time_formats(value, minutes):
    from infovit.sweep.runner import _minutes

    assert _minutes(value) == minutes


def test_bad_slurm_time_is_a_one_line_error(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": TINY, "grid": {"optim.seed": [0]}}))
    argv = ["sweep", str(spec), "--out", str(tmp_path / "sw"), "--executor", "slurm",
            "--slurm.time", "soon"]  # fmt: skip
    assert main(argv) == 2
    assert "no SLURM on this machine (srun not found)" in capsys.readouterr().err
    argv[argv.index("slurm")] = "submitit-local"
    assert main(argv) == 2
    assert "--slurm.time must be minutes or HH:MM:SS" in capsys.readouterr().err
    assert not (tmp_path / "sw").exists()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "sw2"), "--slurm.time", "9"]) == 2
    assert "--slurm.* options need --executor slurm" in capsys.readouterr().err
