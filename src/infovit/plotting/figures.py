"""Figures of the analysis tables (infovit.analysis). Each function reads rows, draws, saves.

No numbers are computed here beyond layout and order statistics already in the tables: every
plotted value is a column of a table. All figures share :mod:`infovit.plotting.style` (applied
only while drawing) and are written by :func:`~infovit.plotting.style.save_figure` as PNG, PDF
and SVG. Paper references are to arXiv 2602.04784 (variational information bottleneck on the
attention heads of ViTs).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, Colormap, ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from infovit.analysis.spectrum import format_beta, label_beta
from infovit.model.capabilities import has_attention, nats_measured
from infovit.plotting.common import display_image
from infovit.plotting.style import (
    ENDPOINT_COLOURS,
    OKABE_ITO,
    SEQUENTIAL,
    SEQUENTIAL_BINS,
    beta_colormap,
    new_figure,
    save_figure,
    styled,
)

Row = dict[str, Any]  # one table row, as infovit.analysis.tables reads it

__all__ = [
    "RANK_COLOURS",
    "SpectrumPoint",
    "beta_colormap",
    "draw_spectrum",
    "plot_active_heads",
    "plot_extreme",
    "plot_jsd_bins",
    "plot_kl_maps",
    "plot_rank_maps",
    "plot_repetition",
    "plot_spectrum",
    "plot_survival",
    "plot_voting",
]

# Colours of the rank categories (rank 1, 2-5, 6-10, other), in category order (Okabe–Ito).
# Yellow and vermillion differ in lightness as well as hue, so 2-5 and 6-10 stay apart in every
# colour-vision deficiency and under the overlay's transparency.
RANK_COLOURS = ("#009E73", "#F0E442", "#D55E00", "#999999")

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _true(value: object) -> bool:
    """A boolean column as the CSV reader returns it (``True`` or the string ``"True"``)."""
    return value in (True, "True", "true", 1)


def _by_model(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Rows grouped by their ``model`` column, in first-seen order."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[str(r["model"])].append(r)
    return groups


def _outline(ax: Axes, x: float, y: float, w: float, h: float) -> None:
    """A square outline readable on any background: black under white."""
    for colour, lw in (("black", 2.6), ("white", 1.2)):
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=colour, lw=lw))


def _no_ticks(axes: Any) -> None:
    """Image panels: no ticks and no frame (the style's open L-frame suits plots, not pictures)."""
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)


# --- spectrum (Fig. 1b) --------------------------------------------------------------------------


@dataclass(frozen=True)
class SpectrumPoint:
    """One IB configuration on the spectrum: nats per image, accuracy ± std, label, on front."""

    kl: float
    top1: float
    top1_std: float
    label: str
    pareto: bool = False


def _beta_label(config: str) -> str:
    """``ib beta=3 (mean)`` → ``β=3`` (the label infovit.analysis.spectrum.config_label makes)."""
    return f"β={format_beta(label_beta(config))}" if "beta=" in config else config


def draw_spectrum(
    fig: Figure,
    ax: Axes,
    points: Sequence[SpectrumPoint],
    no_attn: Sequence[tuple[float, float]] = (),
    vit: Sequence[tuple[float, float]] = (),
    ceilings: Mapping[str, float] | None = None,
    front: bool = False,
) -> None:
    """Accuracy vs nats per image on a log x axis, the one look of every spectrum figure.

    ``points`` are IB configurations; ``no_attn`` / ``vit`` are (top-1, std) of the endpoints:
    no attention (0 nats) is drawn at the left edge, the unmodified ViT (unpriced) as a
    horizontal line with its ±std band. ``front``: join the Pareto points by a dashed line
    (otherwise all points in order of nats). ``ceilings`` are accuracies in [0, 1].
    """
    pts = sorted(points, key=lambda p: p.kl)
    if pts:
        lo, hi = min(p.kl for p in pts) / 3, max(p.kl for p in pts) * 3
    else:
        lo, hi = 0.1, 100.0
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ib_colour = OKABE_ITO[5]
    if pts:
        line = [p for p in pts if p.pareto] if front else pts
        if line:
            ax.plot(
                [p.kl for p in line],
                [p.top1 for p in line],
                "--" if front else "-",
                color=ib_colour if not front else "0.45",
                lw=1.0,
                label="Pareto front" if front else None,
                zorder=1,
            )
        ax.errorbar(
            [p.kl for p in pts],
            [p.top1 for p in pts],
            yerr=[p.top1_std for p in pts],
            fmt="o",
            color=ib_colour,
            label="IB-ViT (mean ± std)",
            zorder=3,
        )
        for k, p in enumerate(pts):
            ax.annotate(
                p.label,
                (p.kl, p.top1),
                textcoords="offset points",
                xytext=(5, -11) if k % 2 == 0 else (5, 5),
                fontsize=7,
            )
    for top1, std in no_attn:
        ax.errorbar(
            [lo * 1.25],
            [top1],
            yerr=[std],
            fmt="<",
            ms=6,
            color=ENDPOINT_COLOURS["no_attn"],
            label="no attention (0 nats; at the left edge)",
            zorder=3,
        )
    for top1, std in vit:
        ax.axhline(top1, color=ENDPOINT_COLOURS["vit"], ls="--", lw=1.0, label="unmodified ViT")
        if std > 0:
            ax.axhspan(top1 - std, top1 + std, color=ENDPOINT_COLOURS["vit"], alpha=0.1, lw=0)
    styles = (":", "-.", (0, (5, 2, 1, 2)))
    for i, (label, value) in enumerate((ceilings or {}).items()):
        ax.axhline(
            100 * value, color=OKABE_ITO[7 - i % 2], ls=styles[i % 3], lw=1.0, label=str(label)
        )
    ax.set_xlabel("total KL from the attention heads (nats per image, log scale)")
    ax.set_ylabel("validation top-1 accuracy (%)")
    ax.grid(True, which="major")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        by_label = dict(zip(labels, handles, strict=True))  # one entry per label
        fig.legend(
            by_label.values(),
            by_label.keys(),
            loc="outside lower center",
            ncols=2,
        )


@styled
def plot_spectrum(rows: list[Row], stem: Path) -> list[Path]:
    """Paper Fig. 1b from the ``spectrum`` table: top-1 (mean ± std) vs nats per image, log x;
    endpoints (no attention, unmodified ViT) marked; the Pareto front dashed."""
    points, no_attn, vit = [], [], []
    for r in rows:
        x = float(r["kl_per_image"])
        variant = str(r.get("variant", "ib"))
        if not nats_measured(variant) or not math.isfinite(x):
            vit.append((float(r["top1"]), float(r["top1_std"])))
        elif not has_attention(variant) or x <= 0:
            no_attn.append((float(r["top1"]), float(r["top1_std"])))
        else:
            points.append(
                SpectrumPoint(
                    x,
                    float(r["top1"]),
                    float(r["top1_std"]),
                    _beta_label(str(r["config"])),
                    _true(r.get("pareto")),
                )
            )
    fig = new_figure(5.2, 4.4)
    ax = fig.add_subplot()
    draw_spectrum(fig, ax, points, no_attn, vit, front=True)
    ax.set_title("Accuracy–information spectrum")
    return save_figure(fig, stem)


# --- heads (Fig. 3) ------------------------------------------------------------------------------


def _block_norm(nblocks: int) -> tuple[Colormap, BoundaryNorm]:
    cmap = ListedColormap(beta_colormap()(np.linspace(0.0, 1.0, max(nblocks, 1))), name="blocks")
    return cmap, BoundaryNorm(np.arange(-0.5, nblocks + 0.5), cmap.N)


@styled
def plot_survival(rows: list[Row], stem: Path) -> list[Path]:
    """Paper Fig. 3: P(KL ≥ x) per head, one panel per model, shared axes; colour = block."""
    by_model = _by_model(rows)
    n = max(len(by_model), 1)
    nblocks = int(max((int(r["block"]) for r in rows), default=0)) + 1
    cmap, norm = _block_norm(nblocks)
    cols = min(n, 4)
    nrows = -(-n // cols)
    fig = new_figure(2.6 * cols + 0.8, 2.5 * nrows + 0.3)
    axes = np.atleast_1d(fig.subplots(nrows, cols, sharex=True, sharey=True, squeeze=False))
    for ax, (model, mrows) in zip(axes.ravel(), by_model.items(), strict=False):
        curves: dict[tuple[int, int], list[Row]] = defaultdict(list)
        for r in mrows:
            curves[(int(r["block"]), int(r["head"]))].append(r)
        for (b, _h), c in sorted(curves.items()):
            c = sorted(c, key=lambda r: float(r["kl"]))
            ax.plot(
                [float(r["kl"]) for r in c],
                [float(r["survival"]) for r in c],
                lw=1.0,
                color=cmap(norm(b)),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(model)
        ax.grid(True, which="major")
    for ax in axes.ravel()[len(by_model) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("per-patch KL x (nats)")
    for ax in axes[:, 0]:
        ax.set_ylabel("P(KL ≥ x)")
    bar = fig.colorbar(
        ScalarMappable(norm, cmap), ax=axes.ravel().tolist(), ticks=range(nblocks), aspect=30
    )
    bar.set_label("block")
    bar.minorticks_off()
    fig.suptitle("Per-head survival of per-patch KL over validation patches")
    return save_figure(fig, stem)


@styled
def plot_active_heads(rows: list[Row], stem: Path) -> list[Path]:
    """Grid of heads per model (block 0 at the bottom): colour = max per-patch KL (log, one scale
    for all panels); active heads show their number of active latent dimensions."""
    by_model = _by_model(rows)
    n = max(len(by_model), 1)
    nblocks = int(max((int(r["block"]) for r in rows), default=0)) + 1
    nheads = int(max((int(r["head"]) for r in rows), default=0)) + 1
    kls = [float(r["kl_max"]) for r in rows if float(r["kl_max"]) > 0]
    floor = 1e-4
    vmax = max(max(kls, default=1.0), floor * 10)
    norm = LogNorm(floor, vmax)
    cmap = colormaps[SEQUENTIAL]
    cell = min(0.45, 3.2 / max(nblocks, nheads))
    panel_w, panel_h = max(cell * nheads, 0.9), cell * nblocks
    fig = new_figure(n * (panel_w + 0.55) + 1.0, panel_h + 1.3)
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True, squeeze=False))[0]
    for k, (ax, (model, mrows)) in enumerate(zip(axes, by_model.items(), strict=False)):
        grid = np.full((nblocks, nheads), np.nan)
        for r in mrows:
            grid[int(r["block"]), int(r["head"])] = max(float(r["kl_max"]), floor)
        ax.imshow(grid, origin="lower", cmap=cmap, norm=norm, aspect="equal")
        for r in mrows:
            b, h = int(r["block"]), int(r["head"])
            rgb = np.asarray(cmap(norm(grid[b, h]))[:3])
            ink = "black" if float(rgb @ np.array([0.299, 0.587, 0.114])) > 0.5 else "white"
            text = f"{int(r['active_dims'])}" if _true(r["active"]) else "–"
            ax.text(h, b, text, ha="center", va="center", color=ink, fontsize=7)
        n_active = sum(_true(r["active"]) for r in mrows)
        ax.set_title(f"{model}\n{n_active}/{len(mrows)} active", loc="center")
        ax.set_xticks(range(nheads))
        ax.set_yticks(range(nblocks))
        ax.set_xlabel("head")
        if k == 0:
            ax.set_ylabel("block")
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)
    bar = fig.colorbar(
        ScalarMappable(norm, cmap), ax=axes.tolist(), extend="min", shrink=0.9, aspect=25
    )
    bar.set_label("max per-patch KL (nats)")
    fig.suptitle("Heads: max KL; number = active latent dims, – = inactive head")
    return save_figure(fig, stem)


# --- patch voting (Fig. 1c) ----------------------------------------------------------------------


def _voting_order(
    models: Sequence[str], beta: Mapping[str, float | None], variants: Mapping[str, str]
) -> list[str]:
    """Least to most routed information: no attention, IB by β descending, unknown β, ViT."""

    def key(m: str) -> tuple[int, float]:
        v = variants.get(m, m if m in ENDPOINT_COLOURS else "ib")
        if v == "no_attn":
            return (0, 0.0)
        if v == "vit":
            return (3, 0.0)
        b = beta.get(m)
        return (1, -b) if b is not None and math.isfinite(b) else (2, 0.0)

    return sorted(models, key=key)


@styled
def plot_voting(
    rows: list[Row],
    stem: Path,
    *,
    images: Sequence[Row] | None = None,
    beta: Mapping[str, float | None] | None = None,
    variants: Mapping[str, str] | None = None,
    seed: int = 0,
) -> list[Path]:
    """Paper Fig. 1c: how patches vote, per model — inverse Simpson index of the patch votes and
    the patch logit range.

    ``rows`` is the ``voting`` table (medians and quartiles per model, drawn as a white dot on a
    black interquartile bar); ``images`` the ``voting_images`` table (one dot per image, jittered
    sideways). ``beta`` maps IB models to their β (dots coloured on a log scale, colour bar);
    ``variants`` maps models to ``no_attn`` / ``vit`` / ``ib`` (models named ``no_attn`` or
    ``vit`` are taken as those endpoints when absent). Models are ordered from least to most
    routed information. ``seed`` fixes the jitter.
    """
    beta = dict(beta or {})
    variants = dict(variants or {})
    summary = {str(r["model"]): r for r in rows}
    per_image = _by_model(images or [])
    models = _voting_order(list(dict.fromkeys([*summary, *per_image])), beta, variants)
    known = sorted(
        {float(b) for m in models if (b := beta.get(m)) is not None and b > 0 and math.isfinite(b)}
    )
    cmap = beta_colormap()
    norm: Normalize | None = None
    if len(known) >= 2:
        norm = LogNorm(known[0], known[-1])
    fallback = iter(OKABE_ITO[1:] * 4)

    def colour(m: str) -> Any:
        v = variants.get(m, m if m in ENDPOINT_COLOURS else "ib")
        if v in ENDPOINT_COLOURS:
            return ENDPOINT_COLOURS[v]
        b = beta.get(m)
        if b is not None and b > 0 and norm is not None:
            return cmap(norm(b))
        if b is not None and b > 0:
            return cmap(0.5)
        return next(fallback)

    colours = {m: colour(m) for m in models}
    rng = np.random.default_rng(seed)
    fig = new_figure(min(max(6.4, 1.1 * len(models) + 2.0), 12.0), 3.6)
    axes = fig.subplots(1, 2)
    panels = (
        ("simpson", "inverse Simpson index of patch votes\n(effective number of classes)"),
        ("logit_range", "patch logit range, max − min\n(logits)"),
    )
    for ax, (column, ylabel) in zip(axes, panels, strict=True):
        for x, m in enumerate(models):
            values = np.array([float(r[column]) for r in per_image.get(m, [])])
            if values.size:
                jitter = rng.uniform(-0.32, 0.32, values.size)
                ax.scatter(
                    x + jitter,
                    values,
                    s=5,
                    color=colours[m],
                    alpha=0.35,
                    lw=0,
                    rasterized=values.size > 2000,
                    zorder=1,
                )
            s = summary.get(m)
            if s is not None:
                med = float(s[f"{column}_median"])
                q25, q75 = float(s[f"{column}_q25"]), float(s[f"{column}_q75"])
                ax.plot([x, x], [q25, q75], color="white", lw=5.0, solid_capstyle="butt", zorder=2)
                ax.plot([x, x], [q25, q75], color="black", lw=2.6, solid_capstyle="butt", zorder=3)
                ax.plot(x, med, "o", ms=6, mfc="white", mec="black", mew=1.3, zorder=4)
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y")
    axes[0].set_title("A  how many classes the patches vote for")
    axes[1].set_title("B  how opinionated the patches are")
    handles: list[Any] = [
        Line2D([], [], ls="", marker="o", ms=6, mfc="white", mec="black", label="median"),
        Line2D([], [], color="black", lw=2.6, label="interquartile range"),
    ]
    present = {variants.get(m, m if m in ENDPOINT_COLOURS else "ib") for m in models}
    names = {"no_attn": "no attention (β → ∞)", "vit": "unmodified ViT (β = 0)"}
    handles += [
        Line2D([], [], ls="", marker="o", ms=5, color=ENDPOINT_COLOURS[v], label=names[v])
        for v in ("no_attn", "vit")
        if v in present
    ]
    if images:
        handles.append(Line2D([], [], ls="", marker="o", ms=3, color="0.5", label="one image"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    if norm is not None:
        bar = fig.colorbar(ScalarMappable(norm, cmap), ax=axes.tolist(), aspect=25, shrink=0.9)
        bar.set_label("β of the IB models (log scale)")
        bar.set_ticks(known, labels=[f"{b:g}" for b in known])
        bar.minorticks_off()
    fig.suptitle("Patch voting: every image a dot; medians and IQRs on top")
    return save_figure(fig, stem)


# --- KL maps (Fig. 2) ----------------------------------------------------------------------------


def _patch_grid(cells: Sequence[Row], column: str, code: Mapping[str, int] | None = None) -> Any:
    grid = np.zeros((int(max(r["row"] for r in cells)) + 1, int(max(r["col"] for r in cells)) + 1))
    for r in cells:
        v = r[column]
        grid[int(r["row"]), int(r["col"])] = code[str(v)] if code is not None else float(v)
    return grid


def _label(cells: Sequence[Row]) -> str:
    return f"\nlabel {int(cells[0]['label'])}" if cells and "label" in cells[0] else ""


@styled
def plot_kl_maps(
    rows: list[Row], pixels: dict[int, np.ndarray], stem: Path, imagenet: bool
) -> list[Path]:
    """Paper Fig. 2: images (top row) and per-patch KL maps, one row and colour range per model."""
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    images = list(dict.fromkeys(int(r["image"]) for r in rows))
    if not images:
        return []
    size = 1.25
    fig = new_figure(size * len(images) + 1.3, size * (1 + len(models)) + 0.4)
    axes = fig.subplots(
        1 + len(models),
        len(images) + 1,
        squeeze=False,
        gridspec_kw={"width_ratios": [1.0] * len(images) + [0.07]},
    )
    cells_of: dict[tuple[str, int], list[Row]] = defaultdict(list)
    for r in rows:
        cells_of[(str(r["model"]), int(r["image"]))].append(r)
    for j, img in enumerate(images):
        axes[0, j].imshow(display_image(pixels[img], imagenet))
        first = cells_of[(models[0], img)] if models else []
        axes[0, j].set_title(f"image {img}{_label(first)}", loc="center", fontsize=7)
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[0, -1].set_visible(False)
    for i, model in enumerate(models, start=1):
        vmax = max(float(r["kl"]) for r in rows if r["model"] == model) or 1.0
        im = None
        for j, img in enumerate(images):
            cells = cells_of[(model, img)]
            im = axes[i, j].imshow(_patch_grid(cells, "kl"), cmap=SEQUENTIAL, vmin=0, vmax=vmax)
            axes[i, j].set_title(f"pred {int(cells[0]['pred'])}", loc="center", fontsize=7)
        axes[i, 0].set_ylabel(model, fontsize=8)
        if im is not None:
            fig.colorbar(im, cax=axes[i, -1]).set_label("KL (nats)", fontsize=7)
            axes[i, -1].tick_params(labelsize=7)
    _no_ticks(axes[:, :-1])
    selection = str(rows[0].get("selection", "")) if rows else ""
    fig.suptitle(f"Per-patch KL summed over heads ({selection} images)".replace(" ()", ""))
    return save_figure(fig, stem)


# --- JSD (Fig. 7) --------------------------------------------------------------------------------


@styled
def plot_jsd_bins(rows: list[Row], stem: Path) -> list[Path]:
    """Paper Fig. 7: stacked shares of images per JSD bin, one bar per model, one panel per
    reference model; one legend for the bins (the same in every panel)."""
    refs = list(dict.fromkeys(str(r["reference"]) for r in rows))
    nmodels = max((len({r["model"] for r in rows if r["reference"] == f}) for f in refs), default=1)
    fig = new_figure(6.0, (0.28 * nmodels + 0.7) * max(len(refs), 1) + 0.8)
    axes = fig.subplots(len(refs) or 1, 1, sharex=True, squeeze=False)[:, 0]
    bins = sorted({int(r["bin"]) for r in rows})
    cmap = colormaps[SEQUENTIAL_BINS]
    colours = {b: cmap(k / max(len(bins) - 1, 1)) for k, b in enumerate(bins)}
    edges = {int(r["bin"]): (float(r["jsd_lo"]), float(r["jsd_hi"])) for r in rows}
    for ax, ref in zip(axes, refs, strict=False):
        rrows = [r for r in rows if r["reference"] == ref]
        models = list(dict.fromkeys(str(r["model"]) for r in rrows))
        share = {(str(r["model"]), int(r["bin"])): float(r["share"]) for r in rrows}
        left = np.zeros(len(models))
        for b in bins:
            s = np.array([share.get((m, b), 0.0) for m in models])
            ax.barh(models, s, left=left, color=colours[b], edgecolor="white", lw=0.5)
            left += s
        ax.set_xlim(0, 1)
        ax.set_title(f"vs {ref}")
        ax.invert_yaxis()
    axes[-1].set_xlabel("share of validation images")
    handles = [
        Patch(color=colours[b], label=f"[{edges[b][0]:.2g}, {edges[b][1]:.2g})") for b in bins
    ]
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncols=len(handles),
        title="Jensen–Shannon divergence of class probabilities (nats)",
    )
    return save_figure(fig, stem)


# --- repetition probe (Fig. 5) -------------------------------------------------------------------


@styled
def plot_repetition(rows: list[Row], stem: Path, max_heads: int = 8) -> list[Path]:
    """Paper Fig. 5: mean ± std latent shift vs number of pasted copies, for the ``max_heads``
    heads with the largest shifts (series dodged sideways so error bars do not hide each other)."""
    fig = new_figure(6.4, 3.8)
    ax = fig.add_subplot()
    heads: dict[tuple[str, int, int], list[Row]] = defaultdict(list)
    for r in rows:
        heads[(str(r["model"]), int(r["block"]), int(r["head"]))].append(r)
    ranked = sorted(heads.items(), key=lambda kv: -max(abs(r["shift_mean"]) for r in kv[1]))
    shown = ranked[:max_heads]
    copies = sorted({int(r["copies"]) for _, hr in shown for r in hr})
    for k, ((model, b, h), hr) in enumerate(shown):
        hr = sorted(hr, key=lambda r: r["copies"])
        dodge = 2 ** (0.035 * (k - (len(shown) - 1) / 2))  # multiplicative: x is log-scaled
        ax.errorbar(
            [int(r["copies"]) * dodge for r in hr],
            [float(r["shift_mean"]) for r in hr],
            yerr=[float(r["shift_std"]) for r in hr],
            marker=_MARKERS[k % len(_MARKERS)],
            lw=1.0,
            elinewidth=0.8,
            label=f"{model}, block {b} head {h}",
        )
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xticks(copies, [str(c) for c in copies])
    ax.minorticks_off()
    ax.set_xlabel("copies of the patch pasted elsewhere (N)")
    ax.set_ylabel("latent mean shift μ_aug − μ₀\n(dominant dimension, mean ± std over pairs)")
    ax.set_title("Repetition probe")
    ax.grid(True, axis="y")
    if shown:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, stem)


# --- extreme patches (Fig. 4) --------------------------------------------------------------------


@styled
def plot_extreme(
    rows: list[Row],
    pixels: np.ndarray,
    attn: np.ndarray,
    patch_size: tuple[int, int],
    stem: Path,
    imagenet: bool,
    per_sign: int = 4,
) -> list[Path]:
    """Paper Fig. 4: top-KL patches of one head, up to ``per_sign`` per sign of the latent mean;
    the image with the patch outlined above the head's attention map for that query patch."""
    picks = [i for s in "+-" for i in [k for k, r in enumerate(rows) if r["sign"] == s][:per_sign]]
    if not picks:
        return []
    size = 1.35
    fig = new_figure(size * len(picks) + 0.9, 2 * size + 0.9)
    axes = fig.subplots(
        2, len(picks) + 1, squeeze=False, gridspec_kw={"width_ratios": [1.0] * len(picks) + [0.07]}
    )
    ph, pw = patch_size
    vmax = max(float(np.max(attn[k])) for k in picks) or 1.0
    im = None
    for j, k in enumerate(picks):
        r = rows[k]
        pr, pc = int(r["patch_row"]), int(r["patch_col"])
        axes[0, j].imshow(display_image(pixels[k], imagenet))
        _outline(axes[0, j], pc * pw - 0.5, pr * ph - 0.5, pw, ph)
        axes[0, j].set_title(
            f"μ = {float(r['mu']):.2g}\nKL = {float(r['kl']):.2g} nats".replace("-", "−"),
            loc="center",
            fontsize=7,
        )
        im = axes[1, j].imshow(attn[k], cmap=SEQUENTIAL, vmin=0, vmax=vmax)
        _outline(axes[1, j], pc - 0.5, pr - 0.5, 1, 1)
        axes[1, j].set_title(f"image {int(r['image'])}", loc="center", fontsize=7)
    axes[0, 0].set_ylabel("patch (outlined)", fontsize=8)
    axes[1, 0].set_ylabel("its attention", fontsize=8)
    axes[0, -1].set_visible(False)
    if im is not None:
        fig.colorbar(im, cax=axes[1, -1]).set_label("attention weight", fontsize=7)
        axes[1, -1].tick_params(labelsize=7)
    _no_ticks(axes[:, :-1])
    r0 = rows[0]
    fig.suptitle(
        f"{r0['model']}, block {int(r0['block'])} head {int(r0['head'])}: top-0.1 % KL patches"
    )
    return save_figure(fig, stem)


# --- rank maps (Figs. 8-10) ----------------------------------------------------------------------


@styled
def plot_rank_maps(
    rows: list[Row],
    pixels: dict[int, np.ndarray],
    stem: Path,
    imagenet: bool,
    categories: tuple[str, ...] = ("rank 1", "ranks 2-5", "ranks 6-10", "other"),
) -> list[Path]:
    """Paper Figs. 8–10: per image (rows) and model (columns), the image overlaid with the rank
    category of each patch's top class in the image's prediction.

    ``rows`` are those of the ``rank_maps`` table; ``categories`` must be its category labels in
    order (colours follow that order).
    """
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    images = list(dict.fromkeys(int(r["image"]) for r in rows))
    if not images:
        return []
    code = {label: i for i, label in enumerate(categories)}
    colours = RANK_COLOURS[: len(categories)]
    cmap = ListedColormap(list(colours))
    size = 1.3
    fig = new_figure(size * (1 + len(models)), size * len(images) + 0.8)
    axes = fig.subplots(len(images), 1 + len(models), squeeze=False)
    cells_of: dict[tuple[str, int], list[Row]] = defaultdict(list)
    for r in rows:
        cells_of[(str(r["model"]), int(r["image"]))].append(r)
    for i, img in enumerate(images):
        picture = display_image(pixels[img], imagenet)  # [H, W, 3]
        h, w = picture.shape[:2]
        axes[i, 0].imshow(picture)
        first = cells_of[(models[0], img)] if models else []
        axes[i, 0].set_ylabel(f"image {img}{_label(first).replace(chr(10), ', ')}", fontsize=7)
        for j, model in enumerate(models, start=1):
            cells = cells_of[(model, img)]
            axes[i, j].imshow(picture)
            axes[i, j].imshow(
                _patch_grid(cells, "category", code),
                cmap=cmap,
                vmin=-0.5,
                vmax=len(categories) - 0.5,
                alpha=0.65,
                interpolation="nearest",
                extent=(-0.5, w - 0.5, h - 0.5, -0.5),  # the picture's own pixel edges
            )
            head = f"{model}\n" if i == 0 else ""
            axes[i, j].set_title(f"{head}pred {int(cells[0]['pred'])}", loc="center", fontsize=7)
    axes[0, 0].set_title("input\n", loc="center", fontsize=7)
    _no_ticks(axes)
    handles = [Patch(color=c, label=lab) for c, lab in zip(colours, categories, strict=False)]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        title="rank of each patch's top class in the image's prediction",
    )
    return save_figure(fig, stem)
