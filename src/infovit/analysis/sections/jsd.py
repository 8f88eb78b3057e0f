"""Section ``jsd``: how far each model's class probabilities are from each endpoint's, per
image (paper Fig. 7, §4.1)."""

from __future__ import annotations

from infovit.analysis.context import Context
from infovit.analysis.jsd import jsd, jsd_bin_table
from infovit.analysis.sections.base import Section, register
from infovit.analysis.store import Store
from infovit.analysis.tables import Row
from infovit.model.capabilities import is_endpoint

__all__ = ["SECTION"]


def compute(ctx: Context) -> None:
    exts = ctx.extractions
    if len(exts) < 2:
        return
    rows: list[Row] = []
    per_image: list[Row] = []
    for ref in [e for e in exts if is_endpoint(e)] or [exts[0]]:
        values = {e.name: jsd(ref.probs, e.probs) for e in exts if e is not ref}
        rows.extend(jsd_bin_table(ref.name, values))
        per_image.extend(
            {"reference": ref.name, "model": m, "image": int(i), "jsd": float(v)}
            for m, vals in values.items()
            for i, v in zip(ref.indices, vals, strict=True)
        )
    ctx.store.table("jsd", "jsd_bins", rows, "share of images per JSD bin vs each endpoint")
    ctx.store.table("jsd", "jsd_images", per_image, "per image JSD (nats) vs each endpoint")


def draw(store: Store) -> None:
    from infovit.plotting import plot_jsd_bins

    if not store.has_table("jsd_bins"):
        return
    rows = store.read_table("jsd_bins")
    store.figures("jsd", plot_jsd_bins(rows, store.figure_stem("jsd_bins")), "JSD bins (Fig. 7)")


SECTION = register(
    Section(
        "jsd",
        "Jensen-Shannon divergence of class probabilities vs each endpoint (Fig. 7)",
        frozenset({"extraction"}),
        compute,
        draw,
    )
)
