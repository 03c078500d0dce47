"""The install maps the design's top-level folders to one import name: every package listed,
every module linked."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the check itself needs no more

ROOT = Path(__file__).resolve().parents[2]


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


def test_every_module_is_in_the_installed_tree():
    """The strict editable install links each file once, when it runs: a module added since
    is missing from the link tree, and this says so before an import error elsewhere does."""
    import importlib.util

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    missing = []
    for name, folder in config["package-dir"].items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            module = ".".join([name, *(parts[:-1] if parts[-1] == "__init__" else parts)])
            if importlib.util.find_spec(module) is None:
                missing.append(module)
    assert missing == [], f"not installed: {missing}; re-run the README's install command"
