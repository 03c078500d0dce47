"""The worker's command line runs no code from the current folder, in the form for Python
3.10 too (which has no -P)."""

from __future__ import annotations

import os

from vlmtop.sessions.store import SessionStore


def test_the_python_3_10_worker_command_runs_no_code_from_the_current_directory(tmp_path):
    import subprocess

    from vlmtop.sessions.run.process import worker_command
    from vlmtop.sessions.run.worker import RunSettings

    planted = tmp_path / "cwd"
    planted.mkdir()
    marker = tmp_path / "ran"
    for name in ("torch.py", "runpy.py", "json.py"):  # what the worker and its start import
        (planted / name).write_text(f"open({str(marker)!r}, 'w').write('planted code ran')\nraise SystemExit(9)\n")
    db = tmp_path / "s.db"
    settings = RunSettings(count=1, max_new_tokens=2, warmup="none", threads=1)
    command = worker_command(db, "cwdcheck10", settings, version=(3, 10))
    assert "-P" not in command and "-I" not in command  # 3.10 has no -P; -I drops PYTHONPATH
    # The same interpreter runs the 3.10 form: without -P, `-c` puts the cwd first on sys.path too.
    done = subprocess.run(command, cwd=planted, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr[-1500:]
    assert not marker.exists()
    with SessionStore.open(db, create=False) as store:
        assert store.session("cwdcheck10").measured_count == 1
