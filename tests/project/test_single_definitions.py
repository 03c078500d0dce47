"""One definition of each thing the code spells in many places: every list of stages derives
from core/stage_table.py, "measured" and the policies are spelled once, the dashboard reads
unlocated stages by name, and the parser lists the exporter's own formats."""

from __future__ import annotations

import ast
from pathlib import Path

from vlmtop.core import stage_table

ROOT = Path(__file__).resolve().parents[2]


def _literal_tuples_assigned(path: Path, name: str) -> list:
    """The right-hand sides of `name = (...)` in a module that are written-out literals."""
    tree = ast.parse(path.read_text())
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.value.elts)]


# (module file, constant): stage lists that were once written out by hand
DERIVED = [
    ("tui/state/dashboard.py", "STAGES"),
    ("sessions/export/trace.py", "TRACE_TRACKS"),
    ("sessions/report/html.py", "LANES"),
    ("sessions/analysis/reliability.py", "RELIABILITY_STAGES"),
    ("tui/widgets/arms_panel.py", "PRIORITY"),
]


def test_stage_lists_keep_their_values():
    from vlmtop.sessions.analysis.reliability import RELIABILITY_STAGES
    from vlmtop.sessions.export.trace import TRACE_TRACKS
    from vlmtop.sessions.report import LANES
    from vlmtop.tui.state import STAGES
    from vlmtop.tui.widgets.arms_panel import PRIORITY

    assert [attr for _, attr in STAGES] == [
        "vision_ms", "projector_ms", "prefill_ms", "decode_per_token_ms", "ttft_ms", "e2e_ms", "other_ms"]
    assert [label for label, _ in STAGES] == ["vision", "projector", "prefill", "decode_per_token", "ttft", "e2e", "other"]
    assert TRACE_TRACKS == ("e2e", "vision", "projector", "prefill", "decode")
    assert LANES == ("vision", "projector", "prefill", "decode")
    assert RELIABILITY_STAGES == ("vision_ms", "projector_ms", "prefill_ms", "decode_ms", "e2e_ms")
    assert PRIORITY == ("prefill_ms", "e2e_ms", "decode_ms", "vision_ms", "decode_per_token_ms", "ttft_ms",
                        "projector_ms", "other_ms")


def test_stage_lists_come_from_the_table():
    for path, name in DERIVED:
        assert not _literal_tuples_assigned(ROOT / path, name), f"{path}: {name} is written by hand"
    # and each follows the table's fields: a new stage with on_dashboard/span/... joins them
    from vlmtop.sessions.analysis.reliability import RELIABILITY_STAGES
    from vlmtop.tui.state import STAGES

    assert [attr for _, attr in STAGES] == [s.column for s in stage_table.STAGES if s.on_dashboard]
    assert RELIABILITY_STAGES == tuple(s.column for s in stage_table.STAGES if s.reliability)
    assert [s.name for s in stage_table.SPANS] == [s.name for s in stage_table.STAGES if s.span]
    assert sorted(s.priority for s in stage_table.STAGES) == list(range(len(stage_table.STAGES)))


# --- "measured" spelled once ---------------------------------------------------------------------

PACKAGES = ("core", "sessions", "tui", "vlmtop")


def _source_lines():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                yield path.relative_to(ROOT).as_posix(), number, line


def test_measured_is_defined_once():
    """is_measured / measured_mask / MEASURED_SQL in sessions/records.py; nobody re-spells
    "not a warm-up and ok" (a guard: a re-spelling would drift from the one definition)."""
    spelled = [f"{path}:{number}" for path, number, line in _source_lines()
               if path != "sessions/records.py" and ("'ok'" in line or '"ok"' in line)
               and ("is_warmup" in line or "== 0 and" in line)]
    assert spelled == []
    defined = [f"{path}:{number}" for path, number, line in _source_lines() if line.startswith("MEASURED_SQL =")]
    assert [where.split(":")[0] for where in defined] == ["sessions/records.py"]


def test_layout_and_reliability_measure_as_records_do(tmp_path):
    from recorded_session import SESSION_ID, record_fixed_session

    from vlmtop.sessions.analysis.reliability import reliability
    from vlmtop.sessions.compare.columns import read_layout
    from vlmtop.sessions.records import is_measured, measured_mask

    store = record_fixed_session(tmp_path / "s.db")
    try:
        rows = list(store.iter_samples(SESSION_ID))
        layout = read_layout(store, SESSION_ID)
    finally:
        store.close()
    expected = [is_measured(row) for row in rows]
    assert not all(expected) and any(expected)  # warm-up and an error in there
    assert layout.measured.tolist() == expected
    assert measured_mask([r.is_warmup for r in rows], [r.status for r in rows]).tolist() == expected
    columns = {"sample_id": [r.sample_id for r in rows], "is_warmup": [r.is_warmup for r in rows],
               "status": [r.status for r in rows], "arm": [r.arm for r in rows],
               "prefill_ms": [r.prefill_ms for r in rows]}
    assert reliability(columns, ["prefill_ms"]) == reliability(rows, ["prefill_ms"])


# --- policies: one typed representation -----------------------------------------------------------


def test_policies_map_to_columns_and_settings_once():
    from vlmtop.sessions.policies import Policies
    from vlmtop.sessions.records import SampleRecord

    row = SampleRecord("s", 0, cache_policy="empty", warmup_policy="per-sample", timing_mode="sync")
    policies = Policies.from_row(row)
    assert policies == Policies("empty", "per-sample", "sync")
    assert policies.values == ("empty", "per-sample", "sync")
    assert policies.columns() == {"cache_policy": "empty", "warmup_policy": "per-sample", "timing_mode": "sync"}
    assert SampleRecord("s", 0, **policies.columns()) == row  # the columns are SampleRecord's fields
    # RunSettings' spellings (DESIGN.md): cache_policy, warmup, timing; absent keys: defaults
    assert Policies.from_settings({"cache_policy": "empty", "warmup": 3}) == Policies("empty", "3", "events")
    assert Policies.from_settings(None) == Policies()
    assert policies["timing"] == "sync" and dict(policies) == {"cache": "empty", "warmup": "per-sample", "timing": "sync"}


def _state_after(rows, events, info):
    from vlmtop.sessions.playback import SourceUpdate
    from vlmtop.tui.state import DashboardState

    state = DashboardState(window=40)
    state.apply(SourceUpdate(rows, events, False, rows[-1].seq if rows else -1, len(rows), info))
    return state


def test_dashboard_policies_are_a_policies(tmp_path):
    from recorded_session import CHANGE_AT, SESSION_ID, record_fixed_session

    from vlmtop.sessions.policies import Policies
    from vlmtop.sessions.records import EventRecord

    store = record_fixed_session(tmp_path / "s.db")
    try:
        rows, info = store.samples(SESSION_ID), store.session(SESSION_ID)
    finally:
        store.close()
    assert _state_after([], [], info).policies == Policies("keep", "2", "events")  # the settings
    assert rows[9].warmup_policy == "none"  # the rows say none where the settings say 2
    assert _state_after(rows[:10], [], info).policies == Policies("keep", "none", "events")  # the newest row
    assert _state_after(rows, [], info).policies == Policies("empty", "none", "events")
    # a policy event after the newest row says what is in force from its seq on
    asked = EventRecord(SESSION_ID, 10, "policy", "timing=sync", 0.0, value="sync", name="timing")
    assert _state_after(rows[:10], [asked], info).policies == Policies("keep", "none", "sync")
    assert CHANGE_AT > 10


# --- unlocated stages by name --------------------------------------------------------------------


def test_unlocated_reads_the_event_name_and_falls_back_to_its_text():
    from vlmtop.sessions.records import EventRecord
    from vlmtop.tui.state import DashboardState

    state = DashboardState()
    # the worker names the stage; the text is for people and may change
    state.events.append(EventRecord("s", 0, "unlocated", "the projector was not found", 0.0, name="projector"))
    assert state.unlocated == {"projector"}
    older = DashboardState()  # a file written before unlocated events had a name
    older.events.append(EventRecord("s", 0, "unlocated", "vision: not located; its time is in other", 0.0))
    assert older.unlocated == {"vision"}


# --- export formats: the parser's are the exporter's ---------------------------------------------


def test_export_formats_are_the_exporters_formats():
    """sessions/export/formats.py is what the parser lists; the exporter must write the same."""
    from vlmtop.sessions.export import formats as export_formats
    from vlmtop.sessions.export import writer as export

    assert export.FORMATS == export_formats.FORMATS and export.STDOUT == export_formats.STDOUT
    assert export.BINARY_FORMATS == export_formats.BINARY_FORMATS
