"""What `vlmtop compare` reports, as plain dicts (the JSON output; the table is drawn from it).

Which comparison is made follows from what is given:

- one session with arms: each arm against the baseline arm, per policy segment
  (``mode: arms``; paired in one process, interleaved);
- one session with policy segments: each segment against the next (``mode: segments``);
- one session whose sample ids repeat: the test-retest reliability (``reliability``,
  alongside either of the above, or ``mode: reliability`` alone);
- one experiment id: side A against side B (``--alternate-model``), or its arms across
  the replicated processes (``mode: replicated-arms``);
- one experiment with ``--by device`` (or ``host``): its sessions grouped by device name
  (or host), each group against the first, on one arm (``mode: by-device``;
  sessions/compare/by_host.py);
- A and B, each a session, a comma list of sessions or an experiment id: one process per
  side (``mode: sessions``, a process-noise floor in the verdict) or the hierarchical
  comparison of replicated processes (``mode: replicated``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from vlmtop.sessions.analysis.outliers import detect_transient
from vlmtop.sessions.analysis.reliability import RELIABILITY_STAGES, reliability
from vlmtop.sessions.compare.across_processes import compare_sides, host_count
from vlmtop.sessions.compare.arms import compare_arms_columns, compare_arms_replicated, has_arms
from vlmtop.sessions.compare.by_host import fleet_report, groups_by, per_device_report
from vlmtop.sessions.compare.columns import (
    Columns,
    column_segments,
    distinct_combos,
    may_have_repeats,
    read_columns,
    read_layout,
    read_stored_columns,
    segment_labels,
)
from vlmtop.sessions.compare.noise_floor import floor_from_store
from vlmtop.sessions.compare.terms import (
    COMPARE_STAGES,
    CompareError,
    CompareOptions,
    NotEnoughSamplesError,
    NothingToCompareError,
    canonical_stage,
)
from vlmtop.sessions.compare.two_sets import compare_segments, stages_to_compare
from vlmtop.sessions.knobs import arm_key, arm_order
from vlmtop.sessions.store.rows import EXPERIMENT_PREFIX, SessionInfo


def resolve_side(store, text: str) -> tuple[list[SessionInfo], str | None]:
    """A side as given: a session (id, prefix, `last`), a comma list of them, or an
    experiment id. Returns the sessions and the experiment id (when one was given)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise CompareError(f"no session in {text!r}: give a session id, a comma list, or an experiment id")
    if len(parts) == 1 and parts[0].startswith(EXPERIMENT_PREFIX):
        experiment_id = store.resolve_experiment(parts[0])  # a full id or a unique prefix
        return store.experiment_sessions(experiment_id), experiment_id
    experiments = [part for part in parts if part.startswith(EXPERIMENT_PREFIX)]
    if experiments:  # else "no session 'exp-…'", as if the id were mistyped
        raise CompareError(f"{experiments[0]!r} is an experiment id: an experiment is a side on its own and "
                           f"can't be part of a comma list; give it alone, or list its sessions")
    infos = [store.session(store.resolve(part)) for part in parts]
    if len({info.id for info in infos}) != len(infos):
        raise CompareError(f"{text!r} names one session twice: give each session once")
    return infos, None


def _read(store, info: SessionInfo, name: str, stages, skip_transient: bool,
          arm: str | None = None, stored: bool = False) -> tuple[Columns, int, int]:
    """A session's measured samples as columns (never records: a million of them take gigabytes), the transient
    flagged on e2e (and left out with ``skip_transient``); ``arm``: that arm's only;
    ``stored``: stages read when used, one at a time (two sides of a million samples)."""
    if stored:
        cols = read_stored_columns(store, info.id)
    else:
        cols = read_columns(store, info.id, None if stages is None else
                            [*(canonical_stage(s) for s in stages), "e2e_ms"])
    if arm is not None:
        arms = cols.by_arm()
        # a label given in another knob order is the same arm (matched by knob values)
        arm = next((label for label in arms if arm_key(label) == arm_key(arm)), arm)
        if arm not in arms:
            raise CompareError(f"session {info.id} ({name}) measured no arm {arm!r}; its arms: "
                               f"{', '.join(arms) or 'none'}")
        cols = arms[arm]
    if len(cols) < 2:
        raise NotEnoughSamplesError(
            f"session {info.id} ({name}) has {len(cols)} measured sample"
            f"{'s' * (len(cols) != 1)}: a comparison needs at least 2 (warm-up and "
            f"error samples do not count)"
        )
    transient = detect_transient(cols.stage("e2e_ms"))
    return cols.take(slice(transient if skip_transient else 0, None)), len(cols), transient


def _session_side(store, info: SessionInfo, measured: int, transient: int, skipped: bool) -> dict:
    combos = distinct_combos(store, info.id)
    return {
        "session": info.id,
        "model": info.model,
        "device": info.device,
        "samples": len(store.column(info.id, "seq")),
        "measured": measured,
        "transient": transient,
        "transient_skipped": skipped,
        "policies": segment_labels(combos),
        "arms": arm_order(info.settings, (combo[3] for combo, _ in combos if combo[3]), recorded_only=True),
        "experiment_id": info.experiment_id,
    }


def _base(options: CompareOptions) -> dict:
    return {"threshold": options.threshold, "alpha": options.alpha}


def sides_report(store, side_a: list[SessionInfo], side_b: list[SessionInfo], stages, options: CompareOptions,
                 skip_transient: bool, names=("A", "B"), arm: str | None = None) -> dict:
    """B's sessions against A's: one process per side, or replicated processes; ``arm``:
    only that arm's samples of each session (sessions with interleaved arms)."""
    overlap = {i.id for i in side_a} & {i.id for i in side_b}
    if overlap:
        raise CompareError(f"A and B share session {sorted(overlap)[0]}: give two sessions (or sets of "
                           "sessions), or one to compare its arms or policy segments")
    processes, described = [], []
    for name, infos in zip(names, (side_a, side_b)):
        side_rows, side_info = [], []
        for info in infos:
            used, measured, transient = _read(store, info, name, stages, skip_transient, arm, stored=True)
            side_rows.append(used)
            side_info.append(_session_side(store, info, measured, transient, skip_transient))
        processes.append(side_rows)
        described.append(side_info)
    floor = None
    if len(side_a) == 1 and len(side_b) == 1:
        # Every stage that may be compared: the floor's figures for one not measured go unused.
        floor = floor_from_store(store, (side_a, side_b), stages_to_compare(stages or COMPARE_STAGES))
    hosts = ([i.hostname for i in side_a], [i.hostname for i in side_b])
    results = compare_sides(processes[0], processes[1], stages, replace(options, floor=floor), hosts=hosts)
    report = {**_base(options), "stages": [r.to_dict() for r in results]}
    if floor is not None:
        return {"mode": "sessions", "a": described[0][0], "b": described[1][0], "evidence": results[0].evidence
                if results else "", "noise_floor_source": floor.source, **report}
    return {"mode": "replicated", "a": _replicated_side(side_a, described[0]),
            "b": _replicated_side(side_b, described[1]), "evidence": results[0].evidence if results else "",
            **report}


def _replicated_side(infos: list[SessionInfo], described: list[dict]) -> dict:
    models = sorted({i.model for i in infos})
    return {
        "sessions": [i.id for i in infos],
        "processes": len(infos),
        "model": models[0] if len(models) == 1 else models,
        "device": infos[0].device,
        "experiment_id": infos[0].experiment_id if len({i.experiment_id for i in infos}) == 1 else None,
        "measured": sum(d["measured"] for d in described),
        "policies": sorted({p for d in described for p in d["policies"]}),
        "arms": list(dict.fromkeys(a for d in described for a in d["arms"])),
    }


def experiment_report(store, experiment_id: str, infos: list[SessionInfo], stages, options: CompareOptions,
                      skip_transient: bool) -> dict:
    """One experiment: side A against B, or its arms across the replicates; an experiment
    whose replicates ran on several device types is reported per device (never pooled:
    two GPU types are two populations of processes)."""
    devices = groups_by(infos, "device")
    if len(devices) > 1:
        with_sides = {i.side for i in infos} >= {"A", "B"}

        def one(group: list[SessionInfo]) -> dict:
            if with_sides and {i.side for i in group} < {"A", "B"}:
                raise NothingToCompareError(f"side {group[0].side} only on this device: nothing to compare "
                                            "it with on the same device type")
            return _one_device(store, experiment_id, group, stages, options, skip_transient)

        return per_device_report(experiment_id, devices, one, options)
    return _one_device(store, experiment_id, infos, stages, options, skip_transient)


def _one_device(store, experiment_id: str, infos: list[SessionInfo], stages, options: CompareOptions,
                skip_transient: bool) -> dict:
    sides = {info.side for info in infos}
    if sides >= {"A", "B"}:
        report = sides_report(store, [i for i in infos if i.side == "A"], [i for i in infos if i.side == "B"],
                              stages, options, skip_transient)
        return {**report, "experiment_id": experiment_id}
    sessions = []
    for info in infos:
        used, _, _ = _read(store, info, info.id, stages, skip_transient)
        sessions.append((info.settings, used))
    if not any(has_arms(rows) for _, rows in sessions):
        raise NothingToCompareError(
            f"nothing to compare: experiment {experiment_id} ran one setting in {len(infos)} processes; "
            f"compare it with another (`vlmtop compare {experiment_id} SESSION|exp-...`)"
        )
    if len(infos) == 1:  # one process (of this device): its arms, paired in it
        return session_report(store, infos[0], stages, options, skip_transient)
    pairs = compare_arms_replicated(sessions, stages, options, hosts=[i.hostname for i in infos])
    return {"mode": "replicated-arms", "experiment_id": experiment_id, "sessions": [i.id for i in infos],
            "processes": len(infos), "hosts": host_count([i.hostname for i in infos]), **_base(options),
            "comparisons": [p.to_dict() for p in pairs]}


def session_report(store, info: SessionInfo, stages, options: CompareOptions, skip_transient: bool) -> dict:
    """One session: its arms, else its policy segments; with its reliability when ids repeat."""
    session_id = info.id
    combos = distinct_combos(store, session_id)
    if not combos:
        raise NotEnoughSamplesError(f"session {session_id} has no samples yet")
    if (len(segment_labels(combos)) < 2 and len({c[3] for c, _ in combos if c[3]}) < 2
            and not may_have_repeats(store, session_id)):
        # Answered from SQL before a sample is read: 52 s and 7 GB on 1M samples before.
        raise _one_policy(session_id, segment_labels(combos)[0])
    layout = read_layout(store, session_id)
    cols = read_columns(store, session_id, None if stages is None else
                        [*(canonical_stage(s) for s in stages), "e2e_ms", *RELIABILITY_STAGES])
    rel = reliability(cols.reliability_columns())
    extra = {"reliability": rel} if rel else {}
    if has_arms(cols) or len(layout.arms_in_order()) > 1:
        segs, pairs = compare_arms_columns(layout, cols, info.settings, stages, options)
        if pairs and all(p.skipped for p in pairs):
            raise NotEnoughSamplesError(f"no two arms of session {session_id} have 2 measured samples each "
                                        f"({pairs[0].skipped})")
        return {"mode": "arms", "session": session_id, **_base(options),
                "segments": [{"index": i, **s.to_dict()} for i, s in enumerate(segs)],
                "comparisons": [p.to_dict() for p in pairs], **extra}
    segs = column_segments(layout, cols)
    if len(segs) < 2:
        if rel:
            return {"mode": "reliability", "session": session_id, **_base(options), "comparisons": [], **extra}
        raise _one_policy(session_id, segs[0].label)
    pairs = compare_segments(segs, stages, options, skip_transient=skip_transient)
    if all(pair.skipped for pair in pairs):
        raise NotEnoughSamplesError(
            f"no two consecutive policy segments of session {session_id} have 2 measured "
            f"samples each ({pairs[0].skipped})"
        )
    return {
        "mode": "segments",
        "session": session_id,
        **_base(options),
        "skip_transient": skip_transient,
        "segments": [{"index": i, **seg.to_dict()} for i, seg in enumerate(segs)],
        "comparisons": [pair.to_dict() for pair in pairs],
        **extra,
    }


def _one_policy(session_id: str, label: str) -> NothingToCompareError:
    return NothingToCompareError(
        f"nothing to compare: session {session_id} ran under one policy ({label}); give a second session"
    )


def build_report(store, a: str, b: str | None, stages: Sequence[str] | None, options: CompareOptions,
                 skip_transient: bool, by: str | None = None, arm: str | None = None) -> dict:
    """The report for `vlmtop compare A [B]` (see the module docstring)."""
    side_a, experiment = resolve_side(store, a)
    if by is not None:
        if b is not None or not experiment:
            raise CompareError(f"--by {by} takes one experiment id (exp-...): its sessions grouped by {by}")
        return fleet_report(store, experiment, side_a, by, arm, stages, options, skip_transient)
    if b is None:
        if experiment:
            return experiment_report(store, experiment, side_a, stages, options, skip_transient)
        if len(side_a) > 1:
            raise CompareError(f"{a!r} is one side: give B as well (`vlmtop compare {a} B`)")
        return session_report(store, side_a[0], stages, options, skip_transient)
    side_b, _ = resolve_side(store, b)
    if len(side_a) == len(side_b) == 1 and side_a[0].id == side_b[0].id:
        raise CompareError(
            f"A and B are the same session ({side_a[0].id}): give two sessions, or one to "
            f"compare its arms or policy segments"
        )
    return sides_report(store, side_a, side_b, stages, options, skip_transient)
