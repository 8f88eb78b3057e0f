"""Files copied into the site (figures, tables, configs), each under a safe, unique name.

A page links to a copy inside the site, never to the source folder: the site then opens from
any disk or archive, and every link is a relative path that a test can resolve. Names are
reduced to ``[A-Za-z0-9_.-]`` so no path taken from data can leave the site folder or need
URL quoting.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

__all__ = ["Assets", "safe_name"]


def safe_name(text: str) -> str:
    """``text`` reduced to characters that are safe in a file name and a URL."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "item"
    return name[:120]


class Assets:
    """Source files to copy into the site and the relative link of each copy."""

    def __init__(self) -> None:
        self._by_source: dict[tuple[Path, str], str] = {}
        self._sources: dict[str, Path] = {}

    def add(self, source: Path, folder: str, name: str | None = None) -> str:
        """The site link of ``source``'s copy under ``folder/``; the same source in the same
        folder is copied once."""
        key = (source.resolve(), folder)
        if key in self._by_source:
            return self._by_source[key]
        stem = safe_name(Path(name or source.name).stem)
        suffix = f".{safe_name(source.suffix.lower())}" if source.suffix else ""
        href, i = f"{folder}/{stem}{suffix}", 1
        while href in self._sources:
            i += 1
            href = f"{folder}/{stem}_{i}{suffix}"
        self._by_source[key] = href
        self._sources[href] = source
        return href

    def copy_into(self, site: Path) -> int:
        """Copy every registered file into ``site``; returns how many."""
        for href, source in self._sources.items():
            target = site / href
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        return len(self._sources)
