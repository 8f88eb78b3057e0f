"""Section ``extreme``: the top 0.1% KL patches of the most active heads, split by latent sign,
with the head's attention map for that query patch (paper Fig. 4, App. D)."""

from __future__ import annotations

import re
from typing import cast

import numpy as np

from infovit.analysis.context import Context
from infovit.analysis.extract import Extraction
from infovit.analysis.extreme import extreme_patches, extreme_table
from infovit.analysis.sections.base import Section, register
from infovit.analysis.store import Store

__all__ = ["SECTION", "top_heads"]


def top_heads(ext: Extraction, count: int, threshold: float) -> list[tuple[int, int]]:
    """The ``count`` active heads with the largest maximum KL."""
    if ext.kl_head.size == 0:
        return []
    peak = ext.kl_head.astype(np.float32).max(axis=(0, 3))  # [L, H]
    order = np.argsort(-peak, axis=None)[:count]
    return [
        (int(b), int(h))
        for b, h in zip(*np.unravel_index(order, peak.shape), strict=True)
        if peak[b, h] > threshold
    ]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def compute(ctx: Context) -> None:
    opts = ctx.options
    for e, r in ctx.channel_pairs():
        for b, h in top_heads(e, opts.extreme_heads, opts.threshold):
            res = extreme_patches(r.model, r.dataset, e, b, h, device=opts.device)
            stem = f"extreme_{_safe(r.name)}_{b}.{h}"
            ctx.store.table("extreme", stem, extreme_table(res), f"top 0.1% KL patches of {b}.{h}")
            # a timm PatchEmbed's patch_size is a pair (typed Any by timm)
            ps = cast(tuple[int, int], tuple(int(p) for p in r.model.patch_embed.patch_size))
            arrays = {
                "pixels": res.pixels,
                "attn": res.attn,
                "patch_size": np.array(ps),
                "imagenet": np.array(r.imagenet),
            }
            ctx.store.arrays("extreme", f"{stem}_arrays", arrays, f"images, attention of {b}.{h}")


def draw(store: Store) -> None:
    from infovit.plotting import plot_extreme

    for stem in store.names("extreme"):
        rows = store.read_table(stem)
        a = store.read_arrays(f"{stem}_arrays")
        ps = (int(a["patch_size"][0]), int(a["patch_size"][1]))
        figs = plot_extreme(
            rows, a["pixels"], a["attn"], ps, store.figure_stem(stem), bool(a["imagenet"])
        )
        model = rows[0]["model"] if rows else stem
        what = f"extreme patches of {model} head {stem.rsplit('_', 1)[-1]}"
        store.figures("extreme", figs, what)


SECTION = register(
    Section(
        "extreme",
        "top-0.1% KL patches of the most active heads with their attention (Fig. 4)",
        frozenset({"extraction", "model", "images"}),
        compute,
        draw,
    )
)
