"""Stop requests from the scheduler or the user, honoured at the next step boundary.

SLURM sends SIGTERM before it preempts or times out a job (or SIGUSR1 / SIGUSR2 with
``--signal``; submitit asks for SIGUSR2), and kills the job a grace period later; a user
presses Ctrl-C (SIGINT). Dying mid-step would lose everything since the last checkpoint, so
the trainer installs these handlers, which only record the request; the loop checks
:attr:`StopSignals.requested` after each optimizer step, saves a checkpoint and raises
:class:`~infovit.errors.RunInterrupted`. A second Ctrl-C stops at once
(KeyboardInterrupt): checkpoints are written as units, so that is safe too.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["STOP_SIGNALS", "StopSignals", "ignore_stop_signals"]

STOP_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,  # submitit's timeout / preemption signal
    signal.SIGINT,
)


class StopSignals:
    """Context manager: while inside, SIGTERM / SIGUSR1 / SIGUSR2 / SIGINT set :attr:`requested`.

    Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.requested: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if sig == signal.SIGINT and self.requested == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.requested = sig

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def ignore_stop_signals(worker_id: int | None = None) -> None:
    """DataLoader ``worker_init_fn``: workers ignore stop signals.

    A terminal's Ctrl-C and SLURM's SIGTERM reach every process of the job; a worker that died
    of them would make the main process fail with "DataLoader worker exited unexpectedly"
    before it could checkpoint. The main process decides, and shuts its workers down.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
