"""``infovit demo``: a CPU demo of the whole spectrum on the built-in synthetic task."""

from __future__ import annotations

import argparse

__all__ = ["register"]

EXAMPLES = """\
examples:
  infovit demo --out demo_out            # ~5–10 minutes on 2 CPU cores
  infovit demo --out demo_out --quick    # a smoke run in about a minute (numbers not meaningful)

Writes demo_out/runs/* (run folders), demo_out/spectrum.{png,pdf} (accuracy vs nats per image),
demo_out/summary.{csv,md}, and prints the summary table.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train a small spectrum (no_attn, IB at several β, vit) on synthetic data, on CPU",
        description=(
            "Train the paper's spectrum of models on the built-in known-answer task and draw "
            "accuracy against routed information (Fig. 1b)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--quick", action="store_true", help="tiny smoke version")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infovit.demo.pipeline import run_demo

    table = run_demo(args.out, quick=args.quick, progress=not args.quiet)
    print(table)
    return 0
