"""Is the process recording a `running` session still there? Judged by pid, else heartbeat.

A worker that dies (SIGKILL, a closed terminal, a power cut) cannot close its session, so
its row says `running` forever. Readers judge it instead: on this host by probing the pid,
on another host (a shared file) by the heartbeat the worker refreshes every few seconds.
Judging is pure: :func:`settle` returns what the rows mean and changes nothing, so a reader
works on a read-only file. Writers save the verdict (:func:`save_settled`), which keeps a
reused pid from making a dead session look alive later.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from vlmtop.sessions.records import SessionStatus

# A writer on another host cannot be probed by pid: silence this long means it is gone.
STALE_HEARTBEAT_S = 60.0

# Sets a running session's heartbeat; also brings back one a reader wrongly marked
# interrupted (its writer was only silent), since a write proves the writer is alive.
ALIVE_SQL = f"""
    heartbeat_at = :now,
    ended_at = CASE status WHEN '{SessionStatus.INTERRUPTED}' THEN NULL ELSE ended_at END,
    error = CASE status WHEN '{SessionStatus.INTERRUPTED}' THEN NULL ELSE error END,
    status = CASE status WHEN '{SessionStatus.INTERRUPTED}' THEN '{SessionStatus.RUNNING}' ELSE status END
"""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    # A killed child that its parent has not reaped yet still answers kill(pid, 0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


# A process that started this long after the session did cannot be its writer: the writer
# creates the session after it starts. Slack for /proc's whole-second boot time.
PID_START_SLACK_S = 2.0


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (unix time), from /proc; None where that is unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def writer_gone(row: dict, now: float, hostname: str) -> bool:
    """Whether the process recording a `running` session has stopped without closing it."""
    # os.kill(pid, 0) would terminate the process on Windows: use the heartbeat there.
    if row["hostname"] == hostname and row["pid"] and os.name == "posix":
        if not pid_alive(row["pid"]):
            return True
        # The pid is alive, but is it the writer? After a reboot or a long time, the pid
        # may belong to a process started after the session: then the writer is gone.
        started = process_started_at(row["pid"])
        return started is not None and started > row["started_at"] + PID_START_SLACK_S
    last_sign_of_life = row["heartbeat_at"] or row["started_at"]
    return now - last_sign_of_life > STALE_HEARTBEAT_S


def settle(rows: list[dict], hostname: str) -> tuple[list[dict], list[dict]]:
    """``rows`` with dead writers' `running` sessions read as `interrupted`, and those rows.

    Nothing is written: the second list is for a writer to save with :func:`save_settled`.
    """
    now = time.time()
    settled, gone = [], []
    for row in rows:
        if row["status"] == SessionStatus.RUNNING and writer_gone(row, now, hostname):
            row = {
                **row,
                "status": SessionStatus.INTERRUPTED,
                "ended_at": row["heartbeat_at"] or row["started_at"],
                "error": f"the recording process (pid {row['pid']} on {row['hostname']}) "
                f"stopped without closing the session",
            }
            gone.append(row)
        settled.append(row)
    return settled, gone


def save_settled(conn: sqlite3.Connection, gone: list[dict]) -> None:
    """Record the verdicts of :func:`settle`; the caller holds the write transaction."""
    for row in gone:
        conn.execute(
            f"UPDATE sessions SET status = '{SessionStatus.INTERRUPTED}', ended_at = ?, error = ? "
            f"WHERE id = ? AND status = '{SessionStatus.RUNNING}'",
            (row["ended_at"], row["error"], row["id"]),
        )
