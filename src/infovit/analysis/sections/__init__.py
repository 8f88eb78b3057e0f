"""The registry of analysis sections (see :mod:`.base` for the contract).

Importing this package registers every built-in section, in run order. Adding an analysis is
adding one module here that calls :func:`register` (CONTRIBUTING.md, "Adding an analysis").
"""

from infovit.analysis.sections.base import (
    NEEDS,
    REGISTRY,
    Section,
    describe,
    get,
    names,
    register,
    resolve,
)

# Registration order is run order: sections that re-run models come after the table-only ones.
from infovit.analysis.sections import spectrum as _spectrum  # noqa: F401  isort: skip
from infovit.analysis.sections import heads as _heads  # noqa: F401  isort: skip
from infovit.analysis.sections import voting as _voting  # noqa: F401  isort: skip
from infovit.analysis.sections import klmaps as _klmaps  # noqa: F401  isort: skip
from infovit.analysis.sections import jsd as _jsd  # noqa: F401  isort: skip
from infovit.analysis.sections import extreme as _extreme  # noqa: F401  isort: skip
from infovit.analysis.sections import repetition as _repetition  # noqa: F401  isort: skip
from infovit.analysis.sections import ablation as _ablation  # noqa: F401  isort: skip
from infovit.analysis.sections import information as _information  # noqa: F401  isort: skip
from infovit.analysis.sections import geometry as _geometry  # noqa: F401  isort: skip

__all__ = ["NEEDS", "REGISTRY", "Section", "describe", "get", "names", "register", "resolve"]
