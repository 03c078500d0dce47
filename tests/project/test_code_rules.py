"""The code's own rules, checked by the tools that define them: ruff's lint, import-linter's
layering contracts (pyproject.toml), and mypy finding every module of the installed package.

Each runs as a subprocess on the repository, so a wrong-way import or a module an editor
cannot follow fails the suite (and CI, which runs it) with the tool's own message.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    done = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_layering_contracts_hold(tmp_path):
    # Outside the repository root, whose vlmtop/ folder holds only the root package: the
    # contracts are about the installed package, every folder of it.
    # this interpreter's import-linter (lint-imports on PATH may belong to another Python)
    command = "import sys; from importlinter.cli import lint_imports_command as lint; sys.exit(lint())"
    done = _run([sys.executable, "-c", command, "--config", str(PYPROJECT), "--no-cache"], tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_mypy_finds_every_vlmtop_module(tmp_path):
    """From the editable install (a strict one: a link tree static tools can follow, see the
    README), mypy resolves every import; pyproject.toml says which error codes it gates."""
    done = _run([sys.executable, "-m", "mypy", "--config-file", str(PYPROJECT),
                 "--cache-dir", str(ROOT / ".mypy_cache"), "-p", "vlmtop"], tmp_path)
    if "Can't find package 'vlmtop'" in done.stdout + done.stderr:
        pytest.fail("mypy cannot see the installed vlmtop: reinstall with the README's command")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "no issues found" in done.stdout
