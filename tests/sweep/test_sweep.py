"""Sweeps: spec expansion and naming, the sweep folder, idempotent runs, failures, bad input."""

from __future__ import annotations

import shutil

import pytest
import yaml

from infovit.cli.main import main
from infovit.sweep import SweepFolder, load_spec
from infovit.training import RunFolder

TINY = {
    "model": {"depth": 1, "embed_dim": 32, "num_heads": 2, "bottleneck": {"rank": 2, "hidden": 0}},
    "data": {"spec": "synthetic:grid=4,n_train=64,n_val=32", "batch_size": 32},
    "optim": {"epochs": 1, "warmup_epochs": 0, "device": "cpu", "checkpoint_every": None},
    "beta": {"value": 1.0, "warmup_epochs": 0},
}


def write_spec(path, **spec) -> str:
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_grid_and_points_expand_to_named_validated_runs(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    spec = load_spec(
        write_spec(
            tmp_path / "s.yaml",
            base="base.yaml",
            grid={"beta.value": [1, 0.1], "optim.seed": [0, 1]},
            points=[
                {"model.variant": "no_attn", "optim.seed": [0, 1]},
                {"name": "plain", "model.variant": "vit"},
            ],
        ),
        ["--optim.epochs", "3"],
    )
    names = [r.name for r in spec.runs]
    assert names == ["beta-1_seed-0", "beta-1_seed-1", "beta-0.1_seed-0", "beta-0.1_seed-1",
                     "variant-no_attn_seed-0", "variant-no_attn_seed-1", "plain"]  # fmt: skip
    configs = {r.name: r.config for r in spec.runs}
    assert configs["beta-0.1_seed-1"]["beta"]["value"] == 0.1
    assert configs["beta-0.1_seed-1"]["optim"]["seed"] == 1
    assert configs["variant-no_attn_seed-1"]["model"]["variant"] == "no_attn"
    assert all(c["optim"]["epochs"] == 3 for c in configs.values())  # the command line's
    assert all(c["model"]["depth"] == 1 for c in configs.values())  # the base file's


def test_the_paper_spectrum_spec(tmp_path):
    spec = load_spec("configs/sweeps/in100_spectrum.yaml")
    betas = sorted({r.config["beta"]["value"] for r in spec.runs if r.config["model"]["variant"]
                    == "ib"})  # fmt: skip
    assert betas == [0, 0.01, 0.03, 0.1, 0.3, 1, 4, 10]
    variants = [r.config["model"]["variant"] for r in spec.runs]
    assert variants.count("no_attn") == variants.count("vit") == 3 and len(spec.runs) == 30
    assert {r.config["optim"]["seed"] for r in spec.runs} == {0, 1, 2}
    assert {r.config["beta"]["convention"] for r in spec.runs} == {"mean"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"grid": {"beta.vlaue": [1]}}, "unknown grid key 'beta.vlaue'; known keys: model.base"),
        ({"grid": {"beta.value": []}}, "needs a non-empty list"),
        ({"grid": {}}, "the sweep has no runs"),
        ({"grid": {"optim.epochs": ["many"]}}, "optim.epochs must be an integer"),
        ({"points": [{"optim.seed": 1}, {"optim.seed": 1}]}, "have the same config"),
        ({"points": [{"name": "../x", "optim.seed": 1}]}, "must stay inside the sweep folder"),
        ({"points": [{"name": "a/b", "optim.seed": 1}]}, "is not a plain folder name"),
        ({"grid": {"beta.value": [1, 1]}}, "lists a value twice"),
        ({"grids": {}}, "unknown sweep spec key"),
        ({"base": "missing.yaml", "grid": {"optim.seed": [0]}}, "does not exist"),
    ],
)
def test_bad_specs_are_one_line_errors_and_write_nothing(tmp_path, capsys, spec, message):
    spec.setdefault("base", TINY)
    path = write_spec(tmp_path / "s.yaml", **spec)
    assert main(["sweep", path, "--out", str(tmp_path / "sweep")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("infovit: error:") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "sweep").exists()


def test_a_folder_that_holds_something_else_is_refused(tmp_path, capsys):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "notes.txt").write_text("mine")
    path = write_spec(tmp_path / "s.yaml", base=TINY, grid={"optim.seed": [0]})
    assert main(["sweep", path, "--out", str(tmp_path / "sweep")]) == 2
    assert "not empty and not a sweep folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == ["notes.txt"]


def test_local_sweep_is_idempotent_rebuilds_and_reports_failures(tmp_path, capsys):
    out = tmp_path / "sweep"
    spec = write_spec(
        tmp_path / "s.yaml",
        base=TINY,
        grid={"beta.value": [1, 0.1], "optim.seed": [0, 1]},
        points=[{"name": "too_big", "data.batch_size": 1000}],  # valid config, fails to train
    )
    argv = ["sweep", spec, "--out", str(out), "--quiet"]
    assert main(argv) == 1  # one run failed
    capsys.readouterr()
    rows = {r.name: r for r in SweepFolder.open(out).status()}
    assert [rows[n].state for n in rows] == ["done"] * 4 + ["failed"]
    assert "fewer than one batch" in rows["too_big"].error and rows["too_big"].where == "local"
    assert all(r.epoch == r.epochs == 1 and r.best_top1 is not None for r in
               list(rows.values())[:4])  # fmt: skip
    assert RunFolder(out / "runs" / "beta-0.1_seed-1").config().beta.value == 0.1

    stamp = {
        n: RunFolder(out / "runs" / n).checkpoint("last").fingerprint() for n in list(rows)[:4]
    }
    shutil.rmtree(out / "runs" / "beta-1_seed-1")
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "0 pending, 0 queued, 0 running, 4 done, 1 failed" in text
    assert "| beta-1_seed-1 | done | 1/1 |" in text
    for name, fingerprint in stamp.items():  # the others were not trained again
        if name != "beta-1_seed-1":
            assert RunFolder(out / "runs" / name).checkpoint("last").fingerprint() == fingerprint
    assert (out / "status.md").read_text().count("| done |") == 4

    assert main(["sweep", "status", str(out)]) == 0
    assert "| too_big | failed | 0/1 |" in capsys.readouterr().out


def test_a_changed_spec_is_refused_unless_it_only_extends(tmp_path, capsys):
    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "s.yaml", base=TINY, grid={"optim.seed": [0]})
    assert main(["sweep", spec, "--out", str(out), "--quiet"]) == 0
    changed = write_spec(tmp_path / "c.yaml", base={**TINY, "optim": {**TINY["optim"], "lr": 1e-3}},
                         grid={"optim.seed": [0]})  # fmt: skip
    capsys.readouterr()
    assert main(["sweep", changed, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "1 run(s) changed (e.g. seed-0: optim.lr 0.0006 → 0.001)" in err
    wider = write_spec(tmp_path / "w.yaml", base=TINY, grid={"optim.seed": [0, 1]})
    assert main(["sweep", wider, "--out", str(out)]) == 2
    assert "add them with --extend" in capsys.readouterr().err
    assert main(["sweep", wider, "--out", str(out), "--extend", "--quiet"]) == 0
    assert [r.state for r in SweepFolder.open(out).status()] == ["done", "done"]


def test_eval_and_analyze_accept_a_sweep_folder(tmp_path, capsys):
    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "s.yaml", base=TINY, grid={"beta.value": [1, 0.1]})
    assert main(["sweep", spec, "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--passes", "2"]) == 0
    text = capsys.readouterr().out
    assert "beta-1" in text and "beta-0.1" in text
    assert main(["analyze", str(out), "--only", "spectrum", "--out", str(tmp_path / "a")]) == 0
    table = (tmp_path / "a" / "tables" / "spectrum_runs.csv").read_text()
    assert "beta-1" in table and "beta-0.1" in table


def test_status_of_a_folder_that_is_no_sweep(tmp_path, capsys):
    assert main(["sweep", "status", str(tmp_path)]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err


def test_sweep_status_reports_a_run_that_another_process_trains(tmp_path):
    from infovit.training.lock import RunLock

    out = tmp_path / "sweep"
    spec = write_spec(tmp_path / "s.yaml", base=TINY, grid={"optim.seed": [0, 1]})
    sweep = SweepFolder.prepare(out, load_spec(spec))
    (out / "runs" / "seed-1").mkdir(parents=True)
    with RunLock(out / "runs" / "seed-1"):
        states = {r.name: r.state for r in sweep.status()}
    assert states == {"seed-0": "pending", "seed-1": "running"}
    assert {r.name: r.state for r in sweep.status()}["seed-1"] == "pending"
    sweep.record("seed-0", queued="2026-12-01T00:00:00", job_id="77")  # as a submission does
    assert {r.name: r.state for r in sweep.status()}["seed-0"] == "queued"


def test_one_run_per_gpu_in_worker_processes(tmp_path, capsys):
    """--gpus runs workers in parallel, each pinned with CUDA_VISIBLE_DEVICES (on a CPU machine
    the ids only label the workers); a failing run does not stop the others."""
    out = tmp_path / "sweep"
    spec = write_spec(
        tmp_path / "s.yaml",
        base=TINY,
        grid={"optim.seed": [0, 1]},
        points=[{"name": "too_big", "data.batch_size": 1000}],
    )
    assert main(["sweep", spec, "--out", str(out), "--gpus", "0,1"]) == 1
    rows = {r.name: r for r in SweepFolder.open(out).status()}
    assert {n: r.state for n, r in rows.items()} == {"seed-0": "done", "seed-1": "done",
                                                      "too_big": "failed"}  # fmt: skip
    assert {rows["seed-0"].where, rows["seed-1"].where} == {"local gpu 0", "local gpu 1"}
    assert "fewer than one batch" in rows["too_big"].error
    assert (out / "logs" / "seed-0.log").is_file()
    assert "CUDA_VISIBLE_DEVICES" not in capsys.readouterr().err
    assert main(["sweep", spec, "--out", str(out), "--gpus", "0,1,1"]) == 2
    assert "distinct GPU ids" in capsys.readouterr().err


def test_a_stale_lock_record_from_another_host_is_not_running(tmp_path):
    import json

    from infovit.training.lock import lock_holder

    run = tmp_path / "run"
    run.mkdir()
    (run / "train.lock").write_text(json.dumps({"pid": 1, "host": "node-that-died", "since": ""}))
    assert lock_holder(run) is None  # nobody holds the flock: a SIGKILLed trainer's record


def test_run_one_leaves_a_run_that_another_process_trains_alone(tmp_path):
    from infovit.sweep import run_one
    from infovit.training.lock import RunLock

    spec = write_spec(tmp_path / "s.yaml", base=TINY, grid={"optim.seed": [0]})
    sweep = SweepFolder.prepare(tmp_path / "sweep", load_spec(spec))
    run_dir = sweep.run_dir("seed-0")
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("optim: {epochs: 1}\n")  # no checkpoint yet
    with RunLock(run_dir):
        assert run_one(sweep, "seed-0", progress=False) == "skipped"
    assert (run_dir / "config.yaml").is_file()  # not cleared under the other trainer
    assert run_one(sweep, "seed-0", progress=False) == "done"
