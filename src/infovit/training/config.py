"""Experiment configuration: nested dataclasses ⇄ YAML, with ``--section.key value`` overrides.

A resolved config is written into every run folder and is all that is needed to rebuild the
model and data of the run.
"""

from __future__ import annotations

import itertools
import math
import typing
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from infovit.coerce import build_section, coerce_value, show_value
from infovit.data.datasets import DataSpec, parse_data_spec
from infovit.data.synthetic import SyntheticConfig
from infovit.data.transforms import AUGMENTS
from infovit.errors import InfovitError
from infovit.model.bottleneck import BottleneckConfig
from infovit.model.capabilities import is_priced
from infovit.model.factory import ModelConfig
from infovit.training.cadence import CheckpointCadence

__all__ = [
    "AMP_MODES",
    "BETA_CONVENTIONS",
    "BETA_OBJECTIVES",
    "BETA_SCHEDULES",
    "EVAL_NOISES",
    "LADDER_LRS",
    "LADDER_RAMPS",
    "BetaConfig",
    "Config",
    "DataConfig",
    "OptimConfig",
    "SettleConfig",
    "apply_overrides",
    "iter_overrides",
    "load_config",
    "parse_scalar",
]

BETA_CONVENTIONS = ("mean", "sum")
BETA_SCHEDULES = ("constant", "linear", "log", "ladder")
LADDER_RAMPS = ("linear", "log")  # the initial phase of a ladder: the warm-up ramps
LADDER_LRS = ("rewarm", "constant", "cosine")
BETA_OBJECTIVES = ("kl", "sqrt_kl")
AMP_MODES = ("auto", "off", "bf16", "fp16")
EVAL_NOISES = ("sample", "mean")


@dataclass
class SettleConfig:
    """When a ladder milestone may end before ``beta.hold_epochs`` (``window`` 0: never).

    The milestone ends after the first of its epochs ``e`` with at least ``window`` epochs of
    the milestone before it for which the training KL per image (the epoch's mean) has
    settled: ``|KL_e − KL_{e−window}| ≤ rel_tol · max(KL_{e−window}, 0.01 nats)`` (the floor
    keeps a channel that is closed, KL ≈ 0, from counting noise as change). ``hold_epochs`` is
    then the longest hold, so the ladder's planned length is an upper bound.
    """

    window: int = 0
    rel_tol: float = 0.01


@dataclass
class BetaConfig:
    """The price of information. ``convention`` says what β multiplies:

    - ``mean`` (default, the paper's public code): β × mean KL over batch, heads and tokens;
      the paper's published β values (0.01 … 10) are in this convention.
    - ``sum`` (the paper's eq. 3): β × KL summed over blocks, heads and tokens, averaged over
      images. β_mean = β_sum × blocks × heads × tokens (7056 = 12 · 3 · 196 for ViT-Tiny/16 at
      224 px).

    ``objective`` says what the KL term is: ``kl`` (the KL itself) or ``sqrt_kl`` (the paper's
    code's ``--sqrt-kl``: per image, block and head, the square root of the mean KL over
    patches, averaged; it favours consolidating information into few heads). ``value`` and
    ``objective`` are null only for imported runs whose training is unknown.

    ``schedule: ladder`` (see :mod:`infovit.training.ladder`) trains a whole spectrum in one
    run: ``ramp`` (linear or log, over ``warmup_epochs``, from 0 or ``start``) up to the first
    of ``milestones``, then each milestone held for ``hold_epochs`` (or until ``settle``) and
    saved as a snapshot run folder at its end. ``value`` is then the last milestone (the β the
    run ends at; training sets it).
    """

    value: float | None = 1.0
    convention: str = "mean"
    objective: str | None = "kl"
    schedule: str = "linear"  # constant | linear ramp from 0 | log ramp from ``start`` | ladder
    warmup_epochs: float = 100.0
    start: float = 1e-8  # first β of the log ramp
    milestones: list[float] | None = None  # ladder: the β values, ascending or descending
    hold_epochs: int = 10  # ladder: epochs per milestone (the most, with settle)
    ramp: str = "log"  # ladder: the initial phase's ramp to the first milestone, linear | log
    settle: SettleConfig = field(default_factory=SettleConfig)


@dataclass
class DataConfig:
    spec: str = "synthetic"  # see infovit.data.parse_data_spec
    # paper (the paper's code: torchvision RandAugment 2 ops, magnitude 9) | timm (timm's
    # rand-m9-n2-mstd0.5) | small (32–96 px images) | none; synthetic data is never augmented
    augment: str = "paper"
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
    # mid-epoch checkpoints: N (steps), "10min" / "30s" / "1h" (wall time), or null (epoch
    # ends only); the last checkpoint is also written at every epoch end and on SIGTERM/SIGINT
    checkpoint_every: int | str | None = "10min"
    # torch.compile the training forward (the fused channel and the plain one alike); eval stays
    # eager. Worth it on GPU for long runs; the first steps pay the compilation.
    compile: bool = False
    # the learning rate of a beta.schedule ladder run: rewarm (warm-up + cosine to min_lr
    # within every milestone, so each snapshot ends annealed like an independent run),
    # constant (lr after the first warm-up) or cosine (one warm-up + cosine over the ladder)
    ladder_lr: str = "rewarm"


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    beta: BetaConfig = field(default_factory=BetaConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Config:
        """A validated config from a plain mapping: every field type-checked, then ranges."""
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise InfovitError(
                "a config must be a mapping of sections (model, data, optim, beta), got "
                f"{show_value(d)}"
            )
        sections = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in d if k not in sections)
        if unknown:
            raise InfovitError(
                f"unknown config section(s) {unknown}; the sections are {', '.join(sections)}"
            )
        cfg = cls(
            model=ModelConfig.from_dict(d.get("model")),
            data=build_section(DataConfig, d.get("data"), "data"),
            optim=build_section(OptimConfig, d.get("optim"), "optim"),
            beta=_with_milestones(build_section(BetaConfig, d.get("beta"), "beta")),
        )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Refuse values that would crash later or silently train something meaningless.

        Types are right once ``from_dict`` built the config; this checks ranges and how the
        sections fit together, e.g. that the model's patches tile the synthetic images.
        """
        _validate_optim(self.optim)
        _validate_beta(self.beta)
        if self.beta.schedule == "ladder":
            _validate_ladder(self)
        d = self.data
        _at_least("data.batch_size", d.batch_size, 1, "--data.batch_size 128")
        _at_least("data.workers", d.workers, 0, "--data.workers 4")
        if d.augment not in AUGMENTS:
            raise InfovitError(
                f"data.augment must be one of {', '.join(AUGMENTS)}, got {d.augment!r} "
                "(e.g. --data.augment small for 32–96 px images)"
            )
        spec = parse_data_spec(d.spec)  # an unknown data set fails before anything is built
        self.model_for_data(spec).validate()

    def model_for_data(self, spec: DataSpec | None = None) -> ModelConfig:
        """The model config as training resolves it for the data: synthetic images set the
        image size (and, unless given, the patch size), whose patches must tile them."""
        spec = spec or parse_data_spec(self.data.spec)
        model = self.model
        if spec.name != "synthetic":
            return model
        synth = SyntheticConfig(**spec.options)
        size = f"{synth.img_size} px (grid {synth.grid} × patch {synth.patch})"
        patch = model.patch_size or synth.patch
        if patch >= 1 and synth.img_size % patch:
            raise InfovitError(
                f"model.patch_size {patch} does not divide the synthetic images of {size}; "
                f"use a divisor of {synth.img_size} (e.g. --model.patch_size {synth.patch})"
            )
        return replace(model, img_size=synth.img_size, patch_size=patch)


def _with_milestones(beta: BetaConfig) -> BetaConfig:
    """``beta.milestones`` as floats: each element typed like a ``float`` field (YAML 1.1
    reads ``1e-3`` as text), so a list is refused or converted in the one typed step."""
    steps = beta.milestones
    if steps is None:
        return beta
    example = "--beta.milestones [0.03,0.3,3,30]"
    if not isinstance(steps, list):
        raise InfovitError(
            f"beta.milestones must be a list of numbers or null, got {show_value(steps)} "
            f"(e.g. {example})"
        )
    floats = [coerce_value(m, float, f"beta.milestones[{i}]", example) for i, m in enumerate(steps)]
    return replace(beta, milestones=floats)


def _validate_optim(o: OptimConfig) -> None:
    _at_least("optim.epochs", o.epochs, 1, "--optim.epochs 100")
    if not o.lr > 0:
        raise InfovitError(f"optim.lr must be > 0, got {o.lr} (e.g. --optim.lr 6e-4)")
    _at_least("optim.weight_decay", o.weight_decay, 0, "--optim.weight_decay 0.05")
    _at_least("optim.warmup_epochs", o.warmup_epochs, 0, "--optim.warmup_epochs 10")
    _at_least("optim.min_lr", o.min_lr, 0, "--optim.min_lr 1e-6")
    if o.min_lr > o.lr:
        raise InfovitError(
            f"optim.min_lr ({o.min_lr}) must not exceed optim.lr ({o.lr}): the cosine schedule "
            "decays from lr to min_lr; lower --optim.min_lr"
        )
    if o.grad_clip is not None and not o.grad_clip > 0:
        raise InfovitError(
            "optim.grad_clip must be > 0 (the largest gradient norm) or null for no clipping, "
            f"got {o.grad_clip} (e.g. --optim.grad_clip 1.0)"
        )
    if not 0 <= o.seed < 2**32:
        raise InfovitError(f"optim.seed must be in [0, 2³²), got {o.seed} (e.g. --optim.seed 42)")
    _at_least("optim.eval_passes", o.eval_passes, 1, "--optim.eval_passes 10")
    if o.device != "auto" and not _is_device(o.device):
        raise InfovitError(
            f"optim.device must be auto, cpu, cuda or cuda:N, got {o.device!r} "
            "(e.g. --optim.device cpu)"
        )
    if o.amp not in AMP_MODES:
        raise InfovitError(
            f"optim.amp must be one of {', '.join(AMP_MODES)}, got {o.amp!r} (e.g. --optim.amp off)"
        )
    CheckpointCadence.parse(o.checkpoint_every)  # steps, a time, or null
    if o.ladder_lr not in LADDER_LRS:
        raise InfovitError(
            f"optim.ladder_lr must be one of {', '.join(LADDER_LRS)}, got {o.ladder_lr!r} "
            "(e.g. --optim.ladder_lr rewarm)"
        )
    if o.eval_noise not in EVAL_NOISES:
        raise InfovitError(
            "optim.eval_noise must be 'sample' (the paper) or 'mean' (μ only), got "
            f"{o.eval_noise!r} (e.g. --optim.eval_noise sample)"
        )


def _validate_beta(b: BetaConfig) -> None:
    if b.objective is not None and b.objective not in BETA_OBJECTIVES:
        raise InfovitError(
            f"beta.objective must be one of {', '.join(BETA_OBJECTIVES)}, got {b.objective!r} "
            "(kl: the KL itself; sqrt_kl: the paper's code's --sqrt-kl)"
        )
    if b.objective == "sqrt_kl" and b.convention != "mean":
        raise InfovitError(
            "beta.objective sqrt_kl is defined in the mean convention of the paper's code; "
            "use --beta.convention mean"
        )
    if b.value is None:  # unknown: an imported run (training refuses it)
        return
    if isinstance(b.value, bool) or not isinstance(b.value, int | float):
        raise InfovitError(f"beta.value must be a number, got {show_value(b.value)}")
    if not math.isfinite(b.value) or b.value < 0:
        raise InfovitError(
            f"beta.value must be a finite number ≥ 0, got {b.value} (e.g. --beta.value 1.0)"
        )
    if b.convention not in BETA_CONVENTIONS:
        raise InfovitError(
            f"beta.convention must be one of {', '.join(BETA_CONVENTIONS)}, got "
            f"{b.convention!r} (mean: the paper's code; sum: its eq. 3)"
        )
    if b.schedule not in BETA_SCHEDULES:
        raise InfovitError(
            f"beta.schedule must be one of {', '.join(BETA_SCHEDULES)}, got {b.schedule!r} "
            "(e.g. --beta.schedule linear)"
        )
    _at_least("beta.warmup_epochs", b.warmup_epochs, 0, "--beta.warmup_epochs 100")
    if b.schedule == "log":
        if not b.start > 0:
            raise InfovitError(
                f"beta.start must be > 0 for the log schedule, got {b.start} "
                "(e.g. --beta.start 1e-4)"
            )
        if b.value > 0 and b.start > b.value:
            raise InfovitError(
                f"beta.start ({b.start}) must not exceed beta.value ({b.value}): the log "
                "schedule ramps up from start to value; lower --beta.start"
            )


def _validate_ladder(config: Config) -> None:
    """A ladder: milestones, holds, the settle rule, and that it fits in ``optim.epochs``."""
    from infovit.training.ladder import ladder_length  # the ladder module imports this one

    b, o = config.beta, config.optim
    example = "(e.g. --beta.milestones [0.03,0.3,3,30])"
    steps = b.milestones
    if not isinstance(steps, list) or not steps:
        raise InfovitError(
            "beta.milestones must be a non-empty list of β values for the ladder schedule, "
            f"got {show_value(steps)} {example}"
        )
    for i, m in enumerate(steps):  # finite numbers already (_with_milestones)
        if not m > 0:
            raise InfovitError(f"beta.milestones[{i}] must be > 0, got {m} {example}")
    rising = all(a < c for a, c in itertools.pairwise(steps))
    falling = all(a > c for a, c in itertools.pairwise(steps))
    if not (rising or falling):
        raise InfovitError(
            f"beta.milestones must be strictly ascending or strictly descending, got {steps} "
            f"{example}"
        )
    _at_least("beta.hold_epochs", b.hold_epochs, 1, "--beta.hold_epochs 10")
    if b.ramp not in LADDER_RAMPS:
        raise InfovitError(
            f"beta.ramp must be one of {', '.join(LADDER_RAMPS)}, got {b.ramp!r} "
            "(the ladder's initial phase; e.g. --beta.ramp log)"
        )
    if b.ramp == "log" and b.warmup_epochs > 0 and not 0 < b.start <= steps[0]:
        raise InfovitError(
            f"beta.start ({b.start}) must be > 0 and not exceed the first milestone "
            f"({steps[0]}): the log ramp rises from start to it; e.g. --beta.start 1e-4"
        )
    s = b.settle
    _at_least("beta.settle.window", s.window, 0, "--beta.settle.window 2; 0: off")
    if s.window > 0:
        if s.window >= b.hold_epochs:
            raise InfovitError(
                f"beta.settle.window ({s.window}) must be below beta.hold_epochs "
                f"({b.hold_epochs}), the longest hold; raise --beta.hold_epochs"
            )
        if not s.rel_tol > 0:
            raise InfovitError(
                f"beta.settle.rel_tol must be > 0, got {s.rel_tol} (e.g. "
                "--beta.settle.rel_tol 0.02)"
            )
        if o.ladder_lr != "constant":
            raise InfovitError(
                f"beta.settle needs --optim.ladder_lr constant (got {o.ladder_lr}): a hold of "
                "unknown length has no cosine to follow"
            )
    if not is_priced(config.model):
        raise InfovitError(
            f"beta.schedule ladder needs model.variant ib (got {config.model.variant}: no "
            "KL term to price)"
        )
    total = ladder_length(b)
    if total > o.epochs:
        raise InfovitError(
            f"the β ladder takes {total} epochs ({math.ceil(b.warmup_epochs)} of ramp + "
            f"{len(steps)} milestones × {b.hold_epochs}), more than optim.epochs {o.epochs}; "
            f"raise --optim.epochs to {total} or shorten the ladder"
        )


def _is_device(name: str) -> bool:
    """Whether torch can parse ``name`` as a device; whether it is present is checked when a
    run starts (a config may be written on one machine and trained on another)."""
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        return False
    return True


def _at_least(name: str, value: float, low: float, example: str) -> None:
    if not value >= low:  # written so that NaN is refused too
        raise InfovitError(f"{name} must be ≥ {low}, got {value} (e.g. {example})")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from defaults) and apply ``--section.key value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_yaml_file(Path(path))
    config = Config.from_dict(apply_overrides(data, overrides or []))
    _check_requested_size(config)
    return config


def _check_requested_size(config: Config) -> None:
    """An image size the user asks for must be the synthetic images' own, which training
    uses regardless. Checked on user input only: a stored run's config is already resolved,
    and code may build configs whose data spec is replaced later (e.g. eval ``--data``)."""
    spec = parse_data_spec(config.data.spec)
    requested = config.model.img_size
    if spec.name != "synthetic" or requested is None:
        return
    synth = SyntheticConfig(**spec.options)
    if requested != synth.img_size:
        raise InfovitError(
            f"model.img_size {requested} does not match the synthetic images of "
            f"{synth.img_size} px (grid {synth.grid} × patch {synth.patch}); leave "
            "model.img_size out, or set the synthetic grid/patch options"
        )


def _read_yaml_file(path: Path) -> dict[str, Any]:
    where = repr(str(path))
    if path.is_dir():
        raise InfovitError(f"config file {where} is a folder; give a YAML file")
    if not path.is_file():
        raise InfovitError(f"config file {where} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise InfovitError(
            f"config file {where} is not valid YAML{at}: {problem}; fix the file (quote values "
            "that hold ':' or '#')"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise InfovitError(
            f"cannot read config file {where}: {err}; give a UTF-8 YAML file"
        ) from err
    if not isinstance(data, dict):
        raise InfovitError(
            f"config file {where} must hold a mapping of sections (model:, data:, optim:, beta:), "
            f"not a {type(data).__name__}"
        )
    return data


def iter_overrides(tokens: list[str]) -> Iterator[tuple[str, str, str]]:
    """``["--a.b", "1", "--c.d=2"]`` → (token, ``a.b``, ``1``), (token, ``c.d``, ``2``)."""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise InfovitError(f"expected an override like --beta.value 0.1, got {token!r}")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens):
                raise InfovitError(f"override {token} needs a value, e.g. {token} 1")
            value, i = tokens[i + 1], i + 1
        i += 1
        yield token, key, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``["--beta.value", "0.1", "--model.bottleneck.rank=8"]`` to a config mapping.

    Values are parsed as YAML scalars, so ``1e-3`` is a float, ``null`` is None, ``true`` a bool;
    except for options that can only be text (``--optim.amp off``, ``--data.spec ...``), whose
    value is taken as written: YAML would read ``off`` as false.
    """
    data = _to_plain(data)
    for token, key, value in iter_overrides(overrides):
        parts = key.replace("-", "_").split(".")
        if len(parts) < 2 or not all(parts):
            raise InfovitError(f"override {token!r} must name a section, e.g. --beta.value")
        node = data
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InfovitError(
                    f"override {token!r} sets an option inside {'.'.join(parts[: depth + 1])!r}, "
                    f"which the config gives as the plain value {show_value(node)}; make it a "
                    "mapping of options"
                )
        node[parts[-1]] = value if _text_only(parts) else parse_scalar(value, token)
    return data


def _text_only(parts: list[str]) -> bool:
    """Whether the option ``parts`` (e.g. ["optim", "amp"]) is typed as plain ``str``."""
    cls: Any = Config
    for part in parts:
        if not (isinstance(cls, type) and is_dataclass(cls)):
            return False
        hint = typing.get_type_hints(cls).get(part)
        if hint is None:
            return False
        cls = hint
    return cls is str


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
