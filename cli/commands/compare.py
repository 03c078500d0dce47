"""`vlmtop compare A [B]`: did a change move latency, or is it noise?

A and B are sessions, comma lists of sessions, or experiment ids (`vlmtop run --repeat`).
With one session, its arms (each against the baseline) or its policy segments (each with
the next) are compared. Which comparison is made, and the evidence each verdict rests on
(paired in one process, replicated across N processes, one process per side), is in
:mod:`vlmtop.sessions.compare.report`; this module parses the command and its exit code,
cli/compare_table.py draws the table.
"""

from __future__ import annotations

import argparse
import json
import sys

from vlmtop.cli.argtypes import number
from vlmtop.cli.parser import add_db_option
from vlmtop.core.text import printable
from vlmtop.sessions.compare.terms import (
    ALPHA,
    DIFFERENT,
    FASTER,
    INCONCLUSIVE,
    NOISE_THRESHOLD,
    SLOWER,
    CompareError,
    CompareOptions,
    canonical_stage,
    stage_option_names,
)


def stage_name(text: str) -> str:
    """A stage as the user types it (``prefill``, ``e2e``, ``decode/tok``, ``tpot``...) -> its column name."""
    try:
        return canonical_stage(text)
    except CompareError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


FAIL_ON = (SLOWER, FASTER, DIFFERENT, INCONCLUSIVE)


def fail_on_value(text: str) -> list[str]:
    """``slower``, or a comma list such as ``slower,faster``: verdicts that make the exit code 1."""
    wanted = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not wanted or any(verdict not in FAIL_ON for verdict in wanted):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a verdict: use {', '.join(FAIL_ON)} (repeat it, or a comma list)"
        )
    return wanted


def threshold_value(text: str) -> float:
    """``0.02`` or ``2%``: the relative change below which a difference counts as noise."""
    try:
        value = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a threshold: {text!r} (e.g. 0.02 or 2%)") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"threshold {text} out of range: use 0 <= F < 1 (0.02 = 2%)"
        )
    return value


alpha_value = number(float, low=0, low_open=True, high=1, what="a significance level 0 < alpha < 1")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="statistics of two sides (sessions or experiments), or of the arms or segments of one",
        description=(
            "Compare stage latencies of B against A: medians, the ratio's 95% CI and a verdict "
            "that names its evidence. One session: its arms against the baseline arm (paired, "
            "interleaved in one process), else its policy segments. Several processes per side "
            "(A1,A2,A3 or exp-xxxxxxxx): a Welch t interval on the processes' log medians. "
            "One process per side: the interval is widened by the process-noise floor. "
            "Verdicts come from the interval against the noise band: slower/faster when it lies "
            "wholly beyond it, same when wholly inside, else inconclusive with what would settle it."
        ),
    )
    p.add_argument("a", metavar="A", help="session id, unique id prefix, `last`, a comma list of "
                   "sessions, or an experiment id (exp-...)")
    p.add_argument("b", metavar="B", nargs="?", help="the other side, given the same ways (else: A's arms, "
                   "policy segments, or its experiment's sides)")
    add_db_option(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    p.add_argument(
        "--threshold",
        type=threshold_value,
        default=NOISE_THRESHOLD,
        metavar="F",
        help=f"noise threshold: the band ±F that an interval must lie wholly beyond for slower/faster, "
        f"or wholly inside for same (default {NOISE_THRESHOLD:g} = {NOISE_THRESHOLD * 100:g}%%)",
    )
    p.add_argument(
        "--alpha", type=alpha_value, default=ALPHA,
        help=f"the intervals are (1 - alpha): each verdict is a one-sided test at alpha/2 (default {ALPHA:g}: 95%% intervals)"
    )
    p.add_argument(
        "--stage",
        dest="stages",
        action="append",
        type=stage_name,
        metavar="NAME",
        help=f"compare only this stage (repeatable): {', '.join(stage_option_names())}; "
        "decode_per_token is vLLM's TPOT (tpot and decode/tok are accepted too)",
    )
    p.add_argument(
        "--fail-on",
        dest="fail_on",
        action="append",
        type=fail_on_value,
        metavar="VERDICT",
        help="for CI: exit 1 when any compared stage (all, or those of --stage) gets this "
        "verdict: slower, faster, different (either), or inconclusive; repeatable or a "
        "comma list. "
        "Exit 0 otherwise, 2 when the comparison cannot be made",
    )
    p.add_argument(
        "--unpaired",
        action="store_true",
        help="never pair samples by id, even when both sides measured the same samples",
    )
    p.add_argument(
        "--skip-transient",
        action="store_true",
        help="leave out the leading samples flagged as a warm-up transient (kept by default)",
    )
    p.add_argument(
        "--by",
        choices=("device", "host"),
        help="A is an experiment: compare its sessions grouped by device name (or host), each "
        "group against the first in name order (one arm: the baseline, or --arm)",
    )
    p.add_argument("--arm", metavar="LABEL", help="with --by: the arm to compare (default: the baseline arm)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `vlmtop --help` should not pay for SQLite and scipy.
    from vlmtop.cli.compare_table import print_report
    from vlmtop.sessions.compare.report import build_report
    from vlmtop.sessions.store import SessionStore
    from vlmtop.sessions.store.paths import db_path

    options = CompareOptions(threshold=args.threshold, alpha=args.alpha, pair=not args.unpaired)
    with SessionStore.open(db_path(args.db), create=False) as store:
        report = build_report(store, args.a, args.b, args.stages, options, args.skip_transient,
                              by=args.by, arm=args.arm)
        note = store.unreadable_note()
    if note:  # a damaged or hand-edited file: what the statistics left out
        print(f"vlmtop: {printable(note, limit=0)}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        print_report(report)
    matched = verdicts_matching(report, args.fail_on)
    if matched:
        wanted = ",".join(verdict for group in args.fail_on for verdict in group)
        print(printable(f"vlmtop compare: --fail-on {wanted}: {'; '.join(matched)}", limit=0), file=sys.stderr)
        return 1
    return 0


def comparison_groups(report: dict) -> list[tuple[str, list[dict]]]:
    """(where, stages) of every comparison in a report: the sides' one list, or one per
    segment or arm pair (where names it, e.g. `` (segment 0 -> 1)``); skipped pairs have none."""
    if "stages" in report:
        return [("", report["stages"])]
    if "blocks" in report:  # --by device|host: each group against the first; or one block per device
        by, groups = report["by"], []
        for block in report["blocks"]:
            name = block[by]
            label = f"{by} {name[1]} vs {name[0]}" if isinstance(name, list) else f"{by} {name}"
            for where, stages in comparison_groups(block):
                inner = where.strip().removeprefix("(").removesuffix(")")
                groups.append((f" ({label}{', ' + inner if inner else ''})", stages))
        return groups
    groups = []
    for pair in report.get("comparisons", []):
        if "arm" in pair:
            where = f" ({pair['arm']} vs {pair['baseline']}"
            where += f", segment {pair['segment']})" if pair.get("segment") is not None else ")"
        else:
            where = f" (segment {pair['a']['index']} -> {pair['b']['index']})"
        groups.append((where, pair["stages"]))
    return groups


def verdicts_matching(report: dict, fail_on: list[list[str]] | None) -> list[str]:
    """Each compared stage whose verdict `--fail-on` names, as ``decode slower x2.140``
    (with the segment or arms it belongs to); [] when none matches or no --fail-on was given."""
    wanted = {verdict for group in fail_on or () for verdict in group}
    if DIFFERENT in wanted:
        wanted |= {SLOWER, FASTER}
    return [
        f"{row['stage'].removesuffix('_ms')} {row['verdict']} {_times(row['ratio'])}{where}"
        for where, stages in comparison_groups(report)
        for row in stages
        if row["verdict"] in wanted
    ]


def _times(ratio: float | None) -> str:
    return "x-" if ratio is None else f"x{ratio:.3f}"
