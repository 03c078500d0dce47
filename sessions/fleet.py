"""The fleet of an experiment as rows: one per session, or per host, or per device.

`vlmtop run --ray` writes one session per actor into the driver's database, all under one
experiment id. The fleet screen (`F` in the dashboard, `vlmtop attach exp-...`) shows them
side by side, refreshed every second while they run. Everything here is read with SQL
aggregates and bounded reads, never by loading a session's records: a session can hold a
million samples, and a fleet a hundred sessions.

Per session:

- ``measured``: the session row's counter (what `vlmtop sessions` shows);
- ``rate``: samples that started in the last :data:`RATE_WINDOW_S` seconds, per second
  (running sessions only). The samples' start times are the actor's clock and "now" is the
  reader's: hosts of one cluster agree to well under a second with NTP;
- ``median``: of the selected stage over the session's last :data:`MEDIAN_WINDOW` measured
  samples (the dashboard's window; the whole session when it is shorter), recomputed only
  when the session has new samples;
- ``heartbeat_age``: seconds since the writer's last sign of life (running sessions only).

Grouped rows (per host, per device) add up sessions, measured samples and rates, and give
the median of their sessions' medians: each process counts once, however long it ran.
A device is a physical one: its GPU UUID where CUDA gave one, else its name on its host.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from vlmtop.sessions.playback import DEFAULT_WINDOW
from vlmtop.sessions.records import SessionStatus
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.store.rows import SessionInfo

GROUPINGS = ("session", "host", "device")  # what one row is; the fleet screen's `g` cycles them
RATE_WINDOW_S = 10.0
MEDIAN_WINDOW = DEFAULT_WINDOW
# A rate reads at most this many newest rows: enough for 500 samples/s over the window,
# and a bounded read however long the session is.
RATE_MAX_ROWS = 5000


@dataclass(frozen=True)
class FleetRow:
    key: str  # session id, host name or device key
    host: str  # the host, or "3 hosts" for a group on several
    device: str  # the device's name, or "2 devices"
    pid: int | None  # session rows only
    status: str  # "running", "interrupted: reason", or "2 running, 1 completed" for a group
    sessions: int
    measured: int
    rate: float | None  # samples/s over the last RATE_WINDOW_S; None when nothing runs
    median_ms: float | None  # of the selected stage; a group: the median of its sessions' medians
    heartbeat_age_s: float | None  # running sessions only; a group: its oldest
    session_ids: tuple[str, ...]  # the sessions it stands for, in run order


@dataclass(frozen=True)
class FleetSummary:
    """How many sessions, hosts and devices an experiment has: the header's few words."""

    experiment_id: str
    sessions: int
    hosts: int
    devices: int
    running: int

    @property
    def spread(self) -> bool:
        """More than one host or device: a fleet worth its own screen."""
        return self.hosts > 1 or self.devices > 1

    def text(self) -> str:
        """E.g. "4 sessions on 2 hosts, 4 devices, 3 running"."""
        return (f"{_n(self.sessions, 'session')} on {_n(self.hosts, 'host')}, {_n(self.devices, 'device')}, "
                f"{self.running} running")

    def short(self) -> str:
        """The header's few words: "4 sessions on 2 hosts" (or on its devices, on one host)."""
        where = _n(self.hosts, "host") if self.hosts > 1 else _n(self.devices, "device")
        return f"{_n(self.sessions, 'session')} on {where}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def device_key(info: SessionInfo) -> str:
    """One physical device: the GPU's UUID where CUDA gave it, else its name on its host."""
    return info.device_uuid or f"{info.hostname}/{info.device_name or info.device}"


def device_label(info: SessionInfo) -> str:
    name = info.device_name or info.device or "?"
    return f"{name} {info.device_uuid[-8:]}" if info.device_uuid else name


def summarize(experiment_id: str, infos: list[SessionInfo]) -> FleetSummary:
    return FleetSummary(experiment_id, len(infos), len({i.hostname for i in infos}),
                        len({device_key(i) for i in infos}), sum(i.status == SessionStatus.RUNNING for i in infos))


def experiment_summary(store: SessionStore, experiment_id: str) -> FleetSummary:
    return summarize(experiment_id, store.experiment_sessions(experiment_id))


def status_text(info: SessionInfo) -> str:
    """running / completed, or interrupted and failed with their reason."""
    return f"{info.status}: {info.error}" if info.error and info.status in (SessionStatus.INTERRUPTED, SessionStatus.FAILED) else info.status


class FleetView:
    """Reads the fleet of one experiment; keeps the medians of sessions that did not move.

    Not thread-safe: one reader thread uses it, with its own store (the fleet screen's)."""

    def __init__(self, store: SessionStore, experiment_id: str):
        self.store = store
        self.experiment_id = experiment_id
        self._medians: dict[tuple[str, str], tuple[int, float | None]] = {}

    def sessions(self) -> list[SessionInfo]:
        return self.store.experiment_sessions(self.experiment_id)

    def rows(self, column: str, grouping: str = "session", now: float | None = None) -> tuple[FleetSummary, list[FleetRow]]:
        """The summary and one row per session (or host, or device) for ``column``'s median."""
        if grouping not in GROUPINGS:
            raise ValueError(f"grouping is one of {GROUPINGS}, not {grouping!r}")
        now = time.time() if now is None else now
        infos = self.sessions()
        rows = [self._session_row(info, column, now) for info in infos]
        if grouping != "session":
            key = (lambda i: i.hostname) if grouping == "host" else device_key
            groups: dict[str, list[tuple[SessionInfo, FleetRow]]] = {}
            for info, row in zip(infos, rows):
                groups.setdefault(key(info), []).append((info, row))
            rows = [_group_row(name, members) for name, members in groups.items()]
        return summarize(self.experiment_id, infos), rows

    # --- one session ---------------------------------------------------------------------

    def _session_row(self, info: SessionInfo, column: str, now: float) -> FleetRow:
        running = info.status == SessionStatus.RUNNING
        return FleetRow(
            key=info.id, host=info.hostname or "?", device=device_label(info), pid=info.pid,
            status=status_text(info), sessions=1, measured=info.measured_count,
            rate=self._rate(info, now) if running else None,
            median_ms=self._recent_median(info, column),
            heartbeat_age_s=max(0.0, now - (info.heartbeat_at or info.started_at)) if running else None,
            session_ids=(info.id,),
        )

    def _rate(self, info: SessionInfo, now: float) -> float:
        count = self.store.started_since(info.id, now - RATE_WINDOW_S, RATE_MAX_ROWS)
        # a session younger than the window has run for less: divide by what it ran
        span = min(RATE_WINDOW_S, max(1.0, now - info.started_at))
        return count / span

    def _recent_median(self, info: SessionInfo, column: str) -> float | None:
        cached = self._medians.get((info.id, column))
        if cached is not None and cached[0] == info.sample_count:
            return cached[1]
        values = self.store.newest_measured(info.id, column, MEDIAN_WINDOW)
        median = float(np.median(values)) if values.size else None
        self._medians[(info.id, column)] = (info.sample_count, median)
        return median


def _group_row(name: str, members: list[tuple[SessionInfo, FleetRow]]) -> FleetRow:
    infos = [info for info, _ in members]
    rows = [row for _, row in members]
    hosts = sorted({info.hostname for info in infos})
    devices = sorted({device_key(info) for info in infos})
    medians = [row.median_ms for row in rows if row.median_ms is not None]
    rates = [row.rate for row in rows if row.rate is not None]
    ages = [row.heartbeat_age_s for row in rows if row.heartbeat_age_s is not None]
    statuses = Counter(info.status for info in infos)
    return FleetRow(
        key=name,
        host=hosts[0] if len(hosts) == 1 else f"{len(hosts)} hosts",
        device=device_label(infos[0]) if len(devices) == 1 else f"{len(devices)} devices",
        pid=None,
        status=", ".join(f"{n} {status}" for status, n in statuses.most_common()),
        sessions=len(infos),
        measured=sum(row.measured for row in rows),
        rate=sum(rates) if rates else None,
        median_ms=float(np.median(medians)) if medians else None,
        heartbeat_age_s=max(ages) if ages else None,
        session_ids=tuple(info.id for info in infos),
    )
