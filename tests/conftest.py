"""Test-wide settings and the fixtures used in several folders. Shared helper functions live
in importable modules beside this file (helpers.py, helpers_store.py, recorded_session.py, ...)."""

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


@pytest.fixture
def recorded(request, tmp_path):
    """An open store (tmp_path/s.db) and the id of a finished session of full records
    (helpers_store.full_record) recorded between two others of 3 and 4 samples, so that a
    reader that mixes sessions up is caught. The session has the test module's
    ``RECORDED_COUNT`` samples (3 where the module sets none)."""
    from helpers_store import record_session

    from vlmtop.sessions.store import SessionStore

    count = getattr(request.module, "RECORDED_COUNT", 3)
    with SessionStore.open(tmp_path / "s.db") as store:
        record_session(store, 3)
        session_id = record_session(store, count)
        record_session(store, 4)
        yield store, session_id
