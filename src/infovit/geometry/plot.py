"""Figures of the geometry tables (Joseph et al., the information geometry of ViTs: Figs. 1–6,
plus a β-spectrum comparison).

Every function reads :class:`~infovit.geometry.tables.SplitTables` loaded from disk and only
draws; nothing is recomputed here. Figures are built on ``matplotlib.figure.Figure`` (no pyplot
state, no backend switching) in the one style of :mod:`infovit.plotting.style`, and written by its
:func:`~infovit.plotting.style.save_figure` as PNG, PDF and SVG next to the path given (the
path returned is the one asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from infovit.geometry.tables import GeometryRun, SplitTables
from infovit.plotting.style import (
    DIVERGING,
    ENDPOINT_COLOURS,
    FORMATS,
    OKABE_ITO,
    SEQUENTIAL,
    beta_colormap,
    integer_ticks,
    new_figure,
    save_figure,
    styled,
)

__all__ = [
    "plot_correlation_matrices",
    "plot_correlation_mean",
    "plot_fit_example",
    "plot_runs",
    "plot_split_comparison",
    "plot_trajectories",
]

# Okabe–Ito hues for clusters (black is kept for the class token, blue for all tokens together).
_CLUSTER_COLOURS = ("#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
_POOLED = OKABE_ITO[5]  # all tokens together
_CLS = OKABE_ITO[0]  # the class token


def _save(fig: Figure, path: str | Path) -> Path:
    """PNG, PDF and SVG next to ``path``; returns ``path`` (its own format is among them)."""
    path = Path(path)
    written = save_figure(fig, path)
    suffix = path.suffix.lstrip(".").lower()
    return path if suffix in FORMATS else written[0]


def _plain_log(ax: Axes) -> None:
    """A log y axis labelled with plain numbers (α of 0.5 … 5 reads better than 5×10⁻¹)."""
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


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


def _positive_log(ax: Axes, values: np.ndarray) -> None:
    if np.isfinite(values).any() and np.nanmin(values) > 0:
        ax.set_yscale("log")
        _plain_log(ax)


def _cluster_cmap(k: int) -> tuple[ListedColormap, BoundaryNorm]:
    cmap = ListedColormap([_CLUSTER_COLOURS[j % len(_CLUSTER_COLOURS)] for j in range(k)])
    return cmap, BoundaryNorm(np.arange(-0.5, k + 0.5), k)


@styled
def plot_trajectories(t: SplitTables, path: str | Path, title: str = "") -> Path:
    """Paper Fig. 1: α trajectories by cluster with the class token and all tokens together (A),
    the 2-D embedding coloured by cluster (B) and the clusters on the patch grid (C)."""
    fig = new_figure(12.5, 3.9)
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
        ax_a.plot(x, t.alpha[:, t.cls_index], "-s", ms=3, color=_CLS, label="class token")
        plotted.append(t.alpha[:, t.cls_index])
    ax_a.plot(x, t.pooled_alpha, "--D", ms=3, color=_POOLED, label="all tokens together")
    _positive_log(ax_a, np.concatenate([np.ravel(p) for p in plotted]))
    ax_a.set_xticks(x, labels)
    ax_a.set_xlabel("layer (px = pixels, emb = embedding)")
    ax_a.set_ylabel("α (eigenspectrum decay; band: ± sd over tokens)")
    ax_a.set_title("A  α trajectories")
    ax_a.grid(True, axis="y")
    ax_a.legend()

    if t.cluster_labels is not None and t.cluster_embedding is not None:
        sel = t.cluster_labels >= 0
        k = int(t.cluster_labels.max()) + 1 if sel.any() else 1
        cmap, norm = _cluster_cmap(k)
        emb = t.cluster_embedding[sel]
        ax_b.scatter(emb[:, 0], emb[:, 1], c=t.cluster_labels[sel], cmap=cmap, norm=norm, s=12)
        ax_b.set_title(f"B  {t.cluster_method or 'embedding'} of α trajectories, k-means k={k}")
        ax_b.set_xlabel("component 1")
        ax_b.set_ylabel("component 2")
        grid = np.full(t.grid, np.nan)
        grid[t.token_row[sel], t.token_col[sel]] = t.cluster_labels[sel]
        ax_c.imshow(grid, cmap=cmap, norm=norm, interpolation="nearest")
        ax_c.set_title("C  clusters on the patch grid")
        ax_c.set_xlabel("patch column")
        ax_c.set_ylabel("patch row")
        integer_ticks(ax_c)
        ax_c.spines[:].set_visible(False)
        bar = fig.colorbar(ScalarMappable(norm, cmap), ax=[ax_b, ax_c], ticks=range(k), aspect=25)
        bar.set_label("cluster")
        bar.minorticks_off()
    else:
        for ax in (ax_b, ax_c):
            ax.text(0.5, 0.5, "no clusters computed", ha="center", va="center")
            ax.set_xticks([])
            ax.set_yticks([])
    ax_b.set_xticks([])
    ax_b.set_yticks([])
    fig.suptitle(title or f"α trajectories (N = {t.count})")
    return _save(fig, path)


@styled
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
    fig = new_figure(5.0, 3.8)
    ax = fig.subplots()
    ax.loglog(ranks, lam, color=OKABE_ITO[5], label="eigenspectrum")
    a, c = t.alpha[layer_row, token], t.intercept[layer_row, token]
    if np.isfinite(a):
        n = int(t.n_fit[layer_row, token])
        ax.loglog(ranks, np.exp(c) * ranks ** (-a), "--", color=OKABE_ITO[6], label="power-law fit")
        ax.set_title(
            f"{t.layer_name[layer_row]}, token {token}: α = {a:.3f}, "
            f"R² = {t.r2[layer_row, token]:.3f} ({n} ranks)"
        )
    ax.set_xlabel("rank j")
    ax.set_ylabel("λ_j / Σλ")
    ax.grid(True, which="major")
    ax.legend()
    return _save(fig, path)


@styled
def plot_correlation_mean(curves: dict[str, SplitTables], path: str | Path) -> Path:
    """Paper Fig. 2: per-layer mean of the lower triangle of the token correlation matrices."""
    fig = new_figure(5.6, 3.8)
    ax = fig.subplots()
    for k, (name, t) in enumerate(curves.items()):
        if t.corr_mean is None:
            continue
        x, labels = _ticks(t)
        c = OKABE_ITO[(5, 1, 3, 6, 7, 2, 0)[k % 7]]
        ax.plot(x, t.corr_mean, "-o", ms=3, color=c, label=f"{name}: all tokens")
        if t.corr_mean_spatial is not None and t.cls_index is not None:
            ax.plot(x, t.corr_mean_spatial, ":s", ms=3, color=c, label=f"{name}: spatial tokens")
        ax.set_xticks(x, labels)
    ax.set_xlabel("layer (px = pixels, emb = embedding)")
    ax.set_ylabel("mean inter-token correlation")
    ax.set_title("Mean token correlation per layer")
    ax.grid(True, axis="y")
    ax.legend()
    return _save(fig, path)


@styled
def plot_correlation_matrices(t: SplitTables, path: str | Path, title: str = "") -> Path:
    """Paper Figs. 4–5: the token × token correlation matrix of every layer, one colour scale.

    Non-negative matrices use the sequential map on [0, 1]; any negative correlation switches
    to a diverging map on [−1, 1] centred on zero.
    """
    if t.corr is None:
        raise ValueError("these tables hold no correlation matrices")
    n = len(t.layer_name)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = new_figure(2.2 * cols + 0.9, 2.25 * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    finite = np.isfinite(t.corr)
    signed = bool(finite.any() and float(np.min(t.corr[finite])) < 0)
    cmap, vmin = (DIVERGING, -1.0) if signed else (SEQUENTIAL, 0.0)
    im = None
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_visible(False)
            continue
        im = ax.imshow(t.corr[i], vmin=vmin, vmax=1.0, cmap=cmap, interpolation="nearest")
        ax.set_title(t.layer_name[i], loc="center")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
        if i % cols == 0:
            ax.set_ylabel("token")
        if i >= n - cols:
            ax.set_xlabel("token")
    if im is not None:
        bar = fig.colorbar(im, ax=[a for a in axes if a.get_visible()], shrink=0.8, aspect=30)
        bar.set_label("Pearson correlation between tokens")
    fig.suptitle(title or "token correlation matrices per layer")
    return _save(fig, path)


@styled
def plot_split_comparison(
    tables: dict[str, SplitTables], path: str | Path, stats: dict[str, float] | None = None
) -> Path:
    """Paper Fig. 6: α trajectories of two splits side by side, and cell-by-cell agreement."""
    fig = new_figure(10.0, 3.9)
    ax_a, ax_b = fig.subplots(1, 2)
    items = list(tables.items())
    spatial_c = _CLUSTER_COLOURS[0]
    for (name, t), style in zip(items, ("-", "--", ":"), strict=False):
        x, labels = _ticks(t)
        m, s = _nanmean(t.alpha[:, t.spatial], 1), _nanstd(t.alpha[:, t.spatial], 1)
        ax_a.plot(x, m, style, color=spatial_c, label=f"{name}: spatial mean ± sd")
        ax_a.fill_between(x, m - s, m + s, color=spatial_c, alpha=0.15, lw=0)
        if t.cls_index is not None:
            ax_a.plot(x, t.alpha[:, t.cls_index], style, color=_CLS, label=f"{name}: class")
        ax_a.plot(x, t.pooled_alpha, style, color=_POOLED, label=f"{name}: all together")
        ax_a.set_xticks(x, labels)
    ax_a.set_xlabel("layer (px = pixels, emb = embedding)")
    ax_a.set_ylabel("α")
    ax_a.set_title("A  α trajectories per split")
    ax_a.grid(True, axis="y")
    ax_a.legend()
    if len(items) >= 2:
        (na, ta), (nb, tb) = items[0], items[1]
        ok = np.isfinite(ta.alpha) & np.isfinite(tb.alpha)
        ax_b.scatter(ta.alpha[ok], tb.alpha[ok], s=4, alpha=0.4, lw=0, color=OKABE_ITO[5])
        lo = float(min(ta.alpha[ok].min(), tb.alpha[ok].min())) if ok.any() else 0.0
        hi = float(max(ta.alpha[ok].max(), tb.alpha[ok].max())) if ok.any() else 1.0
        ax_b.plot([lo, hi], [lo, hi], "k:", lw=1, label="equal α")
        ax_b.set_xlabel(f"α ({na})")
        ax_b.set_ylabel(f"α ({nb})")
        ax_b.set_aspect("equal", adjustable="datalim")
        ax_b.legend(loc="upper left")
        head = "B  every (layer, token) cell"
        if stats:
            head += f": mean |Δα| = {stats['mean_abs_diff']:.3g}, r = {stats['pearson_r']:.3f}"
        ax_b.set_title(head)
    return _save(fig, path)


@styled
def plot_runs(runs: Sequence[GeometryRun], split: str, path: str | Path) -> Path:
    """α profile and mean token correlation per layer for several runs (e.g. a β spectrum).

    Runs with a recorded β are coloured on a log scale of β (colour bar); the endpoints take the
    endpoint colours of every figure (no attention vermillion, unmodified ViT black) and other
    runs (timm models) distinct Okabe–Ito colours, all dashed with square markers.
    """
    fig = new_figure(10.5, 3.9)
    ax_a, ax_b = fig.subplots(1, 2)
    betas = [r.beta for r in runs if r.beta is not None and r.beta > 0]
    norm = LogNorm(min(betas), max(betas)) if betas and min(betas) < max(betas) else None
    cmap = beta_colormap()
    ordered = sorted(runs, key=lambda r: (r.beta is None, -(r.beta or 0.0), r.label))
    others = iter([c for c in OKABE_ITO if c not in ENDPOINT_COLOURS.values()] * 10)
    handles: list[Line2D] = []
    ticks: dict[int, str] = {}
    for r in ordered:
        if split not in r.splits:
            continue
        t = r.splits[split]
        x, labels = _ticks(t)
        variant = str(r.meta.get("model", {}).get("variant", ""))
        colour: tuple[float, float, float, float] | str  # RGBA from the colormap, or a name
        if r.beta is not None and norm is not None and r.beta > 0:
            colour = cmap(norm(r.beta))
        elif r.beta is not None:
            colour = cmap(0.5)
        elif variant in ENDPOINT_COLOURS:
            colour = ENDPOINT_COLOURS[variant]
        else:
            colour = next(others)
        style = "-o" if r.beta is not None else "--s"
        name = f"{r.label} (β={r.beta:g})" if r.beta is not None else r.label
        ax_a.plot(x, _nanmean(t.alpha[:, t.spatial], 1), style, ms=3, color=colour)
        if t.corr_mean is not None:
            ax_b.plot(x, t.corr_mean, style, ms=3, color=colour)
        handles.append(Line2D([], [], ls=style[:-1], marker=style[-1], color=colour, label=name))
        ticks.update(zip((int(i) for i in x), labels, strict=True))
    for ax in (ax_a, ax_b):  # every run's layers (one may add pixels, another not)
        ax.set_xticks(sorted(ticks), [ticks[i] for i in sorted(ticks)])
    for ax in (ax_a, ax_b):
        ax.set_xlabel("layer (px = pixels, emb = embedding)")
        ax.grid(True, axis="y")
    ax_a.set_ylabel("mean α over spatial tokens")
    ax_b.set_ylabel("mean inter-token correlation")
    ax_a.set_title("A  α profile")
    ax_b.set_title("B  token correlation")
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))
    if norm is not None:
        bar = fig.colorbar(ScalarMappable(norm, cmap), ax=[ax_a, ax_b], aspect=25, shrink=0.9)
        bar.set_label("β (log scale)")
        beta_ticks = sorted(set(betas))
        bar.set_ticks(beta_ticks, labels=[f"{b:g}" for b in beta_ticks])
        bar.minorticks_off()
    fig.suptitle(f"Geometry across runs ({split})")
    return _save(fig, path)
