"""Self-describing run folders.

::

    RUN/
      config.yaml            resolved config: rebuilds model and data with no other flags
      run.json               git commit, versions, β convention, data description, timestamps
      metrics.jsonl          one JSON object per epoch
      checkpoints/
        last.safetensors     model weights (safetensors: no code runs on load)
        last.json            epoch, step, metrics at save time
        last.state.pt        optimizer + RNG state, tensors only (loaded with weights_only=True)
        best.safetensors, best.json

Every file is written atomically, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from infovit import __version__
from infovit.atomic import atomic_path, write_json, write_text
from infovit.data.datasets import build_dataset, parse_data_spec
from infovit.errors import InfovitError
from infovit.model.factory import build_model
from infovit.model.vit import InfoViT
from infovit.training.config import Config

__all__ = ["RunFolder", "git_commit", "load_model", "validation_set"]


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

    def checkpoint_path(self, tag: str, kind: str = "safetensors") -> Path:
        return self.path / "checkpoints" / f"{tag}.{kind}"

    # -- creation and opening
    @classmethod
    def create(
        cls, path: str | Path, config: Config, extra_meta: dict[str, Any] | None = None
    ) -> RunFolder:
        run = cls(path)
        if run.path.exists() and any(run.path.iterdir()):
            raise InfovitError(
                f"run folder {str(run.path)!r} already exists and is not empty; use "
                "'infovit train --resume RUN' to continue it or choose another --out"
            )
        run.path.mkdir(parents=True, exist_ok=True)
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
        run = cls(path)
        if not run.config_path.is_file():
            raise InfovitError(
                f"{str(run.path)!r} is not an infovit run folder (no config.yaml); pass the folder "
                "that 'infovit train' wrote"
            )
        return run

    def config(self) -> Config:
        try:
            data = yaml.safe_load(self.config_path.read_text())
        except yaml.YAMLError as err:
            raise InfovitError(f"{str(self.config_path)!r} is not valid YAML: {err}") from err
        return Config.from_dict(data)

    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_path.read_text()) if self.meta_path.is_file() else {}

    def update_meta(self, **fields: Any) -> None:
        write_json(self.meta_path, {**self.meta(), **fields})

    # -- metrics
    def append_metrics(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=False) + "\n"
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line)  # one write per line: a reader sees whole lines only

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop records after ``last_epoch`` (written before a crash, not in any checkpoint)."""
        kept = [r for r in self.read_metrics() if r.get("epoch", -1) <= last_epoch]
        write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    # -- checkpoints
    def has_checkpoint(self, tag: str) -> bool:
        return self.checkpoint_path(tag).is_file() and self.checkpoint_path(tag, "json").is_file()

    def save_checkpoint(
        self,
        tag: str,
        model: torch.nn.Module,
        info: dict[str, Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        """Weights as safetensors, ``info`` as JSON; ``state`` (optimizer, RNG) as tensors only."""
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        with atomic_path(self.checkpoint_path(tag)) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt", "infovit": __version__})
        if state is not None:
            with atomic_path(self.checkpoint_path(tag, "state.pt")) as tmp:
                torch.save(state, tmp)
        write_json(self.checkpoint_path(tag, "json"), info)  # written last: marks completeness

    def checkpoint_info(self, tag: str) -> dict[str, Any]:
        return json.loads(self.checkpoint_path(tag, "json").read_text())

    def load_weights(self, tag: str, model: torch.nn.Module) -> None:
        path = self.checkpoint_path(tag)
        if not path.is_file():
            raise InfovitError(f"run {str(self.path)!r} has no {tag!r} checkpoint ({path.name})")
        try:
            tensors = load_file(str(path))
        except Exception as err:
            raise InfovitError(f"checkpoint {str(path)!r} is unreadable: {err}") from err
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
                f"checkpoint {str(path)!r} does not fit the model of the run's config ({detail}); "
                "was config.yaml edited after training?"
            )
        model.load_state_dict(tensors)

    def load_state(self, tag: str) -> dict[str, Any]:
        path = self.checkpoint_path(tag, "state.pt")
        if not path.is_file():
            raise InfovitError(
                f"run {str(self.path)!r} has no training state to resume ({path.name})"
            )
        return torch.load(path, map_location="cpu", weights_only=True)


def load_model(
    run_dir: str | Path, tag: str = "auto", device: str | torch.device = "cpu"
) -> tuple[InfoViT, Config]:
    """The trained model of a run folder (eval mode) and its config.

    ``tag``: ``best``, ``last``, or ``auto`` (best if present, else last).
    """
    run = RunFolder.open(run_dir)
    config = run.config()
    if tag == "auto":
        tag = "best" if run.has_checkpoint("best") else "last"
    model = build_model(config.model, load_weights=False)
    run.load_weights(tag, model)
    model.set_noise(config.optim.eval_noise)  # type: ignore[arg-type]
    return model.to(device).eval(), config


def validation_set(config: Config, spec: str | None = None) -> Dataset:
    """The run's validation data (or another ``spec``) at the model's input size; synthetic
    data sets their own size."""
    spec = spec or config.data.spec
    synthetic = parse_data_spec(spec).name == "synthetic"
    return build_dataset(spec, "val", img_size=None if synthetic else config.model.img_size)


def _timm_version() -> str:
    import timm

    return timm.__version__
