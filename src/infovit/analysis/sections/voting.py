"""Section ``voting``: how many classes the patches vote for, how loudly, and where each
patch's vote ranks in the image's prediction (paper Fig. 1c, App. C, Figs. 8–10)."""

from __future__ import annotations

from infovit.analysis.context import Context, pixels_of
from infovit.analysis.klmaps import select_images
from infovit.analysis.rank_maps import RANK_CATEGORIES, rank_map_table, rank_share_table
from infovit.analysis.sections.base import Section, register
from infovit.analysis.spectrum import label_beta
from infovit.analysis.store import Store
from infovit.analysis.tables import Row
from infovit.analysis.voting import voting_table

__all__ = ["SECTION", "run_betas"]


def run_betas(runs: list[Row]) -> tuple[dict[str, float | None], dict[str, str]]:
    """β and variant per model from ``spectrum_runs`` rows: the ``beta`` column when the table
    has one, else the β in the configuration label (``ib beta=3 (mean)``); None if unknown."""
    beta: dict[str, float | None] = {}
    variants: dict[str, str] = {}
    for r in runs:
        model = str(r["model"])
        variants[model] = str(r.get("variant", "ib"))
        value = r.get("beta")
        text = str(r.get("config", "")) if value in (None, "") else f"beta={value}"
        beta[model] = label_beta(text)
    return beta, variants


def compute(ctx: Context) -> None:
    exts, store = ctx.extractions, ctx.store
    rows = [row for e in exts for row in voting_table(e.name, e.simpson, e.logit_range)]
    per_image = [
        {"model": e.name, "image": int(i), "simpson": float(s), "logit_range": float(g)}
        for e in exts
        for i, s, g in zip(e.indices, e.simpson, e.logit_range, strict=True)
    ]
    store.table("voting", "voting", rows, "medians and IQRs of patch-vote summaries")
    store.table("voting", "voting_images", per_image, "per image: Simpson index, logit range")
    store.table("voting", "rank_shares", rank_share_table(exts), "share of patches per vote rank")
    chosen = select_images(exts, "jsd", ctx.options.maps_per_selection, ctx.options.seed)
    ranks = rank_map_table(exts, chosen, "jsd")
    store.table("voting", "rank_maps", ranks, "rank of each patch's vote, chosen images")
    store.arrays("voting", "rank_maps_pixels", ctx.pixels(chosen), "input images of rank_maps")


def draw(store: Store) -> None:
    from infovit.plotting import plot_rank_maps, plot_voting

    rows = store.read_table("voting")
    # every image a dot coloured by its model's β (from the spectrum table, when computed)
    beta, variants = (
        run_betas(store.read_table("spectrum_runs"))
        if store.has_table("spectrum_runs")
        else ({}, {})
    )
    figs = plot_voting(
        rows,
        store.figure_stem("voting"),
        images=store.read_table("voting_images"),
        beta=beta or None,
        variants=variants or None,
    )
    store.figures("voting", figs, "every image's Simpson index and logit range (Fig. 1c)")
    pixels, imagenet = pixels_of(store.read_arrays("rank_maps_pixels"))
    labels = tuple(label for label, _, _ in RANK_CATEGORIES)
    figs = plot_rank_maps(
        store.read_table("rank_maps"), pixels, store.figure_stem("rank_maps"), imagenet, labels
    )
    store.figures("voting", figs, "patch votes coloured by rank (Figs. 8-10)")


SECTION = register(
    Section(
        "voting",
        "patch votes: inverse Simpson index, logit range, rank maps (Fig. 1c, Figs. 8-10)",
        frozenset({"extraction", "images"}),
        compute,
        draw,
    )
)
