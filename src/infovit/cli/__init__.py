"""Command-line interface: ``infovit <command> --help`` for each command."""
