"""Argument types shared by several commands: checked where the flag is parsed, so a bad value
is argparse's one-line error (exit 2) before anything is loaded."""

from __future__ import annotations

import argparse

__all__ = ["seed"]


def seed(text: str) -> int:
    """A random seed: an integer in [0, 2³²), the range NumPy and torch both accept."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r} (e.g. 0)") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2³²), got {value} (e.g. 0)")
    return value
