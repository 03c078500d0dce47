"""The arms of an interleaved run as the dashboard shows them: no Textual in here.

Each arm keeps its own rolling windows, so no figure on screen ever pools two arms (a
median over `max_new_tokens=4` and `=8` samples describes neither). Every arm is compared
with the first, the baseline, per stage, on the samples both measured: the worker runs
each sample under every arm in one block, so the pairs are exact and share one process's
state ("paired in one process"). Until enough sample ids are shared to pair on, no ratio is
shown: an unpaired figure would read as if it had the paired one's precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlmtop.core.text import printable
from vlmtop.sessions.analysis.stats import RollingWindow
from vlmtop.sessions.compare import COMPARE_STAGES, Comparison, compare_rows, is_measured, segments
from vlmtop.sessions.compare.terms import MIN_PAIRS, NotEnoughSamplesError
from vlmtop.sessions.knobs import label_names
from vlmtop.sessions.records import SampleRecord, stage_label
from vlmtop.sessions.summary import arm_labels

# What arms are compared and summarised on: every stage compare knows (decode in total as
# well as per token: a decode-length knob changes the one and not the other).
ARM_STAGES = COMPARE_STAGES
ARM_BOOTSTRAP = 500  # resamples per live comparison: recomputed every second, for every arm
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


def arm_order(settings: dict | None, rows: list[SampleRecord]) -> list[str | None]:
    """The arm labels in their defined order, the baseline first (from the session's
    `knobs` setting), each as the rows recorded it (matched by knob values, so a session
    stored with sorted knobs shows no arm twice); a label met in rows but not defined
    there is appended. Planned arms no row has reached yet (a live run's start) are kept."""
    order = arm_labels(settings or {}, (row.arm for row in rows))
    if len(order) > 1 and None in order:  # rows without an arm in a run with arms: none
        order.remove(None)
    return order


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


@dataclass
class ArmComparison:
    """One arm against the baseline, per stage: a Comparison or why there is none."""

    label: str
    pairs: int  # sample ids both arms measured in the current policy segment
    results: dict[str, Comparison | str] = field(default_factory=dict)


def current_segment(rows: list[SampleRecord]) -> list[SampleRecord]:
    """The measured rows of the newest policy segment: arms are compared under the same
    policies (a policy switched from the dashboard starts a new segment for every arm)."""
    segs = segments(rows)
    return segs[-1].measured if segs else []


def compare_arms(rows, labels: list[str | None], unlocated: set[str], stages=ARM_STAGES) -> list[ArmComparison]:
    """Every arm after the first against the first, stage by stage, paired by sample id; the
    located stages' intervals hold together, as in `vlmtop compare` (sessions/compare/two_sets.py)."""
    by_arm: dict[str | None, list[SampleRecord]] = {}
    for row in rows:
        by_arm.setdefault(row.arm, []).append(row)
    baseline = current_segment(by_arm.get(labels[0], []))
    base_ids = {row.sample_id for row in baseline}
    family = sum(stage_label(attr) not in unlocated for attr in stages)
    out = []
    for label in labels[1:]:
        arm = current_segment(by_arm.get(label, []))
        item = ArmComparison(label or "", len(base_ids & {row.sample_id for row in arm}))
        for attr in stages:
            if stage_label(attr) in unlocated:
                item.results[attr] = NOT_LOCATED
            elif item.pairs < MIN_PAIRS:
                item.results[attr] = f"waiting for pairs: {item.pairs} of {MIN_PAIRS}"
            else:
                item.results[attr] = _compare_stage(baseline, arm, attr, (labels[0] or "", label or ""), family)
        out.append(item)
    return out


def _compare_stage(baseline, arm, attr: str, labels: tuple[str, str], family: int) -> Comparison | str:
    try:
        result = compare_rows(baseline, arm, [attr], n_boot=ARM_BOOTSTRAP, labels=labels, family=family)[0]
    except NotEnoughSamplesError:
        return "no values"
    if not result.paired:  # too few of either arm's ids are shared (compare's own rule)
        return "waiting for pairs"
    return result


def speculative_tokens_per_step(arm: ArmWindows) -> float | None:
    """Median decode tokens per step while the arm's newest sample decoded speculatively."""
    if arm.newest is None or not arm.newest.speculative or not len(arm.tokens_per_step):
        return None
    return float(np.median(arm.tokens_per_step.values()))


def measured_rows(rows, label: str | None, has_arms: bool) -> list[SampleRecord]:
    return [row for row in rows if is_measured(row) and (not has_arms or row.arm == label)]
