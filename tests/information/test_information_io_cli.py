"""Saved posteriors, head selectors, extraction from a model, and ``infovit compare-heads``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from infovit.cli.main import main
from infovit.errors import InfovitError
from infovit.information import (
    extract_head_posteriors,
    information_matrix,
    load_posteriors,
    match_channel_names,
    parse_head_selector,
    save_posteriors,
)
from infovit.information.plot import HeatmapPanel, plot_nmi_heatmap


def _arrays(L: int = 120, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(L, 2))
    return {
        "runA:11.0": (base, np.full((L, 2), -2.0)),
        "runA:11.1": (rng.normal(size=(L, 3)), np.full((L, 3), -1.0)),
        "runB:11.0": (base + 0.1 * rng.normal(size=(L, 2)), np.full((L, 2), -2.0)),
    }


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_posteriors_round_trip(tmp_path: Path, suffix: str) -> None:
    arrays = _arrays()
    path = tmp_path / f"post{suffix}"
    save_posteriors(path, arrays)
    loaded = load_posteriors([path])
    assert list(loaded) == list(arrays)
    for name, (mu, lv) in arrays.items():
        np.testing.assert_allclose(loaded[name].mu.numpy(), mu, rtol=1e-6)
        np.testing.assert_allclose(loaded[name].logvar.numpy(), lv, rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_bad_posterior_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "unpaired.npz", **{"a.mu": np.zeros((4, 2))})
    with pytest.raises(InfovitError, match="unpaired"):
        load_posteriors([tmp_path / "unpaired.npz"])
    np.savez(tmp_path / "a.npz", **{"a.mu": np.zeros((4, 2)), "a.logvar": np.zeros((4, 2))})
    np.savez(tmp_path / "b.npz", **{"b.mu": np.zeros((5, 2)), "b.logvar": np.zeros((5, 2))})
    with pytest.raises(InfovitError, match="same patches"):
        load_posteriors([tmp_path / "a.npz", tmp_path / "b.npz"])
    with pytest.raises(InfovitError, match="twice"):
        load_posteriors([tmp_path / "a.npz", tmp_path / "a.npz"])
    with pytest.raises(InfovitError, match="not found"):
        load_posteriors([tmp_path / "missing.npz"])
    with pytest.raises(InfovitError, match=r"\.npz or \.safetensors"):
        save_posteriors(tmp_path / "x.txt", {"a": (np.zeros((2, 1)), np.zeros((2, 1)))})


def test_head_selectors() -> None:
    s = parse_head_selector("runs/b10:11.0")
    assert (s.run, s.block, s.head) == ("runs/b10", 11, 0)
    assert parse_head_selector("C:/x:3.*").resolve(12, 3) == [(3, 0), (3, 1), (3, 2)]
    assert len(parse_head_selector("r:*").resolve(12, 3)) == 36
    for bad in ("run", "run:11", "run:a.b", ":1.0", "run:1.0.0"):
        with pytest.raises(InfovitError, match="selector"):
            parse_head_selector(bad)
    with pytest.raises(InfovitError, match="out of range"):
        parse_head_selector("r:12.0").resolve(12, 3)
    names = list(_arrays())
    assert match_channel_names(["runB:*", "runA:11.0"], names) == ["runB:11.0", "runA:11.0"]
    with pytest.raises(InfovitError, match="no channel matches"):
        match_channel_names(["runC:*"], names)


def test_extract_head_posteriors_matches_forward(make_model) -> None:
    from infovit.data import build_dataset, parse_data_spec

    model = make_model("ib").eval()
    data = build_dataset(parse_data_spec("synthetic:grid=4,patch=4,n_val=16"), split="val")
    out = extract_head_posteriors(model, data, [(3, 1), (0, 2)], n_images=10, batch_size=4)
    assert set(out) == {(3, 1), (0, 2)}
    mu, logvar = out[(3, 1)]
    assert mu.shape == (10 * 16, 4) and logvar.shape == (10 * 16, 4)
    images = torch.stack([data[i][0] for i in range(10)])
    with torch.inference_mode():
        ref = model.forward_info(images, noise="mean", return_posterior=True)
    p = model.num_prefix_tokens
    np.testing.assert_allclose(mu, ref.mu[:, 3, 1, p:].reshape(-1, 4).numpy(), atol=1e-5)
    np.testing.assert_allclose(
        out[(0, 2)][1], ref.logvar[:, 0, 2, p:].reshape(-1, 4).numpy(), atol=1e-5
    )


def test_plot_writes_png(tmp_path: Path) -> None:
    m = information_matrix(_arrays(L=40), method="bhattacharyya")
    panel = HeatmapPanel("BD", m.nmi, m.nmi_se)
    plot_nmi_heatmap([panel, panel], list(m.names), list(m.names), tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_compare_heads_on_saved_posteriors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    post = tmp_path / "post.npz"
    save_posteriors(post, _arrays())
    out = tmp_path / "out"
    argv = ["compare-heads", "runA:*", "--cols", "runB:11.0", "runA:11.0", "--posteriors"]
    argv += [str(post), "--samples", "3000", "--rows", "0", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {
        "nmi.csv",
        "channels.csv",
        "nmi_mc.csv",
        "nmi_se_mc.csv",
        "nmi_bhattacharyya.csv",
        "nmi_se_bhattacharyya.csv",
        "nmi_heatmap.png",
        "nmi_heatmap.pdf",
        "nmi_heatmap.svg",
        "summary.json",
    }
    records = _read_csv(out / "nmi.csv")
    assert len(records) == 2 * 2 * 2  # rows × cols × methods
    by_key = {(r["row"], r["col"], r["method"]): r for r in records}
    assert float(by_key[("runA:11.0", "runA:11.0", "mc")]["nmi"]) == 1.0
    similar = float(by_key[("runA:11.0", "runB:11.0", "mc")]["nmi"])
    unrelated = float(by_key[("runA:11.1", "runB:11.0", "mc")]["nmi"])
    assert similar > 0.5 > unrelated
    matrix = list(csv.reader(open(out / "nmi_mc.csv")))
    assert matrix[0] == ["channel", "runB:11.0", "runA:11.0"]
    assert [row[0] for row in matrix[1:]] == ["runA:11.0", "runA:11.1"]
    assert len(_read_csv(out / "channels.csv")) == 3 * 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"]["mc"]["n_rows"] == 3000
    assert summary["methods"]["bhattacharyya"]["n_rows"] == 120


def test_compare_heads_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    post = tmp_path / "post.npz"
    save_posteriors(post, _arrays())
    base = ["compare-heads", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main([*base, "nope:*", "--posteriors", str(post)]) == 2
    assert "no channel matches" in capsys.readouterr().err
    assert main([*base, "--posteriors", str(post), "--method", "mc,xyz"]) == 2
    assert "--method" in capsys.readouterr().err
    assert main([*base, "runs/x:1.0", "--data", "synthetic"]) == 2
    assert "run folder not found" in capsys.readouterr().err
    assert main([*base, "runs/x:1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "selector" in err


def test_compare_heads_from_runs(tmp_path: Path) -> None:
    """End to end: two run folders (random weights), heads selected per run, posteriors saved."""
    from infovit.model import BottleneckConfig, ModelConfig, build_model
    from infovit.training.config import Config
    from infovit.training.run import RunFolder

    runs = []
    for seed in (0, 1):
        cfg = Config(
            model=ModelConfig(
                base="vit_tiny_patch16_224",
                variant="ib",
                img_size=16,
                patch_size=4,
                num_classes=8,
                depth=2,
                bottleneck=BottleneckConfig(rank=4, hidden=8),
            )
        )
        torch.manual_seed(seed)
        run = RunFolder.create(tmp_path / f"run{seed}", cfg)
        run.save_checkpoint("last", build_model(cfg.model), info={"epoch": 0})
        runs.append(str(run.path))
    out = tmp_path / "out"
    argv = ["compare-heads", f"{runs[0]}:1.*", "--cols", f"{runs[1]}:*", f"{runs[0]}:1.0"]
    argv += ["--data", "synthetic:grid=4,patch=4,n_val=8", "--num-images", "6", "--samples"]
    argv += ["1500", "--rows", "0", "--no-progress", "--no-plot", "--out", str(out)]
    argv += ["--save-posteriors", str(tmp_path / "post.safetensors")]
    assert main(argv) == 0
    records = _read_csv(out / "nmi.csv")
    assert len(records) == 3 * 7 * 2  # 3 heads × (6 + 1) columns × 2 methods
    saved = load_posteriors([tmp_path / "post.safetensors"])
    assert len(saved) == 3 + 6 and next(iter(saved.values())).n_points == 6 * 16
    assert {name.split(":")[0] for name in saved} == {"run0", "run1"}  # run folder names
