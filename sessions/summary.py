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


@dataclass(frozen=True)
class InputSummary:
    """What the measured samples fed the model: their images and tokens."""

    image_counts: tuple[int, ...]  # the distinct image counts, ascending (0: text-only); () in older rows
    image_tokens_p50: float | None
    prompt_tokens_p50: float | None
    vision_calls_p50: float | None = None  # how the family encoded them: 1 batched call, or one per image
    video_frames: tuple[int, ...] = ()  # the distinct frame counts of the samples' videos

    @property
    def text_only(self) -> bool:
        """Every measured sample had no image and no video: vision and projector did not run."""
        return self.image_counts == (0,) and not self.video_frames

    def describe(self) -> str:
        """One line, e.g. ``images 2 · image tokens p50 48 · vision calls p50 1 · prompt tokens p50 70``."""
        parts = []
        if self.image_counts and (self.text_only or self.image_counts != (0,)):
            low, high = self.image_counts[0], self.image_counts[-1]
            parts.append("text-only" if self.text_only else f"images {low}" if low == high else f"images {low}-{high}")
        if self.video_frames:
            low, high = self.video_frames[0], self.video_frames[-1]
            parts.append(f"video {low} frames" if low == high else f"video {low}-{high} frames")
        if self.image_tokens_p50 is not None and not self.text_only:
            parts.append(f"image tokens p50 {self.image_tokens_p50:g}")
        if self.vision_calls_p50 and not self.text_only:
            parts.append(f"vision calls p50 {self.vision_calls_p50:g}")
        if self.prompt_tokens_p50 is not None:
            parts.append(f"prompt tokens p50 {self.prompt_tokens_p50:g}")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        return {"image_counts": list(self.image_counts), "image_tokens_p50": self.image_tokens_p50,
                "prompt_tokens_p50": self.prompt_tokens_p50, "vision_calls_p50": self.vision_calls_p50,
                "video_frames": list(self.video_frames)}


def summarize_inputs(rows: list[SampleRecord]) -> InputSummary:
    measured = [row for row in rows if is_measured(row)]

    def p50(column: str) -> float | None:
        values = [getattr(row, column) for row in measured if getattr(row, column) is not None]
        return float(np.median(values)) if values else None

    counts = tuple(sorted({row.image_count for row in measured if row.image_count is not None}))
    frames = tuple(sorted({row.video_frames for row in measured if row.video_frames}))
    return InputSummary(counts, p50("image_tokens"), p50("prompt_tokens"), p50("vision_calls"), frames)


@dataclass
class SegmentSummary:
    """The stages of one arm's run of samples under the same policies."""

    label: str  # cache=… warmup=… timing=…
    first_seq: int
    last_seq: int
    stages: list[StageSummary] = field(default_factory=list)
    arm: str | None = None  # the arm's label; None in a run without arms
    inputs: InputSummary = field(default_factory=lambda: InputSummary((), None, None))

    @property
    def title(self) -> str:
        return f"arm {self.arm}" if self.arm else self.label

    def to_dict(self) -> dict:
        return {"arm": self.arm, "policies": self.label, "first_seq": self.first_seq, "last_seq": self.last_seq,
                "inputs": self.inputs.to_dict(), "stages": [s.to_dict() for s in self.stages]}


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
            SegmentSummary(seg.label, seg.first_seq, seg.last_seq, summarize_rows(seg.rows), arm,
                           summarize_inputs(seg.rows))
            for seg in segments(by_arm[arm])
            if seg.measured
        )
    return out
