"""When to write a mid-epoch checkpoint: every N optimizer steps or every T of wall time.

An ImageNet-100 epoch is 500 steps of several seconds each: a run that checkpoints only at
epoch ends loses up to an epoch on every kill or preemption. Wall time suits long runs on
shared clusters (a bounded loss whatever the speed); steps suit tests and reproducible soaks.
Where checkpoints fall never changes the result: writing one draws no random number and moves
no state.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from infovit.errors import InfovitError

__all__ = ["CheckpointCadence"]

_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h)\s*$")


@dataclass
class CheckpointCadence:
    """``steps`` or ``seconds`` between checkpoints (both None: epoch ends only)."""

    steps: int | None = None
    seconds: float | None = None
    _last: float = field(default_factory=time.monotonic, repr=False)

    @classmethod
    def parse(cls, value: int | str | None) -> CheckpointCadence:
        """``500`` → every 500 steps; ``"10min"``, ``"30s"``, ``"1h"`` → wall time;
        ``None`` / ``0`` → epoch ends only."""
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value == 0):
            return cls()
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return cls(steps=value)
        if isinstance(value, str):
            match = _TIME.match(value)
            if match and float(match.group(1)) > 0:
                return cls(seconds=float(match.group(1)) * _UNITS[match.group(2)])
        raise InfovitError(
            f"optim.checkpoint_every must be a number of steps (e.g. 500), a time such as "
            f"'10min', '30s' or '1h', or null (epoch ends only); got {value!r}"
        )

    def due(self, step: int) -> bool:
        """Whether a checkpoint is due after global step ``step``."""
        if self.steps is not None:
            return step % self.steps == 0
        if self.seconds is not None:
            return time.monotonic() - self._last >= self.seconds
        return False

    def saved(self) -> None:
        """A checkpoint was just written: the wall-time interval starts again."""
        self._last = time.monotonic()
