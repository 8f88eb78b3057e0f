"""Tables round-trip through disk; figures are drawn from loaded tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from infovit.errors import InfovitError
from infovit.geometry import plot
from infovit.geometry.pipeline import compute_geometry
from infovit.geometry.tables import SplitTables, load_run, save_run
from infovit.geometry.trajectories import cluster_trajectories


@pytest.fixture
def saved(vit: nn.Module, images: torch.Tensor, tmp_path: Path) -> Path:
    tables = {}
    for split, imgs in (("train", images[:100]), ("val", images[50:])):
        res = compute_geometry(vit, [imgs[:60], imgs[60:]], include_pixels=True, progress=False)
        clusters = cluster_trajectories(res.alpha, res.labels.spatial, 3, "pca", 0)
        tables[split] = SplitTables.from_result(res, clusters)
    save_run(tmp_path / "run", {"label": "tiny", "model": {"beta": 0.1}}, tables)
    return tmp_path / "run"


def test_round_trip(saved: Path) -> None:
    run = load_run(saved)
    assert run.label == "tiny" and run.beta == pytest.approx(0.1)
    assert set(run.splits) == {"train", "val"}
    t = run.splits["val"]
    assert t.count == 100 and t.grid == (4, 4)
    assert t.alpha.shape == (5, 17) and t.corr.shape == (5, 17, 17)
    assert t.token_kind[0] == "cls" and t.spatial.sum() == 16
    assert t.cluster_method == "pca" and (t.cluster_labels[1:] >= 0).all()
    assert t.info["plan"]["passes"] and t.layer_name[0] == "pixels"
    index = json.loads((saved / "index.json").read_text())
    assert index["format"] == "infovit-geometry/1"
    rows = list(csv.DictReader((saved / "alpha_val.csv").open()))
    # 5 layers × 17 tokens, less the class token's missing pixels.
    assert len(rows) == 5 * 17 - 1
    first = next(r for r in rows if r["layer"] == "1" and r["token"] == "3")
    assert float(first["alpha"]) == pytest.approx(t.alpha[2, 3], rel=1e-5)
    layers = list(csv.DictReader((saved / "layers_val.csv").open()))
    assert [r["layer_name"] for r in layers] == ["pixels", "embed", "block1", "block2", "block3"]
    assert float(layers[2]["mean_corr"]) == pytest.approx(t.corr_mean[2], rel=1e-5)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(InfovitError, match=r"no index\.json"):
        load_run(tmp_path)
    (tmp_path / "index.json").write_text('{"format": "other"}')
    with pytest.raises(InfovitError, match="not in format"):
        load_run(tmp_path)


def test_figures_from_tables(saved: Path, tmp_path: Path) -> None:
    run = load_run(saved)
    t = run.splits["val"]
    out = tmp_path / "fig"
    paths = [
        plot.plot_trajectories(t, out / "traj.png"),
        plot.plot_fit_example(t, out / "fit.png"),
        plot.plot_correlation_mean(run.splits, out / "corr_mean.png"),
        plot.plot_correlation_matrices(t, out / "corr.png"),
        plot.plot_split_comparison(run.splits, out / "split.png"),
        plot.plot_runs([run, run], "val", out / "runs.png"),
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries
    t.corr = None
    with pytest.raises(ValueError):
        plot.plot_correlation_matrices(t, out / "none.png")
    assert np.isfinite(t.alpha[2:]).all()
