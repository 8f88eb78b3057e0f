"""The one exception type that the CLI turns into a one-line message and a non-zero exit.

Raise :class:`InfovitError` for bad *user input* (a wrong path, an unknown model name, a β that
is not a finite non-negative number...). The message must say what is wrong and what to do.
Programming errors stay ordinary exceptions so their tracebacks are kept.
"""

from __future__ import annotations

import re

__all__ = ["InfovitError", "RunInterrupted", "one_line"]


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


def one_line(err: BaseException) -> str:
    """The user-facing line of an error: its first line, or, when a DataLoader worker wrapped
    the error in its traceback text, the line of the InfovitError in it (not the worker's
    header, nor the cause printed before it); the exception type when there is no message."""
    text = str(err).strip()
    if not text:
        return f"{type(err).__name__} (no message)"
    lines = text.splitlines()
    prefix = f"{InfovitError.__module__}.{InfovitError.__name__}: "
    for line in lines:
        if line.startswith(prefix) and line[len(prefix) :].strip():
            return line[len(prefix) :].strip()
    if any(_TRACEBACK in line for line in lines):
        for line in reversed(lines):  # the raised exception is printed last: "pkg.Type: msg"
            match = _EXCEPTION_LINE.match(line)
            if match and match["message"].strip():
                return match["message"].strip()
    return next(line.strip() for line in lines if line.strip())


_TRACEBACK = "Traceback"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*: (?P<message>.+)$")
