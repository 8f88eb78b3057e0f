"""Every shipped config file parses and validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from infovit.training import load_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads(path):
    cfg = load_config(path)
    assert cfg.optim.lr > 0 and cfg.beta.convention in ("mean", "sum")


def test_there_are_configs():
    assert len(CONFIGS) >= 4
