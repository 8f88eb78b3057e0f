"""The spectrum in one run: a β ladder with snapshots against independent runs at each β.

On CPU, with the demo's architecture on the plain synthetic task (demo_overrides, task="":
4 blocks, width 64, 2 heads; 20 epochs per independent run, log ramp over the first 6),
for every seed:

- independent runs at each β (BETAS: 10, 3, 0.3, 0.03, the plain-task demo's until it moved);
- one ascending ladder (0.03 → 10: open channels first, then closing them) and one descending
  ladder (10 → 0.03), each: a log ramp from 1e-4 over --ramp epochs, then --hold epochs per
  milestone, lr --ladder-lr; a snapshot at every milestone's end.

Measured per β: top-1 and KL per image (mean ± std over seeds, --passes stochastic passes),
the active heads (a head's per-patch KL > 0.01 nats somewhere, analysis.heads.active_heads),
and the NMI between corresponding heads (same block and head; the same seed gives the same
initial weights) active in both the snapshot and the independent run of the same seed; the
cost (epochs, wall time) of each approach. Target: a ladder costs ≤ 1/4 of the independent
runs; a snapshot's top-1 and KL lie within the seed range (min–max) of the independent runs.

Tables (CSV + markdown) go to OUT/; the figure OUT/anneal_vs_independent.png is drawn from the
saved tables only (--plot-only redraws it).

    python benchmarks/anneal_vs_independent.py --quick            # smoke test, < 1 min
    python benchmarks/anneal_vs_independent.py                    # 3 seeds (42, 1, 2), ~20 min
    python benchmarks/anneal_vs_independent.py --seeds 42 --hold 6 --ramp 2 --out bench/h6
    python benchmarks/anneal_vs_independent.py --ladder-lr constant --out bench/const
    python benchmarks/anneal_vs_independent.py --plot-only --out bench/anneal
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infovit.analysis.heads import active_heads
from infovit.demo.pipeline import demo_overrides
from infovit.information import extract_head_posteriors, normalized_mutual_information
from infovit.training import RunFolder, load_config, load_model, train
from infovit.training.evaluate import evaluate_run
from infovit.training.run import validation_set
from infovit.training.snapshot import list_snapshots

BETAS = (10.0, 3.0, 0.3, 0.03)  # the β of docs/anneal_vs_independent.md

APPROACHES = ("independent", "ascending", "descending")
FIELDS = ["approach", "seed", "beta", "top1", "kl", "active", "n_active", "nmi", "nmi_heads",
          "epochs", "seconds", "run"]  # fmt: skip
SUMMARY_FIELDS = ["beta", "approach", "seeds", "top1_mean", "top1_std", "top1_inside",
                  "kl_mean", "kl_std", "kl_inside", "n_active_mean", "n_active_std", "nmi_mean",
                  "nmi_std"]  # fmt: skip


def say(text: str) -> None:
    print(f"[anneal] {text}", flush=True)


# ---------------------------------------------------------------- training


def independent_args(beta: float, seed: int, quick: bool) -> list[str]:
    # the plain task (every tile shows its tint), which docs/anneal_vs_independent.md measured
    args = [*demo_overrides("ib", beta, quick=False, seed=seed, task="")]
    if quick:  # the demo's model on a tenth of its data, 2 epochs (1 of β ramp)
        args += ["--data.spec", "synthetic:n_train=256,n_val=64", "--optim.epochs", "2",
                 "--beta.warmup_epochs", "1"]  # fmt: skip
    return args


def ladder_args(betas: Sequence[float], seed: int, opts: argparse.Namespace) -> list[str]:
    milestones = "[" + ",".join(f"{b:g}" for b in betas) + "]"
    epochs = opts.ramp + len(betas) * opts.hold
    return [
        *independent_args(betas[0], seed, opts.quick),
        "--optim.epochs", str(epochs), "--optim.ladder_lr", opts.ladder_lr,
        "--beta.schedule", "ladder", "--beta.milestones", milestones,
        "--beta.hold_epochs", str(opts.hold), "--beta.warmup_epochs", str(opts.ramp),
        "--beta.ramp", "log", "--beta.start", "1e-4",
    ]  # fmt: skip


def timed_train(args: list[str], out: Path) -> float:
    """Train into ``out`` (a fresh folder); the wall time in seconds."""
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    train(load_config(None, args), out, progress=False)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- measuring


def kl_heads(path: Path, n_images: int) -> np.ndarray:
    """[N, L, H, P] per-patch KL of each head (μ-noise upstream) on the first validation images."""
    model, config = load_model(path)
    data = validation_set(config)
    images = torch.stack([data[i][0] for i in range(min(n_images, len(data)))])  # type: ignore[arg-type]
    with torch.inference_mode():
        kl = model.forward_info(images, noise="mean").kl  # [N, L, H, T]
    assert kl is not None
    return kl[..., model.num_prefix_tokens :].numpy()


def measure(path: Path, passes: int, n_images: int) -> dict[str, Any]:
    result, _ = evaluate_run(path, passes=passes, device="cpu", progress=False)
    active = active_heads(kl_heads(path, n_images))  # [L, H]
    heads = [f"{b}.{h}" for b, h in zip(*np.nonzero(active), strict=True)]
    return {"top1": result.top1, "kl": result.kl_per_image, "active": " ".join(heads),
            "n_active": len(heads)}  # fmt: skip


def head_nmi(a: Path, b: Path, heads: list[str], n_images: int) -> float:
    """Mean NMI over ``heads`` (``"block.head"``) between the same head of runs a and b."""
    if not heads:
        return math.nan
    pairs = [tuple(int(x) for x in h.split(".")) for h in heads]
    posts = []
    for path in (a, b):
        model, config = load_model(path)
        posts.append(extract_head_posteriors(model, validation_set(config), pairs,  # type: ignore[arg-type]
                                             n_images=n_images))  # fmt: skip
    values = [normalized_mutual_information(posts[0][p], posts[1][p], seed=0).value for p in pairs]
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def run_seed(seed: int, opts: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    """Train and measure one seed: independent runs, then both ladders; the rows."""
    rows: list[dict[str, Any]] = []
    independent: dict[float, Path] = {}
    for beta in opts.betas:
        path = root / "runs" / f"seed{seed}" / f"independent_beta{beta:g}"
        say(f"seed {seed}: independent run at β = {beta:g} …")
        seconds = timed_train(independent_args(beta, seed, opts.quick), path)
        independent[beta] = path
        epochs = len(RunFolder(path).read_metrics())
        rows.append({"approach": "independent", "seed": seed, "beta": beta, "epochs": epochs,
                     "seconds": seconds, "run": str(path),
                     **measure(path, opts.passes, opts.nmi_images)})  # fmt: skip
    for direction in ("ascending", "descending"):
        betas = sorted(opts.betas, reverse=direction == "descending")
        path = root / "runs" / f"seed{seed}" / f"ladder_{direction}"
        say(f"seed {seed}: {direction} ladder {' → '.join(f'{b:g}' for b in betas)} …")
        seconds = timed_train(ladder_args(betas, seed, opts), path)
        epochs = len(RunFolder(path).read_metrics())
        for snap in list_snapshots(path):
            lineage = RunFolder(snap).meta()["snapshot"]
            beta = float(lineage["beta"])
            row = {"approach": direction, "seed": seed, "beta": beta, "epochs": epochs,
                   "seconds": seconds, "run": str(snap),
                   **measure(snap, opts.passes, opts.nmi_images)}  # fmt: skip
            ind = next(r for r in rows if r["approach"] == "independent" and r["beta"] == beta)
            both = sorted(set(row["active"].split()) & set(ind["active"].split()))
            row["nmi_heads"] = " ".join(both)
            row["nmi"] = head_nmi(snap, independent[beta], both, opts.nmi_images)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- tables


def write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for key in ("beta", "top1", "kl", "nmi", "seconds"):
            r[key] = float(r[key]) if r.get(key) not in (None, "") else math.nan
        for key in ("seed", "epochs", "n_active"):
            r[key] = int(r[key])
    return rows


def _stats(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def cost_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Total epochs and wall time of each approach (over seeds); ratio to independent."""
    out = []
    for approach in APPROACHES:
        runs = {(r["seed"], r["run"] if approach == "independent" else approach): r
                for r in rows if r["approach"] == approach}  # fmt: skip
        epochs = sum(r["epochs"] for r in runs.values())
        seconds = sum(r["seconds"] for r in runs.values())
        out.append({"approach": approach, "epochs": epochs, "seconds": seconds})
    base = out[0]
    for r in out:
        r["epoch_ratio"] = r["epochs"] / base["epochs"]
        r["time_ratio"] = r["seconds"] / base["seconds"]
    return out


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per approach and β: mean ± std over seeds; for snapshots whether each seed's value lies
    within the independent runs' seed range (min–max), and the NMI to them."""
    out = []
    for beta in sorted({r["beta"] for r in rows}, reverse=True):
        ind = [r for r in rows if r["approach"] == "independent" and r["beta"] == beta]
        lo = {k: min(r[k] for r in ind) for k in ("top1", "kl")}
        hi = {k: max(r[k] for r in ind) for k in ("top1", "kl")}
        for approach in APPROACHES:
            sel = [r for r in rows if r["approach"] == approach and r["beta"] == beta]
            if not sel:
                continue
            row: dict[str, Any] = {"beta": beta, "approach": approach, "seeds": len(sel)}
            for key in ("top1", "kl", "n_active", "nmi"):
                row[f"{key}_mean"], row[f"{key}_std"] = _stats([float(r[key]) for r in sel])
            if approach != "independent":
                for key in ("top1", "kl"):
                    inside = sum(lo[key] <= r[key] <= hi[key] for r in sel)
                    row[f"{key}_inside"] = f"{inside}/{len(sel)}"
            out.append(row)
    return out


def markdown(cost: list[dict[str, Any]], summary: list[dict[str, Any]]) -> str:
    lines = ["| approach | epochs | wall time | epochs ÷ independent | time ÷ independent |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in cost:
        lines.append(f"| {r['approach']} | {r['epochs']} | {r['seconds'] / 60:.1f} min | "
                     f"{r['epoch_ratio']:.2f} | {r['time_ratio']:.2f} |")  # fmt: skip
    lines += ["", "| β | approach | top-1 % | in range | KL nats/image | in range | active heads "
              "| NMI to independent |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in summary:
        nmi = "—" if r["approach"] == "independent" else _pm(r["nmi_mean"], r["nmi_std"], 2)
        lines.append(
            f"| {r['beta']:g} | {r['approach']} | {_pm(r['top1_mean'], r['top1_std'], 1)} | "
            f"{r.get('top1_inside', '—')} | {_pm(r['kl_mean'], r['kl_std'], 1)} | "
            f"{r.get('kl_inside', '—')} | {r['n_active_mean']:.1f} | {nmi} |"
        )
    return "\n".join(lines) + "\n"


def _pm(mean: float, std: float, digits: int) -> str:
    return "n/a" if not math.isfinite(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}"


# ---------------------------------------------------------------- figure

STYLE = {"independent": ("black", "o", "-"), "ascending": ("tab:blue", "^", "--"),
         "descending": ("tab:orange", "v", ":")}  # fmt: skip
LABELS = {"independent": "independent runs", "ascending": "ascending ladder snapshots",
          "descending": "descending ladder snapshots"}  # fmt: skip


def plot(out: Path) -> Path:
    """The figure, from the saved tables ``cost.csv`` and ``summary.csv`` only."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    cost = list(csv.DictReader(open(out / "cost.csv", newline="")))
    summary = list(csv.DictReader(open(out / "summary.csv", newline="")))
    fig = Figure(figsize=(22, 5.2), layout="constrained")
    axes = fig.subplots(1, 5)
    ax = axes[0]
    names = [r["approach"] for r in cost]
    minutes = [float(r["seconds"]) / 60 for r in cost]
    bars = ax.bar(range(len(cost)), minutes, color=[STYLE[n][0] for n in names])
    for bar, r in zip(bars, cost, strict=True):
        ax.annotate(f"{int(r['epochs'])} ep, ×{float(r['time_ratio']):.2f}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")  # fmt: skip
    ax.set_xticks(range(len(cost)), names)
    ax.set_ylabel("total wall time (min)")
    ax.set_ylim(0, max(minutes) * 1.2)
    ax.set_title("cost, all seeds (label: epochs, time ÷ independent)", fontsize=9)
    panels = [("top1", "top-1 (%)", "accuracy"), ("kl", "KL per image (nats)", "information"),
              ("n_active", "active heads", "heads with KL > 0.01 nats"),
              ("nmi", "NMI to the same head", "NMI snapshot vs independent")]  # fmt: skip
    for ax, (key, label, title) in zip(axes[1:], panels, strict=True):
        for approach in APPROACHES:
            rows = [r for r in summary if r["approach"] == approach]
            if key == "nmi" and approach == "independent":
                continue
            beta = [float(r["beta"]) for r in rows]
            mean = [float(r[f"{key}_mean"]) for r in rows]
            std = [float(r[f"{key}_std"]) for r in rows]
            color, marker, line = STYLE[approach]
            ax.errorbar(beta, mean, yerr=std, color=color, marker=marker, linestyle=line,
                        capsize=3, label=LABELS[approach])  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("β (mean convention)")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=9)
        if key == "n_active":
            top = max(float(r["n_active_mean"]) + float(r["n_active_std"]) for r in summary)
            ax.set_ylim(0, math.ceil(top) + 1)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if key == "nmi":  # a Monte Carlo estimate: may pass 1 by its error
            ax.set_ylim(0, 1.15)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=9,
               title="points: mean over seeds; bars: ± std over seeds; same colours in the "
               "cost panel", title_fontsize=9)  # fmt: skip
    path = out / "anneal_vs_independent.png"
    fig.savefig(path, dpi=110)
    return path


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", default=None, help="comma-separated (default 42,1,2; --quick: 42)")
    p.add_argument("--betas", default=None, help="comma-separated β values (default: the "
                   "demo's 30,3,0.3,0.03; --quick: 3,0.03)")  # fmt: skip
    p.add_argument("--hold", type=int, default=None, help="epochs per milestone (default 4; "
                   "--quick 1)")  # fmt: skip
    p.add_argument("--ramp", type=int, default=None, help="epochs of log ramp before the first "
                   "milestone (default 4; --quick 1)")  # fmt: skip
    p.add_argument("--ladder-lr", default="rewarm", choices=("rewarm", "constant", "cosine"))
    p.add_argument("--passes", type=int, default=None, help="eval passes (default 5; --quick 1)")
    p.add_argument("--nmi-images", type=int, default=None, help="validation images for active "
                   "heads and NMI (default 64; --quick 8)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="tiny: 1 seed, 2 β, few epochs (< 1 min)")
    p.add_argument("--out", default="bench/anneal", help="output folder (default bench/anneal)")
    p.add_argument("--plot-only", action="store_true", help="redraw the figure from OUT's tables")
    opts = p.parse_args(argv)
    out = Path(opts.out)
    if opts.plot_only:
        say(f"figure: {plot(out)}")
        return 0
    q = opts.quick
    opts.seeds = [int(s) for s in (opts.seeds or ("42" if q else "42,1,2")).split(",")]
    opts.betas = [float(b) for b in opts.betas.split(",")] if opts.betas else (
        [3.0, 0.03] if q else list(BETAS))  # fmt: skip
    opts.hold = opts.hold or (1 if q else 4)
    opts.ramp = opts.ramp if opts.ramp is not None else (1 if q else 4)
    opts.passes = opts.passes or (1 if q else 5)
    opts.nmi_images = opts.nmi_images or (8 if q else 64)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    say(f"seeds {opts.seeds}, β {opts.betas}, ladder: ramp {opts.ramp} + "
        f"{len(opts.betas)} × {opts.hold} epochs, lr {opts.ladder_lr} → {out}")  # fmt: skip
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for seed in opts.seeds:
        rows += run_seed(seed, opts, out)
        write_csv(out / "runs.csv", rows, FIELDS)  # after every seed: a partial result survives
    rows = read_csv(out / "runs.csv")
    cost, summary = cost_rows(rows), summary_rows(rows)
    write_csv(out / "cost.csv", cost, list(cost[0]))
    write_csv(out / "summary.csv", summary, SUMMARY_FIELDS)
    table = markdown(cost, summary)
    (out / "summary.md").write_text(table)
    print(table)
    for r in summary:
        if r["approach"] != "independent":
            say(f"β = {r['beta']:g} {r['approach']}: top-1 within the independent seed range "
                f"for {r['top1_inside']} seeds, KL for {r['kl_inside']}")  # fmt: skip
    say(f"figure: {plot(out)}")
    say(f"done in {(time.perf_counter() - t0) / 60:.1f} min; tables in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
