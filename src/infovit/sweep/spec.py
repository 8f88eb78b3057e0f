"""A sweep is data: a base config, a grid of dotted keys, and extra points, expanded into runs.

The paper's result is a spectrum of runs that belong together (Murphy, arXiv 2602.04784, §4.1
and App. A: the no-attention model, β from 10 to 0 and the unmodified ViT, three seeds each).
A spec says that in a few lines::

    base: ../imagenet100_ib.yaml        # a config file (relative to the spec) or a mapping
    grid:                               # the Cartesian product of these values
      beta.value: [10, 4, 1, 0.3, 0.1, 0.03, 0.01, 0]
      optim.seed: [0, 1, 2]
    points:                             # extra runs over the base (the endpoints); a list
      - {model.variant: no_attn, optim.seed: [0, 1, 2]}    # value expands within its point
      - {model.variant: vit, optim.seed: [0, 1, 2], name: ...}  # optional explicit name

Run names come from the keys each run sets (``beta-0.3_seed-1``, ``variant-no_attn_seed-0``):
readable, filesystem-safe and unique. Every run's config is resolved and validated here, so a
bad value is refused before anything is written.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from infovit.errors import InfovitError
from infovit.training.config import Config, apply_overrides

__all__ = ["RunPoint", "SweepSpec", "config_keys", "load_spec"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")


@functools.cache
def _config_keys() -> tuple[str, ...]:
    return tuple(config_keys())


def config_keys() -> list[str]:
    """Every dotted key a sweep may vary (``beta.value``, ``model.bottleneck.rank``, …)."""
    keys: list[str] = []

    def walk(cls: Any, prefix: str) -> None:
        for f in fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default
            if is_dataclass(default):
                walk(type(default), f"{prefix}{f.name}.")
            else:
                keys.append(f"{prefix}{f.name}")

    walk(Config, "")
    return keys


@dataclass(frozen=True)
class RunPoint:
    """One run of a sweep: its name, the keys it sets over the base, and its resolved config."""

    name: str
    settings: dict[str, Any]  # dotted key → value, as the spec (and command line) set them
    config: dict[str, Any]  # the resolved, validated config mapping


@dataclass(frozen=True)
class SweepSpec:
    """An expanded sweep: the base mapping, what the spec said, and the runs in order."""

    base: dict[str, Any]
    grid: dict[str, list[Any]]
    points: list[dict[str, Any]]
    overrides: list[str]
    runs: list[RunPoint]

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as written into the sweep folder."""
        return {
            "base": self.base,
            "grid": self.grid,
            "points": self.points,
            "overrides": self.overrides,
            "runs": {r.name: {"settings": r.settings, "config": r.config} for r in self.runs},
        }


def load_spec(path: str | Path, overrides: list[str] | None = None) -> SweepSpec:
    """Read and expand the spec file ``path``; ``overrides`` (``--section.key value``) apply to
    every run."""
    path = Path(path)
    if not path.is_file():
        raise InfovitError(f"sweep spec {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InfovitError(f"sweep spec {str(path)!r} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise InfovitError(f"sweep spec {str(path)!r} must be a mapping with base:, grid:, points:")
    return expand(data, path.parent, overrides or [])


def expand(data: dict[str, Any], root: Path, overrides: list[str]) -> SweepSpec:
    """Expand a spec mapping (``root``: where a relative ``base:`` path is looked up)."""
    unknown = set(data) - {"base", "grid", "points"}
    if unknown:
        raise InfovitError(f"unknown sweep spec key(s) {sorted(unknown)}; use base, grid, points")
    base = _base(data.get("base"), root)
    grid = _grid(data.get("grid"))
    points = _points(data.get("points"))
    if not grid and not points:
        raise InfovitError("the sweep has no runs: give grid: values or points:")
    settings = [
        dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
    ]
    settings = settings if grid else []
    named: list[tuple[str | None, dict[str, Any]]] = [(None, s) for s in settings]
    for point in points:
        point = dict(point)
        name = point.pop("name", None)
        lists = {k: v for k, v in point.items() if isinstance(v, list)}
        for values in itertools.product(*lists.values()):
            expanded = {**point, **dict(zip(lists, values, strict=True))}
            if name is not None and lists:
                named.append((_suffix(name, lists, values), expanded))
            else:
                named.append((name, expanded))
    dumps = [yaml.safe_dump(s, sort_keys=True) for _, s in named]
    for i, dump in enumerate(dumps):
        if dump in dumps[:i]:
            raise InfovitError(
                f"sweep runs {dumps.index(dump) + 1} and {i + 1} both set {named[i][1]}: the same "
                "run twice, which would have the same config; remove the duplicate point"
            )
    runs = _name_runs(named)
    resolved = []
    seen: dict[str, str] = {}
    for name, setting in runs:
        config = _resolve(base, setting, overrides, name)
        key = yaml.safe_dump(config, sort_keys=True)
        if key in seen:
            raise InfovitError(
                f"sweep runs {seen[key]!r} and {name!r} have the same config; remove the "
                "duplicate point"
            )
        seen[key] = name
        resolved.append(RunPoint(name, setting, config))
    return SweepSpec(base, grid, points, overrides, resolved)


def _base(base: Any, root: Path) -> dict[str, Any]:
    if base is None:
        return {}
    if isinstance(base, dict):
        return base
    if isinstance(base, str):
        path = (root / base).resolve()
        if not path.is_file():
            raise InfovitError(f"sweep base config {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise InfovitError(f"sweep base config {str(path)!r} is not valid YAML") from err
        if not isinstance(data, dict):
            raise InfovitError(f"sweep base config {str(path)!r} must hold a mapping of sections")
        return data
    raise InfovitError("sweep base: must be a config file path or a config mapping")


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or key not in _config_keys():
        raise InfovitError(f"unknown {where} key {key!r}; known keys: {', '.join(_config_keys())}")
    return key


def _grid(grid: Any) -> dict[str, list[Any]]:
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        raise InfovitError("sweep grid: must map dotted keys to lists of values")
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        _check_key(key, "grid")
        if not isinstance(values, list) or not values:
            raise InfovitError(f"grid key {key!r} needs a non-empty list of values, got {values!r}")
        if len({yaml.safe_dump(v) for v in values}) != len(values):
            raise InfovitError(f"grid key {key!r} lists a value twice: {values!r}")
        out[key] = values
    return out


def _points(points: Any) -> list[dict[str, Any]]:
    if points is None:
        return []
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise InfovitError("sweep points: must be a list of mappings of dotted keys to values")
    out = []
    for point in points:
        for key, value in point.items():
            if key == "name":
                _check_name(value)
                continue
            _check_key(key, "points")
            if isinstance(value, list) and not value:
                raise InfovitError(f"points key {key!r} has an empty list of values")
        out.append(dict(point))
    return out


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise InfovitError(
            f"run name {name!r} is not a plain folder name (letters, digits, . _ = + -; no / or "
            "..); it must stay inside the sweep folder"
        )
    return name


def _alias(key: str, keys: set[str]) -> str:
    """``beta.value`` → ``beta``; ``optim.seed`` → ``seed``; the full key where that is
    ambiguous within the sweep."""
    short = _short(key)
    clash = [k for k in keys if k != key and _short(k) == short]
    return key if clash else short


def _short(key: str) -> str:
    parts = key.split(".")
    return parts[-2] if parts[-1] == "value" and len(parts) > 1 else parts[-1]


def _format(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif value is None:
        text = "null"
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", text).strip("._") or "_"


def _suffix(name: str, lists: dict[str, list[Any]], values: tuple[Any, ...]) -> str:
    keys = set(lists)
    return "_".join(
        [name, *(f"{_alias(k, keys)}-{_format(v)}" for k, v in zip(lists, values, strict=True))]
    )


def _name_runs(named: list[tuple[str | None, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    keys = {k for _, s in named for k in s}
    runs = []
    for name, setting in named:
        if name is None:  # the keys this run sets, in the order the spec gives them
            parts = [f"{_alias(k, keys)}-{_format(v)}" for k, v in setting.items()]
            name = "_".join(parts) or "base"
        runs.append((_check_name(name), setting))
    names = [n for n, _ in runs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise InfovitError(
            f"sweep run name(s) {clashes} are given to more than one run; give those points "
            "distinct name: entries"
        )
    return runs


def _resolve(
    base: dict[str, Any], setting: dict[str, Any], overrides: list[str], name: str
) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for key, value in setting.items():
        *sections, last = key.split(".")
        node = data
        for part in sections:
            child = node.get(part)
            node[part] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[last] = value
    try:
        config = Config.from_dict(apply_overrides(data, overrides))
    except InfovitError as err:
        raise InfovitError(f"sweep run {name!r}: {err}") from err
    return config.to_dict()
