"""CSV tables as lists of row dicts: every analysis returns one, every figure reads one."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

from infovit.atomic import atomic_path

__all__ = ["Row", "read_csv", "write_csv"]

Row = dict[str, Any]


def write_csv(path: str | os.PathLike[str], rows: Sequence[Row]) -> None:
    """Write rows atomically; columns are the union of keys in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in row.items()})


def read_csv(path: str | os.PathLike[str]) -> list[Row]:
    """Rows back as dicts: numbers parsed to float where they parse, ``True`` / ``False`` to bool
    (figures re-draw from this)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _parse(value: str) -> Any:
    if value in ("True", "False"):  # as csv writes bools; "False" must not read as truthy
        return value == "True"
    try:
        return float(value)
    except ValueError:
        return value
