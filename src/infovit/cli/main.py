"""Entry point of the ``infovit`` command.

Each sub-command lives in its own module under ``infovit.cli`` and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (a callable taking the
parsed namespace and returning an exit code). Modules are imported lazily by name so that
``infovit --help`` stays fast and one broken optional dependency cannot take down the rest.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from infovit import __version__
from infovit.errors import InfovitError, RunInterrupted, one_line

__all__ = ["build_parser", "main", "one_line", "split_overrides"]

# Sub-command modules, in the order `infovit --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "infovit.cli.train",
    "infovit.cli.eval",
    "infovit.cli.demo",
    "infovit.cli.analyze",
    "infovit.cli.import_reference",
    "infovit.cli.compare_heads",
    "infovit.cli.geometry",
    "infovit.cli.sweep",
    "infovit.cli.report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="infovit",
        description="Information flow in vision transformers.",
        epilog="Run 'infovit COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"infovit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # command not built in this version
                continue
            raise
        module.register(sub)
    return parser


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate config overrides (``--section.key VALUE`` or ``--section.key=VALUE``) from the
    rest; the value is taken verbatim, so ``--beta.value -1`` reaches validation."""
    rest: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        key = token[2:].partition("=")[0]
        if token.startswith("--") and "." in key:
            take = 1 if "=" in token else 2
            overrides.extend(argv[i : i + take])
            i += take
        else:
            rest.append(token)
            i += 1
    return rest, overrides


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are InfovitErrors: one line, exit code 2, like
    every other bad input (argparse's own prints the usage block too)."""

    def error(self, message: str) -> NoReturn:
        raise InfovitError(f"{self.prog}: {message} (see '{self.prog} --help')")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
        if overrides and not getattr(args, "accepts_overrides", False):
            parser.error(
                f"unrecognized arguments: {' '.join(overrides)} (config overrides "
                "--section.key VALUE are for 'infovit train')"
            )
        args.overrides = overrides
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except InfovitError as err:
        print(f"infovit: error: {one_line(err)}", file=sys.stderr)
        return 2
    except RunInterrupted as stop:  # a checkpoint was saved: say how to continue
        print(f"infovit: {stop.message}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("infovit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
