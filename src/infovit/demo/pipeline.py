"""The demo: a spectrum of models on the synthetic known-answer task, trained on CPU.

No-attention, IB-ViTs at several β (mean convention), and the unmodified ViT share one small
architecture (4 blocks, width 64, 2 heads). The synthetic label needs cross-patch communication
for its repeat bit, so the figure shows the independent-patch model at or below its documented
ceiling and the models that route information above it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from infovit.analysis.loading import load_runs
from infovit.analysis.report import AnalysisOptions, analyze
from infovit.atomic import write_text
from infovit.data.synthetic import SyntheticConfig, independent_patch_ceiling
from infovit.demo.findings import format_findings, routing_findings
from infovit.demo.spectrum import plot_spectrum, spectrum_rows, write_summary
from infovit.errors import InfovitError
from infovit.training.config import load_config
from infovit.training.trainer import train

__all__ = ["DEMO_BETAS", "demo_overrides", "run_demo"]

DEMO_BETAS: tuple[float, ...] = (30.0, 3.0, 0.3, 0.03)


def demo_overrides(variant: str, beta: float, quick: bool) -> list[str]:
    """Config overrides of one demo model."""
    n_train, n_val, epochs = (256, 256, 1) if quick else (4096, 1024, 20)
    return [
        "--model.variant", variant,
        "--model.depth", "4", "--model.embed_dim", "64", "--model.num_heads", "2",
        "--model.bottleneck.rank", "8", "--model.bottleneck.hidden", "32",
        "--data.spec", f"synthetic:n_train={n_train},n_val={n_val}",
        "--data.batch_size", "128",
        "--optim.epochs", str(epochs), "--optim.lr", "2e-3", "--optim.warmup_epochs", "1",
        "--optim.device", "cpu",
        # log ramp from 1e-4: the model first finds the cross-patch solution nearly unpriced,
        # then β squeezes it (a linear ramp closes every head before the solution forms)
        "--beta.value", str(beta), "--beta.schedule", "log", "--beta.start", "1e-4",
        "--beta.warmup_epochs", str(max(6 * epochs // 10, 1)),
    ]  # fmt: skip


def _analyse(runs: list[Path], out: Path, quick: bool, progress: bool) -> str:
    """Analyse the trained runs (spectrum over 5 stochastic passes, heads, voting, KL maps,
    JSD, repetition probe) into ``out/analysis``; summarise what the bottlenecked models route."""
    analysis = out / "analysis"
    loaded = load_runs(runs, device="cpu")
    options = AnalysisOptions(
        passes=5,
        max_images=256 if quick else 1024,
        pairs=32 if quick else 256,
        progress=progress,
    )
    analyze(loaded, analysis, options)
    keys = loaded[0].dataset.keys.numpy()  # type: ignore[attr-defined]
    section = format_findings(routing_findings(analysis, keys))
    write_text(out / "routing.md", section)
    return section + f"\nanalysis tables and figures: {analysis / 'index.md'}\n"


def run_demo(out: str | Path, quick: bool = False, progress: bool = True) -> str:
    """Train the spectrum into ``out/runs``, evaluate, and write the figure and summary."""
    out = Path(out)
    runs_dir = out / "runs"
    if runs_dir.exists():
        shutil.rmtree(runs_dir)  # the demo is a fresh, reproducible job each time
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    plan = [("no_attn", 0.0)] + [("ib", b) for b in DEMO_BETAS] + [("vit", 0.0)]
    if quick:
        plan = [("no_attn", 0.0), ("ib", 30.0), ("vit", 0.0)]
    runs = []
    t0 = time.perf_counter()
    for variant, beta in plan:
        name = variant if variant != "ib" else f"ib_beta{beta:g}"
        print(f"[demo] training {name} …", flush=True)
        cfg = load_config(None, demo_overrides(variant, beta, quick))
        train(cfg, runs_dir / name, progress=progress)
        runs.append(runs_dir / name)
    routing = _analyse(runs, out, quick, progress)
    rows = spectrum_rows(runs, out / "analysis")
    if not rows:
        raise InfovitError("the demo trained no model")
    symbols = SyntheticConfig().symbols
    ceilings = {
        "independent-patch ceiling, symbol-symmetric votes": independent_patch_ceiling(
            symbols, symmetric=True
        ),
        "independent-patch ceiling, any votes": independent_patch_ceiling(symbols),
    }
    table = write_summary(rows, out, ceilings=ceilings)
    figures = plot_spectrum(rows, out / "spectrum", ceilings=ceilings)
    table += "\n" + routing
    minutes = (time.perf_counter() - t0) / 60
    return (
        table
        + f"\nfigures: {', '.join(str(f) for f in figures)}\n"
        + f"runs: {runs_dir}  ({minutes:.1f} min)\n"
    )
