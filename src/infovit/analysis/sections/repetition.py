"""Section ``repetition``: does a head's latent move when its patch is pasted elsewhere
(paper Fig. 5)?"""

from __future__ import annotations

from infovit.analysis.context import Context
from infovit.analysis.repetition import repetition_probe, repetition_table
from infovit.analysis.sections.base import Section, register
from infovit.analysis.store import Store

__all__ = ["SECTION"]


def compute(ctx: Context) -> None:
    opts = ctx.options
    rows = []
    for e, r in ctx.channel_pairs():
        probe = repetition_probe(
            r.model,
            r.dataset,
            e.kl_dim,
            name=r.name,
            pairs=opts.pairs,
            image_pool=e.indices,
            seed=opts.seed,
            device=opts.device,
            progress=opts.progress,
        )
        rows.extend(repetition_table(probe))
    if rows:
        ctx.store.table("repetition", "repetition", rows, "latent mean shift per head and N")


def draw(store: Store) -> None:
    from infovit.plotting import plot_repetition

    if not store.has_table("repetition"):
        return
    rows = store.read_table("repetition")
    figs = plot_repetition(rows, store.figure_stem("repetition"))
    store.figures("repetition", figs, "repetition probe")


SECTION = register(
    Section(
        "repetition",
        "latent mean shift when a patch is pasted at N other places (Fig. 5)",
        frozenset({"extraction", "model", "images"}),
        compute,
        draw,
    )
)
