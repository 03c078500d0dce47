"""A dashboard says why its worker stopped, though the worker's log is on a full disk:
the reason reaches it through the worker's output, not the log."""

from __future__ import annotations

from pathlib import Path

from vlmtop.sessions.store import SessionStore


async def test_the_worker_s_reason_reaches_the_dashboard_when_its_log_cannot_be_written(tmp_path, capsys, monkeypatch):
    import sqlite3
    import time

    from vlmtop.sessions.playback import LiveTail
    from vlmtop.sessions.run.process import start_worker
    from vlmtop.sessions.run.worker import RunSettings
    from vlmtop.tui.app import VlmtopApp
    from vlmtop.tui.launch import reap, report_end, wait_for_session

    db = tmp_path / "s.db"
    SessionStore.open(db, create=True).close()
    monkeypatch.setenv("VLMTOP_LOCK_WAIT_S", "5")  # the worker gives up on the lock below soon
    settings = RunSettings(max_new_tokens=2, warmup="none", threads=1)  # runs until it fails
    # /dev/full answers every write with ENOSPC, as a log on the database's full disk does.
    worker, output = start_worker(db, "fullcheck1", settings, Path("/dev/full"))
    other = None
    try:
        store = wait_for_session(db, "fullcheck1", worker, output)
        # A first sample, so that the lock below stops a sample's write, not the worker's start.
        # The deadline only bounds a broken run: importing torch on a loaded machine is slow.
        deadline = time.monotonic() + 600
        while (store.session("fullcheck1").sample_count < 1 and worker.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert store.session("fullcheck1").sample_count >= 1, list(output.lines)
        # Another program holds the write lock past the worker's wait: the worker can write
        # neither its next sample nor the session's reason, and exits 2 with one line.
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        app = VlmtopApp(store, LiveTail(store, "fullcheck1"), worker=worker, worker_said=output.reason)
        async with app.run_test(size=(100, 30)) as pilot:
            # The worker waits out VLMTOP_LOCK_WAIT_S, exits, and the dashboard then says why:
            # wait for both (the session may read ended a moment before the process is reaped).
            # The deadline only bounds a broken run; no step is timed.
            deadline = time.monotonic() + 600
            while not (app._notified_end and worker.poll() is not None) and time.monotonic() < deadline:
                await pilot.pause(0.1)
            assert worker.poll() == 2, list(output.lines)
            assert store.session("fullcheck1").status == "interrupted"  # the row could not say why
            said = [n.message for n in app._notifications if "another program" in n.message]
            assert said and str(db) in said[0], [n.message for n in app._notifications]
        other.execute("ROLLBACK")
        assert report_end(store, "fullcheck1", output.reason()) == 2
        err = capsys.readouterr().err
        assert "fullcheck1 interrupted:" in err and "another program" in err
        store.close()
    finally:
        if other is not None:
            other.close()
        reap(worker)
