"""Sweeps: many runs that belong together (a spectrum), run here, on several GPUs or on SLURM.

- :mod:`~infovit.sweep.spec`: a YAML spec (base, grid, points) expanded into named runs;
- :mod:`~infovit.sweep.folder`: the sweep folder and the status of each run;
- :mod:`~infovit.sweep.runner`: the executors (local, one process per GPU, submitit).
"""

from infovit.sweep.folder import RunStatus, SweepFolder, expand_runs, format_status
from infovit.sweep.runner import (
    SweepJob,
    check_submitit,
    run_gpus,
    run_local,
    run_one,
    run_submitit,
)
from infovit.sweep.spec import RunPoint, SweepSpec, config_keys, load_spec

__all__ = [
    "RunPoint",
    "RunStatus",
    "SweepFolder",
    "SweepJob",
    "SweepSpec",
    "check_submitit",
    "config_keys",
    "expand_runs",
    "format_status",
    "load_spec",
    "run_gpus",
    "run_local",
    "run_one",
    "run_submitit",
]
