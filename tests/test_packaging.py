"""The install maps the design's top-level folders to one import name: every package listed."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the check itself needs no more

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_installed_under_vlmtop():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {folder: name for name, folder in config["package-dir"].items()}
    found = set()
    for top, name in folders.items():
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *relative.parts]))
    # a package missing here installs with `pip install -e .` but not with `pip install .`
    assert set(config["packages"]) == found


MAX_MODULE_LINES = 400  # the project's size rule: a module over this holds more than one job


def test_no_module_is_over_the_size_rule():
    too_long = {
        path.relative_to(ROOT).as_posix(): count
        for folder in ("core", "sessions", "tui", "vlmtop")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}, f"split these by job: {too_long}"
