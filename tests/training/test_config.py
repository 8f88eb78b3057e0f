"""Config files, overrides and validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infovit.coerce import coerce_value
from infovit.errors import InfovitError
from infovit.model.factory import ModelConfig
from infovit.training.config import BetaConfig, Config, DataConfig, OptimConfig, load_config

CONFIGS = Path(__file__).parents[2] / "configs"


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
        (["--beta.bogus", "1"], "unknown beta option"),
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


# --- the typed step: one rule per field type, driven by the dataclass's type hints

INT, FLOAT, TEXT, FLAG = "optim.epochs", "optim.lr", "optim.amp", "model.class_token"
OPTIONAL_FLOAT, OPTIONAL_INT = "optim.grad_clip", "model.depth"


def _value(cfg, dotted: str):
    section, key = dotted.split(".")
    return getattr(getattr(cfg, section), key)


@pytest.mark.parametrize(
    "option, text, expected",
    [
        (INT, "7", 7),
        (INT, "2.0", 2),  # an integral float is the integer it spells
        (INT, "1e2", 100),
        (FLOAT, "6e-4", 6e-4),  # YAML 1.1 reads this as a string
        (FLOAT, "3", 3.0),
        (TEXT, "off", "off"),  # YAML would read a bare off as false
        (FLAG, "true", True),
        (OPTIONAL_FLOAT, "null", None),
        (OPTIONAL_FLOAT, "2", 2.0),
        (OPTIONAL_INT, "null", None),
        (OPTIONAL_INT, "3", 3),
    ],
)
def test_values_of_the_field_type_are_accepted(option, text, expected):
    value = _value(load_config(None, [f"--{option}", text]), option)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "option, text, message",
    [
        (INT, "true", "must be an integer, got true"),  # bool is not an int
        (INT, "1.5", "must be an integer, got 1.5"),
        (INT, "abc", "must be an integer, got 'abc'"),
        (INT, "null", "must be an integer, got null"),  # null only for optional fields
        (FLOAT, "false", "must be a number, got false"),
        (FLOAT, "abc", "must be a number, got 'abc'"),
        (FLOAT, "inf", "must be a finite number"),
        (FLOAT, "null", "must be a number, got null"),
        (FLAG, "1", "must be true or false, got 1"),
        (FLAG, "yes please", "must be true or false, got 'yes please'"),
        (OPTIONAL_FLOAT, "abc", "must be a number or null, got 'abc'"),
        (OPTIONAL_INT, "2.5", "must be an integer or null, got 2.5"),
    ],
)
def test_values_of_another_type_are_refused(option, text, message):
    with pytest.raises(InfovitError, match=re.escape(f"{option} {message}")) as err:
        load_config(None, [f"--{option}", text])
    assert f"(e.g. --{option} " in str(err.value)  # says what to write instead


def test_yaml_file_values_follow_the_same_rules(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim: {lr: 6e-4, epochs: 3.0, warmup_epochs: 1}\nbeta: {value: 1}\n")
    cfg = load_config(path)
    assert cfg.optim.lr == 6e-4 and cfg.optim.epochs == 3 and type(cfg.optim.epochs) is int
    assert type(cfg.optim.warmup_epochs) is float and type(cfg.beta.value) is float
    path.write_text("optim: {amp: off}\n")  # a bare off is a YAML boolean
    with pytest.raises(InfovitError, match=r"optim.amp must be a string, got false.*quote"):
        load_config(path)
    path.write_text("optim: {amp: 'off'}\n")
    assert load_config(path).optim.amp == "off"


@pytest.mark.parametrize(
    "value, expected",
    [(500, 500), ("10min", "10min"), (None, None), (2.0, 2), ("1e3", "1e3")],
)
def test_a_union_accepts_any_member_type(value, expected):
    """``int | str | None`` (e.g. a step count or a duration): a value of any member type is
    kept as it is; only a value of none of them is converted, or refused."""
    got = coerce_value(value, int | str | None, "optim.every", "--optim.every 500")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value", [1.5, True, [1]])
def test_a_union_refuses_other_types(value):
    with pytest.raises(InfovitError, match="must be an integer or a string or null"):
        coerce_value(value, int | str | None, "optim.every", "--optim.every 500")


def test_sections_must_be_mappings_and_keys_known():
    with pytest.raises(InfovitError, match=r"config section 'data' must be a mapping.*got 5"):
        Config.from_dict({"data": 5})
    with pytest.raises(InfovitError, match=r"config section 'beta' must be a mapping.*got \[1\]"):
        Config.from_dict({"beta": [1]})
    with pytest.raises(InfovitError, match=r"unknown data option.*did you mean 'batch_size'"):
        Config.from_dict({"data": {"batchsize": 8}})
    assert Config.from_dict({"data": None}).data == DataConfig()  # an empty section: defaults


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_resolved_configs_read_back_unchanged(path):
    """What a run folder stores (to_dict) validates and reads back to the same config."""
    cfg = load_config(path)
    assert Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "config, message",
    [
        (Config(optim=OptimConfig(grad_clip=-1.0)), "optim.grad_clip must be > 0"),
        (Config(optim=OptimConfig(min_lr=1.0)), "must not exceed optim.lr"),
        (Config(beta=BetaConfig(value=True)), "beta.value must be a number, got true"),
        (Config(model=ModelConfig(depth=0)), "model.depth must be ≥ 1"),
        (Config(data=DataConfig(spec="synthetic:n_val=0")), "n_val must be ≥ 1"),
    ],
)
def test_configs_built_in_python_are_range_checked(config, message):
    with pytest.raises(InfovitError, match=re.escape(message)):
        config.validate()


def test_model_sizes_resolve_from_the_base():
    """Only the values the user set are checked against each other and the timm base."""
    ModelConfig(embed_dim=96).validate()  # 96 / 3 heads of ViT-Tiny
    with pytest.raises(InfovitError, match=r"num_heads 3 \(that of vit_tiny_patch16_224\)"):
        ModelConfig(embed_dim=32).validate()
    ModelConfig(img_size=32, patch_size=4).validate()
    with pytest.raises(InfovitError, match=r"patch_size 16 \(that of .*\) does not divide"):
        ModelConfig(img_size=40).validate()
