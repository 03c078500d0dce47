"""The arms of a session compared: each arm against the first (the baseline).

`vlmtop run --knob NAME=V1,V2` runs every sample under every arm, in a seeded random order
per block, in ONE process: the arms are exactly paired by sample id and the process's own
offset cancels. That is the strongest evidence one process can give, and the verdicts
say so (``paired in one process (interleaved arms)``).

The baseline is the arm with every knob at its first value, and the arms follow the run's
order (sessions.knobs.arm_labels_in_order: the labels as the rows recorded them). A
session whose policies were switched mid-run (a dashboard toggle) has segments; the arms
are then compared inside each segment, never across one, since a segment boundary is a
change of setting.
An experiment of replicated processes that all interleave the same arms is compared
across them (sessions/compare/across_processes.py): paired within each process, replicated across.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vlmtop.sessions.analysis.segments import Segment, segments
from vlmtop.sessions.compare.across_processes import compare_arms_across, host_count, paired_replicated_evidence
from vlmtop.sessions.compare.columns import Columns, ColumnSegment, Layout, column_segments
from vlmtop.sessions.compare.terms import PAIRED_ARMS, NotEnoughSamplesError
from vlmtop.sessions.compare.two_sets import Comparison, compare_rows
from vlmtop.sessions.knobs import arm_labels_in_order
from vlmtop.sessions.records import SampleRecord, is_measured


def arm_order(rows: Sequence[SampleRecord] | Columns, settings: dict | None) -> list[str]:
    """The arm labels of a session's rows, baseline first (the run's knob order; labels the
    settings do not explain follow in order of first appearance)."""
    present: list[str] = []
    if isinstance(rows, Columns):  # in seq order already
        present = list(dict.fromkeys(arm for arm in rows.arms if arm))
    else:
        for row in sorted(rows, key=lambda r: r.seq):
            if row.arm and row.arm not in present:
                present.append(row.arm)
    return order_arms(present, settings)


def order_arms(present: list[str], settings: dict | None) -> list[str]:
    """``present`` (first appearance order) in the run's planned order, the baseline first;
    planned arms are matched to present labels by their knob values (sessions.knobs)."""
    ordered = arm_labels_in_order((settings or {}).get("knobs"), present)
    return [label for label in ordered if label in present]


def has_arms(rows: Sequence[SampleRecord] | Columns) -> bool:
    if isinstance(rows, Columns):
        return len({arm for arm in rows.arms if arm}) > 1
    return len({row.arm for row in rows if row.arm}) > 1


@dataclass
class ArmComparison:
    """One arm against the baseline arm, over one segment or a whole experiment."""

    baseline: str
    arm: str
    segment: int | None = None  # index in the session's segments; None: the whole session
    results: list[Comparison] = field(default_factory=list)
    skipped: str | None = None
    evidence: str = PAIRED_ARMS

    def to_dict(self) -> dict:
        out = {"baseline": self.baseline, "arm": self.arm, "segment": self.segment,
               "evidence": self.evidence, "stages": [r.to_dict() for r in self.results]}
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def by_arm(rows: Sequence[SampleRecord] | Columns) -> dict:
    """The measured samples of each arm (records, or Columns for Columns)."""
    if isinstance(rows, Columns):
        return rows.by_arm()
    out: dict[str, list[SampleRecord]] = {}
    for row in rows:
        if is_measured(row) and row.arm:
            out.setdefault(row.arm, []).append(row)
    return out


def compare_arms(
    rows: Sequence[SampleRecord], settings: dict | None, stages: Sequence[str] | None = None, **options
) -> tuple[list[Segment], list[ArmComparison]]:
    """Every arm against the baseline, per segment of the session (one segment usually).

    ``options`` go to :func:`compare_rows` (threshold, alpha, n_boot, seed, pair). A pair
    of arms without enough samples in a segment is kept with ``skipped`` set.
    """
    return _compare_arms_in(segments(rows), arm_order(rows, settings), stages, options)


def compare_arms_columns(
    layout: Layout, columns: Columns, settings: dict | None, stages: Sequence[str] | None = None, **options
) -> tuple[list[Segment], list[ArmComparison]]:
    """:func:`compare_arms` on a session read as columns (sessions/compare/columns.py)."""
    return _compare_arms_in(column_segments(layout, columns), order_arms(layout.arms_in_order(), settings),
                            stages, options)


def _compare_arms_in(segs: list[Segment], order: list[str], stages, options) -> tuple[list[Segment], list]:
    out: list[ArmComparison] = []
    for index, seg in enumerate(segs):
        groups = by_arm(seg.measured if isinstance(seg, ColumnSegment) else seg.rows)
        labels = [label for label in order if label in groups]
        where = index if len(segs) > 1 else None
        if len(labels) < 2:
            if len(segs) > 1:
                out.append(ArmComparison(order[0], "", where, skipped=(
                    f"segment {index} ({seg.label}) measured {len(labels)} arm{'s' * (len(labels) != 1)}: "
                    "nothing to compare inside it")))
            continue
        baseline = labels[0]
        for label in labels[1:]:
            item = ArmComparison(baseline, label, where)
            try:
                item.results = compare_rows(groups[baseline], groups[label], stages, evidence=PAIRED_ARMS,
                                            labels=(baseline, label), **options)
            except NotEnoughSamplesError as exc:
                item.skipped = str(exc)
            out.append(item)
    return segs, out


def compare_arms_replicated(
    sessions: Sequence[tuple[dict | None, Sequence[SampleRecord]]], stages: Sequence[str] | None = None,
    hosts: Sequence | None = None, **options
) -> list[ArmComparison]:
    """Arms across the replicated processes of an experiment: per (baseline, arm), every
    process contributes its own paired ratio (``options``: threshold, alpha, n_boot, seed).
    ``hosts``: each process's host; on 2 or more, hosts are a level of the bootstrap."""
    options.pop("pair", None)
    settings, first_rows = sessions[0]
    order = arm_order(first_rows, settings)
    groups = [by_arm(rows) for _, rows in sessions]
    common = [label for label in order if all(label in g for g in groups)]
    if len(common) < 2:
        raise NotEnoughSamplesError(
            f"the {len(sessions)} processes share {len(common)} arm{'s' * (len(common) != 1)}: "
            "a comparison of arms needs 2 that every process measured"
        )
    out = []
    for label in common[1:]:
        item = ArmComparison(common[0], label, evidence=paired_replicated_evidence(len(sessions), host_count(hosts)))
        try:
            item.results = compare_arms_across([(g[common[0]], g[label]) for g in groups], stages, hosts=hosts,
                                               **options)
        except NotEnoughSamplesError as exc:
            item.skipped = str(exc)
        out.append(item)
    return out
