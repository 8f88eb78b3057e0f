"""The one exception type that the CLI turns into a one-line message and a non-zero exit.

Raise :class:`InfovitError` for bad *user input* (a wrong path, an unknown model name, a β that
is not a finite non-negative number...). The message must say what is wrong and what to do.
Programming errors stay ordinary exceptions so their tracebacks are kept.
"""

from __future__ import annotations

__all__ = ["InfovitError"]


class InfovitError(Exception):
    """Bad input from the user: reported as ``infovit: error: <message>`` with exit code 2."""
