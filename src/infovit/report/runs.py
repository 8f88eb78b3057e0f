"""Provenance of the runs a report shows, read from their run folders as plain data.

The run folder may have moved or been deleted since the analysis was made; then the report
still shows what the analysis index recorded (name, checkpoint hash, data), and says the rest
is unavailable. Config files are read as plain YAML, not validated: a report of an old run
must not fail because today's config schema gained a field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["beta_text", "run_provenance"]


def run_provenance(recorded: dict[str, Any]) -> dict[str, Any]:
    """Everything known about one analysed run: what the analysis index ``recorded`` about it,
    plus its folder's ``config.yaml`` (as text and as data), ``run.json`` and checkpoint."""
    info: dict[str, Any] = {
        "name": str(recorded.get("name")),
        "label": str(recorded.get("config") or ""),
        "recorded": recorded,
        "folder": None,
        "config": None,
        "config_text": None,
        "meta": {},
        "manifest": None,
    }
    folder = Path(str(recorded.get("run") or ""))
    if not recorded.get("run") or not (folder / "config.yaml").is_file():
        return info
    info["folder"] = folder
    text = (folder / "config.yaml").read_text(encoding="utf-8")
    info["config_text"] = text
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        config = None
    info["config"] = config if isinstance(config, dict) else None
    info["meta"] = _json(folder / "run.json") or {}
    tag = str(recorded.get("tag") or "best")
    info["manifest"] = _json(folder / "checkpoints" / tag / "manifest.json")
    return info


def beta_text(info: dict[str, Any]) -> tuple[str, str]:
    """β and its convention (``mean`` / ``sum``) as shown, from the run's config; endpoints
    (no bottleneck) have none: ("—", "")."""
    config = info.get("config") or {}
    model = config.get("model") or {}
    beta = config.get("beta") or {}
    if not config:
        return "unknown", ""
    if model.get("variant") not in (None, "ib"):
        return "—", ""
    value = beta.get("value")
    text = "unknown" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    objective = beta.get("objective")
    convention = str(beta.get("convention") or "")
    if objective and objective != "kl":
        convention = f"{convention}, {objective}"
    return text, convention


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
