"""`vlmtop sessions` and `vlmtop export` through the real entry point."""

from __future__ import annotations

import json

import pytest
from helpers import error_line
from helpers_store import record_session

from vlmtop.cli import main
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.store.paths import db_path, default_db_path


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "s.db"
    with SessionStore.open(path) as store:
        ids = [record_session(store, 12), record_session(store, 5)]
    return path, ids


def test_sessions_table(db, capsys):
    path, ids = db
    assert main(["sessions", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 sessions in" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:10] in ids}
    assert set(lines) == set(ids)
    # measured/warm-up/errors of 12 full records: seq 0 and 7 warm-up, seq 5 an error
    assert "9/2/1" in lines[ids[0]] and "completed" in lines[ids[0]]
    assert "tiny-llava" in lines[ids[1]] and "cpu" in lines[ids[1]]


def test_sessions_json(db, capsys):
    path, ids = db
    assert main(["sessions", "--db", str(path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in listed] == ids
    assert listed[0]["sample_count"] == 12 and listed[0]["status"] == "completed"
    assert listed[0]["settings"] == {"max_new_tokens": 4}


def test_sessions_uses_the_default_database(capsys):
    path = default_db_path()  # under the test's own XDG_DATA_HOME (conftest)
    with SessionStore.open(path) as store:
        session_id = record_session(store, 1)
    assert main(["sessions", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == session_id


def test_sessions_of_an_empty_database(tmp_path, capsys):
    SessionStore.open(tmp_path / "empty.db").close()
    assert main(["sessions", "--db", str(tmp_path / "empty.db")]) == 0
    assert "no sessions recorded" in capsys.readouterr().out


def test_a_file_created_but_not_yet_written_is_empty_not_foreign(tmp_path, capsys):
    # a run creates its file, then SQLite writes the first page: a reader in between
    empty = tmp_path / "starting.db"
    empty.touch()
    assert main(["sessions", "--db", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is empty: a run may be starting in it" in err and "\n" not in err
    assert "not an SQLite database" not in err and empty.stat().st_size == 0


def test_export_by_prefix_and_last(db, tmp_path, capsys):
    path, ids = db
    out = tmp_path / "first.jsonl"
    assert main(["export", ids[0][:6], "--format", "jsonl", "-o", str(out), "--db", str(path)]) == 0
    assert f"wrote 12 samples of session {ids[0]} to {out}" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 12
    trace = tmp_path / "last.json"  # the format follows the file name
    assert main(["export", "last", "-o", str(trace), "--db", str(path)]) == 0
    assert "(trace)" in capsys.readouterr().out
    assert "traceEvents" in json.loads(trace.read_text())


def test_exported_database_works_with_every_command(db, tmp_path, capsys):
    path, ids = db
    shared = tmp_path / "shared.db"
    assert main(["export", ids[1], "-f", "sqlite", "-o", str(shared), "--db", str(path)]) == 0
    capsys.readouterr()
    assert main(["sessions", "--db", str(shared), "--json"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [ids[1]]
    assert main(["export", "last", "-o", str(tmp_path / "again.csv"), "--db", str(shared)]) == 0
    assert "wrote 5 samples" in capsys.readouterr().out


def test_missing_database_is_an_error_and_stays_missing(tmp_path, capsys):
    missing = tmp_path / "none.db"
    assert main(["sessions", "--db", str(missing)]) == 2
    assert str(missing) in error_line(capsys)
    assert main(["export", "last", "-o", str(tmp_path / "x.csv"), "--db", str(missing)]) == 2
    error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_unknown_session_and_bad_files(db, tmp_path, capsys):
    path, _ = db
    out = tmp_path / "x.csv"
    assert main(["export", "zzzz", "-o", str(out), "--db", str(path)]) == 2
    assert "no session 'zzzz'" in error_line(capsys)
    assert main(["export", "last", "-o", str(tmp_path / "x.txt"), "--db", str(path)]) == 2
    assert "--format" in error_line(capsys)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert main(["sessions", "--db", str(notes)]) == 2
    assert "not an SQLite database" in error_line(capsys)
    assert not out.exists() and not (tmp_path / "x.txt").exists()


def test_ambiguous_prefix_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "many.db"
    with SessionStore.open(path) as store:
        ids = [record_session(store, 1) for _ in range(40)]
    prefix = next(i[0] for i in ids if sum(j.startswith(i[0]) for j in ids) > 1)
    assert main(["export", prefix, "-o", str(tmp_path / "x.csv"), "--db", str(path)]) == 2
    assert "give more of the id" in error_line(capsys)


@pytest.mark.parametrize("command", ["sessions --json", "export last -f csv -o -"])
def test_output_into_a_closed_pipe_is_quiet(tmp_path, command):
    # `vlmtop sessions --json | head -c 100`: more output than a pipe holds, and a reader
    # that leaves early. The writer must stop quietly, as `cat` does: no traceback, and no
    # "cannot write" line either (a reader that has seen enough is not a failure).
    import subprocess
    import sys

    path = tmp_path / "many.db"
    with SessionStore.open(path) as store:
        for _ in range(400):
            record_session(store, 2)
        record_session(store, 300)  # `export last`: ~250 KB of csv, more than a pipe holds
    done = subprocess.run(
        f"'{sys.executable}' -m vlmtop {command} --db '{path}' | head -c 100",
        shell=True, capture_output=True, text=True, timeout=120,
    )
    assert len(done.stdout) == 100
    assert done.stderr == "", done.stderr


def test_vlmtop_db_sits_between_the_option_and_the_default(tmp_path, monkeypatch, capsys):
    from_env, from_option = tmp_path / "env.db", tmp_path / "option.db"
    with SessionStore.open(from_env) as store:
        env_id = record_session(store, 1)
    with SessionStore.open(from_option) as store:
        option_id = record_session(store, 1)
    monkeypatch.setenv("VLMTOP_DB", str(from_env))
    assert main(["sessions", "--json"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [env_id]
    assert main(["sessions", "--json", "--db", str(from_option)]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [option_id]
    monkeypatch.setenv("VLMTOP_DB", "")  # set but empty: the default
    assert db_path(None) == default_db_path()


def test_export_refuses_a_name_that_contradicts_the_format(db, tmp_path, capsys):
    path, _ = db
    out = tmp_path / "results.json"
    assert main(["export", "last", "-o", str(out), "--format", "csv", "--db", str(path)]) == 2
    assert "names a trace file" in error_line(capsys)
    assert not out.exists()
