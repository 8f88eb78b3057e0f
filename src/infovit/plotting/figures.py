"""Figures of the analysis tables (infovit.analysis). Each function reads rows, draws, saves.

No numbers are computed here beyond layout: every plotted value is a column of a table.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from infovit.analysis.tables import Row
from infovit.plotting.common import display_image, plt, save_figure

__all__ = [
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


def plot_spectrum(rows: list[Row], stem: Path) -> list[Path]:
    """Top-1 (mean ± std) vs nats per image, log x; endpoints marked; Pareto front joined."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    measured = [r for r in rows if np.isfinite(r["kl_per_image"])]
    positive = [r["kl_per_image"] for r in measured if r["kl_per_image"] > 0]
    lo = min(positive) / 10 if positive else 1e-2
    hi = max(positive) * 10 if positive else 1e2
    for r in rows:
        x = r["kl_per_image"]
        if not np.isfinite(x):
            x, marker, color = hi, ">", "tab:orange"  # unpriced: drawn at the right edge
        elif x <= 0:
            x, marker, color = lo, "<", "tab:blue"  # zero nats: drawn at the left edge
        else:
            marker, color = "o", "tab:green"
        ax.errorbar(x, r["top1"], yerr=r["top1_std"], fmt=marker, color=color, capsize=3)
        ax.annotate(
            str(r["config"]), (x, r["top1"]), fontsize=6, xytext=(3, 3), textcoords="offset points"
        )
    front = sorted(
        (r for r in rows if r.get("pareto") in (True, "True") and r["kl_per_image"] > 0),
        key=lambda r: r["kl_per_image"],
    )
    if front:
        ax.plot(
            [r["kl_per_image"] for r in front],
            [r["top1"] for r in front],
            "--",
            color="grey",
            lw=1,
            label="Pareto front",
        )
        ax.legend(fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(lo / 2, hi * 2)
    ax.set_xlabel("total KL per image (nats; ◀ no attention = 0, ▶ unmodified ViT = unpriced)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy–information spectrum")
    return save_figure(fig, stem)


def _by_model(rows: list[Row]) -> dict[str, list[Row]]:
    """Rows grouped by their ``model`` column, in first-seen order."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[str(r["model"])].append(r)
    return groups


def plot_survival(rows: list[Row], stem: Path) -> list[Path]:
    """P(KL ≥ x) per head, one panel per model; line colour by block."""
    by_model = _by_model(rows)
    n = max(len(by_model), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.5), squeeze=False)
    for ax, (model, mrows) in zip(axes[0], by_model.items(), strict=False):
        curves: dict[tuple[int, int], list[Row]] = defaultdict(list)
        for r in mrows:
            curves[(int(r["block"]), int(r["head"]))].append(r)
        nblocks = max(b for b, _ in curves) + 1
        for (b, _h), c in curves.items():
            ax.plot(
                [r["kl"] for r in c],
                [r["survival"] for r in c],
                lw=0.8,
                color=plt.cm.viridis(b / max(nblocks - 1, 1)),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("per-patch KL x (nats)")
        ax.set_ylabel("P(KL ≥ x) over validation patches")
        ax.set_title(f"{model} (colour: block)", fontsize=8)
    return save_figure(fig, stem)


def plot_active_heads(rows: list[Row], stem: Path) -> list[Path]:
    """Grid of heads (block 0 at the bottom): colour = max KL, ✓ = active."""
    by_model = _by_model(rows)
    n = max(len(by_model), 1)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n + 1, 4), squeeze=False)
    for ax, (model, mrows) in zip(axes[0], by_model.items(), strict=False):
        L = int(max(r["block"] for r in mrows)) + 1
        H = int(max(r["head"] for r in mrows)) + 1
        grid = np.zeros((L, H))
        for r in mrows:
            grid[int(r["block"]), int(r["head"])] = np.log10(max(float(r["kl_max"]), 1e-6))
        im = ax.imshow(grid, origin="lower", cmap="magma", aspect="auto", vmin=-4)
        for r in mrows:
            if r["active"] in (True, "True"):
                ax.text(
                    int(r["head"]),
                    int(r["block"]),
                    f"{int(r['active_dims'])}d",
                    ha="center",
                    va="center",
                    color="cyan",
                    fontsize=7,
                )
        n_active = sum(r["active"] in (True, "True") for r in mrows)
        ax.set_title(f"{model}: {n_active} active", fontsize=8)
        ax.set_xlabel("head")
        ax.set_ylabel("block")
        fig.colorbar(im, ax=ax, label="log10 max KL (nats)")
    return save_figure(fig, stem)


def plot_voting(rows: list[Row], stem: Path) -> list[Path]:
    """Inverse Simpson index vs logit range: medians with interquartile bars, one per model."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for r in rows:
        x, y = r["logit_range_median"], r["simpson_median"]
        ax.errorbar(
            x,
            y,
            xerr=[[x - r["logit_range_q25"]], [r["logit_range_q75"] - x]],
            yerr=[[y - r["simpson_q25"]], [r["simpson_q75"] - y]],
            fmt="o",
            capsize=3,
            label=str(r["model"]),
        )
    ax.set_xlabel("patch logit range, max − min over patches and classes (logits)")
    ax.set_ylabel("inverse Simpson index of patch votes (classes)")
    ax.set_title("Patch voting (median, IQR)")
    if rows:
        ax.legend(fontsize=7)
    return save_figure(fig, stem)


def plot_kl_maps(
    rows: list[Row], pixels: dict[int, np.ndarray], stem: Path, imagenet: bool
) -> list[Path]:
    """Images (top row) and per-patch KL maps per model, one shared colour range per model."""
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    images = list(dict.fromkeys(int(r["image"]) for r in rows))
    if not images:
        return []
    fig, axes = plt.subplots(
        1 + len(models),
        len(images),
        squeeze=False,
        figsize=(1.8 * len(images), 1.8 * (1 + len(models))),
    )
    for j, img in enumerate(images):
        axes[0, j].imshow(display_image(pixels[img], imagenet))
        axes[0, j].set_title(f"image {img}", fontsize=7)
    for i, model in enumerate(models, start=1):
        mrows = [r for r in rows if r["model"] == model]
        vmax = max(float(r["kl"]) for r in mrows) or 1.0
        for j, img in enumerate(images):
            cells = [r for r in mrows if int(r["image"]) == img]
            grid = np.zeros(
                (int(max(r["row"] for r in cells)) + 1, int(max(r["col"] for r in cells)) + 1)
            )
            for r in cells:
                grid[int(r["row"]), int(r["col"])] = r["kl"]
            im = axes[i, j].imshow(grid, cmap="inferno", vmin=0, vmax=vmax)
            axes[i, j].set_title(f"{model} pred {int(cells[0]['pred'])}", fontsize=6)
        fig.colorbar(im, ax=list(axes[i]), label="KL (nats)", shrink=0.8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, stem)


def plot_jsd_bins(rows: list[Row], stem: Path) -> list[Path]:
    """Stacked shares of images per JSD bin, one bar per model, one panel per reference."""
    refs = list(dict.fromkeys(str(r["reference"]) for r in rows))
    fig, axes = plt.subplots(len(refs) or 1, 1, figsize=(6, 2.2 * max(len(refs), 1)), squeeze=False)
    for ax, ref in zip(axes[:, 0], refs, strict=False):
        rrows = [r for r in rows if r["reference"] == ref]
        models = list(dict.fromkeys(str(r["model"]) for r in rrows))
        bins = sorted({int(r["bin"]) for r in rrows})
        left = np.zeros(len(models))
        for b in bins:
            share = np.array(
                [
                    next(float(r["share"]) for r in rrows if r["model"] == m and int(r["bin"]) == b)
                    for m in models
                ]
            )
            lo, hi = next((r["jsd_lo"], r["jsd_hi"]) for r in rrows if int(r["bin"]) == b)
            ax.barh(
                models,
                share,
                left=left,
                label=f"[{lo:.2g}, {hi:.2g})",
                color=plt.cm.cividis(b / max(len(bins) - 1, 1)),
            )
            left += share
        ax.set_xlabel("share of validation images")
        ax.set_title(f"JSD (nats) of class probabilities vs {ref}", fontsize=8)
        ax.legend(fontsize=6, ncol=len(bins), loc="lower center", bbox_to_anchor=(0.5, 1.1))
    return save_figure(fig, stem)


def plot_repetition(rows: list[Row], stem: Path, max_heads: int = 8) -> list[Path]:
    """Mean ± std latent shift vs number of pasted copies, for the heads with largest shifts."""
    fig, ax = plt.subplots(figsize=(5, 4))
    heads: dict[tuple[str, int, int], list[Row]] = defaultdict(list)
    for r in rows:
        heads[(str(r["model"]), int(r["block"]), int(r["head"]))].append(r)
    ranked = sorted(heads.items(), key=lambda kv: -max(abs(r["shift_mean"]) for r in kv[1]))
    for (model, b, h), hr in ranked[:max_heads]:
        hr = sorted(hr, key=lambda r: r["copies"])
        ax.errorbar(
            [r["copies"] for r in hr],
            [r["shift_mean"] for r in hr],
            yerr=[r["shift_std"] for r in hr],
            marker="o",
            capsize=3,
            label=f"{model} {b}.{h}",
        )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("copies of the patch pasted elsewhere (N)")
    ax.set_ylabel("latent mean shift μ_aug − μ₀ (dominant dim)")
    ax.set_title("Repetition probe")
    if ranked:
        ax.legend(fontsize=6)
    return save_figure(fig, stem)


def plot_extreme(
    rows: list[Row],
    pixels: np.ndarray,
    attn: np.ndarray,
    patch_size: tuple[int, int],
    stem: Path,
    imagenet: bool,
    per_sign: int = 4,
) -> list[Path]:
    """For each sign: image with the patch outlined (red) above the head's attention map."""
    from matplotlib.patches import Rectangle

    picks = [i for s in "+-" for i in [k for k, r in enumerate(rows) if r["sign"] == s][:per_sign]]
    if not picks:
        return []
    fig, axes = plt.subplots(2, len(picks), figsize=(1.8 * len(picks), 3.8), squeeze=False)
    ph, pw = patch_size
    for j, k in enumerate(picks):
        r = rows[k]
        axes[0, j].imshow(display_image(pixels[k], imagenet))
        axes[0, j].add_patch(
            Rectangle(
                (r["patch_col"] * pw - 0.5, r["patch_row"] * ph - 0.5),
                pw,
                ph,
                fill=False,
                edgecolor="red",
                lw=1.5,
            )
        )
        axes[0, j].set_title(f"{r['sign']} μ={r['mu']:.2g}\nKL={r['kl']:.2g} nats", fontsize=6)
        axes[1, j].imshow(attn[k], cmap="viridis")
        axes[1, j].plot(r["patch_col"], r["patch_row"], "rs", ms=3)
        axes[1, j].set_title("attention (query patch)", fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    r0 = rows[0]
    fig.suptitle(f"{r0['model']} head {r0['block']}.{r0['head']}: top-KL patches", fontsize=8)
    return save_figure(fig, stem)


# Colours of the rank categories (rank 1, 2-5, 6-10, other), in category order.
RANK_COLOURS = ("#1a9850", "#fdae61", "#d73027", "#4d4d4d")


def plot_rank_maps(
    rows: list[Row],
    pixels: dict[int, np.ndarray],
    stem: Path,
    imagenet: bool,
    categories: tuple[str, ...] = ("rank 1", "ranks 2-5", "ranks 6-10", "other"),
) -> list[Path]:
    """Per image (rows) and model (columns): the image overlaid with each patch's rank category.

    ``rows`` are those of :func:`infovit.analysis.rank_maps.rank_map_table`; ``categories`` must
    be its category labels in order (colours follow that order).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    images = list(dict.fromkeys(int(r["image"]) for r in rows))
    if not images:
        return []
    code = {label: i for i, label in enumerate(categories)}
    cmap = ListedColormap(RANK_COLOURS[: len(categories)])
    fig, axes = plt.subplots(
        len(images),
        1 + len(models),
        squeeze=False,
        figsize=(1.8 * (1 + len(models)), 1.8 * len(images)),
    )
    for i, img in enumerate(images):
        picture = display_image(pixels[img], imagenet)  # [H, W, 3]
        h, w = picture.shape[:2]
        axes[i, 0].imshow(picture)
        axes[i, 0].set_title(f"image {img}", fontsize=7)
        for j, model in enumerate(models, start=1):
            cells = [r for r in rows if r["model"] == model and int(r["image"]) == img]
            grid = np.zeros(
                (int(max(r["row"] for r in cells)) + 1, int(max(r["col"] for r in cells)) + 1)
            )
            for r in cells:
                grid[int(r["row"]), int(r["col"])] = code[str(r["category"])]
            axes[i, j].imshow(picture)
            axes[i, j].imshow(
                grid,
                cmap=cmap,
                vmin=-0.5,
                vmax=len(categories) - 0.5,
                alpha=0.55,
                interpolation="nearest",
                extent=(0, w, h, 0),
            )
            axes[i, j].set_title(f"{model} pred {int(cells[0]['pred'])}", fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(color=c, label=lab) for c, lab in zip(RANK_COLOURS, categories, strict=False)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=6, frameon=False)
    fig.suptitle("rank of each patch's top class in the image's prediction", fontsize=8)
    return save_figure(fig, stem)
