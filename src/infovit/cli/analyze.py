"""``infovit analyze``: tables and figures of the paper's analyses for one or more trained runs.

Heavy imports (torch, timm, matplotlib) happen inside :func:`run` so ``infovit --help`` is fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from infovit.cli import flags

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  # the whole spectrum: endpoints plus IB runs at several β (seeds of one β are aggregated)
  infovit analyze runs/no_attn runs/beta10_s1 runs/beta10_s2 runs/beta1 runs/vit \\
      --out analysis/spectrum --passes 10

  # everything for one run, into runs/beta1/analysis (the run folder is all it needs)
  infovit analyze runs/beta1

  # quick look at head firing and KL maps of one run on 512 validation images
  infovit analyze runs/beta1 --only heads,klmaps --max-images 512 --out analysis/beta1

  # another data set than the one the first run was trained on
  infovit analyze runs/beta1 --data imagenet100:/data/imagenet --out analysis/in100

  # the sections there are, one line each; redraw an analysis folder's figures from its tables
  infovit analyze --list
  infovit analyze --figures-only analysis/in100

outputs (in --out): tables/*.csv, figures/*.png, *.pdf and *.svg drawn from those tables,
index.md and index.json listing every file, cache/<run>.npz (per-image extraction; re-runs
load it instantly).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="spectrum, head firing, patch voting, KL maps, JSD and probes of trained runs",
        description=(
            "Analyse trained infovit runs as in the paper (§4, App. B–D): accuracy vs nats per "
            "image, which heads fire, how patches vote, where the KL budget is spent, how far "
            "models disagree (JSD), what the most informative patches look like and whether "
            "heads react to repeated content. Each run is streamed once over the validation "
            "set; results are cached."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="run folders written by infovit train, or a sweep folder (its trained runs)",
    )
    p.add_argument("--data", metavar="SPEC", help="data spec (default: the first run's)")
    p.add_argument(
        "--out", metavar="DIR", help="output folder (default: RUN/analysis of the first run)"
    )
    p.add_argument(
        "--only",
        metavar="LIST",
        help="comma-separated sections of the registry (default: all; --list or --only help "
        "names them)",
    )
    p.add_argument("--list", action="store_true", help="list the sections and exit")
    p.add_argument(
        "--figures-only",
        metavar="DIR",
        help="redraw the figures of an analysis folder from its saved tables (no runs needed)",
    )
    p.add_argument("--nmi-images", type=int, default=64, help="images whose patches NMI uses")
    p.add_argument(
        "--ablation-images", type=int, default=512, help="images head ablation is scored on"
    )
    p.add_argument("--passes", type=int, default=1, help="stochastic validation passes K")
    p.add_argument("--max-images", type=int, metavar="N", help="evenly spaced validation subset")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threshold", type=float, default=1e-2, help="active-head KL (nats)")
    p.add_argument("--pairs", type=int, default=1024, help="repetition-probe (image, patch) pairs")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--tag", default="auto", help="checkpoint: best | last | auto")
    p.add_argument(
        "--seed",
        type=flags.seed,
        default=0,
        help="seed of image and patch sampling and of channel noise",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infovit.analysis import sections
    from infovit.errors import InfovitError

    if args.list or (args.only or "").strip() == "help":
        print(sections.describe())
        return 0
    only = None
    if args.only is not None:
        only = tuple(s.strip() for s in args.only.split(",") if s.strip())
        bad = sorted(set(only) - set(sections.names()))
        if bad or not only:
            raise InfovitError(f"--only: unknown {bad}; choose from {','.join(sections.names())}")
    if args.figures_only:
        from infovit.analysis.run import draw_figures

        index = draw_figures(Path(args.figures_only), only)
        print(f"redrew the figures of {args.figures_only} ({len(index['files'])} files listed)")
        return 0
    if not args.runs:
        raise InfovitError("give run folders (or --list, or --figures-only DIR)")
    from infovit.analysis.loading import load_runs
    from infovit.analysis.run import AnalysisOptions, analyze
    from infovit.sweep.folder import expand_runs
    from infovit.training.device import resolve_device

    for flag in ("passes", "nmi_images", "ablation_images"):
        if getattr(args, flag) < 1:
            raise InfovitError(f"--{flag.replace('_', '-')} must be ≥ 1, got {getattr(args, flag)}")
    if args.passes < 1:
        raise InfovitError(f"--passes must be ≥ 1, got {args.passes}")
    device = str(resolve_device(args.device))
    loaded = load_runs(expand_runs(args.runs), data=args.data, tag=args.tag, device=device)
    options = AnalysisOptions(
        only=only,
        passes=args.passes,
        max_images=args.max_images,
        batch_size=args.batch_size,
        threshold=args.threshold,
        pairs=args.pairs,
        seed=args.seed,
        nmi_images=args.nmi_images,
        ablation_images=args.ablation_images,
        device=device,
        progress=not args.no_progress,
    )
    out = Path(args.out) if args.out else Path(args.runs[0]) / "analysis"
    index = analyze(loaded, out, options)
    print(f"wrote {len(index['files'])} files to {out} (see index.md)")
    return 0
