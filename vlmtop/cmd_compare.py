"""`vlmtop compare A [B]`: did a change move latency, or is it noise?

With two sessions, their measured samples are compared stage by stage. With one, its
policy segments are (each with the next): the question the runtime toggles ask. The
statistics are in :mod:`vlmtop.sessions.compare`; this module reads the database and
prints a table, or JSON for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys

from vlmtop.cli import add_db_option
from vlmtop.sessions.compare import (
    ALPHA,
    DIFFERENT,
    FASTER,
    NOISE_THRESHOLD,
    SLOWER,
    CompareError,
    NotEnoughSamplesError,
    NothingToCompareError,
    canonical_stage,
    compare_rows,
    compare_segments,
    is_measured,
    segments,
    stage_option_names,
)
from vlmtop.sessions.record import SampleRecord, stage_label
from vlmtop.sessions.stats import detect_transient

VERDICT_STYLES = {FASTER: "bold green", SLOWER: "bold red"}


def stage_name(text: str) -> str:
    """A stage as the user types it (``prefill``, ``e2e``, ``decode/tok``, ``tpot``...) -> its column name."""
    try:
        return canonical_stage(text)
    except CompareError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


FAIL_ON = (SLOWER, FASTER, DIFFERENT)


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


def alpha_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a significance level: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"alpha {text} out of range: use 0 < alpha < 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="statistics of two sessions, or of the policy segments of one",
        description=(
            "Compare stage latencies of session B against A (medians, 95% bootstrap CI of "
            "the ratio, Mann-Whitney U or, when both measured the same samples, Wilcoxon "
            "signed-rank). With one session, compare each policy segment with the next. "
            "A change is called only when significant AND beyond the noise threshold."
        ),
    )
    p.add_argument("a", metavar="A", help="session id, unique id prefix, or `last`")
    p.add_argument("b", metavar="B", nargs="?", help="second session (else: A's policy segments)")
    add_db_option(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    p.add_argument(
        "--threshold",
        type=threshold_value,
        default=NOISE_THRESHOLD,
        metavar="F",
        help=f"noise threshold: smaller median changes are `same` "
        f"(default {NOISE_THRESHOLD:g} = {NOISE_THRESHOLD * 100:g}%%)",
    )
    p.add_argument(
        "--alpha", type=alpha_value, default=ALPHA, help=f"significance level (default {ALPHA:g})"
    )
    p.add_argument(
        "--stage",
        dest="stages",
        action="append",
        type=stage_name,
        metavar="NAME",
        help=f"compare only this stage (repeatable): {', '.join(stage_option_names())}; "
        "decode_per_token is vLLM's TPOT, shown as decode/tok (either spelling works)",
    )
    p.add_argument(
        "--fail-on",
        dest="fail_on",
        action="append",
        type=fail_on_value,
        metavar="VERDICT",
        help="for CI: exit 1 when any compared stage (all, or those of --stage) gets this "
        "verdict: slower, faster, or different (either); repeatable or a comma list. "
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `vlmtop --help` should not pay for SQLite setup.
    from vlmtop.sessions.paths import db_path
    from vlmtop.sessions.store import SessionStore

    options = {
        "threshold": args.threshold,
        "alpha": args.alpha,
        "pair": not args.unpaired,
    }
    with SessionStore.open(db_path(args.db), create=False) as store:
        id_a = store.resolve(args.a)
        rows_a = store.samples(id_a)
        if args.b is None:
            report = _segments_report(id_a, rows_a, args, options)
        else:
            id_b = store.resolve(args.b)
            if id_b == id_a:
                raise CompareError(
                    f"A and B are the same session ({id_a}): give two sessions, or one to "
                    f"compare its policy segments"
                )
            report = _sessions_report(
                (store.session(id_a), rows_a),
                (store.session(id_b), store.samples(id_b)),
                args,
                options,
            )
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        _print_report(report)
    matched = verdicts_matching(report, args.fail_on)
    if matched:
        wanted = ",".join(verdict for group in args.fail_on for verdict in group)
        print(f"vlmtop compare: --fail-on {wanted}: {'; '.join(matched)}", file=sys.stderr)
        return 1
    return 0


def verdicts_matching(report: dict, fail_on: list[list[str]] | None) -> list[str]:
    """Each compared stage whose verdict `--fail-on` names, as ``decode slower x2.140``
    (with the segments, in segments mode); [] when none matches or no --fail-on was given."""
    wanted = {verdict for group in fail_on or () for verdict in group}
    if DIFFERENT in wanted:
        wanted |= {SLOWER, FASTER}
    if report["mode"] == "sessions":
        groups = [("", report["stages"])]
    else:  # a skipped pair has no stages
        groups = [
            (f" (segment {pair['a']['index']} -> {pair['b']['index']})", pair["stages"])
            for pair in report["comparisons"]
        ]
    return [
        f"{row['stage'].removesuffix('_ms')} {row['verdict']} x{row['ratio']:.3f}{where}"
        for where, stages in groups
        for row in stages
        if row["verdict"] in wanted
    ]


# --- building the report (plain dicts: the JSON output, and what the table is drawn from) ----


def _measured_or_fail(session_id: str, rows: list[SampleRecord], name: str) -> list[SampleRecord]:
    measured = [row for row in rows if is_measured(row)]
    if len(measured) < 2:
        raise NotEnoughSamplesError(
            f"session {session_id} ({name}) has {len(measured)} measured sample"
            f"{'s' * (len(measured) != 1)}: a comparison needs at least 2 (warm-up and "
            f"error samples do not count)"
        )
    return measured


def _session_side(
    info, rows: list[SampleRecord], measured: int, transient: int, skipped: bool
) -> dict:
    policies = [seg.label for seg in segments(rows)]
    return {
        "session": info.id,
        "model": info.model,
        "device": info.device,
        "samples": len(rows),
        "measured": measured,
        "transient": transient,
        "transient_skipped": skipped,
        "policies": sorted(set(policies), key=policies.index),
    }


def _sessions_report(side_a, side_b, args, options) -> dict:
    sides = {}
    used = {}
    for name, (info, rows) in zip("ab", (side_a, side_b)):
        measured = _measured_or_fail(info.id, rows, name.upper())
        transient = detect_transient([row.e2e_ms for row in measured])
        skip = transient if args.skip_transient else 0
        used[name] = measured[skip:]
        sides[name] = _session_side(info, rows, len(measured), transient, args.skip_transient)
    results = compare_rows(
        used["a"],
        used["b"],
        args.stages,
        labels=(f"A ({side_a[0].id})", f"B ({side_b[0].id})"),
        **options,
    )
    return {
        "mode": "sessions",
        "a": sides["a"],
        "b": sides["b"],
        "threshold": options["threshold"],
        "alpha": options["alpha"],
        "stages": [r.to_dict() for r in results],
    }


def _segments_report(session_id: str, rows: list[SampleRecord], args, options) -> dict:
    segs = segments(rows)
    if not rows:
        raise NotEnoughSamplesError(f"session {session_id} has no samples yet")
    if len(segs) < 2:
        raise NothingToCompareError(
            f"nothing to compare: session {session_id} ran under one policy ({segs[0].label}); "
            f"give a second session"
        )
    pairs = compare_segments(segs, args.stages, skip_transient=args.skip_transient, **options)
    if all(pair.skipped for pair in pairs):
        raise NotEnoughSamplesError(
            f"no two consecutive policy segments of session {session_id} have 2 measured "
            f"samples each ({pairs[0].skipped})"
        )
    return {
        "mode": "segments",
        "session": session_id,
        "threshold": options["threshold"],
        "alpha": options["alpha"],
        "skip_transient": args.skip_transient,
        "segments": [{"index": i, **seg.to_dict()} for i, seg in enumerate(segs)],
        "comparisons": [pair.to_dict() for pair in pairs],
    }


# --- the table -----------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _stage_table(title: str, stages: list[dict]):
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    table.add_column("stage", no_wrap=True)
    table.add_column("median A", justify="right")
    table.add_column("median B", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("p", justify="right")
    table.add_column("verdict")
    for r in stages:
        verdict = r["verdict"]
        table.add_row(
            stage_label(r["stage"])
            + ("*" if r["paired"] else ""),
            _ms(r["median_a"]),
            _ms(r["median_b"]),
            _ratio(r["ratio"]),
            f"{_ratio(r['ci_low'])}-{_ratio(r['ci_high'])}",
            _p(r["p_value"]),
            f"[{VERDICT_STYLES.get(verdict, 'dim')}]{verdict}[/]",
        )
    return table


def _legend(report: dict, stages: list[dict]) -> str:
    threshold = report["threshold"]
    text = (
        f"[dim]medians in ms; ratio = B/A; verdict `same` unless p < {report['alpha']:g}, the CI "
        f"excludes 1 and the change exceeds {threshold:.1%}"
    )
    pairs = max((r["n_pairs"] for r in stages if r["paired"]), default=0)
    if pairs:
        text += f"; * paired on {pairs} sample ids (Wilcoxon signed-rank), else Mann-Whitney U"
    e2e = [r for r in stages if r["stage"] == "e2e_ms"]
    if e2e and (e2e[0]["outliers_a"] or e2e[0]["outliers_b"]):
        text += (
            f"; e2e Tukey outliers (counted, kept): A {e2e[0]['outliers_a']}, "
            f"B {e2e[0]['outliers_b']}"
        )
    return text + "[/]"


def _transient_note(label: str, transient: int, skipped: bool) -> str | None:
    if not transient:
        return None
    what = (
        "left out (--skip-transient)"
        if skipped
        else "flagged and kept; --skip-transient leaves them out"
    )
    return (
        f"[yellow]{label}: the first {transient} measured sample{'s' * (transient != 1)} look "
        f"like a warm-up transient ({what})[/]"
    )


def _print_report(report: dict) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    if report["mode"] == "sessions":
        a, b = report["a"], report["b"]
        title = (
            f"A {a['session']} ({a['measured']} measured) -> "
            f"B {b['session']} ({b['measured']} measured)"
        )
        console.print(_stage_table(title, report["stages"]))
        for name, side in (("A", a), ("B", b)):
            if len(side["policies"]) > 1:
                console.print(
                    f"[yellow]{name} ran under {len(side['policies'])} policy settings, "
                    f"pooled here; `vlmtop compare {side['session']}` compares them[/]"
                )
            note = _transient_note(
                f"{name} {side['session']}", side["transient"], bool(side["transient_skipped"])
            )
            if note:
                console.print(note)
        console.print(_legend(report, report["stages"]))
        return
    console.print(f"session {report['session']}: {len(report['segments'])} policy segments")
    every_stage: list[dict] = []
    for pair in report["comparisons"]:
        sa, sb = pair["a"], pair["b"]
        title = (
            f"seq {sa['first_seq']}-{sa['last_seq']} {_segment_label(sa)}\n"
            f"  -> seq {sb['first_seq']}-{sb['last_seq']} {_segment_label(sb)}"
        )
        if pair.get("skipped"):
            console.print(f"{title}\n[dim]  skipped: {pair['skipped']}[/]")
            continue
        console.print(_stage_table(title, pair["stages"]))
        every_stage += pair["stages"]
    for seg in report["segments"]:
        note = _transient_note(
            f"segment seq {seg['first_seq']}-{seg['last_seq']}",
            seg["transient"],
            report["skip_transient"],
        )
        if note:
            console.print(note)
    console.print(_legend(report, every_stage))


def _segment_label(seg: dict) -> str:
    return (
        f"cache={seg['cache_policy']} warmup={seg['warmup_policy']} timing={seg['timing_mode']} "
        f"({seg['measured']} measured)"
    )
