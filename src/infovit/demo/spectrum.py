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
from infovit.model.capabilities import has_attention, is_priced, nats_measured
from infovit.plotting.figures import SpectrumPoint, draw_spectrum
from infovit.plotting.style import new_figure, save_figure, styled

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
        beta = "—" if not is_priced(r) else f"{format_beta(r.beta)} ({r.beta_convention})"
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


@styled
def plot_spectrum(
    rows: list[SpectrumRow], out_path: str | Path, ceilings: dict[str, float] | None = None
) -> list[Path]:
    """Val top-1 vs total KL per image (log x), the paper's Fig. 1b. Endpoints: no attention at
    the left edge, the unmodified ViT as a line with its ±std band; ``ceilings`` (accuracies in
    [0, 1]) as further lines. Writes PNG, PDF and SVG next to ``out_path``; returns the paths."""
    points = [
        SpectrumPoint(r.kl_per_image, r.top1, r.top1_std, f"β={format_beta(r.beta)}")
        for r in rows
        if is_priced(r) and r.kl_per_image
    ]
    no_attn = [(r.top1, r.top1_std) for r in rows if not has_attention(r)]
    vit = [(r.top1, r.top1_std) for r in rows if not nats_measured(r)]
    fig = new_figure(5.2, 4.6)
    ax = fig.add_subplot()
    draw_spectrum(fig, ax, points, no_attn, vit, ceilings=ceilings)
    ax.set_title("Accuracy vs routed information")
    return save_figure(fig, Path(out_path).with_suffix(""))
