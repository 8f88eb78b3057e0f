"""Everything the pages show, gathered into plain dicts from the folders earlier commands wrote.

The templates receive only these dicts: no template opens a file or knows a folder layout.
Tables are found by name through the analysis index (:class:`~.sources.AnalysisFolder`); a
table that is absent is ``None`` and the page says "not computed". Tables and figures that this
module does not know by name are not dropped: rows of a table with ``model`` (and ``block`` /
``head``) columns appear on that model's (head's) page, and every other file is listed on the
overview, so a section added to the analysis shows up before the report learns about it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from infovit.report.assets import Assets, safe_name
from infovit.report.pages import head_pages, model_page
from infovit.report.reader import Reader, num, rows_of
from infovit.report.runs import beta_text, run_provenance
from infovit.report.sources import AnalysisFolder, GeometryOutput, NmiOutput, Row

__all__ = ["collect_site"]


def collect_site(
    analysis: AnalysisFolder | None,
    geometry: list[tuple[list[GeometryOutput], list[Path]]],
    nmi: list[NmiOutput],
    assets: Assets,
    command: list[str] | None = None,
    versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The data of every page: ``overview``, ``models``, ``heads``, ``geometry``,
    ``provenance``; figures and tables are registered in ``assets`` for copying."""
    c = Reader(analysis, assets)
    runs = [run_provenance(r) for r in (analysis.runs if analysis else [])]
    for i, run in enumerate(runs):  # unique, safe page names
        run["slug"] = f"{safe_name(run['name'])}" + (f"_{i}" if _dup(runs, i) else "")
        run["config_href"] = (
            assets.add(run["folder"] / "config.yaml", "configs", f"{run['slug']}.yaml")
            if run["folder"]
            else None
        )
    classes = next((r["meta"].get("data", {}).get("classes") for r in runs if r["meta"]), None)
    nmi_pairs = [dict(p, source=str(o.root)) for o in nmi for p in o.pairs()]
    nmi_pairs += _index_nmi(c)
    heads = head_pages(c, runs, nmi_pairs)
    models = [model_page(c, run, heads, classes) for run in runs]
    site: dict[str, Any] = {
        "overview": _overview(c, runs),
        "models": models,
        "heads": heads,
        "geometry": _geometry(c, geometry, analysis),
        "nmi": [_nmi_output(c, o) for o in nmi],
        "provenance": _provenance(c, runs, command, versions or {}),
    }
    site["overview"]["others"] = _unplaced(c)
    return site


def _index_nmi(c: Reader) -> list[Row]:
    """NMI pairs from analysis tables with ``row``, ``col`` and ``nmi`` columns (an
    information section inside the analysis), whatever the table is called."""
    pairs: list[Row] = []
    for entry in c.a.tables() if c.a else []:
        rows = c.a.table(entry.stem) if c.a else None
        if rows and {"row", "col", "nmi"} <= set(rows[0]):
            c.placed.add(entry.stem)
            pairs += rows
    return pairs


def _dup(runs: list[dict[str, Any]], i: int) -> bool:
    slug = safe_name(runs[i]["name"])
    return any(safe_name(r["name"]) == slug for r in runs[:i])


def _overview(c: Reader, runs: list[dict[str, Any]]) -> dict[str, Any]:
    per_run = c.table("spectrum_runs")
    rows = []
    for run in runs:
        row = next(iter(rows_of(per_run, model=run["name"])), {})
        beta, convention = beta_text(run)
        git = run["meta"].get("git") or {}
        rows.append(
            {
                "name": run["name"],
                "slug": run["slug"],
                "label": run["label"],
                "variant": row.get("variant")
                or (run["config"] or {}).get("model", {}).get("variant"),
                "beta": beta,
                "convention": convention,
                "seed": row.get("seed", (run["config"] or {}).get("optim", {}).get("seed")),
                "passes": row.get("passes"),
                "top1": num(row.get("top1")),
                "top1_std": num(row.get("top1_std")),
                "kl": num(row.get("kl_per_image")),
                "kl_std": num(row.get("kl_per_image_std")),
                "commit": (git.get("commit") or "")[:10],
                "dirty": bool(git.get("dirty")),
                "config_href": run["config_href"],
            }
        )
    configs = c.table("spectrum")
    ablation = c.table("ablation_spectrum")
    return {
        "spectrum": c.figure("spectrum", "validation top-1 accuracy against nats per image"),
        "ablation": [
            {
                **r,
                "top1_base": num(r.get("top1_base")),
                "top1_all_heads": num(r.get("top1_all_heads")),
                "kl": num(r.get("kl_per_image")),
            }
            for r in ablation or []
        ],
        "ablation_computed": ablation is not None,
        "ablation_href": c.table_href("ablation_spectrum"),
        "ablation_figure": c.figure(
            "ablation", "top-1 as heads are ablated in order of their KL, per model"
        ),
        "runs": rows,
        "runs_measured": per_run is not None,
        "configs": [
            {
                **r,
                "top1": num(r.get("top1")),
                "top1_std": num(r.get("top1_std")),
                "kl": num(r.get("kl_per_image")),
                "pareto": str(r.get("pareto")) == "True",
            }
            for r in configs or []
        ],
        "configs_computed": configs is not None,
        "spectrum_href": c.table_href("spectrum"),
        "spectrum_runs_href": c.table_href("spectrum_runs"),
        "n_images": (c.a.index.get("n_images") if c.a else None),
        "sections": c.a.sections if c.a else [],
    }


def _geometry(
    c: Reader,
    found: list[tuple[list[GeometryOutput], list[Path]]],
    analysis: AnalysisFolder | None,
) -> dict[str, Any]:
    outputs, comparisons = [], []
    for group, compare in found:
        for path in compare:
            comparisons.append(c.file_figure(path, _figure_alt(path.stem), "", "geometry"))
        for g in group:
            folder = f"geometry/{safe_name(g.label)}"
            model = g.index.get("model") or {}
            outputs.append(
                {
                    "label": g.label,
                    "model": model,
                    "data": g.index.get("data") or {},
                    "fit": g.index.get("fit") or {},
                    "figures": [
                        c.file_figure(p, f"{_figure_alt(p.stem)} of {g.label}", "", folder)
                        for p in g.figures()
                    ],
                    "layers": g.layers(),
                }
            )
    figures = [e for e in (analysis.figures() if analysis else []) if e.section == "geometry"]
    from_index = [c.figure_of(e, e.what or _figure_alt(e.stem)) for e in figures]
    tables = [
        {"name": e.stem, "what": e.what, "href": c.assets.add(e.path, "tables")}
        for e in (analysis.tables() if analysis else [])
        if e.section == "geometry"
    ]
    return {"outputs": outputs, "comparisons": comparisons + from_index, "tables": tables}


def _figure_alt(stem: str) -> str:
    words = re.sub(r"[_]+", " ", stem)
    return {
        "trajectories": "α trajectories and their clusters on the patch grid",
        "correlation mean": "mean token correlation by layer",
        "correlation matrices": "token correlation matrices by layer",
        "fit example": "eigenspectrum and its power-law fit",
        "runs": "α and token correlation across models",
    }.get(re.sub(r" (val|train)$", "", words), words)


def _nmi_output(c: Reader, o: NmiOutput) -> dict[str, Any]:
    folder = f"nmi/{safe_name(o.root.name)}"
    return {
        "source": str(o.root),
        "summary": o.summary(),
        "channels": o.channels(),
        "figures": [
            c.file_figure(p, "NMI heat map between heads", "", folder) for p in o.figures()
        ],
        "href": c.assets.add(o.root / "nmi.csv", folder),
    }


def _provenance(
    c: Reader, runs: list[dict[str, Any]], command: list[str] | None, versions: dict[str, str]
) -> dict[str, Any]:
    files = []
    for e in c.a.entries if c.a else []:
        if e.path.is_file() and e.suffix in (".csv", ".png", ".svg", ".pdf"):
            folder = "tables" if e.suffix == ".csv" else "figures"
            files.append(
                {
                    "section": e.section,
                    "file": e.file,
                    "what": e.what,
                    "href": c.assets.add(e.path, folder),
                }
            )
    return {
        "runs": runs,
        "command": command,
        "versions": versions,
        "analysis": {
            k: v
            for k, v in (c.a.index.items() if c.a else [])
            if k not in ("runs", "files", "sections")
        },
        "analysis_root": str(c.a.root) if c.a else None,
        "files": files,
    }


def _unplaced(c: Reader) -> list[dict[str, Any]]:
    """Figures of the index that no page shows by name (new sections, geometry excepted)."""
    if c.a is None:
        return []
    return [
        c.figure_of(e, e.what or _figure_alt(e.stem))
        for e in c.a.figures()
        if e.stem not in c.placed and e.section != "geometry" and not e.stem.startswith("extreme_")
    ]
