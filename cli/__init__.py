"""The ``vlmtop`` command line.

    parser          main(): one parser, each subcommand registered by its own module
    argtypes        number options checked once, the same way in every command
    commands/       one module per subcommand
    compare_table   the table ``vlmtop compare`` prints, drawn from its JSON report

It may import anything in vlmtop; nothing imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.cli.parser import COMMAND_MODULES as COMMAND_MODULES
    from vlmtop.cli.parser import build_parser as build_parser
    from vlmtop.cli.parser import main as main

__getattr__, __all__ = lazy_exports(__name__, __file__)
