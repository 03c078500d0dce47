"""Per-stage summary of a session: what `vlmtop run --headless` prints at the end.

Only measured samples count (status ok, not warm-up). Shares are of mean e2e, and only the
additive stages have one: they sum to 100% with `other`. A session whose policies changed
while it ran (from an attached dashboard) is summarised per segment, never pooled: pooling
`keep` and `empty` samples would describe neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlmtop.core.stage_table import STAGES
from vlmtop.sessions.analysis.stats import summarize
from vlmtop.sessions.compare import is_measured, segments
from vlmtop.sessions.knobs import arm_order
from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.store import SessionStore


@dataclass
class StageSummary:
    stage: str
    n: int
    mean: float
    p50: float
    p90: float
    p99: float
    share: float | None  # of mean e2e; None for non-additive rows

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in self.__dict__.items()}


@dataclass
class SegmentSummary:
    """The stages of one arm's run of samples under the same policies."""

    label: str  # cache=… warmup=… timing=…
    first_seq: int
    last_seq: int
    stages: list[StageSummary] = field(default_factory=list)
    arm: str | None = None  # the arm's label; None in a run without arms

    @property
    def title(self) -> str:
        return f"arm {self.arm}" if self.arm else self.label

    def to_dict(self) -> dict:
        return {"arm": self.arm, "policies": self.label, "first_seq": self.first_seq, "last_seq": self.last_seq,
                "stages": [s.to_dict() for s in self.stages]}


def summarize_rows(rows: list[SampleRecord]) -> list[StageSummary]:
    """One summary row per stage over the measured samples among `rows`."""
    measured = [row for row in rows if is_measured(row)]
    e2e_mean = float(np.mean([row.e2e_ms for row in measured])) if measured else float("nan")
    out = []
    for stage in STAGES:
        values = np.array([getattr(row, stage.column) for row in measured], dtype=np.float64)
        s = summarize(values, (50.0, 90.0, 99.0))
        share = s.mean / e2e_mean if stage.additive and s.n and e2e_mean > 0 else None
        out.append(StageSummary(stage.name, s.n, s.mean, s.p50, s.p90, s.p99, share))
    return out


def summarize_session(store: SessionStore, session_id: str) -> list[StageSummary]:
    """The whole session pooled (what `--json` has always reported as `stages`)."""
    return summarize_rows(list(store.iter_samples(session_id)))


def summarize_segments(store: SessionStore, session_id: str) -> list[SegmentSummary]:
    """One summary per arm (in the order the arms were defined, the baseline first), and
    within an arm per policy segment that has measured samples, in seq order."""
    by_arm: dict[str | None, list[SampleRecord]] = {}
    for row in store.iter_samples(session_id):
        by_arm.setdefault(row.arm, []).append(row)
    order = arm_order(store.session(session_id).settings, by_arm)
    out = []
    for arm in sorted(by_arm, key=lambda label: order.index(label) if label in order else len(order)):
        out.extend(
            SegmentSummary(seg.label, seg.first_seq, seg.last_seq, summarize_rows(seg.rows), arm)
            for seg in segments(by_arm[arm])
            if seg.measured
        )
    return out
