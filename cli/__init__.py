"""The ``vlmtop`` command line.

    parser          main(): one parser, each subcommand registered by its own module
    argtypes        number options checked once, the same way in every command
    commands/       one module per subcommand
    compare_table   the table ``vlmtop compare`` prints, drawn from its JSON report

It may import anything in vlmtop; nothing imports it.
"""

from __future__ import annotations

from vlmtop.cli.parser import COMMAND_MODULES, build_parser, main

__all__ = [
    "COMMAND_MODULES",
    "build_parser",
    "main",
]
