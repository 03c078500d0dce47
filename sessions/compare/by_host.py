"""Hosts and devices as the level they are: `vlmtop compare EXP --by device|host`.

An experiment run over a Ray cluster (`vlmtop run --ray`) records where each replicate
process ran: host name and device name per session. Comparing two GPU types is then a
comparison of their sessions: the sides are the experiment's sessions grouped by device
name (or host), each group against the first in name order. These are different
processes on each side, so the verdict is that of sessions/compare/across_processes.py: replicated
processes per side (unpaired across the sides), or one process per side with its
noise-floor rule when a group has one session. Sessions with interleaved arms are
compared on one arm (the baseline by default): an arm is one setting.

The same holds for the arms of such an experiment (`vlmtop compare EXP`): they are never
pooled across device types but compared per device (:func:`per_device_report`), each block
naming its evidence and its process count.
"""

from __future__ import annotations

from collections.abc import Callable

from vlmtop.sessions.compare.columns import distinct_combos
from vlmtop.sessions.compare.terms import CompareError, CompareOptions
from vlmtop.sessions.knobs import arm_order
from vlmtop.sessions.store.rows import SessionInfo

BY_LEVELS = ("device", "host")


def level_of(info: SessionInfo, by: str) -> str:
    """A session's device name (its device string when no name was recorded) or host."""
    if by == "device":
        return info.device_name or info.device or "?"
    return info.hostname or "?"


def groups_by(infos: list[SessionInfo], by: str) -> dict[str, list[SessionInfo]]:
    """The sessions per device (or host), in name order."""
    groups: dict[str, list[SessionInfo]] = {}
    for info in infos:
        groups.setdefault(level_of(info, by), []).append(info)
    return dict(sorted(groups.items()))


def baseline_arm(store, infos: list[SessionInfo]) -> str | None:
    """The experiment's baseline arm (None when its sessions have no arms)."""
    first = infos[0]
    present = [combo[3] for combo, _ in distinct_combos(store, first.id) if combo[3]]
    return arm_order(first.settings, present, recorded_only=True)[0] if present else None


def fleet_report(store, experiment_id: str, infos: list[SessionInfo], by: str, arm: str | None, stages,
                 options: CompareOptions, skip_transient: bool) -> dict:
    """Each device's (host's) sessions against the first device's, on one arm."""
    from vlmtop.sessions.compare.report import sides_report  # that module dispatches to this one

    if by not in BY_LEVELS:
        raise CompareError(f"--by {by!r}: use one of {', '.join(BY_LEVELS)}")
    groups = groups_by(infos, by)
    if len(groups) < 2:
        name = next(iter(groups), "?")
        raise CompareError(f"experiment {experiment_id} ran on one {by} ({name}): --by {by} compares 2 or "
                           f"more; compare its arms with `vlmtop compare {experiment_id}`")
    label = arm or baseline_arm(store, infos)
    names = list(groups)
    blocks = []
    for name in names[1:]:
        report = sides_report(store, groups[names[0]], groups[name], stages, options, skip_transient,
                              names=(names[0], name), arm=label)
        blocks.append({by: [names[0], name], **report})
    return {"mode": f"by-{by}", "experiment_id": experiment_id, "by": by, "arm": label,
            "groups": {name: [i.id for i in group] for name, group in groups.items()},
            "threshold": options.threshold, "alpha": options.alpha, "blocks": blocks}


def block_evidence(report: dict) -> str:
    """The evidence one device's report rests on (its comparisons all share it)."""
    if report.get("evidence"):
        return report["evidence"]
    found = [c.get("evidence") for c in report.get("comparisons", []) if not c.get("skipped")]
    return next((e for e in found if e), "")


def per_device_report(experiment_id: str, devices: dict[str, list[SessionInfo]], report_one: Callable,
                      options: CompareOptions) -> dict:
    """An experiment whose replicates span device types, one block per device: its arms (or
    sides) compared among the processes of that device type only. ``report_one(sessions)``
    builds one device's report; a device where nothing can be compared keeps its block, with
    ``skipped`` saying why."""
    blocks = []
    for name, group in devices.items():
        block = {"device": name, "sessions": [i.id for i in group], "processes": len(group),
                 "hosts": len({i.hostname for i in group})}
        try:
            report = report_one(group)
        except CompareError as exc:
            blocks.append({**block, "evidence": "", "skipped": str(exc)})
            continue
        blocks.append({**report, **block, "evidence": block_evidence(report)})
    if all(block.get("skipped") for block in blocks):
        reasons = "; ".join(f"{b['device']}: {b['skipped']}" for b in blocks)
        raise CompareError(f"experiment {experiment_id} ran on {len(blocks)} device types, compared per device "
                           f"(never pooled), and none has anything to compare ({reasons})")
    return {"mode": "per-device", "experiment_id": experiment_id, "by": "device",
            "groups": {name: [i.id for i in group] for name, group in devices.items()},
            "threshold": options.threshold, "alpha": options.alpha, "blocks": blocks}
