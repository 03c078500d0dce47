"""The arms of an interleaved run as the dashboard shows them: no Textual in here.

Each arm keeps its own rolling windows, so no figure on screen ever pools two arms (a
median over `max_new_tokens=4` and `=8` samples describes neither). Every arm is compared
with the first, the baseline, per stage, on the samples both measured: the worker runs
each sample under every arm in one block, so the pairs are exact and share one process's
state ("paired in one process"). Until enough sample ids are shared to pair on, no ratio is
shown: an unpaired figure would read as if it had the paired one's precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vlmtop.core.text import printable
from vlmtop.sessions.analysis.stats import RollingWindow
from vlmtop.sessions.compare import COMPARE_STAGES, is_measured, segments
from vlmtop.sessions.compare.arms import ArmComparison, compare_arms
from vlmtop.sessions.compare.terms import CompareOptions
from vlmtop.sessions.knobs import label_names
from vlmtop.sessions.records import SampleRecord, stage_label

# What arms are compared and summarised on: every stage compare knows (decode in total as
# well as per token: a decode-length knob changes the one and not the other).
ARM_STAGES = COMPARE_STAGES
# resamples per live comparison: recomputed every second, for every arm
ARM_OPTIONS = CompareOptions(n_boot=500)
NOT_LOCATED = "not located"


@dataclass
class ArmWindows:
    """One arm's measured samples in the statistics window."""

    label: str | None  # None: the run has one arm
    windows: dict[str, RollingWindow]
    tokens_per_step: RollingWindow  # decode tokens per language-model call (speculative: > 1)
    measured: int = 0  # measured samples since the last reset
    newest: SampleRecord | None = None  # the newest measured sample: what is located, speculative

    @classmethod
    def empty(cls, label: str | None, attrs, capacity: int) -> ArmWindows:
        return cls(label, {attr: RollingWindow(capacity) for attr in attrs}, RollingWindow(capacity))

    def extend(self, rows: list[SampleRecord]) -> None:
        if not rows:
            return
        for attr, window in self.windows.items():
            window.extend([getattr(row, attr) for row in rows])
        self.tokens_per_step.extend([row.tokens_per_step for row in rows if row.speculative])
        self.measured += len(rows)
        self.newest = rows[-1]

    def reset(self) -> None:
        for window in (*self.windows.values(), self.tokens_per_step):
            window.reset()
        self.measured = 0

    def p50(self, attr: str) -> float:
        return self.windows[attr].percentile(50.0)


def arm_display(label: str | None) -> str:
    return printable(label) if label else "(one arm)"


def compact_arm_labels(labels: list[str | None], width: int) -> tuple[str | None, list[str]]:
    """What tells the arms apart in ``width`` cells: (None, the labels) where every label
    fits; else (the knob names, once, e.g. "max_new_tokens,image_size,attn", and each arm's
    values alone, "3,64x64,eager"). Three knobs' labels cut to a panel's width would all
    read "max_new_tokens=3,image_size…"."""
    shown = [arm_display(label) for label in labels]
    names = label_names(next((label for label in labels if label), None))
    if max(map(len, shown), default=0) <= width or not names or any(
            label_names(label) != names for label in labels if label):
        return None, shown
    return printable(",".join(names)), [printable(",".join(part.partition("=")[2] for part in label.split(",")))
                                        if label else shown[i] for i, label in enumerate(labels)]


def current_segment(rows: list[SampleRecord]) -> list[SampleRecord]:
    """The measured rows of the newest policy segment: arms are compared under the same
    policies (a policy switched from the dashboard starts a new segment for every arm)."""
    segs = segments(rows)
    return segs[-1].measured if segs else []


def live_arm_comparisons(rows, labels: list[str], unlocated: set[str], stages=ARM_STAGES) -> list[ArmComparison]:
    """Every arm after the first against the first, stage by stage, on each arm's newest
    segment, paired by sample id (sessions/compare/arms.py's live comparison); the located
    stages' intervals hold together, as in `vlmtop compare`. A stage not located has none."""
    by_arm: dict[str | None, list[SampleRecord]] = {}
    for row in rows:
        by_arm.setdefault(row.arm, []).append(row)
    groups = {label: current_segment(by_arm.get(label, [])) for label in labels}
    located = [attr for attr in stages if stage_label(attr) not in unlocated]
    out = compare_arms(groups, located, ARM_OPTIONS, live=True)
    for item in out:
        item.results = {attr: item.results.get(attr, NOT_LOCATED) for attr in stages}
    return out


def speculative_tokens_per_step(arm: ArmWindows) -> float | None:
    """Median decode tokens per step while the arm's newest sample decoded speculatively."""
    if arm.newest is None or not arm.newest.speculative or not len(arm.tokens_per_step):
        return None
    return float(np.median(arm.tokens_per_step.values()))


def measured_rows(rows, label: str | None, has_arms: bool) -> list[SampleRecord]:
    return [row for row in rows if is_measured(row) and (not has_arms or row.arm == label)]
