"""vlmtop as scripts and shells use it: nohup, `vlmtop stop` on a --repeat experiment, no
terminal for a dashboard, one-line reasons in logs, `run --help`.

Real `vlmtop` processes on the tiny default preset and real SQLite files throughout.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from helpers import vlmtop_command, vlmtop_env

from vlmtop.sessions.store import SessionStore

QUICK = ["--max-new-tokens", "2", "--warmup", "none"]


def _wait_for(db, predicate, timeout=120.0):
    """The sessions once `predicate(sessions)` holds (fails the test after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with SessionStore.open(db, create=False, readonly=True) as store:
                    sessions = store.sessions()
                if predicate(sessions):
                    return sessions
            except Exception:  # not created or not initialised yet
                pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting on {db}")


def test_a_hangup_under_nohup_does_not_end_the_run(tmp_path):
    db = tmp_path / "s.db"

    def as_nohup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen(vlmtop_command("run", "--headless", "--count", "20", *QUICK, "--db", str(db)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=as_nohup, env=vlmtop_env(tmp_path))
    try:
        _wait_for(db, lambda s: s and s[0].sample_count >= 2)
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
    assert info.status == "completed" and info.measured_count == 20


@pytest.mark.parametrize("name_it", [False, True], ids=["newest-running", "by-experiment-id"])
def test_vlmtop_stop_ends_a_repeat_experiment_not_just_its_first_process(tmp_path, name_it):
    db = tmp_path / "s.db"
    proc = subprocess.Popen(vlmtop_command("run", "--repeat", "3", "--count", "500", *QUICK, "--db", str(db)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=vlmtop_env(tmp_path))
    try:
        (first,) = _wait_for(db, lambda s: s and s[0].status == "running" and s[0].sample_count >= 1)
        target = [first.experiment_id[:8]] if name_it else []  # `vlmtop stop exp-1234`: a prefix
        stop = subprocess.run(vlmtop_command("stop", *target, "--db", str(db)), capture_output=True, text=True,
                              timeout=120, env=vlmtop_env(tmp_path))
        assert stop.returncode == 0, stop.stderr
        proc.communicate(timeout=120)  # the parent exits: no second replicate is started
    finally:
        if proc.poll() is None:
            proc.kill()
    with SessionStore.open(db, create=False) as store:
        sessions = store.sessions()
    assert len(sessions) == 1 and sessions[0].status != "running"
    assert 0 < sessions[0].measured_count < 500


def test_reasons_stay_on_one_line_in_a_log(tmp_path):
    folder = tmp_path / ("a-folder-with-a-long-name-" * 4)
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not an image")
    done = subprocess.run(vlmtop_command("run", "--headless", "--samples", str(folder), *QUICK, "--db", str(tmp_path / "s.db")),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, env=vlmtop_env(tmp_path))
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    row = next(line for line in lines if "seq 0 (broken.png) failed" in line)
    final = next(line for line in lines if "failed: no sample could be measured" in line)
    # a pipe is 80 columns to Rich: without soft wrap the path was cut over several lines
    assert str(folder / "broken.png") in row and str(folder / "broken.png") in final


def test_replay_and_attach_with_no_terminal_say_so_and_exit_2(tmp_path):
    from recorded_session import record_fixed_session

    db = tmp_path / "s.db"
    with record_fixed_session(db):
        pass
    for command in ("replay", "attach"):
        done = subprocess.run(vlmtop_command(command, "--db", str(db)), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60, env=vlmtop_env(tmp_path))
        assert done.returncode == 2, (command, done.stderr[-2000:])
        assert "\x1b[?1049h" not in done.stdout  # no alternate screen: no dashboard was started
        (line,) = done.stderr.strip().splitlines()
        assert "needs a terminal" in line and "vlmtop export" in line
