# PYTHON_ARGCOMPLETE_OK  (argcomplete's global completion looks for this marker)
"""The `vlmtop` command line: one parser, each subcommand registered by its own module.

Every command module exposes ``register(subparsers)`` which adds its parser and sets
``func`` to a callable taking the parsed args and returning an exit code. Errors derived
from :class:`VlmtopError` print as one line; nothing else is swallowed.
"""

from __future__ import annotations

import argparse
import os
import sys

from vlmtop import __version__
from vlmtop.core.errors import VlmtopError
from vlmtop.core.text import printable

# Modules whose register() adds subcommands, in the order `vlmtop --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "vlmtop.cli.commands.run",
    "vlmtop.cli.commands.models",
    "vlmtop.cli.commands.knobs",
    "vlmtop.cli.commands.dashboard",
    "vlmtop.cli.commands.sessions_export",
    "vlmtop.cli.commands.manage",
    "vlmtop.cli.commands.backup",
    "vlmtop.cli.commands.compare",
    "vlmtop.cli.commands.costmodel",
    "vlmtop.cli.commands.report",
)


def add_db_option(parser) -> None:
    """`--db PATH`, the same in every command that reads or writes sessions."""
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="session database (default: $VLMTOP_DB, else $XDG_DATA_HOME/vlmtop/sessions.db or the user data folder)",
    )


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="vlmtop",
        description="top for vision-language-model inference latency.",
    )
    parser.add_argument("--version", action="version", version=f"vlmtop {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell's tab asking (README: shell completion)
        _complete(parser)
    # `vlmtop` alone, or with only run options, is `vlmtop run`: the dashboard on the default.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["run", *argv]
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VlmtopError as exc:
        # One line, whatever user text it quotes: a stored value may hold a line break of
        # any kind Python splits on ("\x85", "\u2028"), and scripts read this line by line.
        # Escaped as well: a stored value may hold ESC, which must not act on the terminal.
        print("vlmtop: error: " + printable(" ".join(str(exc).splitlines()), limit=0), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `vlmtop sessions --json | head`: the reader left. Point stdout at devnull so the
        # interpreter's final flush does not raise again, and exit as `cat` would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _complete(parser: argparse.ArgumentParser) -> None:
    """Print the completions of the command line being typed and exit (argcomplete reads it
    from the environment the shell hook sets); without argcomplete, offer nothing."""
    try:
        import argcomplete
    except ImportError:
        raise SystemExit(0) from None
    argcomplete.autocomplete(parser)
