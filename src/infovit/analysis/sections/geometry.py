"""Section ``geometry``: α per token and layer, α trajectories and inter-token correlation
(Joseph et al., "On the information geometry of vision transformers") of every run, over the
shared image selection, with the channel at its posterior mean."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
from torch.utils.data import DataLoader, Subset

from infovit.analysis.context import Context
from infovit.analysis.sections.base import Section, register
from infovit.analysis.store import Store
from infovit.analysis.tables import Row
from infovit.model.block import InfoBlock
from infovit.model.bottleneck import Noise
from infovit.model.vit import InfoViT

__all__ = ["SECTION", "layer_rows"]


def _noise_of(model: InfoViT) -> list[Noise | None]:
    blocks = cast(Sequence[InfoBlock], model.blocks)  # nn.Sequential iterates as Module
    return [b.attn.noise if b.attn is not None else None for b in blocks]


def _restore(model: InfoViT, noise: list[Noise | None]) -> None:
    for blk, n in zip(cast(Sequence[InfoBlock], model.blocks), noise, strict=True):
        if blk.attn is not None and n is not None:
            blk.attn.noise = n


def layer_rows(name: str, label: str, t: object) -> list[Row]:
    """One row per layer of one run's split tables: mean spatial α, class-token α, pooled α,
    mean token correlations (the values of ``layers_<split>.csv``)."""
    from infovit.geometry import SplitTables

    assert isinstance(t, SplitTables)
    rows: list[Row] = []
    cls_i = t.cls_index
    for li, layer in enumerate(t.layer_name):
        sp = t.alpha[li, t.spatial]
        sp = sp[np.isfinite(sp)]
        rows.append(
            {
                "model": name,
                "config": label,
                "layer": int(t.layer_index[li]),
                "layer_name": layer,
                "mean_alpha_spatial": float(sp.mean()) if sp.size else float("nan"),
                "alpha_cls": float(t.alpha[li, cls_i]) if cls_i is not None else float("nan"),
                "pooled_alpha": float(t.pooled_alpha[li]),
                "mean_corr": float(t.corr_mean[li]) if t.corr_mean is not None else float("nan"),
                "mean_corr_spatial": float(t.corr_mean_spatial[li])
                if t.corr_mean_spatial is not None
                else float("nan"),
                "images": t.count,
            }
        )
    return rows


def compute(ctx: Context) -> None:
    from infovit.geometry import SplitTables, cluster_trajectories, compute_geometry, save_run

    opts, store = ctx.options, ctx.store
    rows: list[Row] = []
    for e, r in ctx.pairs():
        loader = DataLoader(Subset(r.dataset, e.indices.tolist()), batch_size=opts.batch_size)
        before = _noise_of(r.model)
        r.model.eval().set_noise("mean")  # activations a function of the image alone
        try:
            result = compute_geometry(
                r.model, loader, device=opts.device, progress=opts.progress, desc=r.name
            )
        finally:
            _restore(r.model, before)
        clusters = None
        if opts.geometry_clusters > 0:
            try:
                clusters = cluster_trajectories(
                    result.alpha,
                    result.labels.spatial,
                    opts.geometry_clusters,
                    opts.geometry_embedding,  # type: ignore[arg-type]
                    opts.seed,
                )
            except (ValueError, ImportError):
                clusters = None  # too few tokens or layers to cluster: α tables still stand
        tables = SplitTables.from_result(result, clusters)
        folder = store.out / "geometry" / r.name
        meta = {"label": r.name, "config": r.label, "selection": ctx.selection.describe()}
        save_run(folder, meta, {"val": tables})
        for file, kind, what in (
            ("geometry_val.npz", "arrays", "α, spectra, correlations, clusters"),
            ("alpha_val.csv", "table", "α per (layer, token)"),
            ("layers_val.csv", "table", "per layer: mean α, pooled α, mean correlation"),
            ("index.json", "arrays", "what was measured and how"),
        ):
            store.add("geometry", folder / file, f"{r.name}: {what}", kind)
        rows += layer_rows(r.name, r.label, tables)
    if rows:
        store.table("geometry", "geometry_layers", rows, "per run and layer: α and correlation")


def draw(store: Store) -> None:
    from infovit.geometry import load_run, plot

    root = store.out / "geometry"
    folders = sorted(p.parent for p in root.glob("*/index.json")) if root.is_dir() else []
    listed = {str(Path(e["file"]).parent) for e in store.entries if e["section"] == "geometry"}
    runs = [load_run(f) for f in folders if str(f.relative_to(store.out)) in listed]
    figs = store.figures_dir
    for geo in runs:
        t = geo.splits["val"]
        made = [plot.plot_trajectories(t, figs / f"geometry_{geo.label}_trajectories.png")]
        if t.corr is not None:
            made.append(
                plot.plot_correlation_matrices(
                    t, figs / f"geometry_{geo.label}_correlation_matrices.png", geo.label
                )
            )
        for path in made:
            store.figures("geometry", _siblings(path), f"{geo.label}: α trajectories, correlations")
    if runs:
        curves = {geo.label: geo.splits["val"] for geo in runs}
        path = plot.plot_correlation_mean(curves, figs / "geometry_correlation_mean.png")
        store.figures("geometry", _siblings(path), "mean token correlation by layer (U-shape)")
    if len(runs) > 1:
        path = plot.plot_runs(runs, "val", figs / "geometry_runs.png")
        store.figures("geometry", _siblings(path), "α trajectories across runs")


def _siblings(path: Path) -> list[Path]:
    """The figure's files in every format written (PNG, and PDF / SVG where drawn)."""
    p = Path(path)
    return [q for q in (p.with_suffix(s) for s in (".png", ".pdf", ".svg")) if q.is_file()]


SECTION = register(
    Section(
        "geometry",
        "information geometry: α per token and layer, trajectories, token correlations",
        frozenset({"extraction", "model", "images"}),
        compute,
        draw,
    )
)
