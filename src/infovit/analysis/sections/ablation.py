"""Section ``ablation``: replace each active head's message by the prior or by its data-set
mean and measure what accuracy it was worth (a causal test; :mod:`infovit.analysis.ablation`)."""

from __future__ import annotations

from infovit.analysis.ablation import MODES, ablation_tables, head_ablation
from infovit.analysis.context import Context
from infovit.analysis.sections.base import Section, register
from infovit.analysis.spectrum import spectrum_row
from infovit.analysis.store import Store

__all__ = ["SECTION"]


def compute(ctx: Context) -> None:
    opts = ctx.options
    heads, cumulative, spectrum = [], [], []
    for e, r in ctx.channel_pairs():
        result = head_ablation(
            r.model,
            r.dataset,
            e,
            threshold=opts.threshold,
            images=opts.ablation_images,
            seed=opts.seed,
            batch_size=opts.batch_size,
            device=opts.device,
            progress=opts.progress,
        )
        h_rows, c_rows = ablation_tables(result, r.label)
        heads += h_rows
        cumulative += c_rows
        point = spectrum_row(e, r.label, r.seed)
        for mode in MODES:
            spectrum.append(
                {
                    "model": r.name,
                    "config": r.label,
                    "seed": r.seed,
                    "kl_per_image": point["kl_per_image"],
                    "mode": mode,
                    "top1_base": result.base,
                    "top1_all_heads": result.all_heads[mode],
                    "heads_in_model": result.n_heads,
                    "active_heads": len(result.heads),
                    "images": result.images,
                }
            )
    if not spectrum:
        return
    store = ctx.store
    store.table("ablation", "ablation_heads", heads, "per active head: top-1 drop, KL removed")
    store.table("ablation", "ablation_cumulative", cumulative, "top-1 as heads are ablated by KL")
    store.table(
        "ablation", "ablation_spectrum", spectrum, "per model: top-1 with all heads ablated"
    )


def draw(store: Store) -> None:
    from infovit.plotting.ablation import plot_ablation

    if not store.has_table("ablation_cumulative"):
        return
    cumulative = store.read_table("ablation_cumulative")
    heads = store.read_table("ablation_heads") if store.has_table("ablation_heads") else []
    figs = plot_ablation(cumulative, heads, store.figure_stem("ablation"))
    store.figures("ablation", figs, "head ablation: cumulative and per head")


SECTION = register(
    Section(
        "ablation",
        "head ablation: each active head's message → prior or data-set mean; top-1 drop",
        frozenset({"extraction", "model", "images"}),
        compute,
        draw,
    )
)
