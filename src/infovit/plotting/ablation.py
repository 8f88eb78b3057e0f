"""The head-ablation figure, drawn from the ``ablation`` section's saved tables only."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from infovit.analysis.tables import Row
from infovit.plotting.style import integer_ticks, log_axis, new_figure, save_figure, styled

__all__ = ["plot_ablation"]

_STYLE = {"prior": ("-", "o", "prior N(0, I)"), "mean": ("--", "s", "data-set mean message")}


@styled
def plot_ablation(cumulative: list[Row], heads: list[Row], stem: Path) -> list[Path]:
    """Left: top-1 as heads are ablated in order of KL (dotted: every head ablated); right:
    each head's accuracy drop against the nats per image it routed."""
    if not cumulative:
        return []
    fig = new_figure(9.5, 3.8)
    left, right = fig.subplots(1, 2)
    curves: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in cumulative:
        curves[(str(r["model"]), str(r["mode"]))].append(r)
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(m for m, _ in curves))}
    for (model, mode), rows in curves.items():
        rows = sorted(rows, key=lambda r: float(r["step"]))
        line, marker, what = _STYLE.get(mode, ("-", "o", mode))
        left.plot(
            [int(r["step"]) for r in rows],
            [float(r["top1"]) for r in rows],
            line,
            marker=marker,
            ms=3,
            color=colours[model],
            label=f"{model}, {what}",
        )
        left.axhline(float(rows[0]["top1_all_heads"]), ls=":", lw=0.8, color=colours[model])
    integer_ticks(left, "x")
    left.set_xlabel("heads ablated, in order of decreasing KL")
    left.set_ylabel("top-1 accuracy (%)")
    left.set_title("Cumulative head ablation (dotted: all heads)", fontsize=9)
    left.legend(fontsize=6)
    for model, colour in colours.items():
        for mode in ("prior", "mean"):
            rows = [r for r in heads if str(r["model"]) == model and r["mode"] == mode]
            if rows:
                right.scatter(
                    [max(float(r["kl_removed"]), 1e-6) for r in rows],
                    [float(r["top1_drop"]) for r in rows],
                    marker=_STYLE[mode][1],
                    s=14,
                    color=colour,
                    label=f"{model}, {_STYLE[mode][2]}",
                )
    log_axis(right, "x")
    right.axhline(0, color="grey", lw=0.5)
    right.set_xlabel("nats per image routed by the head (removed)")
    right.set_ylabel("top-1 drop (percentage points)")
    right.set_title("One head ablated at a time", fontsize=9)
    if heads:
        right.legend(fontsize=6)
    return save_figure(fig, stem)
