"""NMI heatmaps in the style of arXiv 2602.04784, Fig. 6 (values only: all computation happens
before). Drawn in the one style of :mod:`infovit.plotting.style` and written as PNG, PDF and SVG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from infovit.plotting.style import SEQUENTIAL, new_figure, save_figure, styled

__all__ = ["HeatmapPanel", "plot_nmi_heatmap"]

_ANNOTATE_MAX_CELLS = 400  # beyond this, numbers in cells are unreadable


@dataclass(frozen=True)
class HeatmapPanel:
    """One panel: a title and ``[rows, cols]`` NMI values with standard errors."""

    title: str
    nmi: np.ndarray
    nmi_se: np.ndarray


def _cell_text(value: float, se: float) -> str:
    if np.isnan(value):
        return "n/a"
    if not np.isfinite(se) or f"{se:.1g}" in ("0", "-0"):
        return f"{value:.2f}"  # no error to show (exact, or below display precision)
    return f"{value:.2f}\n±{se:.1g}"


@styled
def plot_nmi_heatmap(
    panels: Sequence[HeatmapPanel],
    row_names: Sequence[str],
    col_names: Sequence[str],
    path: str | os.PathLike[str],
) -> None:
    """Side-by-side heatmaps on a shared 0–1 scale; small matrices get ``value ± se`` labels.

    Values outside [0, 1] (estimates within their error of the ends) take the end colours (the
    colour bar's arrows); grey cells are undefined (NaN). ``path``'s stem receives ``.png``,
    ``.pdf`` and ``.svg``.
    """
    import matplotlib

    n_rows, n_cols = len(row_names), len(col_names)
    annotate = n_rows * n_cols <= _ANNOTATE_MAX_CELLS
    cell = 0.42 if annotate else 0.2
    label_width = 0.065 * max((len(n) for n in row_names), default=1)  # inches for row names
    panel_w = max(2.5, cell * n_cols)
    height = max(2.5, cell * n_rows + 0.07 * max((len(n) for n in col_names), default=1) + 0.9)
    fig = new_figure(panel_w * len(panels) + label_width + 1.2, height)
    axes = fig.subplots(1, len(panels), squeeze=False)
    # Grey marks NaN: NMI undefined (a channel without measurable information).
    cmap = matplotlib.colormaps[SEQUENTIAL].with_extremes(bad="0.85")
    image = None
    for k, (ax, panel) in enumerate(zip(axes[0], panels, strict=True)):
        values = np.ma.masked_invalid(panel.nmi)
        image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap=cmap, aspect="equal")
        ax.set_title(panel.title, loc="center")
        ax.set_xticks(range(n_cols), col_names, rotation=90, fontsize=7)
        ax.set_yticks(range(n_rows), row_names, fontsize=7)
        ax.tick_params(axis="y", labelleft=k == 0)  # rows are shared: names on the first only
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)
        if annotate:
            for i in range(n_rows):
                for j in range(n_cols):
                    v, e = float(panel.nmi[i, j]), float(panel.nmi_se[i, j])
                    color = "black" if (np.isnan(v) or v > 0.6) else "white"
                    ax.text(
                        j, i, _cell_text(v, e), ha="center", va="center", fontsize=5.5, color=color
                    )
    if image is not None:
        bar = fig.colorbar(image, ax=axes[0].tolist(), extend="both", shrink=0.8, aspect=30)
        bar.set_label("NMI (grey: undefined)")
    save_figure(fig, path)
