"""β ladder runs: the schedule, one snapshot per milestone, exact resume, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from infovit.cli.main import main
from infovit.errors import InfovitError
from infovit.sweep.folder import expand_runs
from infovit.training import RunFolder, load_config, load_model, train
from infovit.training.config import BetaConfig, OptimConfig, SettleConfig
from infovit.training.evaluate import evaluate_run
from infovit.training.ladder import Ladder, ladder_lr
from infovit.training.optim import lr_at
from infovit.training.snapshot import list_snapshots

TIMING = {"images_per_s", "epoch_seconds"}

# 64 images in batches of 32: 2 steps per epoch; a 1-epoch log ramp, then 3 milestones of 2
# epochs: 7 epochs, 14 steps (optim.epochs 8 leaves one epoch the ladder does not use).
LADDER = [
    "--model.depth", "1", "--model.embed_dim", "16", "--model.num_heads", "2",
    "--model.bottleneck.rank", "2", "--model.bottleneck.hidden", "0",
    "--data.spec", "synthetic:grid=4,n_train=64,n_val=64", "--data.batch_size", "32",
    "--optim.epochs", "8", "--optim.warmup_epochs", "1", "--optim.device", "cpu",
    "--optim.checkpoint_every", "null",
    "--beta.schedule", "ladder", "--beta.milestones", "[0.01,0.1,1]", "--beta.hold_epochs", "2",
    "--beta.warmup_epochs", "1", "--beta.ramp", "log", "--beta.start", "1e-4",
]  # fmt: skip
RAMP, HOLD, STEPS = 1, 2, 2  # epochs of ramp, epochs per milestone, steps per epoch


class Crash(Exception):
    """Stands in for a process dying (after a step, or inside a snapshot write)."""


def crash_at(step: int):
    def hook(s: int) -> None:
        if s == step:
            raise Crash(s)

    return hook


def weights(path) -> dict[str, torch.Tensor]:
    return RunFolder(path).checkpoint("last").tensors()


def assert_same_snapshots(a: RunFolder, b: RunFolder) -> None:
    """Same snapshot names, bit-identical weights, equal metrics (but timings), same lineage."""
    sa, sb = list_snapshots(a.path), list_snapshots(b.path)
    assert [p.name for p in sa] == [p.name for p in sb] and sa
    for pa, pb in zip(sa, sb, strict=True):
        wa, wb = weights(pa), weights(pb)
        assert wa.keys() == wb.keys()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), pa.name
        ma, mb = RunFolder(pa).read_metrics(), RunFolder(pb).read_metrics()
        strip = [{k: v for k, v in r.items() if k not in TIMING} for r in ma + mb]
        assert strip[: len(ma)] == strip[len(ma) :]
        lineage = [RunFolder(p).meta()["snapshot"] for p in (pa, pb)]
        assert {**lineage[0], "parent": None} == {**lineage[1], "parent": None}


@pytest.fixture(scope="module")
def ladder_run(tmp_path_factory) -> RunFolder:
    """The uninterrupted run (also the reference of the resume tests: where checkpoints fall
    never changes a result)."""
    out = tmp_path_factory.mktemp("ladder") / "run"
    return train(load_config(None, LADDER), out, progress=False)


def test_one_snapshot_per_milestone_each_a_run_of_its_beta(ladder_run):
    snapshots = list_snapshots(ladder_run.path)
    assert [p.name for p in snapshots] == ["m0_beta0.01", "m1_beta0.1", "m2_beta1"]
    for k, (path, beta) in enumerate(zip(snapshots, [0.01, 0.1, 1.0], strict=True)):
        snap = RunFolder.open(path)
        config = snap.config()
        assert config.beta.value == beta and config.beta.schedule == "constant"
        assert config.optim.epochs == RAMP + (k + 1) * HOLD  # the epochs it was trained
        lineage = snap.meta()["snapshot"]
        assert lineage["parent"] == str(ladder_run.path.resolve())
        assert (lineage["milestone"], lineage["beta"]) == (k, beta)
        assert lineage["epochs"] == RAMP + (k + 1) * HOLD and lineage["milestone_epochs"] == HOLD
        assert lineage["step"] == STEPS * lineage["epochs"] == snap.checkpoint("last").step
        assert "finished" in snap.meta() and not snap.checkpoint("last").has_state
        records = snap.read_metrics()
        assert [r["epoch"] for r in records] == list(range(lineage["epochs"]))
        assert records == ladder_run.read_metrics()[: len(records)]
        model, _ = load_model(path)  # loadable like any run …
        assert model.training is False
        result, cfg = evaluate_run(path, passes=1, device="cpu", progress=False)  # … evaluable
        assert cfg.beta.value == beta and 0 <= result.top1 <= 100 and result.kl_per_image > 0
    # the snapshots are the model at three different moments; the last one is where it ended
    w = [weights(p) for p in snapshots]
    key = next(k for k in w[0] if k.endswith("qkv.weight"))
    assert not torch.equal(w[0][key], w[1][key]) and not torch.equal(w[1][key], w[2][key])
    final = ladder_run.checkpoint("last").tensors()
    assert all(torch.equal(final[k], w[2][k]) for k in final)
    assert not any(p.name.startswith(".") for p in (ladder_run.path / "snapshots").iterdir())


def test_beta_follows_the_ladder_and_the_run_ends_with_it(ladder_run):
    records = ladder_run.read_metrics()
    assert len(records) == RAMP + 3 * HOLD  # 7 < optim.epochs 8: the run ends with the ladder
    assert "finished" in ladder_run.meta()
    assert ladder_run.config().beta.value == 1.0  # the run's own β: its last milestone
    ramp = BetaConfig(value=0.01, schedule="log", warmup_epochs=RAMP, start=1e-4)
    for r in records[:RAMP]:  # the log ramp to the first milestone (β of the epoch's last step)
        assert r["milestone"] is None
        assert r["beta"] == pytest.approx(_ramp_beta(ramp, r["epoch"] + 1 / STEPS))
        assert r["beta"] < 0.01
    milestones = [(r["milestone"], r["beta"]) for r in records[RAMP:]]
    assert milestones == [(0, 0.01), (0, 0.01), (1, 0.1), (1, 0.1), (2, 1.0), (2, 1.0)]
    # rewarm: every milestone ends annealed, the next starts over (the lr of an epoch's last
    # step is recorded)
    lrs = [r["lr"] for r in records]
    assert lrs[2] < lrs[3] and lrs[4] < lrs[5] and lrs[6] < 0.3 * 6e-4
    best = ladder_run.checkpoint("best").info["epoch"]
    assert best >= RAMP + 2 * HOLD  # "best" only at the run's own β (the last milestone)


def _ramp_beta(cfg: BetaConfig, epoch: float) -> float:
    lo, hi = math.log(cfg.start), math.log(float(cfg.value or 0))
    return math.exp(lo + (hi - lo) * epoch / cfg.warmup_epochs)


def test_a_descending_ladder_steps_down(tmp_path):
    args = [*LADDER, "--beta.milestones", "[10,1]", "--beta.ramp", "linear",
            "--beta.hold_epochs", "1"]  # fmt: skip
    run = train(load_config(None, args), tmp_path / "down", progress=False)
    records = run.read_metrics()
    # the linear ramp over 1 epoch: β at the last of its 2 steps; then 10 and 1
    assert [r["beta"] for r in records] == pytest.approx([5, 10, 1])
    assert [p.name for p in list_snapshots(run.path)] == ["m0_beta10", "m1_beta1"]
    assert RunFolder(list_snapshots(run.path)[1]).config().beta.value == 1.0


def test_a_kill_mid_milestone_resumes_to_identical_snapshots(tmp_path, ladder_run):
    cfg = load_config(None, [*LADDER, "--optim.checkpoint_every", "7"])
    # milestone 1 is epochs 3–4, steps 7–10; the crash after step 8 resumes from the
    # checkpoint of step 7, batch 1 of epoch 3: mid-epoch in the middle of the milestone
    with pytest.raises(Crash):
        train(cfg, tmp_path / "crashed", progress=False, on_step=crash_at(8))
    info = RunFolder(tmp_path / "crashed").checkpoint("last").info
    assert (info["epoch"], info["batch"], info["epoch_complete"]) == (3, 1, False)
    assert [p.name for p in list_snapshots(tmp_path / "crashed")] == ["m0_beta0.01"]
    resumed = train(None, tmp_path / "crashed", resume=True, progress=False)
    assert_same_snapshots(ladder_run, resumed)
    assert "finished" in resumed.meta()


def test_a_kill_inside_a_snapshot_write_leaves_none_and_the_resume_writes_it(
    tmp_path, monkeypatch, ladder_run
):
    import infovit.training.trainer as trainer_module

    write = trainer_module.write_snapshot

    def dying(run, model, config, milestone, info, hook=None):
        def hook_(op: str) -> None:
            if milestone.index == 0 and op == "write weights":
                raise Crash(op)

        return write(run, model, config, milestone, info, hook=hook_)

    monkeypatch.setattr(trainer_module, "write_snapshot", dying)
    with pytest.raises(Crash):
        train(load_config(None, LADDER), tmp_path / "crashed", progress=False)
    monkeypatch.setattr(trainer_module, "write_snapshot", write)
    crashed = RunFolder(tmp_path / "crashed")
    assert list_snapshots(crashed.path) == []  # no half snapshot
    left = [p.name[:13] for p in (crashed.path / "snapshots").iterdir()]
    assert left == [".m0_beta0.01."]  # only the killed writer's temporary
    resumed = train(None, crashed.path, resume=True, progress=False)
    assert_same_snapshots(ladder_run, resumed)
    assert not any(p.name.startswith(".") for p in (crashed.path / "snapshots").iterdir())


def test_a_snapshot_written_again_replaces_the_old_one_whole(ladder_run):
    """A resume that redoes a milestone's last epoch rewrites its snapshot in place."""
    from infovit.training.ladder import Milestone
    from infovit.training.snapshot import write_snapshot

    config = ladder_run.config()
    model, _ = load_model(ladder_run.path, tag="last")
    path = list_snapshots(ladder_run.path)[2]
    before = weights(path)
    info = dict(ladder_run.checkpoint("last").info)
    write_snapshot(ladder_run, model, config, Milestone(2, 1.0, 5, 7), info)
    after = weights(path)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert RunFolder(path).read_metrics() == ladder_run.read_metrics()
    assert len(list(path.parent.iterdir())) == 3


def test_settle_ends_milestones_early_and_replays_on_resume(tmp_path):
    """A tolerance no change exceeds: every milestone ends after window + 1 epochs (2 < 3)."""
    args = [*LADDER, "--beta.milestones", "[0.01,0.1]", "--beta.hold_epochs", "3",
            "--optim.epochs", "7", "--optim.ladder_lr", "constant",
            "--beta.settle.window", "1", "--beta.settle.rel_tol", "1e9"]  # fmt: skip
    cfg = load_config(None, args)
    straight = train(cfg, tmp_path / "straight", progress=False)
    records = straight.read_metrics()
    assert [r["milestone"] for r in records] == [None, 0, 0, 1, 1]
    assert "finished" in straight.meta() and records[-1]["lr"] == 6e-4  # constant lr
    assert [RunFolder(p).meta()["snapshot"]["milestone_epochs"] for p in
            list_snapshots(straight.path)] == [2, 2]  # fmt: skip
    stopped = train(cfg, tmp_path / "stopped", progress=False, stop_after_epochs=2)  # mid m0
    assert "finished" not in stopped.meta()
    resumed = train(None, stopped.path, resume=True, progress=False)
    assert_same_snapshots(straight, resumed)
    assert len(resumed.read_metrics()) == 5


def test_the_settle_rule():
    beta = BetaConfig(schedule="ladder", milestones=[1.0, 2.0], hold_epochs=5, warmup_epochs=1,
                      settle=SettleConfig(window=2, rel_tol=0.1))  # fmt: skip
    ladder = Ladder(beta)
    assert ladder.observe(0, 50.0) is None  # the ramp
    kls = [40.0, 30.0, 38.0]  # epoch 3: |38 − 40| ≤ 0.1 · 40, two epochs apart → ends
    ends = [ladder.observe(e, kl) for e, kl in enumerate(kls, 1)]
    assert ends[:2] == [None, None] and ends[2] is not None
    assert (ends[2].index, ends[2].start, ends[2].end, ends[2].beta) == (0, 1, 4, 1.0)
    assert ladder.milestone_at(4) == 1 and ladder.beta(4) == 2.0 and ladder.max_end == 9
    for e in range(4, 8):  # a KL that never settles: held the full 5 epochs
        assert ladder.observe(e, 10.0 * e) is None
    assert ladder.observe(8, 0.0) is not None and ladder.done
    # a closed channel (KL ≈ 0) settles on the 0.01-nat floor, not on its relative noise
    closed = Ladder(beta)
    ends = [closed.observe(e, kl) for e, kl in enumerate([1.0, 0.002, 0.001, 0.0028])]
    assert ends == [None, None, None, ends[3]] and ends[3] is not None  # 40 % ≤ the floor


def test_ladder_learning_rates():
    beta = BetaConfig(schedule="ladder", milestones=[1.0, 2.0, 3.0], hold_epochs=4,
                      warmup_epochs=2)  # fmt: skip
    spe, lr, low = 10, 1e-3, 1e-6
    optim = OptimConfig(lr=lr, min_lr=low, warmup_epochs=1, ladder_lr="rewarm")
    # the ramp + milestone 0: one ordinary warm-up + cosine over 6 epochs
    assert [ladder_lr(optim, beta, s, spe) for s in (0, 10, 59)] == [
        lr_at(s, 60, 10, lr, low) for s in (0, 10, 59)
    ]
    # milestone 1 (steps 60–99): re-warm over min(1, 4/4) epochs from min_lr, cosine to min_lr
    assert ladder_lr(optim, beta, 60, spe) == low and ladder_lr(optim, beta, 70, spe) == lr
    assert ladder_lr(optim, beta, 99, spe) == pytest.approx(low, abs=lr * 0.01)
    assert ladder_lr(optim, beta, 100, spe) == low and ladder_lr(optim, beta, 140, spe) == low
    constant = OptimConfig(lr=lr, min_lr=low, warmup_epochs=1, ladder_lr="constant")
    assert ladder_lr(constant, beta, 5, spe) < lr == ladder_lr(constant, beta, 10, spe)
    assert ladder_lr(constant, beta, 139, spe) == lr
    cosine = OptimConfig(lr=lr, min_lr=low, warmup_epochs=1, ladder_lr="cosine")
    assert ladder_lr(cosine, beta, 77, spe) == lr_at(77, 140, 10, lr, low)


def test_snapshots_folder_stands_for_its_snapshots(ladder_run, capsys):
    snaps = expand_runs([ladder_run.path / "snapshots"])
    assert snaps == list_snapshots(ladder_run.path) and len(snaps) == 3
    assert expand_runs([ladder_run.path]) == [ladder_run.path]  # the run is its final model
    capsys.readouterr()
    assert main(["eval", str(ladder_run.path / "snapshots"), "--passes", "1",
                 "--device", "cpu", "--json"]) == 0  # fmt: skip
    rows = __import__("json").loads(capsys.readouterr().out)
    assert [r["run"] for r in rows] == [str(p) for p in snaps]


def test_a_sweep_point_can_be_a_ladder(tmp_path):
    short = ["--beta.hold_epochs", "1", "--optim.epochs", "4"]
    base = yaml.safe_load(yaml.safe_dump(load_config(None, [*LADDER, *short]).to_dict()))
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": base, "grid": {"optim.seed": [3]}}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "sweep"), "--quiet"]) == 0
    runs = [p for p in (tmp_path / "sweep" / "runs").iterdir() if p.is_dir()]
    assert [p.name for p in runs] == ["seed-3"]
    assert "finished" in RunFolder(runs[0]).meta()
    assert [p.name for p in list_snapshots(runs[0])] == ["m0_beta0.01", "m1_beta0.1", "m2_beta1"]
    assert [len(RunFolder(p).read_metrics()) for p in list_snapshots(runs[0])] == [2, 3, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beta.milestones", "[]"], "beta.milestones must be a non-empty list"),
        (["--beta.milestones", "null"], "beta.milestones must be a non-empty list"),
        (["--beta.milestones", "[0.1,0]"], "beta.milestones[1] must be > 0, got 0.0"),
        (["--beta.milestones", "[0.1,-1]"], "beta.milestones[1] must be > 0, got -1.0"),
        (["--beta.milestones", "[0.1,.nan]"], "beta.milestones[1] must be a finite number"),
        (["--beta.milestones", "[.inf]"], "beta.milestones[0] must be a finite number"),
        (["--beta.milestones", "[a]"], "beta.milestones[0] must be a number, got 'a'"),
        (["--beta.milestones", "5"], "beta.milestones must be a list of numbers or null"),
        (["--beta.milestones", "[1,0.1,1]"], "strictly ascending or strictly descending"),
        (["--beta.hold_epochs", "0"], "beta.hold_epochs must be ≥ 1, got 0"),
        (["--optim.epochs", "6"], "the β ladder takes 7 epochs (1 of ramp + 3 milestones × 2)"),
        (["--beta.ramp", "cosine"], "beta.ramp must be one of linear, log"),
        (["--beta.start", "1"], "must be > 0 and not exceed the first milestone"),
        (["--optim.ladder_lr", "warm"], "optim.ladder_lr must be one of rewarm, constant"),
        (["--beta.settle.window", "1"], "beta.settle needs --optim.ladder_lr constant"),
        (["--beta.settle.window", "2", "--optim.ladder_lr", "constant"], "must be below beta.hold"),
        (["--model.variant", "vit"], "beta.schedule ladder needs model.variant ib"),
    ],
)
def test_bad_ladders_are_one_line_errors(args, message):
    with pytest.raises(InfovitError) as err:
        load_config(None, [*LADDER, *args])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_yaml_milestones_as_text_are_numbers():
    """YAML 1.1 reads 1e-3 as text; the milestones are typed like float fields."""
    cfg = load_config(None, [*LADDER, "--beta.milestones", "[1e-3,1e-2,1e-1]", "--beta.start",
                             "1e-4"])  # fmt: skip
    assert cfg.beta.milestones == [0.001, 0.01, 0.1]
