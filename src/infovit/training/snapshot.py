"""Snapshots of a β ladder: every milestone's end as a complete, ordinary run folder.

::

    RUN/snapshots/
      m0_beta0.03/          a run folder like any other (see training.run)
        config.yaml         the parent's config at β = 0.03, schedule constant, epochs spent
        run.json            the parent's record + "snapshot": parent run, milestone, β, epochs,
                            step; "finished"
        metrics.jsonl       the parent's metrics up to the milestone's end
        checkpoints/last/   the weights at the milestone's end (a checkpoint unit, no
                            training state: a snapshot is a result, not a run to resume)
      m1_beta0.3/ …

So ``eval``, ``analyze``, ``compare-heads``, ``geometry`` and the report read a snapshot as the
run of the β it stands for, and ``infovit analyze RUN/snapshots/*`` (or ``infovit eval
RUN/snapshots``) gives the whole spectrum of one training.

A snapshot is built in a temporary folder ``.NAME.new-….tmp`` and renamed into place, so a
kill never leaves half of one. It is written before the epoch's ``last`` checkpoint: a run
killed in between redoes the epoch on resume and writes the snapshot again, identical (a kill
after ``last`` finds the snapshot complete). The temporaries of a killed writer are removed by
:meth:`RunFolder.recover`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import yaml

from infovit.atomic import TEMP_SUFFIX, disk_full_error, fsync_dir, write_json, write_text
from infovit.training.checkpoint import Hook
from infovit.training.config import BetaConfig, Config
from infovit.training.ladder import Milestone
from infovit.training.run import RunFolder

__all__ = [
    "SNAPSHOTS",
    "is_snapshots_folder",
    "list_snapshots",
    "snapshot_config",
    "snapshot_name",
    "write_snapshot",
]

SNAPSHOTS = "snapshots"


def snapshot_name(index: int, beta: float, count: int) -> str:
    """``m0_beta30``, ``m1_beta3`` …: milestone index (zero-padded to sort) and β."""
    return f"m{index:0{len(str(count - 1))}d}_beta{beta:g}"


def snapshot_config(config: Config, milestone: Milestone) -> Config:
    """The parent's config as the run of the milestone's β: constant schedule, the epochs spent.

    Later commands then treat the snapshot as a run trained at that β (labels, tables).
    """
    beta = BetaConfig(
        value=milestone.beta,
        convention=config.beta.convention,
        objective=config.beta.objective,
        schedule="constant",
        warmup_epochs=0.0,
        start=config.beta.start,
    )
    return replace(config, beta=beta, optim=replace(config.optim, epochs=milestone.end))


def write_snapshot(
    run: RunFolder,
    model: torch.nn.Module,
    config: Config,
    milestone: Milestone,
    info: dict[str, Any],
    hook: Hook | None = None,
) -> Path:
    """Write the snapshot of ``milestone`` (which ended with the epoch of ``info``) into
    ``run/snapshots/NAME``, replacing an earlier copy; returns its path. ``hook(op)`` is
    called before each step (tests inject kills)."""
    before = hook or (lambda op: None)
    folder = run.path / SNAPSHOTS
    name = snapshot_name(milestone.index, milestone.beta, len(config.beta.milestones or [1]))
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    new = folder / f".{name}.new-{token}{TEMP_SUFFIX}"
    old = folder / f".{name}.old-{token}{TEMP_SUFFIX}"
    target = folder / name
    records = [r for r in run.read_metrics(warn=False) if r.get("epoch", -1) < milestone.end]
    lineage = {
        "parent": str(run.path.resolve()),
        "milestone": milestone.index,
        "milestones": len(config.beta.milestones or []),
        "beta": milestone.beta,
        "beta_convention": config.beta.convention,
        "epochs": milestone.end,  # epochs of training the weights have seen
        "milestone_epochs": milestone.epochs,
        "step": int(info["step"]),
        "ladder_lr": config.optim.ladder_lr,
    }
    try:
        before("mkdir")
        new.mkdir(parents=True)
        snap = RunFolder(new)
        cfg = snapshot_config(config, milestone)
        write_text(snap.config_path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        meta = {**run.meta(), "snapshot": lineage}
        meta.update(
            beta_convention=cfg.beta.convention, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z")
        )
        write_json(snap.meta_path, meta)
        before("write metrics")
        write_text(snap.metrics_path, "".join(json.dumps(r) + "\n" for r in records))
        before("write weights")
        snap.save_checkpoint("last", model, {**info, "snapshot": lineage})
        fsync_dir(new)
        if target.exists():
            before("retire old")
            os.replace(target, old)
        before("install new")
        os.replace(new, target)
        fsync_dir(folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(new, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        full = disk_full_error(new, err)
        if full is None:
            raise
        raise full from err
    return target


def is_snapshots_folder(path: str | Path) -> bool:
    """Whether ``path`` is the ``snapshots`` folder of a run (it then stands for its snapshots)."""
    path = Path(path)
    return path.name == SNAPSHOTS and path.is_dir() and (path.parent / "config.yaml").is_file()


def list_snapshots(path: str | Path) -> list[Path]:
    """The complete snapshots of the ladder run ``path`` (or of its ``snapshots`` folder), in
    milestone order; temporaries of an interrupted write are not snapshots."""
    path = Path(path)
    folder = path if path.name == SNAPSHOTS else path / SNAPSHOTS
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        if entry.name.startswith(".") or not (entry / "config.yaml").is_file():
            continue
        lineage = RunFolder(entry).meta().get("snapshot") or {}
        found.append((int(lineage.get("milestone", 0)), entry.name, entry))
    return [entry for *_, entry in sorted(found)]
