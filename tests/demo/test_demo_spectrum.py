"""The spectrum report reads rows only; the demo runs end to end."""

from __future__ import annotations

from infovit.demo import SpectrumRow, plot_spectrum, write_summary


def _row(name, variant, beta, top1, kl):
    return SpectrumRow(
        name, variant, beta, "mean", top1, 0.5, kl, None if kl is None else 1.0, 5, name
    )


def test_summary_and_figure(tmp_path):
    rows = [
        _row("no_attn", "no_attn", None, 50.0, 0.0),
        _row("ib_b30", "ib", 30.0, 70.0, 12.0),
        _row("ib_b3", "ib", 3.0, 95.0, 150.0),
        _row("vit", "vit", None, 99.0, None),
    ]
    table = write_summary(rows, tmp_path, ceilings={"ceiling": 0.5})
    assert "unrestricted" in table and "30 (mean)" in table and "50.0% top-1" in table
    assert (tmp_path / "summary.csv").read_text().count("\n") == 5
    written = plot_spectrum(rows, tmp_path / "spectrum", ceilings={"ceiling": 0.5})
    assert [p.suffix for p in written] == [".png", ".pdf", ".svg"] and all(
        p.stat().st_size > 0 for p in written
    )


def test_quick_demo_end_to_end(tmp_path, capsys):
    from infovit.cli.main import main

    assert main(["demo", "--out", str(tmp_path), "--quick", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "no_attn" in out and "vit" in out and "ib_beta" in out
    assert (tmp_path / "spectrum.png").is_file() and (tmp_path / "summary.md").is_file()
    assert len(list((tmp_path / "runs").iterdir())) == 3
    assert "## The paper's claims on this demo" in out and (tmp_path / "claims.md").is_file()
    report = tmp_path / "report" / "index.html"
    assert f"report: {report}" in out and report.is_file()
