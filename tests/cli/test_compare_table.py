"""`vlmtop compare`'s tables at 80 columns: no number, interval or header is ever cut.

Reports come from real SQLite files through the real CLI (`--json`), and are printed by
compare_print.print_report on a Rich console 80 columns wide, as a terminal of that size
would show them. Before, the 95% CI column came out as `0.32…` / `1.200-8.…` and the
median headers as `medi…`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import latencies, record, run_cli, write_session
from recorded_arms_session import ARMS_SESSION_ID, record_arms_session
from rich.console import Console

from vlmtop.cli.compare_table import floor_text, print_report
from vlmtop.sessions.store import SessionStore


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """The arms session, and four single sessions: two at 100 ms, two at 150 ms."""
    path = tmp_path_factory.mktemp("print") / "print.db"
    record_arms_session(path).close()
    rng = np.random.default_rng(3)
    with SessionStore.open(path, create=False) as store:
        ids = [write_session(store, [record(i, float(v), sample_id=f"s{i}") for i, v in
                                     enumerate(latencies(60, rng, median=100.0 * (1.5 if k >= 2 else 1.0)))])
               for k in range(4)]
    return path, ids


def printed_at_80(report: dict) -> str:
    console = Console(width=80, record=True, highlight=False, force_terminal=False)
    print_report(report, console=console)
    return console.export_text()


def rows_of(report: dict) -> list[dict]:
    if "stages" in report:
        return report["stages"]
    return [row for pair in report["comparisons"] for row in pair["stages"]]


@pytest.mark.parametrize("kind", ["sessions", "replicated", "arms"])
def test_tables_at_80_columns_cut_nothing(db, capsys, kind):
    path, ids = db
    sides = {"sessions": [ids[0], ids[2]], "replicated": [f"{ids[0]},{ids[1]}", f"{ids[2]},{ids[3]}"],
             "arms": [ARMS_SESSION_ID]}[kind]
    code, out, _ = run_cli(capsys, *sides, "--db", path, "--json")
    report = json.loads(out)
    assert code == 0 and report["mode"] == kind
    text = printed_at_80(report)
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    digits = 2 if kind == "replicated" else 3  # the share column takes the room of a digit
    for row in rows_of(report):  # every interval whole, on its stage's line
        ci = f"{row['ci_low']:.{digits}f}-{row['ci_high']:.{digits}f}"
        assert any(ci in line and line.split()[0].rstrip("*") in row["stage"] for line in text.splitlines()), ci
    header = next(line for line in text.splitlines() if line.lstrip().startswith("stage"))
    assert header.split()[:3] == ["stage", *(("base", "arm") if kind == "arms" else ("med", "A"))]
    # the ratio's definition as the rows use it: paired rows are not B/A (docs/stats.md)
    paired = any(row["paired"] for row in rows_of(report))
    flat = " ".join(text.split())
    assert ("*: ratio = 1 + median(B-A)/median(A)" in flat) == paired
    assert ("ratio = median B / median A" in flat) == (not all(row["paired"] for row in rows_of(report)))
    assert "ratio = B/A" not in flat


def test_an_experiment_id_in_a_comma_list_is_one_line(db, capsys):
    path, ids = db
    code, out, err = run_cli(capsys, f"{ids[0]},exp-1a2b3c4d", ids[2], "--db", path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "'exp-1a2b3c4d' is an experiment id" in err
    assert "can't be part of a comma list" in err and "no session" not in err


def test_the_process_noise_floor_reads_as_a_figure_or_in_words():
    def row(stage, floor, df):
        return {"stage": stage, "noise_floor": floor, "floor_df": df, "alpha": 0.05}

    source = "3 replicated sessions of tiny-qwen2-vl"
    # a usable figure, with its level and source
    text = floor_text([row("vision_ms", 0.12, 7), row("prefill_ms", 0.36, 7)], source)
    assert text.startswith("process-noise floor: identical processes differ by up to 12%-36% (95%, from 3 replicated")
    # 3 replicates (2 df) put a t quantile of 4.3 on an SD: 3846x is that quantile, not noise
    text = floor_text([row("vision_ms", 1.358, 2), row("other_ms", 3846.0, 2), row("e2e_ms", 0.2, 2)], source)
    assert "up to 20% (95%" in text and "too few replicates to bound it for vision, other" in text
    assert "3846" not in text and "384603" not in text
    # many replicates: a wide floor is a real figure
    assert "up to 150%" in floor_text([row("prefill_ms", 1.5, 12)], source)
    assert floor_text([{"stage": "e2e_ms", "noise_floor": None}], source) is None


def test_the_floor_line_shows_a_stored_model_name_as_it_is():
    stage = {"stage": "e2e_ms", "median_a": 1.0, "median_b": 1.1, "ratio": 1.1, "ci_low": 0.9, "ci_high": 1.3,
             "p_value": 0.2, "verdict": "inconclusive", "verdict_note": "interval ±18% is wider than the ±2% band",
             "settle": None, "paired": False, "n_pairs": 0, "test": "mann-whitney", "outliers_a": 0, "outliers_b": 0,
             "evidence": "one process per side", "noise_floor": 0.3, "floor_df": 7, "alpha": 0.05, "family": 1}
    side = {"session": "s", "measured": 10, "policies": [1], "transient": 0, "transient_skipped": False}
    report = {"mode": "sessions", "a": side, "b": side, "stages": [stage], "threshold": 0.02, "alpha": 0.05,
              "noise_floor_source": "3 replicated sessions of org/m[/bold]\x1b]2;x"}
    flat = " ".join(printed_at_80(report).split())
    assert "3 replicated sessions of org/m[/bold]\\x1b]2;x)" in flat and "\x1b" not in flat
