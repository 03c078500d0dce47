"""Starting the dashboard: on a new worker (run), on a running session (attach), or on a
recorded one (replay). All three hand the same app a source over the session database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from vlmtop.core.errors import VlmtopError
from vlmtop.core.text import printable
from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.sessions.records import SessionStatus
from vlmtop.sessions.run.process import WorkerOutput, start_worker
from vlmtop.sessions.store import EmptyStoreError, SessionStore, UnknownSessionError, new_session_id
from vlmtop.sessions.store.errors import NotASessionDatabaseError
from vlmtop.sessions.store.rows import EXPERIMENT_PREFIX

WORKER_START_S = 120.0  # importing torch + transformers on a cold, busy machine
MAX_INTERVAL_S = 60.0  # a slower refresh is a frozen screen, not a setting


def run_dashboard(settings, db: Path, interval: float | None = None) -> int:
    """Start a worker process recording a new session, and watch it, reading the database
    every ``interval`` seconds (None: the dashboard's default)."""
    _check_interval(interval)
    from vlmtop.sessions.run.worker import default_threads

    settings.threads = settings.threads or default_threads(dashboard=True)
    # Create (or check) the file here, before the worker exists: a fresh database is then
    # never read half-initialized, and a foreign file is refused before anything starts.
    SessionStore.open(db, create=True).close()
    session_id = new_session_id()
    worker, output = start_worker(db, session_id, settings, _worker_log(db, session_id))
    try:
        with wait_for_session(db, session_id, worker, output) as store:
            return _run_app(store, LiveTail(store, session_id), worker=worker, worker_output=output,
                            interval=interval)
    finally:
        reap(worker)


def attach_dashboard(session_ref: str, db: Path, interval: float | None = None) -> int:
    """Watch (and steer) a session another process is recording; given an experiment id
    (`exp-...`), open on its fleet, following its newest running session."""
    _check_interval(interval)
    instead = "`vlmtop sessions`, `vlmtop stop` or `vlmtop export`"
    with SessionStore.open(db, create=False) as store:  # a wrong id is said first, terminal or not
        if session_ref.startswith(EXPERIMENT_PREFIX):
            session_id = fleet_session(store, store.resolve_experiment(session_ref))
            _need_terminal("attach", instead)
            return _run_app(store, LiveTail(store, session_id), interval=interval, fleet=True)
        session_id = store.resolve(session_ref)
        _need_terminal("attach", instead)
        return _run_app(store, LiveTail(store, session_id), interval=interval)


def fleet_session(store: SessionStore, experiment_id: str) -> str:
    """The session the dashboard follows behind an experiment's fleet screen: its newest
    running one, else its newest (the fleet screen's enter picks another)."""
    infos = store.experiment_sessions(experiment_id)
    running = [info for info in infos if info.status == SessionStatus.RUNNING]
    return max(running or infos, key=lambda info: info.started_at).id


def replay_dashboard(session_ref: str, db: Path, speed: float | None = None, interval: float | None = None) -> int:
    _check_interval(interval)
    with SessionStore.open(db, create=False) as store:  # a wrong id is said first, terminal or not
        session_id = store.resolve(session_ref)
        _need_terminal("replay", "`vlmtop export`, `vlmtop compare` or `vlmtop sessions`")
        source = ReplaySource(store, session_id, **({"speed": speed} if speed else {}))
        return _run_app(store, source, steerable=False, interval=interval)


def _need_terminal(command: str, instead: str) -> None:
    """Refuse a dashboard with no terminal: Textual would write escape codes into a pipe
    and wait forever for a key no one can press. (`vlmtop run` runs headless instead.)"""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise VlmtopError(f"vlmtop {command} opens a dashboard and needs a terminal (stdin and stdout are "
                          f"not one); in a script use {instead}")


def _check_interval(interval: float | None) -> None:
    from vlmtop.tui.poller import MIN_INTERVAL_S

    if interval is not None and not (MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S):
        raise VlmtopError(
            f"--interval {interval:g}: give the refresh interval in seconds, "
            f"from {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} (e.g. --interval 1)"
        )


def _run_app(store, source, worker_output: WorkerOutput | None = None, **kwargs) -> int:
    from vlmtop.tui.app import VlmtopApp

    app = VlmtopApp(store, source, worker_said=worker_output.reason if worker_output else None, **kwargs)
    app.run()
    worker = kwargs.get("worker")
    said = worker_output.reason() if worker_output and worker and worker.poll() is not None else None
    return report_end(store, app.session_id, said)  # the fleet screen may have moved it to another


def report_end(store, session_id: str, worker_said: str | None = None) -> int:
    """What the terminal says once the dashboard has closed, and the exit status.
    ``worker_said``: our own worker's fault line (a full disk, a lock held elsewhere),
    which the session row could not take; exit 2, as for every such fault."""
    info = store.session(session_id)
    if info.failed_before_any_sample:
        raise VlmtopError(info.failed_before_any_sample)
    print(printable(f"session {info.id}: {info.status}, {info.measured_count} measured samples in {store.path}", limit=0))
    note = store.unreadable_note()
    if note:  # a damaged or hand-edited file: what was shown as missing
        print(f"vlmtop: {printable(note, limit=0)}", file=sys.stderr)
    if info.status == SessionStatus.FAILED:
        print(printable(f"vlmtop: session {info.id} failed: {info.error}"), file=sys.stderr)
        return 1
    if worker_said:
        print(printable(f"vlmtop: session {info.id} {info.status}: {worker_said}"), file=sys.stderr)
        return 2
    return 0


def _worker_log(db: Path, session_id: str) -> Path:
    folder = Path(db).expanduser().resolve().parent / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a full disk: the worker's output is still read (WorkerOutput), unlogged
        pass
    return folder / f"worker-{session_id}.log"


def wait_for_session(db: Path, session_id: str, worker: subprocess.Popen, output: WorkerOutput) -> SessionStore:
    """The worker creates the session row first thing; wait for it (or for its death,
    whose reason is the last line it wrote: read from the pipe, as the log may be empty)."""
    print("vlmtop: starting the worker…", file=sys.stderr)
    deadline = time.monotonic() + WORKER_START_S
    while time.monotonic() < deadline:
        if os.path.exists(db):
            try:
                store = SessionStore.open(db, create=False)
            except (EmptyStoreError, NotASessionDatabaseError):
                store = None  # a worker started on a fresh file may not have written its header yet
            if store is not None:
                try:
                    store.session(session_id)
                    return store
                except UnknownSessionError:
                    store.close()
        if worker.poll() is not None:
            last = output.last_line(wait_s=1.0)
            raise VlmtopError(f"the worker exited before starting: {last or 'no output'} (log: {output.log})")
        time.sleep(0.1)
    worker.terminate()
    raise VlmtopError(f"the worker did not start within {WORKER_START_S:.0f} s (log: {output.log})")


def reap(worker: subprocess.Popen) -> None:
    """The app has exited: give the worker a moment to finish, then make sure it is gone."""
    if worker.poll() is None:
        try:
            worker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.terminate()  # SIGTERM: the worker finishes its sample and completes
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
