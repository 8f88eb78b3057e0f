"""``infovit report``: an offline HTML site of runs, sweeps and analyses (argument parsing only;
the work is :func:`infovit.report.build_report`)."""

from __future__ import annotations

import argparse

__all__ = ["register", "run"]

EXAMPLES = """\
examples:
  # one analysis folder (what 'infovit analyze' wrote), as a site to open in a browser
  infovit report analysis/spectrum --out site/
  # runs or a sweep: an analysis that covers them is reused (RUN/analysis, SWEEP/analysis);
  # if there is none, they are analysed first, into site/analysis
  infovit report runs/no_attn runs/beta1 runs/vit --out site/
  infovit report sweeps/in100 --out site/in100 --passes 10
  # add geometry ('infovit geometry --out') and NMI ('infovit compare-heads --out') outputs
  infovit report analysis/spectrum geo/spectrum nmi/b10_vs_b1 --out site/
  # only report what exists: say what is missing instead of analysing
  infovit report runs/beta1 --no-analyze --out site/

Open site/index.html from disk: the site needs no server, network or JavaScript. Building it
again over an earlier report replaces that report whole (and reuses its analysis).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="a browsable offline HTML report of runs, a sweep or an analysis",
        description=(
            "Compose saved analysis tables and figures into a static HTML site: an overview "
            "(the spectrum, a runs table), a page per model and per head, geometry, NMI and "
            "provenance."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="run, sweep, analysis, geometry or compare-heads folders",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the site")
    p.add_argument(
        "--no-analyze",
        action="store_true",
        help="do not analyse runs that have no analysis: say so and exit 2",
    )
    group = p.add_argument_group("analysis of runs without one (as 'infovit analyze')")
    group.add_argument("--passes", type=int, default=1, help="stochastic validation passes")
    group.add_argument("--max-images", type=int, metavar="N", help="evenly spaced subset")
    group.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from infovit.errors import InfovitError
    from infovit.report import build_report

    if args.passes < 1:
        raise InfovitError(f"--passes must be ≥ 1, got {args.passes}")
    if args.max_images is not None and args.max_images < 1:
        raise InfovitError(f"--max-images must be ≥ 1, got {args.max_images}")
    from infovit.training.device import resolve_device

    options = {
        "passes": args.passes,
        "max_images": args.max_images,
        "device": str(resolve_device(args.device)),
    }
    index = build_report(
        args.paths,
        args.out,
        analyze_missing=not args.no_analyze,
        analysis_options=options,
        command=_command(args),
    )
    print(f"report: {index}")
    return 0


def _command(args: argparse.Namespace) -> list[str]:
    """The command as given (recorded on the provenance page)."""
    words = ["infovit", "report", *args.paths, "--out", args.out]
    if args.no_analyze:
        words.append("--no-analyze")
    if args.passes != 1:
        words += ["--passes", str(args.passes)]
    if args.max_images is not None:
        words += ["--max-images", str(args.max_images)]
    if args.device != "auto":
        words += ["--device", args.device]
    return words
