"""Typed config fields: values from YAML files and ``--section.key value`` overrides are checked
against the dataclass's type hints, and converted, in one place.

YAML gives values whose Python type rarely matches the field on its own: ``6e-4`` is a string in
YAML 1.1, ``off`` is a boolean, ``1.5`` may land in an integer field. Without one typed step,
such values either crash deep inside training (a traceback) or, worse, are accepted (``true``
as β trains with β = 1). The rules, driven by ``typing.get_type_hints`` of the dataclass:

- ``int``: integers; integral floats (``1e3``, ``2.0``); never booleans, ``1.5`` or ``"abc"``.
- ``float``: integers and floats, numeric strings (``"6e-4"``); finite only; never booleans.
- ``str``: strings only.  ``bool``: ``true`` / ``false`` only.
- ``X | None``: also ``null``; a union such as ``int | str | None`` accepts any member type.
- a dataclass type: a nested mapping of its own fields (or an instance of it).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from infovit.errors import InfovitError

__all__ = ["build_section", "coerce_value", "show_value"]

T = TypeVar("T")

_KIND = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_EXAMPLE = {bool: "true", int: "4", float: "0.5", str: "TEXT"}


def build_section(cls: type[T], data: Any, section: str) -> T:
    """An instance of the dataclass ``cls`` from the mapping ``data`` (``None``: defaults).

    ``section`` is the dotted name used in messages (``"optim"``, ``"model.bottleneck"``), so an
    error names the option as the user writes it on the command line.
    """
    if data is None:
        data = {}
    elif isinstance(data, cls):
        return data  # already built in Python (e.g. a BottleneckConfig passed to the registry)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    if not isinstance(data, Mapping):
        first = next(iter(fields))
        example = _example(fields[first], hints[first])
        raise InfovitError(
            f"config section {section!r} must be a mapping of options, got {show_value(data)}; "
            f"set its options one by one, e.g. --{section}.{first} {example} "
            f"(in YAML: {section.rpartition('.')[2]}: {{{first}: {example}}})"
        )
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InfovitError(
            f"unknown {section} option(s) {unknown}{hint} (known: {', '.join(sorted(fields))})"
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        hint, name = hints[key], f"{section}.{key}"
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[key] = build_section(hint, value, name)
        else:
            values[key] = coerce_value(value, hint, name, f"--{name} {_example(fields[key], hint)}")
    return cls(**values)


def coerce_value(value: Any, hint: Any, name: str, example: str) -> Any:
    """``value`` checked against (and converted to) the type ``hint``.

    ``name`` and ``example`` (e.g. ``"--optim.epochs 100"``) make the error say what to write.
    """
    members = _members(hint)
    kinds = [m for m in members if m is not type(None)]
    if value is None:
        if type(None) in members:
            return None
        raise InfovitError(f"{name} must be {_describe(members)}, got null (e.g. {example})")
    for kind in kinds:  # a value of a member type as it is: "10min" stays a string
        if _is_exact(value, kind):
            return _checked(_as_float(value), name, example) if kind is float else value
    for kind in kinds:  # then conversions: 2.0 → 2, "6e-4" → 0.0006
        converted = _convert(value, kind)
        if converted is not None:
            return _checked(converted, name, example) if kind is float else converted
    hint_text = ""
    if isinstance(value, bool) and str in kinds:
        hint_text = "; YAML reads off/on/no/yes as false/true: quote the word"
    raise InfovitError(
        f"{name} must be {_describe(members)}, got {show_value(value)} (e.g. {example}){hint_text}"
    )


def show_value(value: Any) -> str:
    """A value as the user wrote it, on one line: ``true``, ``null``, ``'abc'``, ``1.5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _members(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _describe(members: tuple[Any, ...]) -> str:
    words = [_KIND.get(m, getattr(m, "__name__", str(m))) for m in members if m is not type(None)]
    if type(None) in members:
        words.append("null")
    return " or ".join(words)


def _is_exact(value: Any, kind: Any) -> bool:
    if not isinstance(kind, type):
        return True  # Any, a Literal, a generic: this module does not judge it; validate() does
    if isinstance(value, bool):
        return kind is bool  # bool is an int subclass in Python, but never an int here
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _convert(value: Any, kind: Any) -> Any:
    """The converted value, or None when ``value`` is not a spelling of ``kind``."""
    if isinstance(value, bool) or kind not in (int, float):
        return None
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    if not isinstance(number, float):
        return None
    if kind is float:
        return number
    return int(number) if math.isfinite(number) and number.is_integer() else None


def _as_float(number: float) -> float:
    try:
        return float(number)
    except OverflowError:  # an integer beyond float range
        return math.inf


def _checked(number: float, name: str, example: str) -> float:
    if not math.isfinite(number):
        raise InfovitError(f"{name} must be a finite number, got {number} (e.g. {example})")
    return number


def _example(field: dataclasses.Field, hint: Any) -> str:
    """A value to show in "e.g. --section.key VALUE": the default, else one of the right type."""
    default = field.default
    if default is dataclasses.MISSING or default is None:
        members = [m for m in _members(hint) if m is not type(None)]
        return _EXAMPLE.get(members[0], "VALUE") if members else "VALUE"
    return show_value(default).strip("'")
