"""Section ``heads``: which heads fire, how much and in how many latent dims (paper Fig. 3)."""

from __future__ import annotations

from infovit.analysis.context import Context
from infovit.analysis.heads import head_table, survival_table
from infovit.analysis.sections.base import Section, register
from infovit.analysis.store import Store

__all__ = ["SECTION"]


def compute(ctx: Context) -> None:
    pairs = ctx.channel_pairs()
    if not pairs:
        return
    heads = [row for e, _ in pairs for row in head_table(e, ctx.options.threshold)]
    surv = [row for e, _ in pairs for row in survival_table(e)]
    ctx.store.table("heads", "heads", heads, "per head: active, max KL, share < 0.5 nats, dims")
    ctx.store.table("heads", "head_survival", surv, "P(KL ≥ x) per head over all patches")


def draw(store: Store) -> None:
    from infovit.plotting import plot_active_heads, plot_survival

    if not store.has_table("heads"):
        return
    surv, heads = store.read_table("head_survival"), store.read_table("heads")
    store.figures(
        "heads", plot_survival(surv, store.figure_stem("head_survival")), "survival per head"
    )
    store.figures(
        "heads", plot_active_heads(heads, store.figure_stem("active_heads")), "active heads"
    )


SECTION = register(
    Section(
        "heads",
        "per-head firing: active heads, survival P(KL ≥ x), active latent dims (Fig. 3)",
        frozenset({"extraction"}),
        compute,
        draw,
    )
)
