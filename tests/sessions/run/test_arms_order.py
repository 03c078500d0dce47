"""Arms of several knobs given in non-alphabetical order: one label per arm, the baseline
(every knob at its first value) first, the command line's order, and no phantom arm, in
`vlmtop compare --json`, the dashboard (arms panel, `a`, `A`, replay and attach) and the
report. Real tiny-model runs through the CLI; a session as the older versions stored it
(settings with the knobs sorted, rows labelled in command-line order) is made from a real
one by rewriting its settings the way those versions wrote them."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3

import pytest
from rich.console import Console

from vlmtop.cli import main
from vlmtop.sessions.knobs import arm_key, arm_labels_in_order, make_arms
from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.sessions.store import SessionStore
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.screens.arms import ArmsScreen
from vlmtop.tui.state.arms import compact_arm_labels
from vlmtop.tui.widgets.arms_panel import MAX_LABEL, ArmsPanel

COUNT = 3  # measured samples per arm: compare pairs 3 sample ids

# Written out, not computed: the first knob varies slowest, each knob's values in the
# order given, and the baseline (every first value) first.
TWO_KNOBS = ["--knob", "max_new_tokens=2,3", "--knob", "attn=sdpa,eager"]
TWO = ["max_new_tokens=2,attn=sdpa", "max_new_tokens=2,attn=eager",
       "max_new_tokens=3,attn=sdpa", "max_new_tokens=3,attn=eager"]
THREE_KNOBS = ["--knob", "max_new_tokens=3,2", "--knob", "image_size=64x64,56x56", "--knob", "attn=eager,sdpa"]
THREE = [f"max_new_tokens={m},image_size={s},attn={a}"
         for m in (3, 2) for s in ("64x64", "56x56") for a in ("eager", "sdpa")]


def _record(db, knobs: list[str]) -> str:
    assert main(["run", "--headless", "--db", str(db), *knobs, "--count", str(COUNT), "--warmup", "1"]) == 0
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        return info.id


def _as_older_versions_stored_it(db, session_id: str) -> None:
    """The settings text as versions before this one wrote it: every key sorted, the knobs
    included; the rows keep the labels the worker gave them (command-line order)."""
    conn = sqlite3.connect(db)
    try:
        (text,) = conn.execute("SELECT settings FROM sessions WHERE id = ?", (session_id,)).fetchone()
        conn.execute("UPDATE sessions SET settings = ? WHERE id = ?",
                     (json.dumps(json.loads(text), sort_keys=True, default=str), session_id))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    db = tmp_path_factory.mktemp("two") / "s.db"
    return db, _record(db, TWO_KNOBS), TWO


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    db = tmp_path_factory.mktemp("three") / "s.db"
    return db, _record(db, THREE_KNOBS), THREE


@pytest.fixture(scope="module")
def older(two, tmp_path_factory):
    db, session_id, expected = two
    copy = tmp_path_factory.mktemp("older") / "s.db"
    shutil.copy(db, copy)
    _as_older_versions_stored_it(copy, session_id)
    with SessionStore.open(copy, create=False) as store:
        assert list(store.session(session_id).settings["knobs"]) == ["attn", "max_new_tokens"]  # as it was
    return copy, session_id, expected


@pytest.fixture(params=["two", "three", "older"])
def recorded(request):
    return request.getfixturevalue(request.param)


def _recorded_labels(db, session_id: str) -> list[str]:
    with SessionStore.open(db, create=False) as store:
        return list(dict.fromkeys(row.arm for row in store.samples(session_id)))


# -- the definition ---------------------------------------------------------------------


def test_one_label_per_arm_and_its_key_ignores_the_knob_order():
    assert [arm.label for arm in make_arms({"max_new_tokens": [2, 3], "attn": ["sdpa", "eager"]})] == TWO
    assert arm_key("max_new_tokens=2,attn=sdpa") == arm_key("attn=sdpa,max_new_tokens=2")
    assert arm_key("max_new_tokens=2,attn=sdpa") != arm_key("max_new_tokens=2,attn=eager")
    assert arm_key("") == arm_key(None) == frozenset()


def test_planned_arms_take_the_recorded_labels_and_the_written_knob_order():
    sorted_settings = {"attn": ["sdpa", "eager"], "max_new_tokens": [2, 3]}  # as older versions stored them
    first_seen = [TWO[3], TWO[1], TWO[0], TWO[2]]  # the order of a seeded block, not the run's
    assert arm_labels_in_order(sorted_settings, first_seen) == TWO
    assert arm_labels_in_order(sorted_settings, first_seen[:1]) == TWO  # the knob order from one label
    assert arm_labels_in_order({"max_new_tokens": [2, 3], "attn": ["sdpa", "eager"]}, []) == TWO  # a live start
    assert arm_labels_in_order(None, first_seen) == first_seen  # no settings to go by: first appearance
    assert arm_labels_in_order({"max_new_tokens": [2]}, [None]) == []  # one arm


def test_the_session_stores_the_knobs_in_command_line_order(two, three):
    for db, session_id, expected in (two, three):
        with SessionStore.open(db, create=False) as store:
            knobs = store.session(session_id).settings["knobs"]
        assert [name.partition("=")[0] for name in expected[0].split(",")] == list(knobs)
        assert sorted(_recorded_labels(db, session_id)) == sorted(expected)  # the rows: one label per arm


def test_a_varied_policy_knob_takes_its_place_in_the_command_line_order(tmp_path):
    """The policies are knobs too; varied after another knob, they come after it."""
    db = tmp_path / "s.db"
    session_id = _record(db, ["--knob", "max_new_tokens=2,1", "--knob", "cache=empty,keep"])
    assert sorted(_recorded_labels(db, session_id)) == sorted(
        f"max_new_tokens={m},cache={c}" for m in (2, 1) for c in ("empty", "keep"))


# -- compare ----------------------------------------------------------------------------


def test_compare_json_has_the_baseline_and_every_arm_once_in_order(recorded, capsys):
    db, session_id, expected = recorded
    capsys.readouterr()
    assert main(["compare", session_id, "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "arms"
    pairs = report["comparisons"]
    assert {pair["baseline"] for pair in pairs} == {expected[0]}
    assert [pair["arm"] for pair in pairs] == expected[1:]
    assert not any(pair.get("skipped") for pair in pairs)


# -- the dashboard ----------------------------------------------------------------------


def _panel_arm_lines(app) -> list[str]:
    lines = str(app.query_one(ArmsPanel).render()).splitlines()
    return [line for line in lines[1:] if line[:2] in ("▶ ", "  ") and line.strip()]


async def _check_dashboard(app, expected: list[str], pilot) -> None:
    state = app.state
    assert state.arm_labels == expected
    lines = _panel_arm_lines(app)
    assert len(lines) == len(expected)  # no phantom arm, none left out
    # where the labels are too long for the panel, the knobs are named once and each row
    # gives its values: every arm still reads apart from the others
    knobs, shown = compact_arm_labels(expected, MAX_LABEL)
    assert len(set(shown)) == len(expected)
    if knobs:
        assert knobs == ",".join(name.partition("=")[0] for name in expected[0].split(","))
        assert f"arms: {knobs}" in app.query_one(ArmsPanel).border_subtitle
    for line, label in zip(lines, shown):
        cells = line[2:].split()
        assert cells[0] == label
        assert cells[1] == str(COUNT)  # every arm listed measured its samples: none is empty
    assert lines[0].startswith("▶ ") and "baseline" in lines[0]
    seen = []
    for _ in expected:
        await pilot.press("a")
        await pilot.pause()
        seen.append(state.shown_arm_label)
        assert state.arm_name() == f"arm {state.shown_arm_label}"
    assert seen == expected[1:] + expected[:1]  # `a` walks the recorded arms, baseline first
    await pilot.press("A")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, ArmsScreen)
    console = Console(width=400, file=io.StringIO(), color_system=None)  # no label wraps
    console.print(screen.query_one("#arms-detail").content)
    detail = console.file.getvalue()
    assert f"baseline {expected[0]}" in detail
    titles = re.findall(r"^(\S+) vs (\S+) · ", detail, flags=re.M)
    assert titles == [(label, expected[0]) for label in expected[1:]]


async def test_replay_lists_exactly_the_recorded_arms_baseline_first(recorded):
    db, session_id, expected = recorded
    with SessionStore.open(db, create=False) as store:
        app = VlmtopApp(store, ReplaySource(store, session_id, playing=False, position=10**9))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await _check_dashboard(app, expected, pilot)


async def test_attach_to_a_recorded_session_lists_the_same_arms(older):
    db, session_id, expected = older
    with SessionStore.open(db, create=False) as store:
        total = len(store.samples(session_id))
        app = VlmtopApp(store, LiveTail(store, session_id))
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(200):  # the tail reads the recorded rows in polls
                await pilot.pause(0.05)
                if len(app.state.rows) == total:
                    break
            await pilot.pause()
            await _check_dashboard(app, expected, pilot)


# -- the report -------------------------------------------------------------------------


def test_the_report_has_every_arm_once_in_order_against_the_baseline(recorded, tmp_path):
    db, session_id, expected = recorded
    out = tmp_path / "report.html"
    assert main(["report", session_id, "--db", str(db), "-o", str(out), "--boot", "20"]) == 0
    page = out.read_text()
    medians = re.search(r'<table class="medians">(.*?)</table>', page).group(1)
    rows = re.findall(r"<tr><td>([^<]*)</td><td>(\d+)</td>", medians)
    assert rows == [(label, str(COUNT)) for label in expected]
    forest = re.search(r'<section id="forest">(.*?)</section>', page, flags=re.S).group(1)
    assert f"arm / baseline ({expected[0]})" in forest
    compared = re.findall(r"<tr><td>[^<·]+ · ([^<]+)</td>", forest)
    assert list(dict.fromkeys(compared)) == expected[1:]


async def test_a_replay_at_its_first_sample_already_names_the_recorded_arms(older):
    """One recorded label gives the knob order: from the first frame on, every arm (those
    not reached yet too) reads as the rows will label it, never as the sorted settings."""
    db, session_id, expected = older
    with SessionStore.open(db, create=False) as store:
        app = VlmtopApp(store, ReplaySource(store, session_id, playing=False, position=0))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert len(app.state.rows) == 1
            assert app.state.arm_labels == expected


def test_labels_too_long_for_the_panel_keep_what_tells_the_arms_apart():
    assert compact_arm_labels(TWO, MAX_LABEL) == (None, TWO)
    names, shown = compact_arm_labels(THREE, MAX_LABEL)
    assert names == "max_new_tokens,image_size,attn"
    assert shown[:3] == ["3,64x64,eager", "3,64x64,sdpa", "3,56x56,eager"] and len(set(shown)) == len(THREE)
