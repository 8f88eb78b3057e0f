"""Section ``information``: NMI between the most informative heads of every bottlenecked run
(arXiv 2602.04784, eqs. 4–6, Fig. 6), over the patches of the shared image selection."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Subset

from infovit.analysis.context import Context
from infovit.analysis.sections.base import Section, register
from infovit.analysis.sections.extreme import top_heads
from infovit.analysis.sections.geometry import _siblings
from infovit.analysis.store import Store

__all__ = ["SECTION"]


def compute(ctx: Context) -> None:
    from infovit.information import as_channel, extract_head_posteriors, information_matrix
    from infovit.information.report import channel_rows, pair_rows

    opts = ctx.options
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for e, r in ctx.channel_pairs():
        heads = top_heads(e, opts.nmi_heads, opts.threshold)
        if not heads:
            continue
        images = Subset(r.dataset, e.indices[: opts.nmi_images].tolist())
        post = extract_head_posteriors(
            r.model, images, heads, batch_size=opts.batch_size, device=opts.device
        )
        arrays.update({f"{r.name}:{b}.{h}": v for (b, h), v in post.items()})
    if not arrays:
        return
    names = list(arrays)
    result = information_matrix(
        [as_channel(mu, lv, name=n) for n, (mu, lv) in arrays.items()],
        method=opts.nmi_method,
        n_samples=opts.nmi_samples,
        seed=opts.seed,
        device=opts.device,
    )
    settings = result.settings
    pairs = [{**row, "n_points": settings["n_points"]} for row in pair_rows(result, names, names)]
    store = ctx.store
    store.table("information", "nmi", pairs, f"NMI and I(U;V) of head pairs ({opts.nmi_method})")
    store.table("information", "nmi_channels", channel_rows(result), "I(X;U), I(U;U') per head")


def draw(store: Store) -> None:
    from infovit.information.plot import HeatmapPanel, plot_nmi_heatmap

    if not store.has_table("nmi"):
        return
    rows = store.read_table("nmi")
    names = list(dict.fromkeys(str(r["row"]) for r in rows))
    at = {n: i for i, n in enumerate(names)}
    nmi = np.full((len(names), len(names)), np.nan)
    se = np.full_like(nmi, np.nan)
    for r in rows:
        i, j = at[str(r["row"])], at[str(r["col"])]
        nmi[i, j], se[i, j] = float(r["nmi"]), float(r["nmi_se"])
    title = f"NMI, {rows[0]['method']}, L={int(rows[0]['n_points'])} patches"
    path = store.figure_stem("nmi_heatmap").with_suffix(".png")
    plot_nmi_heatmap([HeatmapPanel(title, nmi, se)], names, names, path)
    store.figures("information", _siblings(path), "NMI between heads (Fig. 6)")


SECTION = register(
    Section(
        "information",
        "NMI between the most informative heads of every IB run (eqs. 4-6, Fig. 6)",
        frozenset({"extraction", "model", "images"}),
        compute,
        draw,
    )
)
