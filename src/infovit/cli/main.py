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

from infovit import __version__
from infovit.errors import InfovitError

__all__ = ["build_parser", "main", "split_overrides"]

# Sub-command modules, in the order `infovit --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "infovit.cli.train",
    "infovit.cli.eval",
    "infovit.cli.demo",
    "infovit.cli.analyze",
    "infovit.cli.import_reference",
    "infovit.cli.compare_heads",
    "infovit.cli.geometry",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def one_line(err: BaseException) -> str:
    """The user-facing line of an error, also when a DataLoader worker wrapped it in a traceback."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else type(err).__name__
    prefix = f"{InfovitError.__module__}.{InfovitError.__name__}: "
    return last.removeprefix(prefix)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if overrides and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(overrides)}")
    args.overrides = overrides
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InfovitError as err:
        print(f"infovit: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infovit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
