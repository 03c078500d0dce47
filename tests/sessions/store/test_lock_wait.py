"""Another program holding the database's write lock (an sqlite3 shell in a transaction)
pauses a recording, which says so and goes on once the lock is free: the lock is never
blamed on the sample, and a lock held longer than SQLite's own wait does not fail the run."""

from __future__ import annotations

import sqlite3
import threading

from vlmtop.cli.commands.run_headless import InFlight
from vlmtop.sessions.run.worker import RunSettings, Worker
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.store.connection import BUSY_TIMEOUT_S


def test_the_progress_line_names_the_lock_not_the_sample():
    now = [0.0]
    flight = InFlight(clock=lambda: now[0], lock_wait=lambda: 0.0)
    flight.loaded()
    for _ in range(3):
        flight.start(0, "a.png")
        flight.finish(10.0)
    flight.start(3, "b.png")
    now[0] = 9.0
    assert "running 9 s" in flight.describe().plain and "x the median" in flight.describe().plain
    flight.lock_wait = lambda: 8.4
    assert flight.describe().plain == "waiting for the database lock held by another program (8 s)"


def test_a_recording_waits_out_another_programs_lock_and_completes(tmp_path):
    db = tmp_path / "s.db"
    held, seen_waiting, release = threading.Event(), [], threading.Event()
    worker: list[Worker] = []

    def hold():
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        # Held until the worker has waited past what SQLite alone allowed it.
        while worker[0].store.lock_wait_s() <= BUSY_TIMEOUT_S + 0.5:
            if release.wait(0.05):
                break
        seen_waiting.append(worker[0].store.lock_wait_s())
        other.execute("ROLLBACK")
        other.close()

    def on_sample(record):
        if record.seq == 2 and not held.is_set():
            threading.Thread(target=hold, daemon=True).start()
            held.wait()

    worker.append(Worker(RunSettings(count=5, warmup="none", max_new_tokens=2), db, on_sample=on_sample))
    try:
        assert worker[0].run() == "completed"
    finally:
        release.set()
    assert seen_waiting and seen_waiting[0] > BUSY_TIMEOUT_S
    with SessionStore.open(db, readonly=True) as store:
        (info,) = store.sessions()
        assert info.measured_count == 5 and info.status == "completed"
