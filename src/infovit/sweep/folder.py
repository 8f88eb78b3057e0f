"""The sweep folder: the resolved spec, ordinary run folders, and where each run stands.

::

    SWEEP/
      sweep.yaml         the resolved spec: base, grid, points, overrides, every run's config
      runs/NAME/         ordinary run folders (nothing sweep-specific in them)
      status/NAME.json   where a run runs or ran (local, GPU id, SLURM job) and how it ended
      status.md          the status table, rewritten by every sweep command
      logs/NAME.log      output of runs trained in worker processes (--gpus)
      slurm/             submitit's job scripts and logs (--executor slurm)

A run's state is read from its run folder (finished, training, its checkpoints) and its status
record, so it is right whoever trains the run: this process, a worker, or a SLURM job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from infovit.atomic import write_json, write_text
from infovit.errors import InfovitError
from infovit.sweep.spec import SweepSpec
from infovit.training.lock import lock_holder
from infovit.training.run import RunFolder
from infovit.training.snapshot import is_snapshots_folder, list_snapshots

__all__ = ["STATES", "RunStatus", "SweepFolder", "expand_runs", "format_status"]

SPEC_NAME = "sweep.yaml"
STATES = ("pending", "queued", "running", "done", "failed")


@dataclass
class RunStatus:
    """One row of ``infovit sweep status``."""

    name: str
    state: str  # one of STATES (queued: submitted to SLURM, not started)
    epoch: int  # epochs completed
    epochs: int
    best_top1: float | None
    kl_per_image: float | None  # at the best epoch; None without a bottleneck or not yet
    where: str  # local, local gpu N, slurm job ID, or "" if it never started
    error: str  # the one-line error of a failed run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SweepFolder:
    """A sweep on disk (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def spec_path(self) -> Path:
        return self.path / SPEC_NAME

    def run_dir(self, name: str) -> Path:
        return self.path / "runs" / name

    def status_path(self, name: str) -> Path:
        return self.path / "status" / f"{name}.json"

    def log_path(self, name: str) -> Path:
        return self.path / "logs" / f"{name}.log"

    # -- creation
    @classmethod
    def prepare(cls, path: str | Path, spec: SweepSpec, extend: bool = False) -> SweepFolder:
        """The sweep folder ``path`` for ``spec``: created if new; if it exists, its spec must
        be the same (or, with ``extend``, only gain runs). Checked before anything is written."""
        sweep = cls(path)
        if sweep.path.exists() and not sweep.path.is_dir():
            raise InfovitError(f"--out {str(sweep.path)!r} is a file; give a folder path")
        if sweep.spec_path.is_file():
            sweep._check_same(spec, extend)
        elif sweep.path.is_dir() and any(sweep.path.iterdir()):
            raise InfovitError(
                f"{str(sweep.path)!r} is not empty and not a sweep folder (no {SPEC_NAME}); "
                "choose a new --out"
            )
        sweep.path.mkdir(parents=True, exist_ok=True)
        write_text(sweep.spec_path, yaml.safe_dump(spec.to_dict(), sort_keys=False))
        return sweep

    @classmethod
    def open(cls, path: str | Path) -> SweepFolder:
        sweep = cls(path)
        if not sweep.spec_path.is_file():
            raise InfovitError(
                f"{str(sweep.path)!r} is not a sweep folder (no {SPEC_NAME}); pass the --out of "
                "'infovit sweep'"
            )
        return sweep

    @staticmethod
    def is_sweep(path: str | Path) -> bool:
        return (Path(path) / SPEC_NAME).is_file()

    def spec(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.spec_path.read_text())
        except yaml.YAMLError as err:
            raise InfovitError(f"{str(self.spec_path)!r} is not valid YAML: {err}") from err
        if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
            raise InfovitError(f"{str(self.spec_path)!r} is not a resolved sweep spec")
        return data

    def run_names(self) -> list[str]:
        return list(self.spec()["runs"])

    def run_config(self, name: str) -> dict[str, Any]:
        runs = self.spec()["runs"]
        if name not in runs:
            raise InfovitError(f"sweep {str(self.path)!r} has no run {name!r}")
        return dict(runs[name]["config"])

    def _check_same(self, spec: SweepSpec, extend: bool) -> None:
        old = self.spec()["runs"]
        new = {r.name: r.config for r in spec.runs}
        removed = [n for n in old if n not in new]
        changed = [n for n in old if n in new and old[n]["config"] != new[n]]
        added = [n for n in new if n not in old]
        problems = []
        if changed:
            name = changed[0]
            key, was, now = _first_difference(old[name]["config"], new[name])
            problems.append(f"{len(changed)} run(s) changed (e.g. {name}: {key} {was!r} → {now!r})")
        if removed:
            problems.append(f"{len(removed)} run(s) removed (e.g. {removed[0]})")
        if added and not extend:
            problems.append(f"{len(added)} new run(s) (e.g. {added[0]}); add them with --extend")
        if problems:
            raise InfovitError(
                f"the spec differs from the one of sweep {str(self.path)!r}: "
                + "; ".join(problems)
                + ("" if not (changed or removed) else "; use a new --out for a different sweep")
            )

    # -- status
    def record(self, name: str, **fields: Any) -> None:
        """Merge ``fields`` (where, job_id, error, …) into the run's status record."""
        path = self.status_path(name)
        old = json.loads(path.read_text()) if path.is_file() else {}
        write_json(path, {**old, **fields})

    def status_record(self, name: str) -> dict[str, Any]:
        path = self.status_path(name)
        try:
            return json.loads(path.read_text()) if path.is_file() else {}
        except ValueError:
            return {}

    def status(self) -> list[RunStatus]:
        runs = self.spec()["runs"]  # sweep.yaml read once, not once per run
        return [self.run_status(name, runs[name]["config"]) for name in runs]

    def run_status(self, name: str, config: dict[str, Any] | None = None) -> RunStatus:
        """Where run ``name`` stands (``config``: its config from the spec, if already read)."""
        record = self.status_record(name)
        config = config if config is not None else self.run_config(name)
        epochs = int(config["optim"]["epochs"])
        run = RunFolder(self.run_dir(name))
        epoch, best, kl = 0, None, None
        if run.config_path.is_file():
            metrics = run.read_metrics(warn=False)
            epoch = len(metrics)
            if run.has_checkpoint("best"):
                try:
                    info = run.checkpoint("best").info
                    best = info.get("best_top1")
                    kl = (info.get("metrics") or {}).get("val_kl_per_image")
                except InfovitError:
                    pass
        if run.meta_path.is_file() and "finished" in run.meta():
            state = "done"
        elif lock_holder(run.path) is not None:
            state = "running"
        elif record.get("error"):
            state = "failed"
        elif record.get("queued"):
            state = "queued"
        else:
            state = "pending"
        return RunStatus(
            name=name,
            state=state,
            epoch=epoch,
            epochs=epochs,
            best_top1=best,
            kl_per_image=kl,
            where=str(record.get("where", "")),
            error=str(record.get("error", "")) if state == "failed" else "",
        )

    def write_status(self) -> list[RunStatus]:
        """Rewrite ``status.md`` and return the rows."""
        rows = self.status()
        write_text(self.path / "status.md", format_status(rows) + "\n")
        return rows


def format_status(rows: list[RunStatus]) -> str:
    """The status table as Markdown (also readable in a terminal)."""
    lines = [
        "| run | state | epoch | best top-1 % | KL nats/image | where | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        top1 = "" if r.best_top1 is None else f"{r.best_top1:.2f}"
        kl = "" if r.kl_per_image is None else f"{r.kl_per_image:.3g}"
        lines.append(
            f"| {r.name} | {r.state} | {r.epoch}/{r.epochs} | {top1} | {kl} | {r.where} | "
            f"{r.error} |"
        )
    counts = {s: sum(r.state == s for r in rows) for s in STATES}
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def _first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
    return prefix.rstrip("."), a, b


def expand_runs(paths: list[str] | list[Path]) -> list[Path]:
    """Run folders for ``eval`` and ``analyze``: a sweep folder stands for its runs that have a
    checkpoint (in the spec's order, so seeds of one setting sit together); a β ladder's
    ``RUN/snapshots`` folder for its snapshots (in milestone order); a run folder for itself."""
    runs: list[Path] = []
    for path in paths:
        if is_snapshots_folder(path):
            snapshots = list_snapshots(path)
            if not snapshots:
                raise InfovitError(f"{str(path)!r} holds no snapshot yet")
            runs.extend(snapshots)
            continue
        if not SweepFolder.is_sweep(path):
            runs.append(Path(path))
            continue
        sweep = SweepFolder.open(path)
        trained = [
            sweep.run_dir(n)
            for n in sweep.run_names()
            if RunFolder(sweep.run_dir(n)).config_path.is_file()
            and RunFolder(sweep.run_dir(n)).has_checkpoint("last")
        ]
        if not trained:
            raise InfovitError(
                f"sweep {str(path)!r} has no trained run yet; see 'infovit sweep status {path}'"
            )
        runs.extend(trained)
    return runs
