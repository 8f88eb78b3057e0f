"""The run folders of a demo output folder, for the scripts in ``experiments/``.

Run as ``python experiments/SCRIPT.py``, a script has this folder on its import path.
"""

from __future__ import annotations

from pathlib import Path

from infovit.training.run import RunFolder

__all__ = ["demo_runs"]


def demo_runs(demo: Path) -> list[Path]:
    """The folders under ``demo/runs`` that hold a run's config, sorted; [] if there are none."""
    runs_dir = demo / "runs"
    if not runs_dir.is_dir():
        return []
    return sorted(d for d in runs_dir.iterdir() if RunFolder(d).config_path.is_file())
