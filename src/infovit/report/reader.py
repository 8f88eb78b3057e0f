"""Reading an analysis folder for the pages: tables by name, figures with their formats, and
the rows of tables the report does not know by name.

The :class:`Reader` remembers what some page showed, so that the overview can list what no
page did: a section added to the analysis appears in the report before the report learns it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infovit.report.assets import Assets
from infovit.report.sources import AnalysisFolder, FileEntry, Row

__all__ = ["KL_SELECTIONS", "Reader", "as_int", "generic_rows", "num", "rows_of"]

KL_SELECTIONS = ("random", "misclassified", "jsd")
# Tables the pages below read by name; every other table is shown generically.
_KNOWN = {
    "spectrum_runs",
    "spectrum",
    "heads",
    "head_survival",
    "voting",
    "rank_shares",
    "rank_maps",
    "jsd_bins",
    "repetition",
    *(f"klmaps_{s}" for s in KL_SELECTIONS),
}
_GENERIC_ROWS = 20  # rows of an unknown table shown on a page (the CSV link has them all)


def num(value: Any) -> float:
    """A table cell as a float (NaN when it is empty or not a number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def as_int(value: Any) -> int | None:
    v = num(value)
    return int(v) if v == v else None


def rows_of(rows: list[Row] | None, **match: Any) -> list[Row]:
    """Rows whose columns equal ``match`` (numbers compared as numbers)."""

    def same(cell: Any, want: Any) -> bool:
        return as_int(cell) == want if isinstance(want, int) else str(cell) == str(want)

    return [r for r in rows or [] if all(same(r.get(k), v) for k, v in match.items())]


class Reader:
    """Tables and figures of one analysis folder (or none), registered as site assets."""

    def __init__(self, analysis: AnalysisFolder | None, assets: Assets) -> None:
        self.a = analysis
        self.assets = assets
        self.placed: set[str] = set()  # index files shown on some page

    def table(self, name: str) -> list[Row] | None:
        if self.a is None:
            return None
        rows = self.a.table(name)
        if rows is not None:
            self.placed.add(name)
        return rows

    def table_href(self, name: str) -> str | None:
        entry = self.a.table_entry(name) if self.a else None
        return self.assets.add(entry.path, "tables") if entry else None

    def figure(self, name: str, alt: str) -> dict[str, Any] | None:
        entry = self.a.figure(name) if self.a else None
        return self.figure_of(entry, alt) if entry else None

    def figure_of(self, entry: FileEntry, alt: str) -> dict[str, Any]:
        assert self.a is not None
        self.placed.add(entry.stem)
        fig = self.file_figure(entry.path, alt, entry.what, "figures")
        for suffix in (".svg", ".pdf"):
            other = self.a.companion(entry, suffix)
            fig[suffix[1:]] = self.assets.add(other, "figures") if other else None
        return fig

    def file_figure(self, path: Path, alt: str, caption: str, folder: str) -> dict[str, Any]:
        return {
            "href": self.assets.add(path, folder),
            "alt": alt,
            "caption": caption,
            "svg": None,
            "pdf": None,
        }


def generic_rows(c: Reader, level: str, **match: Any) -> list[dict[str, Any]]:
    """Rows for this model (``level`` "model") or head from the tables the report does not
    know by name; per-image tables are left to their CSV links (too long for a page)."""
    out = []
    for entry in c.a.tables() if c.a else []:
        if entry.stem in _KNOWN or entry.stem.startswith(("extreme_", "head_survival")):
            continue
        if entry.section == "geometry":
            continue
        rows = c.a.table(entry.stem) if c.a else None
        if not rows:
            continue
        keys = set(rows[0])
        if "image" in keys:  # per-image tables: too long for a page; linked on provenance
            continue
        if not set(match) <= keys or (level == "model" and {"block", "head"} <= keys):
            continue
        mine = rows_of(rows, **match)
        if mine:
            c.placed.add(entry.stem)
            out.append(
                {
                    "name": entry.stem,
                    "section": entry.section,
                    "what": entry.what,
                    "href": c.table_href(entry.stem),
                    "columns": list(rows[0]),
                    "rows": mine[:_GENERIC_ROWS],
                    "more": len(mine) > _GENERIC_ROWS,
                }
            )
    return out
