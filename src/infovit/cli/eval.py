"""``infovit eval``: top-1, top-5 and nats per image of a run, over K stochastic passes."""

from __future__ import annotations

import argparse
import json

from infovit.cli import flags

__all__ = ["register"]

EXAMPLES = """\
examples:
  infovit eval runs/ib_beta1                    # best checkpoint, the run's own data and noise
  infovit eval runs/ib_beta1 --passes 10        # mean ± std over 10 stochastic passes (paper)
  infovit eval runs/ib_beta1 --noise mean --json
  infovit eval runs/ib_beta1 --data imagenet100:/data/imagenet --checkpoint last
  infovit eval sweeps/in100 --passes 10          # every trained run of a sweep, one table
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a run: top-1/top-5 and KL per image (mean ± std over passes)",
        description="Evaluate a run folder's model on its validation data.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", help="run folder written by 'infovit train', or a sweep folder")
    p.add_argument("--passes", type=int, default=10, help="stochastic passes (default 10)")
    p.add_argument("--noise", choices=("sample", "mean"), help="default: the run's eval noise")
    p.add_argument("--data", help="data spec (default: the run's)")
    p.add_argument("--checkpoint", default="auto", choices=("auto", "best", "last"))
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--seed", type=flags.seed, default=0, help="seed of the channel noise (default 0)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infovit.sweep.folder import expand_runs
    from infovit.training.evaluate import evaluate_run

    runs = expand_runs([args.run])
    rows = []
    for path in runs:
        result, config = evaluate_run(
            path,
            passes=args.passes,
            noise=args.noise,
            data=args.data,
            tag=args.checkpoint,
            batch_size=args.batch_size,
            device=args.device,
            seed=args.seed,
        )
        rows.append({"run": str(path), "variant": config.model.variant, **result.to_dict()})
        if not args.json and len(runs) == 1:
            _print_one(str(path), config, result)
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
    elif len(runs) > 1:
        _print_table(rows, runs)
    return 0


def _print_one(path: str, config, result) -> None:
    from infovit.analysis.spectrum import format_beta

    kl = (
        "n/a (no bottleneck)"
        if result.kl_per_image is None
        else (f"{result.kl_per_image:.2f} ± {result.kl_per_image_std:.2f} nats")
    )
    print(
        f"run       {path} ({config.model.variant}, β={format_beta(config.beta.value)} "
        f"{config.beta.convention})"
    )
    print(
        f"top-1     {result.top1:.2f} ± {result.top1_std:.2f} %  ({result.passes} passes, "
        f"{result.noise})"
    )
    print(f"top-5     {result.top5:.2f} ± {result.top5_std:.2f} %")
    print(f"KL/image  {kl}")
    print(f"images    {result.n_images}")


def _print_table(rows: list[dict], runs) -> None:
    """One line per run of a sweep."""
    print("| run | variant | top-1 % | top-5 % | KL nats/image | passes |")
    print("|---|---|---|---|---|---|")
    for row, path in zip(rows, runs, strict=True):
        kl = "n/a" if row["kl_per_image"] is None else (
            f"{row['kl_per_image']:.3g} ± {row['kl_per_image_std']:.2g}")  # fmt: skip
        print(
            f"| {path.name} | {row['variant']} | {row['top1']:.2f} ± {row['top1_std']:.2f} | "
            f"{row['top5']:.2f} ± {row['top5_std']:.2f} | {kl} | {row['passes']} |"
        )
