"""Public names of a package that load on first use (PEP 562).

A package's ``__init__`` names its public API once, as imports under ``if TYPE_CHECKING:``
(type checkers and editors follow them). At run time those imports do not run: this
module reads them from the package's own source and imports each name's module only when
the name is first asked for. So ``vlmtop --help`` imports ``vlmtop.sessions.store.paths``
without loading the whole store (sqlite3, numpy), and no list of names is written twice.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def type_checking_imports(init_file: str) -> dict[str, tuple[str, str]]:
    """public name -> (module, name in that module), from the ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    exports: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        exports[alias.asname or alias.name] = (statement.module, alias.name)
    return exports


def lazy_exports(package: str, init_file: str) -> tuple[Callable[[str], Any], list[str]]:
    """``(__getattr__, __all__)`` for the package whose ``__init__`` is ``init_file``."""
    exports = type_checking_imports(init_file)
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = exports[name]
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value  # later lookups skip this function
        return value

    return __getattr__, sorted(exports)
