"""Section ``spectrum``: top-1 vs nats per image per run and per configuration (paper Fig. 1b)."""

from __future__ import annotations

from infovit.analysis.context import Context
from infovit.analysis.sections.base import Section, register
from infovit.analysis.spectrum import aggregate_spectrum, pareto_front, spectrum_row
from infovit.analysis.store import Store

__all__ = ["SECTION"]


def compute(ctx: Context) -> None:
    rows = [spectrum_row(e, r.label, r.seed) for e, r in ctx.pairs()]
    agg = aggregate_spectrum(rows)
    for row, on in zip(agg, pareto_front(agg), strict=True):
        row["pareto"] = on
    ctx.store.table("spectrum", "spectrum_runs", rows, "top-1 and nats per image per run")
    ctx.store.table("spectrum", "spectrum", agg, "per config: seeds aggregated, Pareto flag")


def draw(store: Store) -> None:
    from infovit.plotting import plot_spectrum

    rows = store.read_table("spectrum")
    store.figures(
        "spectrum", plot_spectrum(rows, store.figure_stem("spectrum")), "accuracy vs nats"
    )


SECTION = register(
    Section(
        "spectrum",
        "accuracy vs nats per image, seeds aggregated, Pareto front (Fig. 1b)",
        frozenset({"extraction"}),
        compute,
        draw,
    )
)
