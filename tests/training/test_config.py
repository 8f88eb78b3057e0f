"""Config files, overrides and validation."""

from __future__ import annotations

import pytest

from infovit.errors import InfovitError
from infovit.training.config import load_config


def test_overrides_and_types(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 6e-4\nbeta:\n  value: 1\n")
    cfg = load_config(
        path, ["--beta.value", "1e-3", "--model.bottleneck.rank=16", "--optim.grad_clip", "null"]
    )
    assert cfg.optim.lr == 6e-4 and isinstance(cfg.optim.lr, float)
    assert (
        cfg.beta.value == 1e-3 and cfg.model.bottleneck.rank == 16 and cfg.optim.grad_clip is None
    )
    assert cfg.beta.convention == "mean"  # the default convention is the paper code's


@pytest.mark.parametrize(
    "override, message",
    [
        (["--beta.value", "-1"], "beta.value"),
        (["--beta.value", "nan"], "beta.value"),
        (["--beta.convention", "total"], "convention"),
        (["--beta.bogus", "1"], "unknown option"),
        (["--model.bogus", "1"], "unknown model option"),
        (["beta.value", "1"], "expected an override"),
    ],
)
def test_bad_values_are_refused(override, message):
    with pytest.raises(InfovitError, match=message):
        load_config(None, override)


def test_missing_or_bad_file(tmp_path):
    with pytest.raises(InfovitError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(InfovitError, match="mapping"):
        load_config(bad)
