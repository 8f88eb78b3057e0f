"""Accuracy against routed information across a spectrum of runs (the paper's Fig. 1b).

:func:`spectrum_rows` reads the analysis' per-run spectrum table into plain rows;
:func:`write_summary` and :func:`plot_spectrum` only read those rows.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from infovit.analysis.spectrum import format_beta
from infovit.atomic import write_text
from infovit.plotting.common import plt, save_figure

__all__ = ["SpectrumRow", "plot_spectrum", "spectrum_rows", "write_summary"]


@dataclass
class SpectrumRow:
    name: str
    variant: str
    beta: float | None  # None for the endpoints
    beta_convention: str
    top1: float  # percent, mean over passes
    top1_std: float
    kl_per_image: float | None  # nats per image; None for the unmodified ViT (not measured)
    kl_per_image_std: float | None
    passes: int
    run: str


def spectrum_rows(runs: Sequence[str | Path], analysis_dir: str | Path) -> list[SpectrumRow]:
    """One row per run, read from the per-run spectrum table that ``infovit analyze`` wrote
    into ``analysis_dir`` (its accuracy over the extraction's passes: no second evaluation)."""
    from infovit.analysis.tables import read_csv
    from infovit.training.run import RunFolder

    table = read_csv(Path(analysis_dir) / "tables" / "spectrum_runs.csv")
    by_name = {str(r["model"]): r for r in table}
    rows = []
    for run in runs:
        config = RunFolder.open(run).config()
        r = by_name[Path(run).resolve().name]
        measured = math.isfinite(r["kl_per_image"])
        rows.append(
            SpectrumRow(
                name=Path(run).name,
                variant=str(r["variant"]),
                beta=config.beta.value if r["variant"] == "ib" else None,
                beta_convention=config.beta.convention,
                top1=r["top1"],
                top1_std=r["top1_std"],
                kl_per_image=r["kl_per_image"] if measured else None,
                kl_per_image_std=r["kl_per_image_std"] if measured else None,
                passes=int(r["passes"]),
                run=str(run),
            )
        )
    return rows


def write_summary(
    rows: list[SpectrumRow], out_dir: str | Path, ceilings: dict[str, float] | None = None
) -> str:
    """Write ``summary.csv`` and ``summary.md``; return the Markdown table."""
    out_dir = Path(out_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[f.name for f in fields(SpectrumRow)])
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    write_text(out_dir / "summary.csv", buf.getvalue())
    lines = [
        "| model | β (convention) | val top-1 % | KL nats/image |",
        "|---|---|---|---|",
    ]
    for r in rows:
        beta = "—" if r.variant != "ib" else f"{format_beta(r.beta)} ({r.beta_convention})"
        if r.kl_per_image is None:
            kl = "unrestricted"
        else:
            kl = f"{r.kl_per_image:.3g} ± {r.kl_per_image_std or 0:.2g}"
        lines.append(f"| {r.name} | {beta} | {r.top1:.1f} ± {r.top1_std:.1f} | {kl} |")
    if ceilings:
        lines.append("")
        for label, value in ceilings.items():
            lines.append(f"- {label}: {100 * value:.1f}% top-1")
    table = "\n".join(lines) + "\n"
    write_text(out_dir / "summary.md", table)
    return table


def _measured_kl(row: SpectrumRow) -> float:
    """KL per image of a row known to have one (the plotted IB rows)."""
    assert row.kl_per_image is not None
    return row.kl_per_image


def plot_spectrum(
    rows: list[SpectrumRow], out_path: str | Path, ceilings: dict[str, float] | None = None
) -> list[Path]:
    """Val top-1 vs total KL per image (log x). Endpoints: no-attention at the left edge,
    unmodified ViT as a band at the right; writes PNG and PDF next to ``out_path``."""
    ib = sorted((r for r in rows if r.variant == "ib" and r.kl_per_image), key=_measured_kl)
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    if ib:
        xs = [_measured_kl(r) for r in ib]
        ax.errorbar(
            xs,
            [r.top1 for r in ib],
            yerr=[r.top1_std for r in ib],
            fmt="o-",
            color="C0",
            capsize=3,
            label="IB-ViT (β spectrum)",
        )
        for r in ib:
            ax.annotate(
                f"β={format_beta(r.beta)}",
                (r.kl_per_image, r.top1),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
            )
        lo, hi = min(xs) / 3, max(xs) * 3
    else:
        lo, hi = 0.1, 100.0
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    for r in rows:
        if r.variant == "no_attn":
            ax.errorbar(
                [lo * 1.15],
                [r.top1],
                yerr=[r.top1_std],
                fmt="s",
                color="C3",
                label="ViT w/o attention (0 nats)",
            )
        if r.variant == "vit":
            ax.axhline(r.top1, color="C2", ls="--", label="unmodified ViT")
    for i, (label, value) in enumerate((ceilings or {}).items()):
        ax.axhline(100 * value, color="C3", ls=(":", "-.")[i % 2], lw=1, label=label)
    ax.set_xlabel("total KL from attention heads (nats per image, log scale)")
    ax.set_ylabel("validation top-1 accuracy (%)")
    ax.set_title("Accuracy vs routed information")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, Path(out_path).with_suffix(""))
