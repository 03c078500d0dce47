"""Each package names its public API once, in its ``__init__``'s ``if TYPE_CHECKING:`` block;
vlmtop/lazy.py loads each name on first use. These check that every name so listed loads,
and that asking for one that is not listed fails as a missing attribute does."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from vlmtop.lazy import type_checking_imports

PACKAGES = ("vlmtop.cli", "vlmtop.core", "vlmtop.sessions.store", "vlmtop.sessions.compare",
            "vlmtop.sessions.costmodel", "vlmtop.sessions.export", "vlmtop.sessions.report", "vlmtop.tui.state")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_name_loads_from_the_module_that_defines_it(package):
    module = importlib.import_module(package)
    exports = type_checking_imports(module.__file__)
    assert exports and module.__all__ == sorted(exports)
    for name, (source, attribute) in exports.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), attribute)


def test_an_unlisted_name_is_a_missing_attribute():
    store = importlib.import_module("vlmtop.sessions.store")
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        store.no_such_name  # noqa: B018
    assert not hasattr(store, "no_such_name")


def test_importing_a_package_loads_none_of_its_modules():
    """`import vlmtop.sessions.store` alone must not open sqlite3 or numpy: the command line
    imports one small module of a package (paths, formats) while building its parser."""
    code = ("import sys, vlmtop.sessions.store, vlmtop.sessions.compare, vlmtop.sessions.export; "
            "print(sorted(m for m in ('sqlite3', 'numpy', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
