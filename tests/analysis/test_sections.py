"""The section contract: registry, --list, tables first, figures redrawn from tables alone."""

from __future__ import annotations

import json

import pytest

from infovit.analysis import read_csv, sections
from infovit.analysis.sections import REGISTRY, Section, register
from infovit.cli.main import main
from infovit.errors import InfovitError


def test_registry_lists_every_analysis(capsys) -> None:
    expected = {"spectrum", "heads", "voting", "klmaps", "jsd", "extreme", "repetition"}
    expected |= {"ablation", "information", "geometry"}
    assert set(REGISTRY) == expected
    assert main(["analyze", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(REGISTRY)
    assert all(len(line.split(maxsplit=1)) == 2 for line in listed)  # name and description
    assert main(["analyze", "--only", "help"]) == 0
    with pytest.raises(InfovitError, match="choose from"):
        sections.resolve(("spectrum", "bogus"))
    with pytest.raises(ValueError, match="registered twice"):
        register(REGISTRY["heads"])
    with pytest.raises(ValueError, match="unknown needs"):
        Section("x", "y", frozenset({"gpu"}), REGISTRY["heads"].compute, REGISTRY["heads"].draw)


def test_new_sections_share_the_selection_and_redraw_from_tables(tiny_runs, tmp_path) -> None:
    out = tmp_path / "out"
    runs = [str(tiny_runs[v]) for v in ("no_attn", "ib", "vit")]
    only = "spectrum,heads,ablation,information,geometry"
    args = ["analyze", *runs, "--out", str(out), "--only", only, "--no-progress"]
    assert main([*args, "--max-images", "40", "--ablation-images", "16"]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["selection"] == {"rule": "even", "count": 40, "seed": 0}
    kinds = {e["file"]: e["kind"] for e in index["files"]}
    for name in ("ablation_heads", "ablation_cumulative", "ablation_spectrum", "nmi"):
        assert kinds[f"tables/{name}.csv"] == "table"
    assert kinds["tables/geometry_layers.csv"] == "table"
    assert "figures/ablation.png" in kinds and "figures/nmi_heatmap.png" in kinds
    spectrum = {r["mode"]: r for r in read_csv(out / "tables" / "ablation_spectrum.csv")}
    assert set(spectrum) == {"prior", "mean"} and spectrum["prior"]["images"] == 16
    layers = read_csv(out / "tables" / "geometry_layers.csv")
    assert {r["model"] for r in layers} == {"no_attn_s42", "ib_s42", "vit_s42"}
    assert {r["images"] for r in layers} == {40.0}  # the shared selection, as the extraction
    nmi = read_csv(out / "tables" / "nmi.csv")
    assert {r["n_points"] for r in nmi} == {40.0 * 16}  # 40 images × 16 patches

    figures = sorted(f for f, k in kinds.items() if k == "figure")
    for f in figures:
        (out / f).unlink()
    assert main(["analyze", "--figures-only", str(out)]) == 0  # no runs, no model: tables only
    again = json.loads((out / "index.json").read_text())
    assert sorted(e["file"] for e in again["files"] if e["kind"] == "figure") == figures
    assert all((out / f).is_file() for f in figures)


def test_boolean_columns_read_back_as_bools(tmp_path):
    """A head written inactive must read back falsy: the string "False" is truthy."""
    from infovit.analysis.tables import read_csv, write_csv

    write_csv(tmp_path / "t.csv", [{"head": 0, "active": False}, {"head": 1, "active": True}])
    rows = read_csv(tmp_path / "t.csv")
    assert [r["active"] for r in rows] == [False, True]
    assert [r for r in rows if r["active"]] == [rows[1]]
