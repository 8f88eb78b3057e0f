"""NMI heatmaps in the style of paper 001, Fig. 6 (values only: all computation happens before)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from infovit.atomic import atomic_path

__all__ = ["HeatmapPanel", "plot_nmi_heatmap"]

_ANNOTATE_MAX_CELLS = 400  # beyond this, numbers in cells are unreadable


@dataclass(frozen=True)
class HeatmapPanel:
    """One panel: a title and ``[rows, cols]`` NMI values with standard errors."""

    title: str
    nmi: np.ndarray
    nmi_se: np.ndarray


def plot_nmi_heatmap(
    panels: Sequence[HeatmapPanel],
    row_names: Sequence[str],
    col_names: Sequence[str],
    path: str | os.PathLike[str],
) -> None:
    """Side-by-side heatmaps on a shared 0–1 scale; small matrices get ``value ± se`` labels.

    Values outside [0, 1] (estimates within their error of the ends) take the end colours; grey
    cells are undefined (NaN).
    """
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    n_rows, n_cols = len(row_names), len(col_names)
    cell = 0.55 if n_rows * n_cols <= _ANNOTATE_MAX_CELLS else 0.25
    width = max(4.0, cell * n_cols + 1.0)
    label_width = 0.07 * max(len(n) for n in row_names)  # inches for the row names
    height = max(2.5, cell * n_rows + 1.8)
    fig = Figure(figsize=(width * len(panels) + label_width + 1.5, height))
    axes = fig.subplots(1, len(panels), squeeze=False)
    # Grey marks NaN: NMI undefined (a channel without measurable information).
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    image = None
    for k, (ax, panel) in enumerate(zip(axes[0], panels, strict=True)):
        values = np.ma.masked_invalid(panel.nmi)
        image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap=cmap, aspect="auto")
        ax.set_title(panel.title, fontsize=10)
        ax.set_xticks(range(n_cols), col_names, rotation=90, fontsize=7)
        ax.set_yticks(range(n_rows), row_names if k == 0 else [], fontsize=7)  # shared rows
        if n_rows * n_cols <= _ANNOTATE_MAX_CELLS:
            for i in range(n_rows):
                for j in range(n_cols):
                    v, e = panel.nmi[i, j], panel.nmi_se[i, j]
                    text = "n/a" if np.isnan(v) else f"{v:.2f}\n±{e:.1g}"
                    color = "black" if (np.isnan(v) or v > 0.6) else "white"
                    ax.text(j, i, text, ha="center", va="center", fontsize=6, color=color)
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label="NMI", shrink=0.9)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=150, bbox_inches="tight")
