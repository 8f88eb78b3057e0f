"""``infovit demo``: a CPU demo of the whole spectrum on the built-in synthetic task."""

from __future__ import annotations

import argparse

__all__ = ["register"]

EXAMPLES = """\
examples:
  infovit demo --out demo_out            # ~5–10 minutes on 2 CPU cores
  infovit demo --out demo_out --quick    # a smoke run in about a minute (numbers not meaningful)
  infovit demo --out demo_s1 --seed 1    # the same spectrum from another training seed
  infovit demo --out demo_plain --task ""  # the plain task: every tile shows its tint
  infovit demo --out demo_s --task stray_tiles=0.4,ambiguity_from=8   # another variant

Writes demo_out/runs/* (run folders), demo_out/analysis/ (every analysis section's tables and
figures), demo_out/spectrum.{png,pdf,svg} (accuracy vs nats per image), demo_out/summary.{csv,md},
demo_out/claims.md (the paper's claims checked on the tables), demo_out/routing.md, and the
HTML report demo_out/report/index.html; prints the summary, the claims and the report's path.
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
    p.add_argument(
        "--seed", type=int, default=None, help="training seed of every model (default 42)"
    )
    p.add_argument(
        "--task",
        default=None,
        metavar="OPTS",
        help="the synthetic task's options (default: hue_noise=1.2,ambiguity_ramp=10; "
        "'' for the plain task)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infovit.demo.pipeline import DEMO_SEED, DEMO_TASK, run_demo
    from infovit.errors import InfovitError

    seed = DEMO_SEED if args.seed is None else args.seed
    if not 0 <= seed < 2**32:
        raise InfovitError(f"--seed must be in [0, 2³²), got {seed} (e.g. --seed 1)")
    table = run_demo(
        args.out,
        quick=args.quick,
        progress=not args.quiet,
        seed=seed,
        task=DEMO_TASK if args.task is None else args.task,
    )
    print(table)
    return 0
