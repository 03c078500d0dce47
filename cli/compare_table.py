"""The table `vlmtop compare` prints, drawn from the report dict (the JSON output).

Every table says which evidence its verdicts rest on (paired in one process, replicated
across N processes, one process per side), and under it each `inconclusive` verdict says
why and what would settle it.
"""

from __future__ import annotations

from vlmtop.core.format import ms
from vlmtop.core.text import markup_safe_tree
from vlmtop.sessions.compare import FASTER, INCONCLUSIVE, SLOWER
from vlmtop.sessions.compare.verdict import percent
from vlmtop.sessions.records import stage_label

TESTS = {
    "wilcoxon": "Wilcoxon signed-rank",
    "mann-whitney": "Mann-Whitney U",
    "welch-t": "Welch t-test on process log medians",
    "t": "t-test on process log medians",
    "one-sample-t": "t-test of the processes' log ratios",
}
VERDICT_STYLES = {FASTER: "bold green", SLOWER: "bold red", INCONCLUSIVE: "yellow"}


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(row: dict, digits: int) -> str:
    low, high = row["ci_low"], row["ci_high"]
    if low is None or high is None:
        return "-"
    # fewer decimals for big ratios: the interval is never wider than 13 characters
    digits = digits if max(abs(low), abs(high)) < 10 else max(0, digits - 1 - int(max(abs(low), abs(high)) >= 100))
    return f"{low:.{digits}f}-{high:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _verdict(row: dict) -> str:
    # The reason (why inconclusive) is printed under the table: a narrow terminal would
    # wrap it inside the column.
    return f"[{VERDICT_STYLES.get(row['verdict'], 'dim')}]{row['verdict']}[/]"


def _reasons(stages: list[dict]):
    """A row per inconclusive stage, why and what would settle it, wrapped under its own
    column (the stage's name stays alone on the left); None when no verdict needs one."""
    from rich.table import Table

    rows = [r for r in stages if r.get("verdict_note")]
    if not rows:
        return None
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="yellow")
    grid.add_column(style="yellow")
    for r in rows:
        settle = f"; {r['settle']}" if r.get("settle") else ""
        grid.add_row(f"  {stage_label(r['stage'])}", f"{r['verdict']}: {r['verdict_note']}{settle}")
    return grid


def _print_table(console, title: str, stages: list[dict], heads=("med A", "med B")) -> None:
    console.print(_stage_table(title, stages, heads))
    reasons = _reasons(stages)
    if reasons is not None:
        console.print(reasons)


def _stage_table(title: str, stages: list[dict], heads=("med A", "med B")):
    """Numbers are never cut (no_wrap, min widths) and the padding is one space between
    columns: every column fits in 80 with the longest stage name, a 13-character interval
    and the between-process share (a CI cut to `1.200-8.…` is no CI at all)."""
    from rich import box
    from rich.table import Table

    shares = any(r.get("between_process_share") is not None for r in stages)
    rows = []
    for r in stages:
        cells = [
            stage_label(r["stage"]) + ("*" if r["paired"] else ""),
            ms(r["median_a"]),
            ms(r["median_b"]),
            _ratio(r["ratio"]),
            _ci(r, 2 if shares else 3),
            _p(r["p_value"]),
        ]
        if shares:
            share = r.get("between_process_share")
            cells.append("-" if share is None else f"{share:.0%}")
        rows.append(cells)
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, padding=(0, 1),
                  collapse_padding=True)
    level = f"{1 - stages[0]['alpha']:.0%} CI" if stages else "95% CI"
    names = ["stage", heads[0], heads[1], "ratio", level, "p", *(["proc."] if shares else [])]
    for index, name in enumerate(names):
        widest = max([len(name), *(len(cells[index]) for cells in rows)])
        table.add_column(name, justify="left" if index == 0 else "right", no_wrap=True, min_width=widest)
    table.add_column("verdict", no_wrap=True, min_width=len("inconclusive"))  # never cut a verdict
    for cells, r in zip(rows, stages):
        table.add_row(*cells, _verdict(r))
    return table


def _legend(report: dict, stages: list[dict]) -> str:
    threshold = report["threshold"]
    # The ratio's definition depends on the row: median B / median A unpaired (of geometric
    # means of process medians across processes), 1 + median(B-A)/median(A) paired
    # (docs/stats.md): say the one the rows use.
    ratio = "ratio = median B / median A" if any(not r["paired"] for r in stages) else ""
    band = percent(threshold)
    family = max(r.get("family", 1) for r in stages)
    joint = (f" (the intervals of a table's {family} stages hold together: each is at "
             f"{1 - report['alpha'] / family:.1%}, Bonferroni)") if family > 1 else ""
    text = (
        f"[dim]medians in ms{'; ' + ratio if ratio else ''}; verdicts from the {1 - report['alpha']:.0%} CI{joint} "
        f"against the ±{band} band: slower or faster when it lies wholly beyond the band, same when "
        f"wholly inside, else inconclusive (the p-value is shown, not decisive)"
    )
    pairs = max((r["n_pairs"] for r in stages if r["paired"]), default=0)
    if any(r["paired"] for r in stages):
        text += f"; *: ratio = 1 + median(B-A)/median(A), paired on {pairs} sample ids"
    tests = sorted({TESTS.get(r["test"].split(" + ")[0], r["test"]) for r in stages})
    text += f"; p: {', '.join(tests)}"
    if any(r.get("between_process_share") is not None for r in stages):
        text += ("; proc. = the between-process share of the variance of log latency (sample ids' "
                 "own levels removed)")
    e2e = [r for r in stages if r["stage"] == "e2e_ms"]
    if e2e and (e2e[0]["outliers_a"] or e2e[0]["outliers_b"]):
        text += (
            f"; e2e Tukey outliers (counted, kept): A {e2e[0]['outliers_a']}, "
            f"B {e2e[0]['outliers_b']}"
        )
    return text + "[/]"


def _evidence(stages: list[dict]) -> str | None:
    kinds = sorted({r["evidence"] for r in stages if r.get("evidence")})
    return f"evidence: {'; '.join(kinds)}" if kinds else None


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


def print_report(report: dict, console=None) -> None:
    from rich.console import Console

    console = console or Console(highlight=False)
    # Session ids, arms, knob values and notes come from the database: escaped once here,
    # so every line below (markup or not) shows them as text and none acts on the terminal.
    report = markup_safe_tree(report)
    mode = report["mode"]
    every: list[dict] = []
    if mode in ("sessions", "replicated"):
        every = report["stages"]
        _print_sides(console, report)
    elif mode == "segments":
        every = _print_segments(console, report)
    elif mode in ("arms", "replicated-arms"):
        every = _print_arms(console, report)
    elif mode in ("by-device", "by-host"):
        every = _print_blocks(console, report)
    elif mode == "per-device":
        every = _print_device_blocks(console, report)
    if report.get("reliability"):
        console.print(report["reliability"]["line"], soft_wrap=True)  # one line, as scripts grep it
    if every:
        evidence = _evidence(every)
        if evidence:
            console.print(f"[bold]{evidence}[/]")
        console.print(_legend(report, every))


def _print_sides(console, report: dict) -> None:
    a, b = report["a"], report["b"]
    if report["mode"] == "sessions":
        title = (f"A {a['session']} ({a['measured']} measured) -> "
                 f"B {b['session']} ({b['measured']} measured)")
    else:
        title = (f"A: {a['processes']} processes ({a['measured']} measured) -> "
                 f"B: {b['processes']} processes ({b['measured']} measured)")
    _print_table(console, title, report["stages"])
    if report["mode"] == "replicated":
        for name, side in (("A", a), ("B", b)):
            console.print(f"[dim]{name}: {', '.join(side['sessions'])}[/]")
    else:
        for name, side in (("A", a), ("B", b)):
            if len(side["policies"]) > 1:
                console.print(
                    f"[yellow]{name} ran under {len(side['policies'])} policy settings, "
                    f"pooled here; `vlmtop compare {side['session']}` compares them[/]"
                )
            note = _transient_note(f"{name} {side['session']}", side["transient"], bool(side["transient_skipped"]))
            if note:
                console.print(note)
    for name, side in (("A", a), ("B", b)):
        if len(side.get("arms") or ()) > 1:
            console.print(f"[yellow]{name} ran {len(side['arms'])} arms, pooled here; compare one session "
                          f"alone to compare its arms[/]")
    floor = floor_text(report["stages"], report.get("noise_floor_source"))
    if floor:  # its source names a model from the database: escaped already, as markup
        console.print(f"[dim]{floor}[/]")


def floor_text(stages: list[dict], source: str | None) -> str | None:
    """The process-noise floor of one-process-per-side verdicts, as a figure a person can use:
    ``identical processes differ by up to 12-36% (95%, from ...)``; a stage whose floor the
    replicates cannot bound (a huge figure from too few of them) is named in words instead."""
    rows = [r for r in stages if r.get("noise_floor") is not None]
    if not rows:
        return None
    bounded = [r for r in rows if _bounded(r)]
    loose = [stage_label(r["stage"]) for r in rows if not _bounded(r)]
    level = f"{1 - rows[0]['alpha']:.0%}"
    parts = []
    if bounded:
        low, high = min(r["noise_floor"] for r in bounded), max(r["noise_floor"] for r in bounded)
        span = percent(low) if percent(low) == percent(high) else f"{percent(low)}-{percent(high)}"
        parts.append(f"identical processes differ by up to {span} ({level}, from {source})")
    if loose:
        parts.append(f"too few replicates to bound it for {', '.join(loose)}")
    return ("process-noise floor: " + "; ".join(parts)
            + "; `vlmtop run --repeat N` on each side measures instead of assuming")


# A floor past this, from fewer processes than MIN_BOUNDING_DF + 1, says only that the
# replicates were too few: its size is the t quantile of 1-3 degrees of freedom, not noise.
MAX_FLOOR, MIN_BOUNDING_DF = 1.0, 4


def _bounded(row: dict) -> bool:
    df = row.get("floor_df")
    return row["noise_floor"] <= MAX_FLOOR or (df is not None and df >= MIN_BOUNDING_DF)


def _print_blocks(console, report: dict) -> list[dict]:
    """--by device|host: one block per group against the first, each naming its evidence."""
    by, every = report["by"], []
    arm = f", arm {report['arm']}" if report.get("arm") else ""
    console.print(f"experiment {report['experiment_id']} by {by}{arm}: "
                  + "; ".join(f"{name} ({len(ids)} process{'es' * (len(ids) != 1)})"
                              for name, ids in report["groups"].items()))
    for block in report["blocks"]:
        a, b = block[by]
        console.print(f"[bold]{by} {b} against {a}[/]: {block['evidence']}")
        _print_sides(console, block)
        every += block["stages"]
    return every


def _print_device_blocks(console, report: dict) -> list[dict]:
    """An experiment on several device types: each device's comparison on its own."""
    console.print(f"experiment {report['experiment_id']} ran on {len(report['blocks'])} device types; "
                  "each is compared on its own (never pooled across device types)", soft_wrap=True)
    every: list[dict] = []
    for block in report["blocks"]:
        hosts = f" on {block['hosts']} hosts" if block["hosts"] > 1 else ""
        head = f"[bold]device {block['device']}[/] ({block['processes']} process{'es' * (block['processes'] != 1)}{hosts})"
        if block.get("skipped"):
            console.print(f"{head}\n[dim]  skipped: {block['skipped']}[/]", soft_wrap=True)
            continue
        console.print(f"{head}: {block['evidence']}", soft_wrap=True)
        if block["mode"] in ("sessions", "replicated"):
            every += block["stages"]
            _print_sides(console, block)
        elif block["mode"] == "segments":
            every += _print_segments(console, block)
        elif block["mode"] in ("arms", "replicated-arms"):
            every += _print_arms(console, block)
        if block.get("reliability"):
            console.print(block["reliability"]["line"], soft_wrap=True)
    return every


def _print_segments(console, report: dict) -> list[dict]:
    console.print(f"session {report['session']}: {len(report['segments'])} policy segments")
    every: list[dict] = []
    for pair in report["comparisons"]:
        sa, sb = pair["a"], pair["b"]
        title = (
            f"seq {sa['first_seq']}-{sa['last_seq']} {_segment_label(sa)}\n"
            f"  -> seq {sb['first_seq']}-{sb['last_seq']} {_segment_label(sb)}"
        )
        if pair.get("skipped"):
            console.print(f"{title}\n[dim]  skipped: {pair['skipped']}[/]")
            continue
        _print_table(console, title, pair["stages"])
        every += pair["stages"]
    for seg in report["segments"]:
        note = _transient_note(
            f"segment seq {seg['first_seq']}-{seg['last_seq']}", seg["transient"], report["skip_transient"]
        )
        if note:
            console.print(note)
    return every


def _print_arms(console, report: dict) -> list[dict]:
    if report["mode"] == "arms":
        console.print(f"session {report['session']}: arms, each against the baseline")
    else:
        console.print(f"experiment {report['experiment_id']}: arms across {report['processes']} processes, "
                      "each against the baseline")
    segs = report.get("segments") or []
    every: list[dict] = []
    for pair in report["comparisons"]:
        where = ""
        if pair.get("segment") is not None:
            seg = segs[pair["segment"]]
            where = f"  (segment seq {seg['first_seq']}-{seg['last_seq']} {_segment_label(seg)})"
        title = f"{pair['baseline']} -> {pair['arm']}{where}"
        if pair.get("skipped"):
            console.print(f"{title}\n[dim]  skipped: {pair['skipped']}[/]")
            continue
        _print_table(console, title, pair["stages"], heads=("base", "arm"))
        for stage, why in (pair.get("not_compared") or {}).items():
            console.print(f"[dim]  {stage_label(stage)}: {why}, not compared[/]")
        every += pair["stages"]
    return every


def _segment_label(seg: dict) -> str:
    knobs = "".join(f" {k}={v}" for k, v in (seg.get("knobs") or {}).items())
    return (
        f"cache={seg['cache_policy']} warmup={seg['warmup_policy']} timing={seg['timing_mode']}{knobs} "
        f"({seg['measured']} measured)"
    )
