"""``infovit train``: train one model into a self-describing run folder, or resume one."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]

EXAMPLES = """\
examples:
  # the paper's ViT-Tiny on ImageNet-100 at β = 1 (mean convention), from a config file
  infovit train configs/imagenet100_ib.yaml --out runs/ib_beta1 --beta.value 1

  # a small CPU run on the built-in synthetic task
  infovit train --out runs/synth --data.spec synthetic --model.depth 4 \\
      --model.embed_dim 64 --model.num_heads 2 --optim.epochs 10 --data.batch_size 128

  # β in the paper's eq. 3 convention (per-image sum over heads and patches)
  infovit train cfg.yaml --out runs/sum --beta.convention sum --beta.value 1e-3

  # a β ladder: one run, a snapshot run folder per milestone in RUN/snapshots/
  infovit train cfg.yaml --out runs/ladder --beta.schedule ladder \\
      --beta.milestones '[0.03,0.3,3,30]' --beta.hold_epochs 100 --optim.epochs 500
  infovit eval runs/ladder/snapshots          # one row per milestone

  # continue a stopped run exactly where it stopped (bit-identical on CPU)
  infovit train --resume runs/ib_beta1

  # checkpoint every 500 steps instead of every 10 minutes of wall time
  infovit train cfg.yaml --out runs/b1 --optim.checkpoint_every 500

SIGTERM, SIGUSR1/2 (SLURM, submitit) and Ctrl-C save a checkpoint at the next step and exit
(75 after SIGTERM/SIGUSR1/2: requeue; 130 after Ctrl-C); resume with --resume RUN. A folder is
trained by one trainer at a time (train.lock). Bad inputs: docs/errors.md.

Any config field can be overridden as --section.key VALUE (sections: model, data, optim, beta;
nested: --model.bottleneck.rank 16). See configs/ for complete files.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (ib / no_attn / vit) into a run folder",
        description="Train an information-restricted ViT (or an endpoint model) with CE + β·KL.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="YAML config file (default: built-in defaults)")
    p.add_argument("--out", help="new run folder to create")
    p.add_argument("--resume", metavar="RUN", help="continue the run folder RUN")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from infovit.errors import InfovitError
    from infovit.training import load_config, train

    overrides = list(args.overrides or [])
    if args.resume:
        if args.config or args.out or overrides:
            raise InfovitError("--resume RUN takes no config, --out or overrides: the run has them")
        train(None, args.resume, resume=True, progress=not args.quiet)
        return 0
    if not args.out:
        raise InfovitError("say where the run goes with --out RUN (or continue one with --resume)")
    _check_out(args.out)
    config = load_config(args.config, overrides)
    run_folder = train(config, args.out, progress=not args.quiet)
    print(f"run written to {run_folder.path}")
    return 0


def _check_out(out: str) -> None:
    """``--out`` must be a folder path: refuse an existing file (or a file on the way to it)
    before anything is read or built."""
    from infovit.errors import InfovitError

    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InfovitError(f"--out {out} is a file; give a folder path")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise InfovitError(f"--out {out}: {parent} is a file, not a folder; give a folder path")
