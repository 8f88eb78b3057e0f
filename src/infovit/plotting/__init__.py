"""Figures drawn from analysis tables (never computing the analysis themselves)."""

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

__all__ = [
    "plot_active_heads",
    "plot_extreme",
    "plot_jsd_bins",
    "plot_kl_maps",
    "plot_rank_maps",
    "plot_repetition",
    "plot_spectrum",
    "plot_survival",
    "plot_voting",
]
