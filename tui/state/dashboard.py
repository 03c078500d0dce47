"""What the dashboard shows, computed from source updates: no Textual in here.

The app hands every update its poller took from the source to :meth:`DashboardState.apply`;
the widgets only read this object. Keeping the numbers here (not in widgets) is what makes
"numbers on screen are the numbers in the database" testable: the state is built from the
same rows the database returns.

Memory stays bounded over any session length: each stage keeps a fixed-size rolling window,
and the rows kept for segment comparison are at most the source's window.

A run with arms (``--knob NAME=A,B``) keeps those windows per arm, and every panel shows ONE
arm (``shown_arm``, the baseline first; `a` moves on): pooled arms would describe none.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from vlmtop.core.stage_table import DASHBOARD, IMAGE_STAGES
from vlmtop.sessions.analysis.stats import RollingWindow
from vlmtop.sessions.compare import compare_segments, is_measured, segments
from vlmtop.sessions.compare.arms import ArmComparison
from vlmtop.sessions.compare.terms import CompareOptions
from vlmtop.sessions.knobs import arm_key, arm_order
from vlmtop.sessions.policies import KINDS, Policies
from vlmtop.sessions.records import ADDITIVE_COLUMNS, MULTIPASS_COLUMNS, SampleRecord, SampleStatus, stage_label
from vlmtop.tui.state.arms import (
    ARM_STAGES,
    ArmWindows,
    arm_display,
    live_arm_comparisons,
    measured_rows,
    speculative_tokens_per_step,
)

# (label, what it reads from a row): the stage table's rows, from core/stage_table.py
STAGES = tuple((stage.name, stage.column) for stage in DASHBOARD)
SHARE_PARTS = tuple((stage_label(column), column) for column in ADDITIVE_COLUMNS)
WINDOW_ATTRS = tuple(dict.fromkeys([attr for _, attr in STAGES + SHARE_PARTS] + list(ARM_STAGES)))  # a window each
# (label, single-pass column, the old method's column of the same sample)
MULTIPASS = tuple(
    (stage_label(old.removeprefix("mp_")), old.removeprefix("mp_"), old) for old in MULTIPASS_COLUMNS
)
SPARK_POINTS = 120  # samples drawn in a sparkline (the widest the layout gets)
COMPARE_EVERY_S = 1.0  # the bootstrap is not free: recompute the comparison at most this often
DASHBOARD_COMPARE_STAGES = ("prefill_ms", "decode_per_token_ms", "e2e_ms")  # what fits the panel
SEGMENT_OPTIONS = CompareOptions(n_boot=500)  # recomputed every second: fewer resamples than compare's


def unlocated_stage(event) -> str:
    """The stage an `unlocated` event is about: its `name`; files written before events
    carried one say it only in the text ("projector: not located; ..."), so parse that."""
    return event.name or event.detail.split(":")[0]


@dataclass
class StageView:
    """One row of the stage table: the shown arm's stage over its rolling window."""

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
    arm_labels: list = field(default_factory=lambda: [None])  # baseline first; [None]: one arm
    shown_arm: int = 0  # which arm the stage table, distribution and share bar show
    _arms: dict = field(default_factory=dict)  # label -> ArmWindows
    _comparison: object | None = None
    _arm_comparisons: list = field(default_factory=list)
    _compared_at: float = 0.0
    _compared_seq: int | None = -1  # seq of the newest row when last compared
    _watch_from: int = -1  # the first seq after the last `r` (reset)

    def __post_init__(self):
        self.rows = deque(maxlen=self.window)

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
        shown = self.shown_arm_label
        self.arm_labels = arm_order(getattr(self.session, "settings", None), (row.arm for row in self.rows)) or [None]
        # by knob values: a planned label may give way to the one the rows recorded
        keys = [arm_key(label) for label in self.arm_labels]
        self.shown_arm = keys.index(arm_key(shown)) if shown and arm_key(shown) in keys else 0
        measured = [row for row in update.rows if is_measured(row)]
        for label in {row.arm for row in measured} if self.has_arms else [None]:
            self._arm(label).extend([row for row in measured if not self.has_arms or row.arm == label])
        if not update.reset:
            self.new_errors = [row for row in update.rows if row.status == SampleStatus.ERROR]

    def reset_statistics(self) -> None:
        """The `r` key: forget the statistics so far and watch from here."""
        for arm in self._arms.values():
            arm.reset()
        self._comparison = None
        self._arm_comparisons = []
        self._compared_seq, self._compared_at = -1, 0.0  # recompute on the next frame, not in a second
        # the arms are compared on what the windows hold: the samples after a reset
        self._watch_from = self.rows[-1].seq + 1 if self.rows else -1

    # -- arms ----------------------------------------------------------------------------

    @property
    def has_arms(self) -> bool:
        return len(self.arm_labels) > 1

    @property
    def shown_arm_label(self) -> str | None:
        return self.arm_labels[self.shown_arm] if self.shown_arm < len(self.arm_labels) else None

    def cycle_arm(self, delta: int = 1) -> None:
        self.shown_arm = (self.shown_arm + delta) % len(self.arm_labels)

    def _arm(self, label: str | None) -> ArmWindows:
        if label not in self._arms:
            self._arms[label] = ArmWindows.empty(label, WINDOW_ATTRS, self.window)
        return self._arms[label]

    def arm_views(self) -> list[ArmWindows]:
        """Every arm's windows, in the defined order (the baseline first)."""
        return [self._arm(label) for label in self.arm_labels]

    def arm_name(self) -> str:
        """The shown arm, e.g. "arm max_new_tokens=4"; "" for a run with one arm."""
        return f"arm {arm_display(self.shown_arm_label)}" if self.has_arms else ""

    def arm_title(self) -> str:
        """The shown arm and its place, e.g. "arm max_new_tokens=4 (baseline)"."""
        if not self.has_arms:
            return ""
        role = "baseline" if self.shown_arm == 0 else f"{self.shown_arm + 1} of {len(self.arm_labels)}"
        return f"{self.arm_name()} ({role})"

    def arm_comparisons(self, now: float | None = None) -> list[ArmComparison]:
        """Each arm against the baseline per stage (recomputed with :meth:`comparison`)."""
        self._refresh_comparisons(now)
        return self._arm_comparisons

    @property
    def unlocated(self) -> set[str]:
        """Standard stages the locator did not find (their time is in other): from the
        newest measured sample, or the worker's `unlocated` events before there is one."""
        newest = self._arm(self.shown_arm_label).newest
        if newest is not None:
            return set(filter(None, (newest.unlocated or "").split(",")))
        return {unlocated_stage(event) for event in self.events if event.kind == "unlocated"}

    @property
    def not_run(self) -> set[str]:
        """The stages the newest measured sample did not run: vision and projector on a
        text-only prompt (their rows say so rather than show zeros)."""
        newest = self._arm(self.shown_arm_label).newest
        text_only = newest is not None and newest.image_count == 0 and not newest.video_frames
        return set(IMAGE_STAGES) if text_only else set()

    def inputs_title(self) -> str:
        """What the newest measured sample fed the model, e.g. "2 images, 48 img tok"."""
        newest = self._arm(self.shown_arm_label).newest
        if newest is None or newest.image_count is None:
            return ""
        if newest.image_count == 0 and not newest.video_frames:
            return "text-only"
        parts = [f"{newest.image_count} image{'s' * (newest.image_count != 1)}"] if newest.image_count else []
        if newest.video_frames:
            parts.append(f"video {newest.video_frames} frames")
        if newest.image_tokens is not None:
            parts.append(f"{newest.image_tokens} img tok")
        return ", ".join(parts)

    def tokens_per_step(self) -> float | None:
        """Decode tokens per step when the shown arm decodes speculatively, else None."""
        return speculative_tokens_per_step(self._arm(self.shown_arm_label))

    # -- what the panels read ------------------------------------------------------------

    def stage_views(self, points: int = SPARK_POINTS) -> list[StageView]:
        views = []
        windows = self._arm(self.shown_arm_label).windows
        for label, attr in STAGES:
            window = windows[attr]
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
        return self._arm(self.shown_arm_label).windows[self.selected_attr]

    def shares(self) -> list[tuple[str, float]]:
        """Each additive stage's share of their summed means (so the shares add up to 1);
        a stage that was not located (its time is in other) or did not run has none."""
        absent = self.unlocated | self.not_run
        means = [(label, self._mean(attr)) for label, attr in SHARE_PARTS if label not in absent]
        total = sum(m for _, m in means if math.isfinite(m))
        if not total:
            return []
        return [(label, (m if math.isfinite(m) else 0.0) / total) for label, m in means]

    def _mean(self, attr: str) -> float:
        values = self._arm(self.shown_arm_label).windows[attr].values()
        return float(values.mean()) if values.size else float("nan")

    def multipass(self) -> list[tuple[str, float, float]] | None:
        """(stage, single-pass median, old-method median) while multipass timing is in
        force; None otherwise, so that switching back shows the segment comparison."""
        if self.policies.timing != "multipass":
            return None
        rows = [r for r in self._shown_rows() if r.timing_mode == "multipass" and r.mp_e2e_ms is not None]
        if not rows:
            return None
        return [
            (label, float(np.median([getattr(r, one) for r in rows])), float(np.median([getattr(r, old) for r in rows])))
            for label, one, old in MULTIPASS
        ]

    @property
    def policies(self) -> Policies:
        """The policies in force: the newest sample's, updated by policy events applied
        after it (they say from which sample on), else the session's settings."""
        own = [row for row in self.rows if row.arm == self.shown_arm_label] if self.has_arms else []
        if self.rows:
            row = (own or self.rows)[-1]  # an arm may vary a policy: the shown arm's
            since, policies = row.seq, Policies.from_row(row)
        else:
            since, policies = -1, Policies.from_settings(getattr(self.session, "settings", None))
        for event in self.events:
            if event.kind == "policy" and event.seq > since and event.name in KINDS:
                policies = replace(policies, **{event.name: event.value})
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
        """The shown arm's current policy segment against its previous one, or None.

        Returns ``(what changed, results | reason)``; recomputed at most once a second and
        only when rows arrived.
        """
        self._refresh_comparisons(now)
        return self._comparison

    def _shown_rows(self) -> list[SampleRecord]:
        return measured_rows(self.rows, self.shown_arm_label, self.has_arms)

    def _refresh_comparisons(self, now: float | None) -> None:
        now = time.monotonic() if now is None else now
        # keyed on the newest seq, not len(rows): the window stops growing once it is full
        newest = self.rows[-1].seq if self.rows else None
        if newest == self._compared_seq or now - self._compared_at < COMPARE_EVERY_S:
            return
        self._compared_at, self._compared_seq = now, newest
        self._comparison = self._policy_comparison()
        self._arm_comparisons = (
            live_arm_comparisons([row for row in self.rows if row.seq >= self._watch_from], self.arm_labels,
                                 self.unlocated)
            if self.has_arms else []
        )

    def _policy_comparison(self):
        rows = [row for row in self.rows if row.arm == self.shown_arm_label] if self.has_arms else self.rows
        segs = segments(rows)
        if len(segs) < 2:
            return None
        a, b = segs[-2], segs[-1]
        change = ", ".join([
            *(f"{n} {x} → {y}" for n, x, y in zip(KINDS, a.policies, b.policies) if x != y),
            # a knob fixed from the dashboard (`k`) starts a segment too
            *(f"{n} {a.knobs[n]} → {b.knobs.get(n, '-')}" if n in a.knobs else f"{n} → {b.knobs[n]}"
              for n in dict.fromkeys([*a.knobs, *b.knobs]) if a.knobs.get(n) != b.knobs.get(n)),
        ])
        if self.has_arms:
            change = f"{arm_display(self.shown_arm_label)}: {change}"
        if b.transient:  # flagged and kept: the user sees why the first samples look off
            change += f" · warm-up transient: first {b.transient} samples"
        # compare_segments, as `vlmtop compare SESSION` does: each result names its evidence
        (item,) = compare_segments([a, b], DASHBOARD_COMPARE_STAGES, SEGMENT_OPTIONS)
        results = item.results if item.skipped is None else "waiting for measured samples under the new policy"
        return (change, results)
