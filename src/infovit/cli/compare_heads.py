"""``infovit compare-heads``: NMI between attention-head channels (paper 001, eqs. 4–6, Fig. 6).

Heavy imports (torch, matplotlib, the model) happen inside :func:`run` so ``infovit --help`` stays
fast.
"""

from __future__ import annotations

import argparse

from infovit.cli import flags

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  # head 11.0 of a β=10 model against every head of a β=1 model, on 64 validation images
  infovit compare-heads runs/beta10:11.0 --cols runs/beta1:* \\
      --data imagenet100:/data/in100 --num-images 64 --out nmi/b10_vs_b1

  # the same head across three seeds (a square matrix), keeping the extracted posteriors
  infovit compare-heads runs/s1:11.0 runs/s2:11.0 runs/s3:11.0 --data synthetic \\
      --save-posteriors nmi/seeds/posteriors.npz --out nmi/seeds

  # saved posteriors (NAME.mu / NAME.logvar arrays, [L, r]); selectors match names (shell-style)
  infovit compare-heads 'b4:*' --cols 'b1:*' --posteriors b4.npz b1.safetensors \\
      --samples 100000 --out nmi/b4_vs_b1

outputs (in --out): nmi.csv (row, col, method, nmi, nmi_se, mi_uv, mi_uv_se), channels.csv
(I(X;U), I(U;U′) per channel), nmi_<method>.csv and nmi_se_<method>.csv (matrices),
nmi_heatmap.png, summary.json (settings, timings).

cost and accuracy: time ∝ rows × components × (channels·r + channels²). The Monte Carlo
standard error shrinks as 1/√--samples. Fewer --components biases I downwards (each estimate
is capped at log(components+1)); keep it well above exp(I), or leave it at all patches.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare-heads",
        help="NMI between attention heads (stochastic channels) of one or more runs",
        description=(
            "Estimate, for each selected head, the mutual information I(X;U) between patch\n"
            "identity X and its latent U; for every pair the shared information I(U;V) and\n"
            "NMI = I(U;V) / sqrt(I(U;U')·I(V;V')), U' an independent draw; all with standard\n"
            "errors. Methods: Monte Carlo over the aggregated posterior (log-sum-exp), and the\n"
            "Bhattacharyya (lower) / KL (upper) pairwise-distance bounds.\n\n"
            "Heads: RUN:BLOCK.HEAD, RUN:BLOCK.* or RUN:*. With --posteriors, selectors are\n"
            "shell-style patterns on the channel names in the files."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("heads", nargs="*", metavar="SELECTOR", help="matrix rows (and columns)")
    p.add_argument("--cols", nargs="+", metavar="SELECTOR", help="matrix columns (default: rows)")
    src = p.add_argument_group("posteriors (from runs, or saved arrays)")
    src.add_argument(
        "--posteriors",
        nargs="+",
        metavar="FILE",
        help=".npz/.safetensors with NAME.mu, NAME.logvar",
    )
    src.add_argument(
        "--data",
        metavar="SPEC",
        help="synthetic | imagenet100:ROOT | cifar10:ROOT … (default: the first run's data)",
    )
    src.add_argument("--split", default="val", choices=("train", "val"))
    src.add_argument("--num-images", type=int, default=64, help="first N images (default: 64)")
    src.add_argument("--batch-size", type=int, default=32)
    src.add_argument("--tag", default="auto", help="checkpoint: best | last | auto")
    src.add_argument("--save-posteriors", metavar="FILE", help="also write the extracted arrays")
    est = p.add_argument_group("estimation")
    est.add_argument(
        "--method",
        default="mc,bhattacharyya",
        help="comma list of mc, bhattacharyya, kl (default: mc,bhattacharyya)",
    )
    est.add_argument(
        "--samples", type=int, default=20000, help="Monte Carlo draws of (x, u) (default: 20000)"
    )
    est.add_argument(
        "--rows",
        type=int,
        default=2000,
        help="patches averaged over by the distance methods; 0 = all (default: 2000)",
    )
    est.add_argument("--components", type=int, default=0, help="marginal components; 0 = all")
    est.add_argument("--seed", type=flags.seed, default=0, help="seed of the estimator's draws")
    est.add_argument("--dtype", default="auto", choices=("auto", "float32", "float64"))
    out = p.add_argument_group("resources and output")
    out.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    out.add_argument("--out", required=True, metavar="DIR")
    out.add_argument("--no-plot", action="store_true", help="skip the heatmap")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse the options and call :func:`infovit.information.compare_heads`."""
    import json

    from infovit.information import CompareOptions, compare_heads

    options = CompareOptions(
        methods=[m for m in args.method.split(",") if m.strip()],
        samples=args.samples,
        rows=args.rows,
        components=args.components,
        seed=args.seed,
        dtype=args.dtype,
        split=args.split,
        num_images=args.num_images,
        batch_size=args.batch_size,
        tag=args.tag,
        save_posteriors=args.save_posteriors,
        plot=not args.no_plot,
        progress=not args.no_progress,
    )
    summary = compare_heads(
        args.heads,
        args.out,
        cols=args.cols,
        posteriors=args.posteriors,
        data=args.data,
        options=options,
        device=args.device,
    )
    print(
        json.dumps(
            {"out": str(args.out), "rows": len(summary["rows"]), "cols": len(summary["cols"])}
        )
    )
    return 0
