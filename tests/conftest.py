"""Test-wide settings. Shared helpers live in importable modules beside this file."""

from __future__ import annotations

import os

import pytest

# No test may reach the Hugging Face Hub: loading real ids must fail fast and clearly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    # The default session database lives in the user's data directory: keep tests out of it.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("VLMTOP_DB", raising=False)  # a user's own setting must not leak in
