"""The command line shared by the scripts in ``experiments/``: a demo folder and its runs.

Run as ``python experiments/SCRIPT.py``, a script has this folder on its import path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infovit.analysis.context import LoadedRun
from infovit.analysis.loading import load_runs
from infovit.demo.pipeline import DEMO_CHECKPOINT
from infovit.training.run import RunFolder

__all__ = ["demo_runs", "load_demo", "parse_demo_args"]


def demo_runs(demo: Path) -> list[Path]:
    """The folders under ``demo/runs`` that hold a run's config, sorted; [] if there are none."""
    runs_dir = demo / "runs"
    if not runs_dir.is_dir():
        return []
    return sorted(d for d in runs_dir.iterdir() if RunFolder(d).config_path.is_file())


def load_demo(runs: list[Path]) -> list[LoadedRun]:
    """The runs' checkpoints that ``infovit demo`` analyses (its final weights), on the CPU."""
    return load_runs(runs, device="cpu", tag=DEMO_CHECKPOINT)


def parse_demo_args(
    argv: list[str] | None, description: str | None, images_help: str
) -> tuple[argparse.Namespace, list[Path]] | None:
    """Parse ``demo [--images N] [--seed S]`` and find the demo's runs; None after a one-line
    error on stderr (the caller exits 2)."""
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("demo", type=Path, help="a demo output folder (with runs/)")
    p.add_argument("--images", type=int, default=1024, help=images_help)
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled channel noise")
    args = p.parse_args(argv)
    if args.images < 1:
        print(f"error: --images must be ≥ 1, got {args.images}", file=sys.stderr)
        return None
    runs = demo_runs(args.demo)
    if not runs:
        print(
            f"error: no run folders in {args.demo / 'runs'}; train them with infovit demo",
            file=sys.stderr,
        )
        return None
    return args, runs
