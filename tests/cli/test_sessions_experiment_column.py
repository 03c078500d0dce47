"""`vlmtop sessions` shows which sessions are one experiment (`--repeat`), by a short id
that `vlmtop compare` takes."""

from __future__ import annotations

import re

from vlmtop.cli import main
from vlmtop.sessions.store import SessionStore


def make(db, experiments):
    with SessionStore.open(db, create=True) as store:
        for index, eid in enumerate(experiments):
            experiment = {"experiment_id": eid, "replicate": index, "side": None} if eid else None
            sid = store.create_session("tiny-qwen2-vl", "cpu", "float32", {}, {"python": "3.11"}, experiment=experiment)
            store.finish_session(sid, "completed")


def test_sessions_table_has_a_short_experiment_column(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    db = tmp_path / "s.db"
    make(db, ["exp-1a2b3c4d", "exp-1a2b3c4d", "exp-1a2b9999", "exp-77aa0011", None])
    assert main(["sessions", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("id"))
    assert header.split()[-1] == "exp"
    rows = [line.split() for line in lines if re.match(r"[0-9a-f]{10} ", line)]  # a session's row
    column = sorted(row[-1] for row in rows)
    # the shortest unique prefix, at least 4 hex digits: 1a2b is shared, so 5 there
    assert column == ["-", "1a2b3", "1a2b3", "1a2b9", "77aa"]  # after `exp-`, said in the caption
    assert all(len(line) <= 80 for line in lines)
    assert "exp: experiment exp-XXXX" in " ".join(out.split())
    # the short id is what compare takes (its experiment lookup: a unique prefix)
    with SessionStore.open(db, create=False) as store:
        assert store.resolve_experiment("exp-1a2b3") == "exp-1a2b3c4d"
        assert store.resolve_experiment("exp-77aa") == "exp-77aa0011"


def test_sessions_table_without_experiments_has_no_column(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    db = tmp_path / "s.db"
    make(db, [None])
    assert main(["sessions", "--db", str(db)]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("id"))
    assert header.split()[-1] == "duration"
