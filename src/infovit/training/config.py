"""Experiment configuration: nested dataclasses ⇄ YAML, with ``--section.key value`` overrides.

A resolved config is written into every run folder and is all that is needed to rebuild the
model and data of the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from infovit.errors import InfovitError
from infovit.model.bottleneck import BottleneckConfig
from infovit.model.factory import ModelConfig

__all__ = [
    "BETA_CONVENTIONS",
    "BETA_SCHEDULES",
    "BetaConfig",
    "Config",
    "DataConfig",
    "OptimConfig",
    "apply_overrides",
    "load_config",
    "parse_scalar",
]

BETA_CONVENTIONS = ("mean", "sum")
BETA_SCHEDULES = ("constant", "linear", "log")


@dataclass
class BetaConfig:
    """The price of information. ``convention`` says what β multiplies:

    - ``mean`` (default, the paper's public code): β × mean KL over batch, heads and tokens;
      the paper's published β values (0.01 … 10) are in this convention.
    - ``sum`` (the paper's eq. 3): β × KL summed over heads and tokens, averaged over images.
      β_mean = β_sum × heads × tokens (7056 for ViT-Tiny/16 at 224 px).
    """

    value: float = 1.0
    convention: str = "mean"
    schedule: str = "linear"  # constant | linear ramp from 0 | log ramp from ``start``
    warmup_epochs: float = 100.0
    start: float = 1e-8  # first β of the log ramp


@dataclass
class DataConfig:
    spec: str = "synthetic"  # see infovit.data.parse_data_spec
    augment: str = "paper"  # paper | small | none (synthetic data is never augmented)
    batch_size: int = 256
    workers: int = 4


@dataclass
class OptimConfig:
    epochs: int = 100
    lr: float = 6e-4  # paper; its public code uses 3e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 10.0
    min_lr: float = 1e-6
    grad_clip: float | None = None
    amp: str = "auto"  # auto (bf16/fp16 on CUDA, off on CPU) | off | bf16 | fp16
    seed: int = 42
    device: str = "auto"
    eval_passes: int = 1  # stochastic validation passes per epoch (the paper: 10 at the end)
    eval_noise: str = "sample"  # sample (paper) | mean


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    beta: BetaConfig = field(default_factory=BetaConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        d = dict(d or {})
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise InfovitError(f"unknown config section(s) {sorted(unknown)}")
        cfg = cls(
            model=ModelConfig.from_dict(d.get("model") or {}),
            data=_build(DataConfig, d.get("data"), "data"),
            optim=_build(OptimConfig, d.get("optim"), "optim"),
            beta=_build(BetaConfig, d.get("beta"), "beta"),
        )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Refuse values that would silently train something meaningless."""
        b = self.beta
        if not isinstance(b.value, int | float) or not math.isfinite(b.value) or b.value < 0:
            raise InfovitError(f"beta.value must be a finite number ≥ 0, got {b.value!r}")
        if b.convention not in BETA_CONVENTIONS:
            raise InfovitError(
                f"beta.convention must be one of {BETA_CONVENTIONS}, got {b.convention!r}"
            )
        if b.schedule not in BETA_SCHEDULES:
            raise InfovitError(f"beta.schedule must be one of {BETA_SCHEDULES}, got {b.schedule!r}")
        if b.schedule == "log" and not 0 < b.start:
            raise InfovitError("beta.start must be > 0 for the log schedule")
        o = self.optim
        if o.epochs < 1 or o.lr <= 0 or self.data.batch_size < 1 or o.eval_passes < 1:
            raise InfovitError(
                "optim.epochs, optim.lr, data.batch_size and optim.eval_passes must be positive"
            )
        if o.amp not in ("auto", "off", "bf16", "fp16"):
            raise InfovitError(f"optim.amp must be auto, off, bf16 or fp16, got {o.amp!r}")
        if o.eval_noise not in ("sample", "mean"):
            raise InfovitError(f"optim.eval_noise must be 'sample' or 'mean', got {o.eval_noise!r}")


def _build(cls: type, d: dict[str, Any] | None, section: str) -> Any:
    d = dict(d or {})
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise InfovitError(
            f"unknown option(s) {sorted(unknown)} in section {section!r}; known: {sorted(names)}"
        )
    for f in fields(cls):  # YAML files read "6e-4" as a string: coerce to the field's type
        if isinstance(f.default, float) and isinstance(d.get(f.name), str):
            d[f.name] = parse_scalar(d[f.name], f"{section}.{f.name}")
    return cls(**d)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from defaults) and apply ``--section.key value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InfovitError(f"config file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise InfovitError(f"config file {str(path)!r} is not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise InfovitError(f"config file {str(path)!r} must hold a mapping of sections")
    return Config.from_dict(apply_overrides(data, overrides or []))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``["--beta.value", "0.1", "--model.bottleneck.rank=8"]`` to a config mapping.

    Values are parsed as YAML scalars, so ``1e-3`` is a float, ``null`` is None, ``true`` a bool.
    """
    data = _to_plain(data)
    items = list(overrides)
    i = 0
    while i < len(items):
        token = items[i]
        if not token.startswith("--"):
            raise InfovitError(f"expected an override like --beta.value 0.1, got {token!r}")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(items):
                raise InfovitError(f"override {token} needs a value")
            value, i = items[i + 1], i + 1
        i += 1
        parts = key.replace("-", "_").split(".")
        if len(parts) < 2:
            raise InfovitError(f"override {token!r} must name a section, e.g. --beta.value")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InfovitError(f"override {token!r} goes below a plain value")
        node[parts[-1]] = parse_scalar(value, token)
    return data


def parse_scalar(text: str, what: str = "value") -> Any:
    """A YAML scalar, except that ``1e-3`` (a string in YAML 1.1) is read as the float it is."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InfovitError(f"cannot parse {what}: {text!r}") from err
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _to_plain(d: Any) -> Any:
    if is_dataclass(d) and not isinstance(d, type):
        return _to_plain(asdict(d))
    if isinstance(d, dict):
        return {k: _to_plain(v) for k, v in d.items()}
    if isinstance(d, BottleneckConfig):
        return asdict(d)
    return d
