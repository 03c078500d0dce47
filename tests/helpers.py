"""Helpers shared by test files in several folders, imported by name (``from helpers import
error_line``): tests/ is on sys.path (pyproject.toml), the folders below it are not, so a
test file never imports another test file.

- :func:`error_line`: the one line a refused command writes to stderr.
- :func:`vlmtop_command`, :func:`vlmtop_env`: a real ``vlmtop`` process of this interpreter,
  its default database kept under the test's own folder.
- :func:`start_worker_for_test`: a worker started as the dashboard starts one.
- :func:`latencies`, :func:`record`, :func:`write_session`, :func:`run_cli`: synthetic rows
  and sessions with a known truth, and ``vlmtop compare`` through the real entry point.

Fixtures (``recorded``, the isolated data folder) are in conftest.py; recorded sessions in
recorded_session.py and recorded_arms_session.py; the session-database helpers in
helpers_store.py; tiny models in tiny_models.py.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from vlmtop.cli import main
from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.store import SessionStore

# -- commands ------------------------------------------------------------------------------


def error_line(capsys) -> str:
    """What the command wrote to stderr, checked to be one ``vlmtop: error: `` line."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vlmtop: error: "), err
    return err


def vlmtop_command(*args: str) -> list[str]:
    """The command line of ``vlmtop ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "vlmtop", *args]


def vlmtop_env(tmp_path, **extra: str) -> dict:
    """The environment of a ``vlmtop`` process: ours, its data folder (the default database)
    under ``tmp_path``, its output unbuffered (read line by line as it runs), and ``extra``."""
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1", **extra}


def start_worker_for_test(db, **settings):
    """A worker started as the dashboard starts one (isolated, output through a pipe)."""
    from vlmtop.sessions.run.process import start_worker
    from vlmtop.sessions.run.worker import RunSettings
    from vlmtop.tui.launch import wait_for_session

    session_id = "abcdef0123"
    settings = RunSettings(warmup="none", max_new_tokens=2, threads=1, **settings)
    proc, output = start_worker(db, session_id, settings, db.parent / "worker.log")
    store = wait_for_session(db, session_id, proc, output)
    return proc, store, session_id


# -- synthetic sessions for comparisons --------------------------------------------------


def latencies(
    n: int, rng: np.random.Generator, median: float = 100.0, cv: float = 0.08
) -> np.ndarray:
    """Lognormal latency-like values: right-skewed, median ``median``, CV about ``cv``."""
    return median * np.exp(rng.normal(0.0, cv, n))


def record(
    seq: int,
    e2e: float,
    *,
    sample_id: str = "",
    cache="keep",
    warmup="none",
    timing="events",
    is_warmup=False,
    status="ok",
    session_id="s",
) -> SampleRecord:
    """A sample whose stages are fixed shares of ``e2e`` (None where the sample failed)."""
    steps = [e2e * 0.05] * 4
    return SampleRecord(
        session_id=session_id,
        seq=seq,
        sample_id=sample_id,
        is_warmup=is_warmup,
        status=status,
        error="boom" if status == "error" else None,
        cache_policy=cache,
        warmup_policy=warmup,
        timing_mode=timing,
        vision_ms=e2e * 0.2,
        projector_ms=e2e * 0.01,
        prefill_ms=e2e * 0.4,
        decode_ms=sum(steps) if status == "ok" else None,
        ttft_ms=e2e * 0.62,
        e2e_ms=e2e if status == "ok" else None,
        other_ms=e2e * 0.19,
        decode_steps_ms=steps if status == "ok" else [],
    )


def write_session(store: SessionStore, rows: list[SampleRecord]) -> str:
    """A finished session of ``rows`` (their session ids replaced by its own), and its id."""
    session_id = store.create_session(
        model="tiny-llava", device="cpu", dtype="float32", settings={}, versions={"python": "3.11"}
    )
    for r in rows:
        store.write_sample(SampleRecord(**{**r.__dict__, "session_id": session_id}))
    store.finish_session(session_id, "completed")
    return session_id


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``vlmtop compare ARGS``: its exit code, stdout and stderr."""
    code = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err
