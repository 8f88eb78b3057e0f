"""The analysis folder: tables (CSV), arrays (npz) and figures, listed in ``index.json``.

Layout (``OUT/``)::

    index.json   runs, sections, image selection, and one entry per file
                 ({"section", "file", "what", "kind"}; kind is table | arrays | figure)
    index.md     the same list as a Markdown table
    tables/NAME.csv, tables/NAME.npz    what sections compute
    figures/NAME.png, .pdf, .svg        drawn from the saved tables only
    cache/RUN.npz                       the streamed extraction of each run

A section writes through :meth:`Store.table` / :meth:`Store.arrays`; its figure function reads
them back with :meth:`Store.read_table` / :meth:`Store.read_arrays`, so a figure never shows a
number that is not in a saved table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infovit.analysis.tables import Row, read_csv, write_csv
from infovit.atomic import atomic_path, write_json, write_text

__all__ = ["Store"]


@dataclass
class Store:
    """One analysis folder and the index entries written into it so far."""

    out: Path
    entries: list[dict[str, str]] = field(default_factory=list)

    @property
    def tables_dir(self) -> Path:
        return self.out / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.out / "figures"

    def add(self, section: str, path: Path, what: str, kind: str) -> None:
        """List ``path`` (inside the folder) in the index; a re-listed file replaces its entry."""
        file = str(Path(path).relative_to(self.out))
        self.entries = [e for e in self.entries if e["file"] != file]
        self.entries.append({"section": section, "file": file, "what": what, "kind": kind})

    def table(self, section: str, name: str, rows: list[Row], what: str) -> Path:
        """Write ``tables/NAME.csv`` and list it."""
        path = self.tables_dir / f"{name}.csv"
        write_csv(path, rows)
        self.add(section, path, what, "table")
        return path

    def arrays(self, section: str, name: str, arrays: dict[str, Any], what: str) -> Path:
        """Write ``tables/NAME.npz`` (plain arrays, no pickles) and list it."""
        path = self.tables_dir / f"{name}.npz"
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            # numpy's stub lets **arrays fill savez's allow_pickle: bool keyword
            np.savez_compressed(fh, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
        self.add(section, path, what, "arrays")
        return path

    def figures(self, section: str, paths: list[Path], what: str) -> None:
        for p in paths:
            self.add(section, Path(p), what, "figure")

    def figure_stem(self, name: str) -> Path:
        return self.figures_dir / name

    def read_table(self, name: str) -> list[Row]:
        return read_csv(self.tables_dir / f"{name}.csv")

    def has_table(self, name: str) -> bool:
        return (self.tables_dir / f"{name}.csv").is_file()

    def read_arrays(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.tables_dir / f"{name}.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def names(self, section: str, kind: str = "table") -> list[str]:
        """Stems of the section's listed files of one kind, in the order written."""
        return [
            Path(e["file"]).stem
            for e in self.entries
            if e["section"] == section and e.get("kind", _kind(e["file"])) == kind
        ]

    def keep_previous(self, rerun: set[str]) -> None:
        """Keep the earlier index entries of sections not re-run (whose files still exist)."""
        previous = _read_entries(self.out / "index.json")
        kept = [
            e
            for e in previous
            if e.get("section") not in rerun and (self.out / e.get("file", "")).is_file()
        ]
        for e in kept:
            e.setdefault("kind", _kind(e["file"]))
        mine = {e["file"] for e in self.entries}
        self.entries = [e for e in kept if e["file"] not in mine] + self.entries

    def write_index(self, header: dict[str, Any], title: str) -> dict[str, Any]:
        """Write ``index.json`` (``header`` plus the file list) and ``index.md``; return it."""
        result = {**header, "files": self.entries}
        write_json(self.out / "index.json", result)
        lines = [f"# {title}", ""]
        runs = header.get("runs", [])
        if runs:
            lines += [f"Runs: {', '.join(str(r.get('name')) for r in runs)}", ""]
        lines += ["| section | file | what |", "|---|---|---|"]
        lines += [
            f"| {e['section']} | [{e['file']}]({e['file']}) | {e['what']} |" for e in self.entries
        ]
        write_text(self.out / "index.md", "\n".join(lines) + "\n")
        return result

    @classmethod
    def open(cls, out: Path) -> Store:
        """An existing analysis folder with its listed files (to redraw its figures)."""
        store = cls(Path(out), _read_entries(Path(out) / "index.json"))
        for e in store.entries:
            e.setdefault("kind", _kind(e["file"]))
        return store


def _kind(file: str) -> str:
    suffix = Path(file).suffix
    return {".csv": "table", ".npz": "arrays"}.get(suffix, "figure")


def _read_entries(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("files", []))
    except (ValueError, AttributeError):
        return []
