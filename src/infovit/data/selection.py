"""One rule choosing which images of a data set an analysis looks at, shared by every section.

NMI, geometry and routing tables of one analysis must describe the same images, so the choice
is made once, by a stated and seeded rule, and recorded next to the tables:

- ``even``: evenly spaced indices (class-sorted folders stay class-balanced); the seed is unused;
- ``random``: a seeded random subset (``torch.randperm`` with its own generator), sorted;
- ``first``: the first ``count`` images, in order.

``count=None`` keeps every image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from infovit.errors import InfovitError

__all__ = ["RULES", "ImageSelection"]

Rule = Literal["even", "random", "first"]
RULES: tuple[str, ...] = ("even", "random", "first")


@dataclass(frozen=True)
class ImageSelection:
    """Which ``count`` of a data set's images, by ``rule`` and ``seed``."""

    count: int | None = None
    rule: Rule = "even"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise InfovitError(f"image selection rule must be one of {RULES}, got {self.rule!r}")
        if self.count is not None and self.count < 1:
            raise InfovitError(f"the number of images must be ≥ 1, got {self.count}")

    def indices(self, n: int) -> np.ndarray:
        """Sorted data set indices [≤ count] of a data set of ``n`` images (int64)."""
        if self.count is None or self.count >= n:
            return np.arange(n, dtype=np.int64)
        if self.rule == "first":
            return np.arange(self.count, dtype=np.int64)
        if self.rule == "random":
            import torch

            gen = torch.Generator().manual_seed(self.seed)
            return torch.randperm(n, generator=gen)[: self.count].sort().values.numpy()
        return np.unique(np.linspace(0, n - 1, self.count).round().astype(np.int64))

    def describe(self) -> dict[str, Any]:
        """The rule as recorded in an output's index.json."""
        return {"rule": self.rule, "count": self.count, "seed": self.seed}
