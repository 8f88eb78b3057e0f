"""The analysis contract: a section declares what it needs, computes tables, draws from them.

Every analysis of ``infovit analyze`` (paper arXiv 2602.04784 §4 and App. B–D; the information
geometry of Joseph et al.; NMI between heads, eqs. 4–6; head ablation) is one
:class:`Section`: ``compute(ctx)`` writes plain tables through ``ctx.store`` and
``draw(store)`` draws figures from the saved tables only. Sections register themselves with
:func:`register`, in the order they run; the CLI's ``--only`` and ``--list`` read the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from infovit.errors import InfovitError

if TYPE_CHECKING:
    from infovit.analysis.context import Context
    from infovit.analysis.store import Store

__all__ = ["NEEDS", "REGISTRY", "Section", "describe", "get", "names", "register", "resolve"]

# What a section can ask of the shared pass: the per-image tables of the streamed extraction
# (``extraction``: logits, votes, KL per head and patch), the models themselves (``model``:
# probes that re-run them on chosen images), and the data sets (``images``).
NEEDS: tuple[str, ...] = ("extraction", "model", "images")


@dataclass(frozen=True)
class Section:
    """One analysis: its name, a one-line description, what it needs, compute and draw."""

    name: str
    description: str
    needs: frozenset[str]
    compute: Callable[[Context], None]
    draw: Callable[[Store], None]

    def __post_init__(self) -> None:
        unknown = sorted(self.needs - set(NEEDS))
        if unknown:
            raise ValueError(f"section {self.name}: unknown needs {unknown}; choose from {NEEDS}")


REGISTRY: dict[str, Section] = {}


def register(section: Section) -> Section:
    """Add ``section`` to the registry (run order = registration order); returns it."""
    if section.name in REGISTRY:
        raise ValueError(f"section {section.name!r} is registered twice")
    REGISTRY[section.name] = section
    return section


def names() -> tuple[str, ...]:
    """Registered section names, in run order."""
    return tuple(REGISTRY)


def get(name: str) -> Section:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InfovitError(
            f"unknown analysis {name!r}; choose from {', '.join(REGISTRY)}"
        ) from None


def resolve(only: tuple[str, ...] | None) -> list[Section]:
    """The chosen sections in registry order (``None``: all); unknown names are one error."""
    if only is None:
        return list(REGISTRY.values())
    unknown = sorted(set(only) - set(REGISTRY))
    if unknown:
        raise InfovitError(f"unknown analysis {unknown}; choose from {', '.join(REGISTRY)}")
    return [s for s in REGISTRY.values() if s.name in only]


def describe() -> str:
    """One line per registered section: name and description (``infovit analyze --list``)."""
    width = max((len(n) for n in REGISTRY), default=0)
    return "\n".join(f"{s.name:<{width}}  {s.description}" for s in REGISTRY.values())
