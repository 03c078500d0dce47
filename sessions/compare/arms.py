"""The arms of a session compared: each arm against the first (the baseline).

`vlmtop run --knob NAME=V1,V2` runs every sample under every arm, in a seeded random order
per block, in ONE process: the arms are exactly paired by sample id and the process's own
offset cancels. That is the strongest evidence one process can give, and the verdicts
say so (``paired in one process (interleaved arms)``).

The baseline is the arm with every knob at its first value, and the arms follow the run's
order (sessions.knobs.arm_order: the labels as the rows recorded them). A session whose
policies were switched mid-run (a dashboard toggle) has segments; the arms are then
compared inside each segment, never across one, since a segment boundary is a change of
setting.

:func:`compare_arms` is the one comparison of arms against their baseline: `vlmtop
compare` per segment, the report over a whole session, and the dashboard live, on each
arm's newest segment (``live``: stage by stage, and only once the arms share enough
sample ids to pair on).
An experiment of replicated processes that all interleave the same arms is compared
across them (sessions/compare/across_processes.py): paired within each process, replicated across.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from vlmtop.sessions.analysis.segments import Segment, segments
from vlmtop.sessions.compare.across_processes import compare_arms_across, host_count, paired_replicated_evidence
from vlmtop.sessions.compare.columns import Columns, ColumnSegment, Layout, column_segments
from vlmtop.sessions.compare.terms import MIN_PAIRS, PAIRED_ARMS, CompareOptions, NotEnoughSamplesError
from vlmtop.sessions.compare.two_sets import Comparison, compare_rows, not_run_on_a_side, stages_to_compare
from vlmtop.sessions.knobs import arm_order
from vlmtop.sessions.records import SampleRecord, is_measured

Side = Sequence[SampleRecord] | Columns  # one arm's measured samples
NO_VALUES = "no values"


def recorded_arms(rows: Sequence[SampleRecord] | Columns) -> list[str]:
    """The arm labels the rows carry, in order of first appearance (seq order)."""
    if isinstance(rows, Columns):  # in seq order already
        return list(dict.fromkeys(arm for arm in rows.arms if arm))
    return list(dict.fromkeys(row.arm for row in sorted(rows, key=lambda r: r.seq) if row.arm))


def has_arms(rows: Sequence[SampleRecord] | Columns) -> bool:
    if isinstance(rows, Columns):
        return len({arm for arm in rows.arms if arm}) > 1
    return len({row.arm for row in rows if row.arm}) > 1


@dataclass
class ArmComparison:
    """One arm against the baseline arm, over one segment, a whole session or experiment,
    or (live) each arm's newest segment."""

    baseline: str
    arm: str
    segment: int | None = None  # index in the session's segments; None: the whole session
    # each stage's comparison, in the stages' order; live, a stage without one says why
    results: dict[str, Comparison | str] = field(default_factory=dict)
    skipped: str | None = None
    evidence: str = PAIRED_ARMS
    pairs: int | None = None  # live: the sample ids both arms measured

    @property
    def compared(self) -> list[Comparison]:
        """The stages compared, in order."""
        return [result for result in self.results.values() if isinstance(result, Comparison)]

    def to_dict(self) -> dict:
        out = {"baseline": self.baseline, "arm": self.arm, "segment": self.segment,
               "evidence": self.evidence, "stages": [r.to_dict() for r in self.compared]}
        if self.skipped:
            out["skipped"] = self.skipped
        not_compared = {stage: why for stage, why in self.results.items() if isinstance(why, str)}
        if not_compared:
            out["not_compared"] = not_compared  # e.g. {"vision_ms": "not run in images=0"}
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
    groups: Mapping[str, Side], stages: Sequence[str] | None = None, options: CompareOptions = CompareOptions(),
    *, segment: int | None = None, live: bool = False,
) -> list[ArmComparison]:
    """Each arm of ``groups`` (label -> its measured samples, the baseline first) against the
    baseline, every stage's interval holding together with the others'.

    An arm without enough samples of a stage is kept with ``skipped`` set. ``live`` (the
    dashboard, recomputed as samples arrive): each stage on its own, a stage that cannot be
    compared yet saying why in ``results``, and nothing claimed until the arms share
    MIN_PAIRS sample ids and are paired on them (an unpaired figure would read as if it had
    the paired one's precision); live groups are records, not Columns."""
    labels = list(groups)
    if len(labels) < 2:
        return []
    baseline = labels[0]
    out = []
    for label in labels[1:]:
        item = ArmComparison(baseline, label, segment)
        base, arm = groups[baseline], groups[label]
        if live:
            _compare_live(item, base, arm, stages, options)
        else:
            try:
                results = compare_rows(base, arm, stages, options, evidence=PAIRED_ARMS, labels=(baseline, label))
                item.results = {result.stage: result for result in results}
                item.results.update(not_run_on_a_side(stages, {baseline: base, label: arm}))
            except NotEnoughSamplesError as exc:
                item.skipped = str(exc)
        out.append(item)
    return out


def _compare_live(item: ArmComparison, base: Side, arm: Side, stages, options: CompareOptions) -> None:
    every = stages_to_compare(stages, base, arm)
    options = replace(options, family=options.family or len(every))
    item.pairs = len({row.sample_id for row in base} & {row.sample_id for row in arm})
    for stage in every:
        if item.pairs < MIN_PAIRS:
            item.results[stage] = f"waiting for pairs: {item.pairs} of {MIN_PAIRS}"
            continue
        try:
            (result,) = compare_rows(base, arm, [stage], options, evidence=PAIRED_ARMS,
                                     labels=(item.baseline, item.arm))
        except NotEnoughSamplesError:
            item.results[stage] = NO_VALUES
            continue
        # too few of either arm's ids are shared (compare's own rule)
        item.results[stage] = result if result.paired else "waiting for pairs"


def compare_arms_rows(
    rows: Sequence[SampleRecord], settings: dict | None, stages: Sequence[str] | None = None,
    options: CompareOptions = CompareOptions(),
) -> tuple[list[Segment], list[ArmComparison]]:
    """Every arm of a session against the baseline, per segment (one segment usually)."""
    return _per_segment(segments(rows), arm_order(settings, recorded_arms(rows), recorded_only=True), stages,
                        options)


def compare_arms_columns(
    layout: Layout, columns: Columns, settings: dict | None, stages: Sequence[str] | None = None,
    options: CompareOptions = CompareOptions(),
) -> tuple[list[Segment], list[ArmComparison]]:
    """:func:`compare_arms_rows` on a session read as columns (sessions/compare/columns.py)."""
    return _per_segment(column_segments(layout, columns),
                        arm_order(settings, layout.arms_in_order(), recorded_only=True), stages, options)


def _per_segment(segs: list[Segment], order: list[str], stages, options: CompareOptions
                 ) -> tuple[list[Segment], list[ArmComparison]]:
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
        out += compare_arms({label: groups[label] for label in labels}, stages, options, segment=where)
    return segs, out


def compare_arms_replicated(
    sessions: Sequence[tuple[dict | None, Sequence[SampleRecord]]], stages: Sequence[str] | None = None,
    options: CompareOptions = CompareOptions(), hosts: Sequence | None = None
) -> list[ArmComparison]:
    """Arms across the replicated processes of an experiment: per (baseline, arm), every
    process contributes its own paired ratio. ``hosts``: each process's host; on 2 or
    more, hosts are a level of the bootstrap."""
    settings, first_rows = sessions[0]
    order = arm_order(settings, recorded_arms(first_rows), recorded_only=True)
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
            results = compare_arms_across([(g[common[0]], g[label]) for g in groups], stages, options, hosts=hosts)
            item.results = {result.stage: result for result in results}
        except NotEnoughSamplesError as exc:
            item.skipped = str(exc)
        out.append(item)
    return out
