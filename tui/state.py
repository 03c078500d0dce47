"""What the dashboard shows, computed from source updates: no Textual in here.

The app hands every update its poller took from the source to :meth:`DashboardState.apply`;
the widgets only read this object. Keeping the numbers here (not in widgets) is what makes
"numbers on screen are the numbers in the database" testable: the state is built from the
same rows the database returns.

Memory stays bounded over any session length: each stage keeps a fixed-size rolling window,
and the rows kept for segment comparison are at most the source's window.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from vlmtop.sessions.compare import NotEnoughSamplesError, compare_rows, is_measured, segments
from vlmtop.sessions.policies import KINDS, Policies
from vlmtop.sessions.record import ADDITIVE_COLUMNS, MULTIPASS_COLUMNS, SampleRecord, stage_label
from vlmtop.sessions.stats import RollingWindow

# (label, what it reads from a row): the stage table's rows; decode shows per token
STAGES = tuple(
    (stage_label(column), column)
    for column in ("vision_ms", "projector_ms", "prefill_ms", "decode_per_token_ms", "ttft_ms", "e2e_ms", "other_ms")
)
SHARE_PARTS = tuple((stage_label(column), column) for column in ADDITIVE_COLUMNS)
# (label, single-pass column, the old method's column of the same sample)
MULTIPASS = tuple(
    (stage_label(old.removeprefix("mp_")), old.removeprefix("mp_"), old) for old in MULTIPASS_COLUMNS
)
SPARK_POINTS = 120  # samples drawn in a sparkline (the widest the layout gets)
COMPARE_EVERY_S = 1.0  # the bootstrap is not free: recompute the comparison at most this often
DASHBOARD_COMPARE_STAGES = ("prefill_ms", "decode_per_token_ms", "e2e_ms")  # what fits the panel


@dataclass
class StageView:
    label: str
    last: float | None
    p50: float
    p90: float
    p99: float
    recent: list[float]


@dataclass
class DashboardState:
    window: int = 2000
    session: object | None = None  # SessionInfo
    position: int = -1
    total: int = 0
    rows: deque = field(default_factory=deque)  # the last `window` rows, every status
    events: deque = field(default_factory=lambda: deque(maxlen=200))
    new_errors: list[SampleRecord] = field(default_factory=list)  # since the last apply, to notify
    selected: int = 2  # prefill: the metric people came for
    _windows: dict = field(default_factory=dict)
    _comparison: object | None = None
    _compared_at: float = 0.0
    _compared_seq: int | None = -1  # seq of the newest row when last compared

    def __post_init__(self):
        self.rows = deque(maxlen=self.window)
        self._windows = {attr: RollingWindow(self.window) for _, attr in STAGES}
        self._windows.update({attr: RollingWindow(self.window) for _, attr in SHARE_PARTS})

    # -- feeding -------------------------------------------------------------------------

    def apply(self, update) -> None:
        """Take one SourceUpdate: append its rows, or start over when it says reset."""
        self.session = update.session
        self.position, self.total = update.position, update.total
        self.new_errors = []
        if update.reset:
            self.rows.clear()
            self.events.clear()
            self.reset_statistics()
        self.rows.extend(update.rows)
        self.events.extend(update.events)
        measured = [row for row in update.rows if is_measured(row)]
        for attr, window in self._windows.items():
            window.extend([getattr(row, attr) for row in measured])
        if not update.reset:
            self.new_errors = [row for row in update.rows if row.status == "error"]

    def reset_statistics(self) -> None:
        """The `r` key: forget the statistics so far and watch from here."""
        for window in self._windows.values():
            window.reset()
        self._comparison = None
        self._compared_seq = -1

    # -- what the panels read ------------------------------------------------------------

    def stage_views(self, points: int = SPARK_POINTS) -> list[StageView]:
        views = []
        for label, attr in STAGES:
            window = self._windows[attr]
            p50, p90, p99 = window.percentiles((50.0, 90.0, 99.0)).tolist()
            views.append(StageView(label, window.last, p50, p90, p99, window.values()[-points:].tolist()))
        return views

    @property
    def selected_attr(self) -> str:
        return STAGES[self.selected][1]

    @property
    def selected_label(self) -> str:
        return STAGES[self.selected][0]

    def move_selection(self, delta: int) -> None:
        self.selected = (self.selected + delta) % len(STAGES)

    def selected_window(self) -> RollingWindow:
        return self._windows[self.selected_attr]

    def shares(self) -> list[tuple[str, float]]:
        """Each additive stage's share of their summed means (so the shares add up to 1)."""
        means = [(label, self._mean(attr)) for label, attr in SHARE_PARTS]
        total = sum(m for _, m in means if math.isfinite(m))
        if not total:
            return []
        return [(label, (m if math.isfinite(m) else 0.0) / total) for label, m in means]

    def _mean(self, attr: str) -> float:
        values = self._windows[attr].values()
        return float(values.mean()) if values.size else float("nan")

    def multipass(self) -> list[tuple[str, float, float]] | None:
        """(stage, single-pass median, old-method median) while multipass timing is in
        force; None otherwise, so that switching back shows the segment comparison."""
        if self.policies["timing"] != "multipass":
            return None
        rows = [r for r in self.rows if is_measured(r) and r.timing_mode == "multipass" and r.mp_e2e_ms is not None]
        if not rows:
            return None
        return [
            (label, float(np.median([getattr(r, one) for r in rows])), float(np.median([getattr(r, old) for r in rows])))
            for label, one, old in MULTIPASS
        ]

    @property
    def policies(self) -> dict[str, str]:
        """The policies in force: the newest sample's, updated by policy events applied
        after it (they say from which sample on), else the session's settings."""
        if self.rows:
            row = self.rows[-1]
            since = row.seq
            policies = dict(zip(KINDS, (row.cache_policy, row.warmup_policy, row.timing_mode)))
        else:
            since = -1
            settings = getattr(self.session, "settings", {}) or {}
            default = Policies()
            policies = {
                "cache": settings.get("cache_policy", default.cache),
                "warmup": str(settings.get("warmup", default.warmup)),
                "timing": settings.get("timing", default.timing),
            }
        for event in self.events:
            if event.kind == "policy" and event.seq > since and event.name:
                policies[event.name] = event.value
        return policies

    @property
    def paused(self) -> bool:
        for event in reversed(self.events):
            if event.kind in ("pause", "resume"):
                return event.kind == "pause"
        return False

    def rate(self) -> float | None:
        """Samples per second over the recent rows."""
        recent = list(self.rows)[-30:]
        if len(recent) < 2:
            return None
        span = recent[-1].started_at - recent[0].started_at
        return (len(recent) - 1) / span if span > 0 else None

    def comparison_due_in(self, now: float | None = None) -> float | None:
        """Seconds until :meth:`comparison` would see rows it has not compared yet; None
        when it is up to date. A dashboard that draws only on change needs it: rows that
        came within the throttle must still reach the panel once nothing else arrives."""
        newest = self.rows[-1].seq if self.rows else None
        if newest == self._compared_seq:
            return None
        now = time.monotonic() if now is None else now
        return max(0.0, COMPARE_EVERY_S - (now - self._compared_at))

    def comparison(self, now: float | None = None):
        """The current policy segment against the previous one, or None.

        Returns ``(what changed, results | reason)``; recomputed at most once a second and
        only when rows arrived.
        """
        now = time.monotonic() if now is None else now
        # keyed on the newest seq, not len(rows): the window stops growing once it is full
        newest = self.rows[-1].seq if self.rows else None
        if newest == self._compared_seq or now - self._compared_at < COMPARE_EVERY_S:
            return self._comparison
        self._compared_at, self._compared_seq = now, newest
        segs = segments(self.rows)
        if len(segs) < 2:
            self._comparison = None
            return None
        a, b = segs[-2], segs[-1]
        change = ", ".join(f"{n} {x} → {y}" for n, x, y in zip(KINDS, a.policies, b.policies) if x != y)
        if b.transient:  # flagged and kept: the user sees why the first samples look off
            change += f" · warm-up transient: first {b.transient} samples"
        try:
            results = compare_rows(a.measured, b.measured, DASHBOARD_COMPARE_STAGES, n_boot=500)
        except NotEnoughSamplesError:
            results = "waiting for measured samples under the new policy"
        self._comparison = (change, results)
        return self._comparison
