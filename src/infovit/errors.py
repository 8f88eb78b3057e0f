"""The one exception type that the CLI turns into a one-line message and a non-zero exit.

Raise :class:`InfovitError` for bad *user input* (a wrong path, an unknown model name, a β that
is not a finite non-negative number...). The message must say what is wrong and what to do.
Programming errors stay ordinary exceptions so their tracebacks are kept.
"""

from __future__ import annotations

__all__ = ["InfovitError", "RunInterrupted"]


class InfovitError(Exception):
    """Bad input from the user: reported as ``infovit: error: <message>`` with exit code 2."""


class RunInterrupted(Exception):
    """A run stopped on request (a signal) after saving a checkpoint: not an error.

    The CLI prints :attr:`message` and exits with :attr:`exit_code`: 75 (EX_TEMPFAIL, "try
    again later") after SIGTERM / SIGUSR1 / SIGUSR2, which a scheduler script can requeue on;
    130 after Ctrl-C, as shells expect.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
