"""Figures drawn from analysis tables (never computing the analysis themselves).

Importing this package changes no matplotlib state (no backend, no rcParams): the shared style of
:mod:`infovit.plotting.style` is applied only while a figure is drawn and saved.
"""

from infovit.plotting.figures import (
    plot_active_heads,
    plot_extreme,
    plot_jsd_bins,
    plot_kl_maps,
    plot_rank_maps,
    plot_repetition,
    plot_spectrum,
    plot_survival,
    plot_voting,
)
from infovit.plotting.style import figure_style, save_figure

__all__ = [
    "figure_style",
    "plot_active_heads",
    "plot_extreme",
    "plot_jsd_bins",
    "plot_kl_maps",
    "plot_rank_maps",
    "plot_repetition",
    "plot_spectrum",
    "plot_survival",
    "plot_voting",
    "save_figure",
]
