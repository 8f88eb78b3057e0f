"""Figures of the geometry tables (paper 002 Figs. 1–6, plus a β-spectrum comparison).

Every function reads :class:`~infovit.geometry.tables.SplitTables` loaded from disk and only
draws; nothing is recomputed here. Figures are built on ``matplotlib.figure.Figure`` (no pyplot
state, no backend switching) and written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
from matplotlib.figure import Figure

from infovit.atomic import atomic_path
from infovit.geometry.tables import GeometryRun, SplitTables

__all__ = [
    "plot_correlation_matrices",
    "plot_correlation_mean",
    "plot_fit_example",
    "plot_runs",
    "plot_split_comparison",
    "plot_trajectories",
]

_CLUSTER_COLOURS = ("#e377c2", "#9467bd", "#f7b6d2", "#17becf", "#bcbd22", "#8c564b", "#7f7f7f")


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=130, bbox_inches="tight")
    return path


def _ticks(t: SplitTables) -> tuple[np.ndarray, list[str]]:
    names = {-1: "px", 0: "emb"}
    return t.layer_index, [names.get(int(i), str(int(i))) for i in t.layer_index]


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    ok = np.isfinite(a)
    n = ok.sum(axis=axis)
    s = np.where(ok, a, 0.0).sum(axis=axis)
    return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _nanstd(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.expand_dims(_nanmean(a, axis), axis)
    return np.sqrt(_nanmean((a - m) ** 2, axis))


def _positive_log(ax: object, values: np.ndarray) -> None:
    if np.isfinite(values).any() and np.nanmin(values) > 0:
        ax.set_yscale("log")  # type: ignore[attr-defined]


def plot_trajectories(t: SplitTables, path: str | Path, title: str = "") -> Path:
    """Paper Fig. 1: α trajectories by cluster with the class token and all tokens together (A),
    the 2-D embedding coloured by cluster (B) and the clusters on the patch grid (C)."""
    fig = Figure(figsize=(15, 4.4))
    ax_a, ax_b, ax_c = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.6, 1, 1]})
    x, labels = _ticks(t)
    spatial = t.spatial
    plotted = [t.pooled_alpha]
    if t.cluster_labels is not None and (t.cluster_labels >= 0).any():
        for j in range(int(t.cluster_labels.max()) + 1):
            sel = t.cluster_labels == j
            m, s = _nanmean(t.alpha[:, sel], 1), _nanstd(t.alpha[:, sel], 1)
            c = _CLUSTER_COLOURS[j % len(_CLUSTER_COLOURS)]
            ax_a.plot(x, m, "-o", ms=3, color=c, label=f"cluster {j} ({int(sel.sum())} tokens)")
            ax_a.fill_between(x, m - s, m + s, color=c, alpha=0.2, lw=0)
            plotted.append(m)
    else:
        m = _nanmean(t.alpha[:, spatial], 1)
        ax_a.plot(x, m, "-o", ms=3, color=_CLUSTER_COLOURS[0], label="spatial tokens (mean)")
        plotted.append(m)
    if t.cls_index is not None:
        ax_a.plot(x, t.alpha[:, t.cls_index], "-o", ms=3, color="black", label="class token")
        plotted.append(t.alpha[:, t.cls_index])
    ax_a.plot(x, t.pooled_alpha, "-o", ms=3, color="tab:blue", label="all tokens together")
    _positive_log(ax_a, np.concatenate([np.ravel(p) for p in plotted]))
    ax_a.set_xticks(x, labels)
    ax_a.set_xlabel("layer")
    ax_a.set_ylabel("α")
    ax_a.set_title("A  α trajectories")
    ax_a.legend(fontsize=8)

    if t.cluster_labels is not None and t.cluster_embedding is not None:
        sel = t.cluster_labels >= 0
        k = int(t.cluster_labels.max()) + 1 if sel.any() else 1
        cmap = ListedColormap([_CLUSTER_COLOURS[j % len(_CLUSTER_COLOURS)] for j in range(k)])
        norm = BoundaryNorm(np.arange(-0.5, k + 0.5), k)
        emb = t.cluster_embedding[sel]
        ax_b.scatter(emb[:, 0], emb[:, 1], c=t.cluster_labels[sel], cmap=cmap, norm=norm, s=8)
        ax_b.set_title(f"B  {t.cluster_method or 'embedding'} + k-means (k={k})")
        grid = np.full(t.grid, np.nan)
        grid[t.token_row[sel], t.token_col[sel]] = t.cluster_labels[sel]
        ax_c.imshow(grid, cmap=cmap, norm=norm, interpolation="nearest")
        ax_c.set_title("C  clusters on the patch grid")
    else:
        for ax in (ax_b, ax_c):
            ax.text(0.5, 0.5, "no clusters computed", ha="center", va="center")
    ax_b.set_xticks([])
    ax_b.set_yticks([])
    ax_c.set_xticks([])
    ax_c.set_yticks([])
    fig.suptitle(title or f"α trajectories (N = {t.count})")
    return _save(fig, path)


def plot_fit_example(
    t: SplitTables, path: str | Path, layer_row: int | None = None, token: int | None = None
) -> Path:
    """Paper Fig. 3: one token's normalised eigenspectrum and its fitted power law."""
    if layer_row is None:
        layer_row = len(t.layer_name) // 2
    if token is None:
        token = int(np.flatnonzero(t.spatial)[0]) if t.spatial.any() else 0
    lam = t.spectra[layer_row, token].astype(np.float64)
    lam = lam[np.isfinite(lam) & (lam > 0)]
    ranks = np.arange(1, lam.size + 1)
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ax.loglog(ranks, lam, color="tab:blue", label="eigenspectrum")
    a, c = t.alpha[layer_row, token], t.intercept[layer_row, token]
    if np.isfinite(a):
        n = int(t.n_fit[layer_row, token])
        ax.loglog(ranks, np.exp(c) * ranks ** (-a), "--", color="tab:orange", label="power-law fit")
        ax.set_title(
            f"{t.layer_name[layer_row]}, token {token}: α = {a:.3f}, "
            f"R² = {t.r2[layer_row, token]:.3f} ({n} ranks)",
            fontsize=9,
        )
    ax.set_xlabel("rank j")
    ax.set_ylabel("λ_j / Σλ")
    ax.legend()
    return _save(fig, path)


def plot_correlation_mean(curves: dict[str, SplitTables], path: str | Path) -> Path:
    """Paper Fig. 2: per-layer mean of the lower triangle of the token correlation matrices."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, t in curves.items():
        if t.corr_mean is None:
            continue
        x, labels = _ticks(t)
        ax.plot(x, t.corr_mean, "-o", ms=3, label=f"{name} (all tokens)")
        if t.corr_mean_spatial is not None and t.cls_index is not None:
            ax.plot(x, t.corr_mean_spatial, ":", color=ax.lines[-1].get_color(), label="spatial")
        ax.set_xticks(x, labels)
    ax.set_xlabel("layer")
    ax.set_ylabel("mean inter-token correlation")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_correlation_matrices(t: SplitTables, path: str | Path, title: str = "") -> Path:
    """Paper Figs. 4–5: the token × token correlation matrix of every layer."""
    if t.corr is None:
        raise ValueError("these tables hold no correlation matrices")
    n = len(t.layer_name)
    cols = min(n, 5)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.0 * cols, 2.9 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    vmin = float(np.nanmin(t.corr)) if np.isfinite(t.corr).any() else -1.0
    im = None
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        im = ax.imshow(t.corr[i], vmin=min(vmin, 0.0), vmax=1.0, cmap="viridis")
        ax.set_title(t.layer_name[i], fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8)
    fig.suptitle(title or "token correlation matrices per layer")
    return _save(fig, path)


def plot_split_comparison(
    tables: dict[str, SplitTables], path: str | Path, stats: dict[str, float] | None = None
) -> Path:
    """Paper Fig. 6: α trajectories of two splits side by side, and cell-by-cell agreement."""
    fig = Figure(figsize=(11, 4))
    ax_a, ax_b = fig.subplots(1, 2)
    items = list(tables.items())
    for (name, t), style in zip(items, ("-", "--", ":"), strict=False):
        x, labels = _ticks(t)
        m, s = _nanmean(t.alpha[:, t.spatial], 1), _nanstd(t.alpha[:, t.spatial], 1)
        ax_a.plot(x, m, style, color="tab:purple", label=f"{name}: spatial mean ± sd")
        ax_a.fill_between(x, m - s, m + s, color="tab:purple", alpha=0.12, lw=0)
        if t.cls_index is not None:
            ax_a.plot(x, t.alpha[:, t.cls_index], style, color="black", label=f"{name}: class")
        ax_a.plot(x, t.pooled_alpha, style, color="tab:blue", label=f"{name}: all together")
        ax_a.set_xticks(x, labels)
    ax_a.set_xlabel("layer")
    ax_a.set_ylabel("α")
    ax_a.legend(fontsize=7)
    if len(items) >= 2:
        (na, ta), (nb, tb) = items[0], items[1]
        ok = np.isfinite(ta.alpha) & np.isfinite(tb.alpha)
        ax_b.scatter(ta.alpha[ok], tb.alpha[ok], s=3, alpha=0.4)
        lo = float(min(ta.alpha[ok].min(), tb.alpha[ok].min())) if ok.any() else 0.0
        hi = float(max(ta.alpha[ok].max(), tb.alpha[ok].max())) if ok.any() else 1.0
        ax_b.plot([lo, hi], [lo, hi], "k:", lw=1)
        ax_b.set_xlabel(f"α ({na})")
        ax_b.set_ylabel(f"α ({nb})")
        if stats:
            ax_b.set_title(
                f"mean |Δα| = {stats['mean_abs_diff']:.3g}, r = {stats['pearson_r']:.3f}",
                fontsize=9,
            )
    return _save(fig, path)


def plot_runs(runs: Sequence[GeometryRun], split: str, path: str | Path) -> Path:
    """α profile and mean token correlation per layer for several runs (e.g. a β spectrum).

    Runs with a recorded β are coloured on a log scale of β; the others (endpoints, timm models)
    get distinct dashed colours so they can be told apart.
    """
    fig = Figure(figsize=(12, 4.2))
    ax_a, ax_b = fig.subplots(1, 2)
    betas = [r.beta for r in runs if r.beta is not None and r.beta > 0]
    norm = LogNorm(min(betas), max(betas)) if betas and min(betas) < max(betas) else None
    cmap = colormaps["viridis"]
    ordered = sorted(runs, key=lambda r: (r.beta is None, r.beta or 0.0, r.label))
    others = iter(["C3", "C2", "C1", "C4", "C5", "C6", "0.3", "C7", "C8", "C9"] * 10)
    for r in ordered:
        if split not in r.splits:
            continue
        t = r.splits[split]
        x, labels = _ticks(t)
        colour: tuple[float, float, float, float] | str  # RGBA from the colormap, or a name
        if r.beta is not None and norm is not None and r.beta > 0:
            colour = cmap(norm(r.beta))
        elif r.beta is not None:
            colour = cmap(0.0)
        else:
            colour = next(others)
        style = "-o" if r.beta is not None else "--s"
        name = f"{r.label} (β={r.beta:g})" if r.beta is not None else r.label
        ax_a.plot(x, _nanmean(t.alpha[:, t.spatial], 1), style, ms=3, color=colour, label=name)
        if t.corr_mean is not None:
            ax_b.plot(x, t.corr_mean, style, ms=3, color=colour, label=name)
        ax_a.set_xticks(x, labels)
        ax_b.set_xticks(x, labels)
    ax_a.set_xlabel("layer")
    ax_a.set_ylabel("mean α over spatial tokens")
    ax_b.set_xlabel("layer")
    ax_b.set_ylabel("mean inter-token correlation")
    ax_a.legend(fontsize=7)
    fig.suptitle(f"geometry across runs ({split})")
    return _save(fig, path)
