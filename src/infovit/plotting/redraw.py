"""Redraw an analysis folder's figures from its saved tables, without recomputing anything.

``redraw_tables(out / "tables", out / "figures")`` re-reads the CSV tables ``infovit analyze``
wrote and calls the drawing functions of :mod:`infovit.plotting.figures` on them. Figures that
need pixels (KL maps, rank maps) are drawn only when the caller passes the images; the extreme
patch figures need attention arrays that the tables do not hold and are not redrawn here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from infovit.plotting.figures import (
    plot_active_heads,
    plot_jsd_bins,
    plot_kl_maps,
    plot_rank_maps,
    plot_repetition,
    plot_spectrum,
    plot_survival,
    plot_voting,
)

__all__ = ["read_table", "redraw_tables", "run_betas"]

Row = dict[str, Any]


def read_table(path: str | Path) -> list[Row]:
    """A saved CSV table as row dicts, read by the analysis's own reader
    (:func:`infovit.analysis.tables.read_csv`: numbers to float, True/False to bool); an empty
    or missing file gives no rows."""
    from infovit.analysis.tables import read_csv

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return []
    return read_csv(path)


def run_betas(runs: list[Row]) -> tuple[dict[str, float | None], dict[str, str]]:
    """β and variant per model from ``spectrum_runs`` rows: the ``beta`` column when the table
    has one, else the β in the configuration label (``ib beta=3 (mean)``); None if unknown."""
    beta: dict[str, float | None] = {}
    variants: dict[str, str] = {}
    for r in runs:
        model = str(r["model"])
        variants[model] = str(r.get("variant", "ib"))
        value = r.get("beta")
        if value in (None, "") and (m := re.search(r"beta=([^\s)]+)", str(r.get("config", "")))):
            value = m.group(1)
        try:
            b = float(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            b = None
        beta[model] = b if b is not None and math.isfinite(b) else None
    return beta, variants


def redraw_tables(
    tables: str | Path,
    figures: str | Path,
    *,
    pixels: Mapping[int, np.ndarray] | None = None,
    imagenet: bool = False,
) -> list[Path]:
    """Draw every figure whose tables exist in ``tables`` into ``figures``; return the files.

    ``pixels`` (image index → [3, H, W] array) enables the KL-map and rank-map figures.
    """
    tables, figures = Path(tables), Path(figures)
    written: list[Path] = []
    spectrum = read_table(tables / "spectrum.csv")
    if spectrum:
        written += plot_spectrum(spectrum, figures / "spectrum")
    survival = read_table(tables / "head_survival.csv")
    if survival:
        written += plot_survival(survival, figures / "head_survival")
    heads = read_table(tables / "heads.csv")
    if heads:
        written += plot_active_heads(heads, figures / "active_heads")
    voting = read_table(tables / "voting.csv")
    if voting:
        beta, variants = run_betas(read_table(tables / "spectrum_runs.csv"))
        written += plot_voting(
            voting,
            figures / "voting",
            images=read_table(tables / "voting_images.csv"),
            beta=beta,
            variants=variants,
        )
    jsd_bins = read_table(tables / "jsd_bins.csv")
    if jsd_bins:
        written += plot_jsd_bins(jsd_bins, figures / "jsd_bins")
    repetition = read_table(tables / "repetition.csv")
    if repetition:
        written += plot_repetition(repetition, figures / "repetition")
    if pixels is not None:
        px = dict(pixels)
        for path in sorted(tables.glob("klmaps_*.csv")):
            rows = read_table(path)
            if rows and all(int(r["image"]) in px for r in rows):
                written += plot_kl_maps(rows, px, figures / path.stem, imagenet)
        ranks = read_table(tables / "rank_maps.csv")
        if ranks and all(int(r["image"]) in px for r in ranks):
            written += plot_rank_maps(ranks, px, figures / "rank_maps", imagenet)
    return written
