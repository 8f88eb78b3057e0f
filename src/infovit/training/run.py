"""Self-describing run folders.

::

    RUN/
      config.yaml            resolved config: rebuilds model and data with no other flags
      run.json               git commit, versions, β convention, data description, timestamps
      metrics.jsonl          one JSON object per epoch
      train.lock             held by the one trainer writing the folder (see training.lock)
      checkpoints/
        last/                the latest training state, one unit (see training.checkpoint):
          model.safetensors    weights (safetensors: no code runs on load)
          state.pt             optimizer, scaler, RNG, position in the epoch (tensors only,
                               loaded with weights_only=True)
          info.json            epoch, step, metrics at save time
          manifest.json        step and each file's size and SHA-256
        best/                the best epoch at the final β: model.safetensors, info.json,
                             manifest.json

Every file is written atomically and every checkpoint as a unit, so a crash never leaves a
half-written file or a checkpoint whose parts come from different steps. Folders written
before checkpoints were units (``checkpoints/last.safetensors``, ``last.json``,
``last.state.pt``) are still read, and resume; their next checkpoint is written as a unit.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch.utils.data import Dataset

from infovit import __version__
from infovit.atomic import (
    disk_full_error,
    remove_entry,
    remove_stale_temporaries,
    write_json,
    write_text,
)
from infovit.data.datasets import build_dataset, parse_data_spec
from infovit.errors import InfovitError, one_line
from infovit.model.factory import build_model
from infovit.model.vit import InfoViT
from infovit.training.checkpoint import (
    CheckpointUnit,
    Hook,
    install_unit,
    locate_unit,
    write_unit,
)
from infovit.training.config import Config
from infovit.training.lock import LOCK_NAME, RunLock

__all__ = ["Checkpoint", "RunFolder", "git_commit", "load_model", "validation_set"]

WEIGHTS, STATE, INFO = "model.safetensors", "state.pt", "info.json"
_LEGACY = {WEIGHTS: "{tag}.safetensors", STATE: "{tag}.state.pt", INFO: "{tag}.json"}


def git_commit() -> dict[str, Any]:
    """The commit of the infovit source tree (and whether it had local changes), if in git."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5
        )
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=src, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a run, checked to be of a single training step.

    ``unit`` is None for a folder of the old loose-file format (read, never written).
    """

    tag: str
    step: int
    info: dict[str, Any]
    source: Path  # the unit's folder, or the old format's weights file
    unit: CheckpointUnit | None

    def read(self, name: str) -> bytes:
        """The bytes of file ``name`` (``model.safetensors``, ``state.pt``, ``info.json``),
        checked against the manifest for a unit."""
        if self.unit is not None:
            return self.unit.read(name)
        path = self.source.parent / _LEGACY[name].format(tag=self.tag)
        try:
            return path.read_bytes()
        except OSError as err:
            raise InfovitError(f"checkpoint file {str(path)!r} cannot be read: {err}") from err

    @property
    def has_state(self) -> bool:
        if self.unit is not None:
            return STATE in self.unit.files
        return (self.source.parent / _LEGACY[STATE].format(tag=self.tag)).is_file()

    def tensors(self) -> dict[str, torch.Tensor]:
        data = self.read(WEIGHTS)
        try:
            tensors = load_safetensors(data)
        except Exception as err:
            raise InfovitError(f"checkpoint {str(self.source)!r} is unreadable: {err}") from err
        stored = _safetensors_metadata(data).get("step")
        if stored is not None and int(stored) != self.step:
            raise InfovitError(
                f"checkpoint {str(self.source)!r} is mixed: its weights are of step {stored}, "
                f"its metadata of step {self.step}; it cannot be used"
            )
        return tensors

    def state(self) -> dict[str, Any]:
        """Optimizer, scaler, RNG and position; tensors and plain containers only."""
        if not self.has_state:
            raise InfovitError(
                f"checkpoint {str(self.source)!r} has no training state to resume from"
            )
        data = self.read(STATE)
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as err:
            raise InfovitError(
                f"training state of {str(self.source)!r} is truncated or unreadable "
                f"({one_line(err)}); it cannot be resumed from"
            ) from err
        if not isinstance(state, dict) or "optimizer" not in state:
            raise InfovitError(f"training state of {str(self.source)!r} lacks the optimizer")
        step = state.get("step", _optimizer_step(state))
        if step is not None and int(step) != self.step:
            raise InfovitError(
                f"checkpoint {str(self.source)!r} is mixed: its training state is of step "
                f"{int(step)}, its metadata of step {self.step}; it cannot be resumed from"
            )
        return state

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the analysed weights exactly (for caches)."""
        if self.unit is not None:
            digest = self.unit.digest(WEIGHTS)
        else:
            digest = hashlib.sha256(self.read(WEIGHTS)).hexdigest()
        return {"tag": self.tag, "step": self.step, "weights_sha256": digest}


def _optimizer_step(state: dict[str, Any]) -> int | None:
    """The step count the optimizer recorded (old-format state has no explicit step).

    With fp16 loss scaling an overflowing step is skipped by the optimizer, so the count can
    trail the trainer's step legitimately: then nothing can be checked.
    """
    scaler = state.get("scaler") or {}
    if scaler.get("scale") is not None and scaler.get("_growth_tracker") is not None:
        return None
    per_param = (state.get("optimizer") or {}).get("state") or {}
    for entry in per_param.values():
        if "step" in entry:
            return int(entry["step"])
    return None


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    return dict(header.get("__metadata__") or {})


def _canonical_safetensors(data: bytes) -> bytes:
    """The same safetensors file with its JSON header's keys sorted.

    safetensors writes the header from a hash map, so two saves of identical tensors and
    metadata differ in key order, and so in their SHA-256, which names a checkpoint in
    manifests and analysis caches. Tensor offsets are relative to the end of the header, so
    re-serialising it (padded with spaces to its old length, as the format allows) moves no
    data.
    """
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if len(text) > length:  # never: the writer's own header is as compact
        return data
    return data[:8] + text.ljust(length, b" ") + data[8 + length :]


class RunFolder:
    """One training run on disk: config, metrics, checkpoints."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def meta_path(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    # -- creation and opening
    @classmethod
    def create(
        cls,
        path: str | Path,
        config: Config,
        extra_meta: dict[str, Any] | None = None,
        lock: RunLock | None = None,
    ) -> RunFolder:
        """Create the folder (which must be new or empty). With ``lock``, the lock is taken
        before anything is written, and stays held for the caller."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise InfovitError(f"--out {str(run.path)!r} is a file; give a folder path")
        if _has_content(run.path):
            raise InfovitError(
                f"run folder {str(run.path)!r} already exists and is not empty; use "
                "'infovit train --resume RUN' to continue it or choose another --out"
            )
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InfovitError(f"cannot create run folder {str(run.path)!r}: {err}") from err
        if lock is not None:
            lock.acquire()
            if _has_content(run.path):  # another trainer created it meanwhile
                lock.release()
                raise InfovitError(f"run folder {str(run.path)!r} was just created by another run")
        write_text(run.config_path, yaml.safe_dump(config.to_dict(), sort_keys=False))
        meta = {
            "infovit": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git": git_commit(),
            "torch": torch.__version__,
            "timm": _timm_version(),
            "python": platform.python_version(),
            "beta_convention": config.beta.convention,
            "kl_units": "nats per image, summed over blocks, heads and tokens",
            **(extra_meta or {}),
        }
        write_json(run.meta_path, meta)
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        """An existing run folder (one with ``config.yaml``), else a one-line error."""
        run = cls(path)
        if not run.config_path.is_file():
            raise InfovitError(
                f"{str(run.path)!r} is not an infovit run folder (no config.yaml); pass the folder "
                "that 'infovit train' wrote"
            )
        return run

    def remove(self, keep_lock: bool = False) -> None:
        """Delete the folder: only for a run that this process created and that never reached
        its first checkpoint (so a failed start leaves nothing half-created). ``keep_lock``:
        empty it but keep ``train.lock``, which the caller holds."""
        if not keep_lock:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for entry in self.path.iterdir() if self.path.is_dir() else []:
            if entry.name != LOCK_NAME:
                remove_entry(entry)

    def recover(self) -> list[str]:
        """Clean up after a writer that was killed: finish an interrupted checkpoint swap and
        delete temporaries. Only while holding the run's lock. Returns what was done."""
        done = []
        for tag in ("last", "best"):
            if not (self.checkpoints_dir / tag).exists():
                install_unit(self.checkpoints_dir, tag)
                if (self.checkpoints_dir / tag).exists():
                    done.append(f"completed the interrupted write of checkpoint {tag!r}")
        # a β ladder's snapshots are written before the epoch's ``last`` (training.snapshot):
        # one half-written by a killed writer is written again when the epoch is redone
        for folder in (self.path, self.checkpoints_dir, self.path / "snapshots"):
            for entry in remove_stale_temporaries(folder):
                done.append(f"removed temporary {entry.name}")
        return done

    def config(self) -> Config:
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except yaml.YAMLError as err:
            raise InfovitError(f"{str(self.config_path)!r} is not valid YAML: {err}") from err
        return Config.from_dict(data)

    def meta(self) -> dict[str, Any]:
        if not self.meta_path.is_file():
            return {}
        try:
            return json.loads(self.meta_path.read_text())
        except ValueError as err:
            raise InfovitError(f"{str(self.meta_path)!r} is not valid JSON: {err}") from err

    def update_meta(self, **fields: Any) -> None:
        write_json(self.meta_path, {**self.meta(), **fields})

    # -- metrics
    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one line, durably; a full disk leaves the file as it was."""
        line = (json.dumps(record, sort_keys=False) + "\n").encode("utf-8")
        size = self.metrics_path.stat().st_size if self.metrics_path.exists() else 0
        try:
            with open(self.metrics_path, "ab") as f:
                f.write(line)  # one write per line: a reader sees whole lines only
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            if self.metrics_path.exists():
                os.truncate(self.metrics_path, size)
            full = disk_full_error(self.metrics_path, err)
            if full is None:
                raise
            raise full from err

    def read_metrics(self, warn: bool = True) -> list[dict[str, Any]]:
        """The per-epoch records. A partial last line (a write killed midway) is ignored, with
        a warning; a damaged line before it is an error."""
        if not self.metrics_path.is_file():
            return []
        text = self.metrics_path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as err:
                if number == len(lines):  # no newline after it: the interrupted last write
                    if warn:
                        print(
                            f"infovit: warning: ignoring the partial last line of "
                            f"{str(self.metrics_path)!r} (a write was interrupted)",
                            file=sys.stderr,
                        )
                    break
                raise InfovitError(
                    f"line {number} of {str(self.metrics_path)!r} is not valid JSON; repair or "
                    "delete that line"
                ) from err
        return records

    def truncate_metrics(self, next_epoch: int) -> None:
        """Keep the records of epochs before ``next_epoch`` (later ones were written after the
        checkpoint a resume starts from), and drop a partial last line."""
        if not self.metrics_path.is_file():
            return
        kept = [r for r in self.read_metrics(warn=False) if r.get("epoch", -1) < next_epoch]
        write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    # -- checkpoints
    def has_checkpoint(self, tag: str) -> bool:
        unit = self.checkpoints_dir / tag
        if unit.is_dir():
            return True
        if locate_unit(self.checkpoints_dir, tag) is not None:
            return True
        legacy = self.checkpoints_dir / _LEGACY[WEIGHTS].format(tag=tag)
        return legacy.is_file() and (self.checkpoints_dir / _LEGACY[INFO].format(tag=tag)).is_file()

    def resolve_tag(self, tag: str) -> str:
        """``auto`` → ``best`` if the run has one, else ``last``."""
        if tag == "auto":
            return "best" if self.has_checkpoint("best") else "last"
        if tag not in ("best", "last"):
            raise InfovitError(f"checkpoint must be auto, best or last, got {tag!r}")
        return tag

    def checkpoint(self, tag: str) -> Checkpoint:
        """The checkpoint ``tag`` (``best`` / ``last`` / ``auto``), checked for consistency."""
        tag = self.resolve_tag(tag)
        unit = locate_unit(self.checkpoints_dir, tag) if self.checkpoints_dir.is_dir() else None
        if unit is not None:
            info = _parse_info(unit.read(INFO), unit.path)
            if int(info.get("step", unit.step)) != unit.step:
                raise InfovitError(
                    f"checkpoint {str(unit.path)!r} is mixed: info.json says step "
                    f"{info.get('step')}, the manifest {unit.step}; it cannot be used"
                )
            return Checkpoint(tag, unit.step, info, unit.path, unit)
        weights = self.checkpoints_dir / _LEGACY[WEIGHTS].format(tag=tag)
        info_path = self.checkpoints_dir / _LEGACY[INFO].format(tag=tag)
        if not (weights.is_file() and info_path.is_file()):
            raise InfovitError(
                f"run {str(self.path)!r} has no {tag!r} checkpoint; it stopped before its first "
                "checkpoint (delete the folder and start the run again)"
            )
        info = _parse_info(info_path.read_bytes(), info_path)
        return Checkpoint(tag, int(info.get("step", 0)), info, weights, None)

    def save_checkpoint(
        self,
        tag: str,
        model: torch.nn.Module,
        info: dict[str, Any],
        state: dict[str, Any] | None = None,
        hook: Hook | None = None,
    ) -> Path:
        """Weights, ``info`` and ``state`` (optimizer, RNG; tensors only) as one unit of step
        ``info["step"]``; a previous checkpoint of the old format under ``tag`` is removed."""
        step = int(info.get("step", 0))
        meta = {"format": "pt", "infovit": __version__, "step": str(step), "tag": tag}
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        files = {WEIGHTS: _canonical_safetensors(save_safetensors(tensors, metadata=meta))}
        if state is not None:
            buffer = io.BytesIO()
            torch.save({**state, "step": step}, buffer)
            files[STATE] = buffer.getvalue()
        files[INFO] = (json.dumps({**info, "step": step}, indent=2) + "\n").encode("utf-8")
        path = write_unit(self.checkpoints_dir, tag, step, files, hook=hook)
        for pattern in _LEGACY.values():
            (self.checkpoints_dir / pattern.format(tag=tag)).unlink(missing_ok=True)
        return path

    def checkpoint_info(self, tag: str) -> dict[str, Any]:
        return self.checkpoint(tag).info

    def load_weights(self, tag: str | Checkpoint, model: torch.nn.Module) -> Checkpoint:
        """Load checkpoint ``tag`` (or an opened :class:`Checkpoint`) into ``model``; the weights
        must fit its architecture."""
        checkpoint = tag if isinstance(tag, Checkpoint) else self.checkpoint(tag)
        tensors = checkpoint.tensors()
        own = model.state_dict()
        missing = sorted(set(own) - set(tensors))
        extra = sorted(set(tensors) - set(own))
        wrong = [k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape]
        if missing or extra or wrong:
            detail = "; ".join(
                f"{name}: {items[:3]}"
                for name, items in (
                    ("missing", missing),
                    ("unexpected", extra),
                    ("wrong shape", wrong),
                )
                if items
            )
            raise InfovitError(
                f"checkpoint {str(checkpoint.source)!r} does not fit the model of the run's "
                f"config ({detail}); was config.yaml edited after training?"
            )
        model.load_state_dict(tensors)
        return checkpoint


def _has_content(path: Path) -> bool:
    return path.is_dir() and any(e.name != LOCK_NAME for e in path.iterdir())


def _parse_info(data: bytes, where: Path) -> dict[str, Any]:
    try:
        info = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise InfovitError(
            f"checkpoint metadata {str(where)!r} is truncated or not valid JSON; it cannot be used"
        ) from err
    if not isinstance(info, dict):
        raise InfovitError(f"checkpoint metadata {str(where)!r} is not a JSON object")
    return info


def load_model(
    run_dir: str | Path, tag: str = "auto", device: str | torch.device = "cpu"
) -> tuple[InfoViT, Config]:
    """The trained model of a run folder (eval mode) and its config.

    ``tag``: ``best``, ``last``, or ``auto`` (best if present, else last).
    """
    run = RunFolder.open(run_dir)
    config = run.config()
    model = build_model(config.model, load_weights=False)
    run.load_weights(tag, model)
    model.set_noise(config.optim.eval_noise)  # type: ignore[arg-type]
    return model.to(device).eval(), config


def validation_set(config: Config, spec: str | None = None) -> Dataset:
    """The run's validation data (or another ``spec``) at the model's input size; synthetic
    data sets their own size."""
    spec = spec or config.data.spec
    synthetic = parse_data_spec(spec).name == "synthetic"
    size = None if synthetic else config.model.img_size
    return build_dataset(spec, "val", img_size=size, augment=config.data.augment)


def _timm_version() -> str:
    import timm

    return timm.__version__
