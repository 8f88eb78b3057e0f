"""How a run is named in every table, figure, channel name and output folder: one rule.

A run's display name is its folder's (or model's) last path component with characters outside
``[A-Za-z0-9_.=-]`` replaced by ``_``; names that repeat within one command get ``_2``, ``_3``…
in the order given, so names are unique, file-safe and stable across re-runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

__all__ = ["run_name", "run_names"]


def run_name(path: str | Path) -> str:
    """The display name of one run folder or model name (not yet made unique)."""
    text = str(path).rstrip("/")
    base = Path(text).name if text not in ("", ".") else Path(text).resolve().name
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", base) or "run"


def run_names(paths: Sequence[str | Path]) -> list[str]:
    """Display names of several runs, unique within the list (``_2``, ``_3`` on repeats)."""
    names: list[str] = []
    for path in paths:
        base = run_name(path)
        name, i = base, 1
        while name in names:
            i += 1
            name = f"{base}_{i}"
        names.append(name)
    return names
