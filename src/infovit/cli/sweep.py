"""``infovit sweep``: run a whole spectrum of runs from one spec, here, on GPUs or on SLURM."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]

EXAMPLES = """\
examples:
  # the paper's spectrum (no_attn, 8 β values, vit; seeds 0-2), one run after another
  infovit sweep configs/sweeps/in100_spectrum.yaml --out sweeps/in100 \\
      --data.spec imagenet100:/data/imagenet

  # the same sweep, one run per GPU on a 4-GPU workstation
  infovit sweep configs/sweeps/in100_spectrum.yaml --out sweeps/in100 --gpus 0,1,2,3

  # as one SLURM job array through submitit (pip install 'infovit[cluster]')
  infovit sweep configs/sweeps/in100_spectrum.yaml --out sweeps/in100 --executor slurm \\
      --slurm.partition gpu --slurm.time 24:00:00 --slurm.gpus_per_task 1 \\
      --slurm.cpus_per_task 8 --slurm.mem 32G --slurm.array_parallelism 12

  # a short smoke test of the same sweep: overrides apply to every run
  infovit sweep configs/sweeps/in100_spectrum.yaml --out /tmp/smoke --optim.epochs 1

  infovit sweep status sweeps/in100           # pending / queued / running / done / failed

Running the same command again skips finished runs, resumes unfinished ones and starts missing
ones (on SLURM: runs already queued are not submitted twice; --resubmit after a scancel); a
changed spec is refused (add new runs only with --extend). --executor submitit-local
runs the SLURM code path (job array, checkpoint and requeue) on this machine.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a sweep of runs (a spectrum) locally, on several GPUs or on SLURM",
        description="Expand a sweep spec into runs and train them all, or show their status.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", nargs="+", metavar="SPEC | status SWEEP", help="a spec file to run, "
                   "or 'status SWEEP'")  # fmt: skip
    p.add_argument("--out", help="the sweep folder (new, or the same one to continue)")
    p.add_argument(
        "--executor",
        choices=("local", "slurm", "submitit-local"),
        default="local",
        help="where runs go (default local: one after another here)",
    )
    p.add_argument("--gpus", help="with --executor local: GPU ids, one run per GPU (0,1,2,3)")
    p.add_argument("--extend", action="store_true", help="add the spec's new runs to SWEEP")
    p.add_argument("--wait", action="store_true", help="slurm: wait for the jobs to end")
    p.add_argument(
        "--resubmit",
        action="store_true",
        help="slurm: submit queued runs again too (after their jobs were cancelled)",
    )
    p.add_argument("--where", default="local", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="status: print JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run, accepts_overrides=True)


def run(args: argparse.Namespace) -> int:
    from infovit.errors import InfovitError
    from infovit.sweep import SweepFolder, format_status

    first, rest = args.target[0], args.target[1:]
    overrides = list(args.overrides or [])
    if first in ("status", "run-one"):
        if overrides:
            raise InfovitError(f"'infovit sweep {first}' takes no overrides")
        if not rest:
            raise InfovitError(f"say which sweep: infovit sweep {first} SWEEP")
        sweep = SweepFolder.open(rest[0])
        if first == "run-one":
            return _run_one(sweep, rest[1:], args)
        rows = sweep.write_status()
        if args.json:
            print(json.dumps([r.to_dict() for r in rows], indent=2))
        else:
            print(format_status(rows))
        return 0
    if rest:
        raise InfovitError(f"unexpected argument(s) {rest}; give one spec file")
    if not args.out:
        raise InfovitError("say where the sweep goes with --out SWEEP")
    return _start(first, args, overrides)


def _run_one(sweep, rest: list[str], args: argparse.Namespace) -> int:
    from infovit.errors import InfovitError
    from infovit.sweep import run_one
    from infovit.sweep.runner import EXIT_SKIPPED

    if len(rest) != 1:
        raise InfovitError("usage: infovit sweep run-one SWEEP NAME")
    result = run_one(sweep, rest[0], where=args.where, progress=not args.quiet)
    if result == "failed":
        print(f"infovit: error: {sweep.status_record(rest[0]).get('error')}")
        return 1
    if result == "skipped":
        print(f"infovit: run {rest[0]!r} is being trained by another process; left alone")
        return EXIT_SKIPPED
    return 0


def _start(spec_path: str, args: argparse.Namespace, overrides: list[str]) -> int:
    from infovit.errors import InfovitError
    from infovit.sweep import (
        SweepFolder,
        check_submitit,
        format_status,
        load_spec,
        run_gpus,
        run_local,
        run_submitit,
    )
    from infovit.training.config import iter_overrides, parse_scalar

    config_overrides, slurm = [], {}
    for token, key, value in iter_overrides(overrides):  # --slurm.KEY: the executor's
        if key.startswith("slurm."):
            slurm[key.removeprefix("slurm.").replace("-", "_")] = parse_scalar(value, token)
        else:
            config_overrides += [f"--{key}", value]
    if slurm and args.executor == "local":
        raise InfovitError("--slurm.* options need --executor slurm (or submitit-local)")
    if args.gpus and args.executor != "local":
        raise InfovitError("--gpus is for --executor local; on SLURM use --slurm.gpus_per_task")
    gpus = [g.strip() for g in args.gpus.split(",")] if args.gpus else []
    if args.gpus and (not all(g.isdigit() for g in gpus) or len(set(gpus)) != len(gpus)):
        raise InfovitError(f"--gpus must be distinct GPU ids like 0,1,2,3, got {args.gpus!r}")
    if args.executor != "local":
        check_submitit(slurm, local=args.executor == "submitit-local")
    spec = load_spec(spec_path, config_overrides)
    sweep = SweepFolder.prepare(args.out, spec, extend=args.extend)
    names = [r.name for r in spec.runs]
    print(f"sweep: {len(names)} runs in {sweep.path}")
    if args.executor == "local" and gpus:
        run_gpus(sweep, names, gpus)
    elif args.executor == "local":
        run_local(sweep, names, progress=not args.quiet)
    else:
        again = ("pending", "failed", "queued") if args.resubmit else ("pending", "failed")
        todo = [r.name for r in sweep.status() if r.state in again]
        run_submitit(sweep, todo, slurm, local=args.executor == "submitit-local",
                     wait=args.wait or args.executor == "submitit-local")  # fmt: skip
    rows = sweep.write_status()
    print(format_status(rows))
    return 1 if any(r.state == "failed" for r in rows) else 0
