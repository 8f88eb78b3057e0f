"""``infovit analyze`` end to end on tiny trained runs: tables, figures, index, cache, errors."""

from __future__ import annotations

import json

from infovit.analysis import read_csv
from infovit.cli.main import main


def test_analyze_writes_indexed_tables_and_figures(tiny_runs, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    runs = [str(tiny_runs[v]) for v in ("no_attn", "ib", "vit")]
    args = ["analyze", *runs, "--out", str(out), "--passes", "2", "--pairs", "8", "--no-progress"]
    assert main(args) == 0
    index = json.loads((out / "index.json").read_text())
    files = {x["file"] for x in index["files"]}
    for name in ("spectrum", "heads", "voting", "jsd_bins", "repetition"):
        assert f"tables/{name}.csv" in files
    assert "figures/spectrum.png" in files and "figures/spectrum.pdf" in files
    assert all((out / f).is_file() for f in files)
    assert "index.json" not in files and (out / "index.md").is_file()
    spectrum = {r["variant"]: r for r in read_csv(out / "tables" / "spectrum.csv")}
    assert spectrum["no_attn"]["kl_per_image"] == 0.0
    assert spectrum["ib"]["kl_per_image"] > 0.0
    assert spectrum["vit"]["pareto"] is False
    heads = read_csv(out / "tables" / "heads.csv")
    assert len(heads) == 2 * 2  # 2 blocks × 2 heads of the one IB run

    cached = (out / "cache" / "ib_s42.npz").stat().st_mtime_ns
    assert main([*args[:-5], "--passes", "2", "--only", "spectrum", "--no-progress"]) == 0
    assert (out / "cache" / "ib_s42.npz").stat().st_mtime_ns == cached
    again = json.loads((out / "index.json").read_text())
    assert {x["file"] for x in again["files"]} == files  # other sections stay listed

    assert main(["analyze", runs[0], "--out", str(out), "--only", "bogus"]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path), "--out", str(out)]) == 2


def test_analyze_needs_only_the_run_folder(tiny_runs, tmp_path) -> None:
    import shutil

    run = tmp_path / "ib_run"
    shutil.copytree(tiny_runs["ib"], run)
    assert main(["analyze", str(run), "--only", "heads", "--no-progress"]) == 0
    assert (run / "analysis" / "tables" / "heads.csv").is_file()
    assert (run / "analysis" / "index.md").is_file()


def test_eval_noise_depends_on_its_seed_alone(tiny_runs) -> None:
    """``infovit eval`` of several runs: each run's numbers are those it gets alone."""
    import torch

    from infovit.training.evaluate import evaluate_run

    def nats(seed: int = 0) -> float | None:
        result, _ = evaluate_run(tiny_runs["ib"], passes=2, device="cpu", progress=False, seed=seed)
        return result.kl_per_image

    alone = nats()
    evaluate_run(tiny_runs["ib"], passes=3, device="cpu", progress=False, seed=5)
    torch.rand(11)  # the caller's random state moves on
    assert nats() == alone
    assert nats(seed=1) != alone
