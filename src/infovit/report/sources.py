"""What the report reads: analysis folders, geometry outputs and compare-heads outputs on disk.

Each reader opens one folder that an earlier command wrote and answers "which tables and figures
exist" through that folder's own index, never through the order in which the analysis code
happens to write them: the analysis code changes, its index is the contract. Anything missing
is ``None`` (not computed), which the pages show as such, instead of an error.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infovit.errors import InfovitError

__all__ = [
    "AnalysisFolder",
    "FileEntry",
    "GeometryOutput",
    "NmiOutput",
    "Row",
    "find_geometry",
    "find_nmi",
    "is_analysis",
    "is_geometry",
    "is_nmi",
    "read_table",
]

Row = dict[str, str]
FIGURE_SUFFIXES = (".png", ".svg")  # shown on pages; .pdf is linked next to its PNG
GEOMETRY_FORMAT = "infovit-geometry/"


@dataclass(frozen=True)
class FileEntry:
    """One file an index lists: its section, its path relative to the folder, what it shows."""

    section: str
    file: str
    what: str
    path: Path

    @property
    def stem(self) -> str:
        return Path(self.file).stem

    @property
    def suffix(self) -> str:
        return Path(self.file).suffix.lower()


def read_table(path: Path) -> list[Row]:
    """A CSV table as rows of strings (templates format numbers; nothing is lost by parsing)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(row) for row in csv.DictReader(f)]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_analysis(path: Path) -> bool:
    """A folder that ``infovit analyze`` wrote: an ``index.json`` listing files or sections."""
    index = _read_json(path / "index.json") or {}
    return not is_geometry(path) and ("files" in index or "sections" in index)


def is_geometry(path: Path) -> bool:
    """A folder that ``infovit geometry`` wrote for one model."""
    index = _read_json(path / "index.json") or {}
    return str(index.get("format", "")).startswith(GEOMETRY_FORMAT)


def is_nmi(path: Path) -> bool:
    """A folder that ``infovit compare-heads`` wrote."""
    return (path / "nmi.csv").is_file()


@dataclass
class AnalysisFolder:
    """An analysis folder read through its ``index.json``."""

    root: Path
    index: dict[str, Any]
    entries: list[FileEntry]
    _tables: dict[str, list[Row]] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, root: Path) -> AnalysisFolder:
        index = _read_json(root / "index.json")
        if index is None:
            raise InfovitError(
                f"{str(root)!r} has no readable index.json: not an analysis folder; make one "
                "with 'infovit analyze RUN ...'"
            )
        return cls(root=root, index=index, entries=_entries(root, index))

    @property
    def runs(self) -> list[dict[str, Any]]:
        runs = self.index.get("runs", [])
        return [r for r in runs if isinstance(r, dict) and r.get("name") is not None]

    @property
    def sections(self) -> list[str]:
        """Sections that the index says were computed, in its order."""
        raw = self.index.get("sections", [])
        names = list(raw) if isinstance(raw, dict | list) else []
        names += [e.section for e in self.entries]
        return list(dict.fromkeys(str(n) for n in names))

    def table_entry(self, name: str) -> FileEntry | None:
        return next((e for e in self.entries if e.suffix == ".csv" and e.stem == name), None)

    def table(self, name: str) -> list[Row] | None:
        """Rows of table ``name`` (its file stem); None when the index lists no such table."""
        if name not in self._tables:
            entry = self.table_entry(name)
            if entry is None or not entry.path.is_file():
                return None
            self._tables[name] = read_table(entry.path)
        return self._tables[name]

    def tables(self) -> list[FileEntry]:
        return [e for e in self.entries if e.suffix == ".csv" and e.path.is_file()]

    def figure(self, name: str) -> FileEntry | None:
        """The figure whose file stem is ``name`` (PNG preferred over SVG), if listed."""
        found = [e for e in self.figures() if e.stem == name]
        found.sort(key=lambda e: FIGURE_SUFFIXES.index(e.suffix))
        return found[0] if found else None

    def figures(self) -> list[FileEntry]:
        """One entry per figure (its PNG, or its SVG when there is no PNG)."""
        seen: dict[str, FileEntry] = {}
        for e in self.entries:
            if e.suffix not in FIGURE_SUFFIXES or not e.path.is_file():
                continue
            key = str(Path(e.file).with_suffix(""))
            if key not in seen or e.suffix == ".png":
                seen[key] = e
        return list(seen.values())

    def companion(self, entry: FileEntry, suffix: str) -> Path | None:
        """The same figure in another format (``.pdf``, ``.svg``), when it exists."""
        other = entry.path.with_suffix(suffix)
        return other if other != entry.path and other.is_file() else None


def _entries(root: Path, index: dict[str, Any]) -> list[FileEntry]:
    """The files an index lists. Understands the flat ``files`` list of ``infovit analyze``
    and a ``sections`` mapping (section → list of files, or → {"tables": [...], "figures":
    [...]}); an index naming no files is read from its ``tables/`` and ``figures/`` folders."""
    found: list[FileEntry] = []

    def add(section: str, item: Any, what: str = "") -> None:
        if isinstance(item, dict):
            name = item.get("file") or item.get("path")
            what = str(item.get("what") or item.get("title") or what)
            section = str(item.get("section") or section)
        else:
            name = item
        if not isinstance(name, str) or not name:
            return
        path = (root / name).resolve()
        if root.resolve() in path.parents:  # an index cannot point outside its folder
            found.append(FileEntry(section, name, what, path))

    for item in index.get("files", []) or []:
        add("other", item)
    sections = index.get("sections")
    if isinstance(sections, dict):
        for section, content in sections.items():
            groups = content.values() if isinstance(content, dict) else [content]
            for group in groups:
                for item in group if isinstance(group, list) else []:
                    add(str(section), item)
    if not found:
        for folder in ("tables", "figures"):
            for path in sorted((root / folder).glob("*")):
                if path.is_file():
                    add(_section_of(path.stem), str(path.relative_to(root)))
    return list({e.file: e for e in found}.values())


def _section_of(stem: str) -> str:
    return re.split(r"[_.]", stem, maxsplit=1)[0]


@dataclass
class GeometryOutput:
    """One model's ``infovit geometry`` output: its index, per-split layer tables, figures."""

    root: Path
    index: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.index.get("label") or self.root.name)

    def layers(self) -> dict[str, list[Row]]:
        """Per split: one row per layer (mean α, pooled α, mean token correlation)."""
        out: dict[str, list[Row]] = {}
        for split, info in (self.index.get("splits") or {}).items():
            name = info.get("layers_csv") if isinstance(info, dict) else None
            path = self.root / str(name or f"layers_{split}.csv")
            if path.is_file():
                out[str(split)] = read_table(path)
        return out

    def figures(self) -> list[Path]:
        return _figure_files(self.root / "figures")


def _figure_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FIGURE_SUFFIXES)
    pngs = {p.stem for p in files if p.suffix.lower() == ".png"}
    return [p for p in files if p.suffix.lower() == ".png" or p.stem not in pngs]


def find_geometry(path: Path) -> tuple[list[GeometryOutput], list[Path]]:
    """Geometry outputs at ``path`` or one level below it (``infovit geometry`` with several
    models writes ``OUT/<label>/``), and the comparison figures in ``path/figures``."""
    if is_geometry(path):
        return [GeometryOutput(path, _read_json(path / "index.json") or {})], []
    children = sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    outputs = [GeometryOutput(p, _read_json(p / "index.json") or {}) for p in children]
    outputs = [g for g in outputs if is_geometry(g.root)]
    return outputs, (_figure_files(path / "figures") if outputs else [])


@dataclass
class NmiOutput:
    """One ``infovit compare-heads`` output: pairs (nmi.csv), channels, heat map, settings."""

    root: Path

    def pairs(self) -> list[Row]:
        return read_table(self.root / "nmi.csv")

    def channels(self) -> list[Row]:
        path = self.root / "channels.csv"
        return read_table(path) if path.is_file() else []

    def summary(self) -> dict[str, Any]:
        return _read_json(self.root / "summary.json") or {}

    def figures(self) -> list[Path]:
        return [p for p in _figure_files(self.root) if p.stem.startswith("nmi")]


def find_nmi(path: Path) -> list[NmiOutput]:
    """compare-heads outputs at ``path`` or one level below it."""
    if is_nmi(path):
        return [NmiOutput(path)]
    children = sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    return [NmiOutput(p) for p in children if is_nmi(p)]
