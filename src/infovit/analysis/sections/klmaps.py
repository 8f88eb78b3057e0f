"""Section ``klmaps``: per-patch nats summed over heads on the image grid (paper Fig. 2), for
images chosen by each stated rule (random correct, top-10% JSD, misclassified)."""

from __future__ import annotations

from infovit.analysis.context import Context, pixels_of
from infovit.analysis.klmaps import SELECTIONS, kl_map_table, select_images
from infovit.analysis.sections.base import Section, register
from infovit.analysis.store import Store

__all__ = ["SECTION"]


def compute(ctx: Context) -> None:
    pairs = ctx.channel_pairs()
    if not pairs:
        return
    for rule in SELECTIONS:
        chosen = select_images(
            ctx.extractions, rule, ctx.options.maps_per_selection, ctx.options.seed
        )
        maps = kl_map_table([e for e, _ in pairs], chosen, rule)
        ctx.store.table("klmaps", f"klmaps_{rule}", maps, f"per-patch KL maps, {rule} images")
        ctx.store.arrays(
            "klmaps", f"klmaps_{rule}_pixels", ctx.pixels(chosen), f"input images, {rule}"
        )


def draw(store: Store) -> None:
    from infovit.plotting import plot_kl_maps

    for rule in SELECTIONS:
        if not store.has_table(f"klmaps_{rule}"):
            continue
        maps = store.read_table(f"klmaps_{rule}")
        pixels, imagenet = pixels_of(store.read_arrays(f"klmaps_{rule}_pixels"))
        stem = store.figure_stem(f"klmaps_{rule}")
        store.figures("klmaps", plot_kl_maps(maps, pixels, stem, imagenet), f"KL maps ({rule})")


SECTION = register(
    Section(
        "klmaps",
        "per-patch KL maps of chosen images: random, top-10% JSD, misclassified (Fig. 2)",
        frozenset({"extraction", "images"}),
        compute,
        draw,
    )
)
