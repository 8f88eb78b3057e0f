"""The report's pages from a hand-made analysis folder: escaping, tolerance, atomic output.

The analysis here is written by hand (an index and a few CSV tables, no training), so these
tests take milliseconds and pin what the pages do with hostile or missing data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from infovit.errors import InfovitError
from infovit.report import build_report

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
MODEL = 'ib"><b>bold</b>'  # a run name is a folder name: any text but "/"


def _csv(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path.relative_to(path.parents[1]))


def _fake_analysis(root: Path, tables: tuple[str, ...] = ("spectrum_runs", "heads", "klmaps")):
    """An analysis of one IB run whose class names, config label and data spec are markup."""
    run = root / "run"
    run.mkdir(parents=True)
    config = {
        "model": {"variant": "ib"},
        "beta": {"value": 1.0, "convention": "mean"},
        "data": {"spec": f"imagefolder:/data/{SCRIPT}"},
        "optim": {"seed": 3},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    meta = {
        "git": {"commit": "abc123", "dirty": False},
        "torch": "2.x",
        "data": {"classes": [SCRIPT, "<img src=x onerror=alert(2)>"]},
    }
    (run / "run.json").write_text(json.dumps(meta))
    a = root / "analysis"
    files = []
    if "spectrum_runs" in tables:
        row = {
            "model": MODEL,
            "config": SCRIPT,
            "variant": "ib",
            "seed": 3,
            "passes": 2,
            "top1": 91.5,
            "top1_std": 0.5,
            "kl_per_image": 12.5,
            "kl_per_image_std": 0.1,
        }
        files.append(("spectrum", _csv(a / "tables" / "spectrum_runs.csv", [row])))
    if "heads" in tables:
        heads = [
            {
                "model": MODEL,
                "block": b,
                "head": h,
                "active": "True",
                "kl_max": 1.0 + b,
                "kl_mean": 0.1 * (h + 1),
                "share_below": 0.9,
                "active_dims": 2,
                "dominant_dim": 1,
                "threshold": 0.01,
            }
            for b in (0, 1)
            for h in (0, 1)
        ]
        files.append(("heads", _csv(a / "tables" / "heads.csv", heads)))
    if "klmaps" in tables:
        maps = [
            {
                "selection": "random",
                "model": MODEL,
                "image": 7,
                "label": 0,
                "pred": 1,
                "row": r,
                "col": c,
                "kl": 0.1 * (r + c),
            }
            for r in (0, 1)
            for c in (0, 1)
        ]
        files.append(("klmaps", _csv(a / "tables" / "klmaps_random.csv", maps)))
    if "extra" in tables:  # a section the report does not know by name
        extra = [{"model": MODEL, "block": 1, "head": 0, "what": SCRIPT, "drop": 2.5}]
        files.append(("ablation", _csv(a / "tables" / "ablation_heads.csv", extra)))
    index = {
        "runs": [
            {
                "name": MODEL,
                "config": SCRIPT,
                "run": str(run),
                "tag": "best",
                "step": 9,
                "weights_sha256": "f" * 64,
                "data": f"imagefolder:/data/{SCRIPT}",
            }
        ],
        "sections": sorted({s for s, _ in files}),
        "files": [{"section": s, "file": f, "what": f"{SCRIPT} table"} for s, f in files],
    }
    (a / "index.json").write_text(json.dumps(index))
    return a


def test_strings_from_data_are_escaped(tmp_path):
    analysis = _fake_analysis(tmp_path, ("spectrum_runs", "heads", "klmaps", "extra"))
    out = tmp_path / "site"
    build_report(analysis, out, command=["infovit", "report", SCRIPT])
    pages = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.html")}
    assert len(pages) >= 5 + 4  # overview, geometry, nmi, provenance, model, four heads
    for name, html in pages.items():
        assert "<script" not in html.lower(), name  # the pages have no script of their own
        assert "<b>bold</b>" not in html and "<img src=x" not in html, name
    model = next(html for name, html in pages.items() if name.startswith("model-"))
    assert ESCAPED in model  # the class name of the KL-map image's label
    assert "&lt;img src=x onerror=alert(2)&gt;" in model  # the predicted class
    assert "&lt;b&gt;bold&lt;/b&gt;" in model  # the run name as the page heading
    assert ESCAPED in pages["provenance.html"]  # config label, data spec, the command
    head = pages["head-ib_b_bold_b-1.0.html"]  # page names are made safe
    assert ESCAPED in head  # the unknown table's cell, shown on the head page


def test_missing_sections_say_not_computed(tmp_path):
    analysis = _fake_analysis(tmp_path, ("spectrum_runs",))
    out = tmp_path / "site"
    build_report([analysis], out)
    model = next(out.glob("model-*.html")).read_text(encoding="utf-8")
    for what in ("Head firing", "KL maps of the random images", "Patch voting", "JSD bins"):
        assert f"{what}" in model and "not computed" in model
    assert "Geometry not computed" in (out / "geometry.html").read_text(encoding="utf-8")


def test_rebuild_replaces_a_report_and_refuses_other_folders(tmp_path):
    analysis = _fake_analysis(tmp_path)
    out = tmp_path / "site"
    build_report(analysis, out)
    (out / "stale.html").write_text("old")
    build_report(analysis, out)  # a report is replaced whole
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(InfovitError, match="is not an infovit report"):
        build_report(analysis, other)
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # nothing left over
