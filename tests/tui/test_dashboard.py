"""The dashboard, driven with Textual's pilot on real session databases."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from helpers import start_worker_for_test
from recorded_session import CHANGE_AT, COUNT, SESSION_ID, record_fixed_session

from vlmtop.core.format import ms
from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.widgets.stage_table import StageRow


def _replay_app(tmp_path, **kwargs):
    store = record_fixed_session(tmp_path / "fixed.db")
    source = ReplaySource(store, SESSION_ID, playing=False, **kwargs)
    return store, VlmtopApp(store, source)


def _row_text(app, label: str) -> str:
    row = app.query_one(f"#row-{label.replace('/', '-')}", StageRow)
    return str(row.cells.render())


async def test_replay_steps_move_the_shown_sample_and_numbers_are_the_databases(tmp_path):
    store, app = _replay_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end")
        await pilot.pause()
        assert app.state.position == COUNT - 1
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause()
        assert app.state.position == COUNT - 3
        shown = store.samples_between(SESSION_ID, COUNT - 3, COUNT - 3)[0]
        assert ms(shown.prefill_ms).strip() in _row_text(app, "prefill")  # "last" is that row
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.state.position == COUNT - 2
        # p50 on screen = the median of the database's measured rows up to the position
        rows = [r for r in store.samples(SESSION_ID) if r.seq <= COUNT - 2 and r.status == "ok" and not r.is_warmup]
        assert ms(float(np.median([r.prefill_ms for r in rows]))).strip() in _row_text(app, "prefill")
        await pilot.press("home")
        await pilot.pause()
        assert app.state.position == 0
        assert "replay seq 0/" in str(app.query_one("#header").render())


async def test_replay_goto_speed_and_help(tmp_path):
    _, app = _replay_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("g")
        await pilot.press(*"42", "enter")
        await pilot.pause()
        assert app.state.position == 42  # the seq typed, as the database numbers samples
        speed = app.replay.speed
        await pilot.press("plus")
        assert app.replay.speed == speed * 2
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.press("c")  # steering a replay is refused, nothing is written
        await pilot.pause()
        assert app.store.controls(SESSION_ID) == []


async def test_the_comparison_panel_shows_the_policy_change(tmp_path):
    _, app = _replay_app(tmp_path)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.press("end")
        await pilot.pause(1.2)  # the comparison is recomputed at most once a second
        app.refresh_frame()
        await pilot.pause()
        panel = app.query_one("#comparison")
        # the evidence is in the title, which a short terminal keeps (it drops the bottom border)
        assert panel.border_title.startswith("change: cache keep → empty · ")
        assert panel.border_title.endswith("(consecutive segments)") or "unpaired" in panel.border_title
        heading, prefill = str(panel.render()).splitlines()[:2]
        assert heading.startswith("stage") and prefill.startswith("prefill")
        assert "slower" in prefill  # prefill went from 4.5 to 5.5 ms


async def test_at_80x24_the_comparison_keeps_its_evidence_and_one_line_per_stage(tmp_path):
    _, app = _replay_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("end")
        await pilot.pause(1.2)
        app.refresh_frame()
        await pilot.pause()
        panel = app.query_one("#comparison")
        assert "consecutive segments" in panel.border_title
        assert len(panel.border_title) <= panel.size.width - 4  # shown whole, not cut with an ellipsis
        lines = str(panel.render()).splitlines()
        assert [line.split()[0] for line in lines[1:]] == ["prefill", "decode_per_token", "e2e"]  # none wrapped
        assert all(len(line) <= panel.content_size.width for line in lines)


async def test_policy_keys_write_controls_and_the_bar_updates_on_acknowledgement(tmp_path):
    proc, store, session_id = start_worker_for_test(tmp_path / "live.db")
    try:
        app = VlmtopApp(store, LiveTail(store, session_id), worker=proc)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("c")
            (control,) = store.controls(session_id)
            assert (control.kind, control.value) == ("cache", "empty")
            assert "pending" in str(app.query_one("#policies").render())
            for _ in range(100):  # the worker answers between samples
                await pilot.pause(0.1)
                if "pending" not in str(app.query_one("#policies").render()):
                    break
            bar = str(app.query_one("#policies").render())
            assert "cache empty" in bar and "pending" not in bar
            assert store.controls(session_id)[0].status == "applied"
            await pilot.press("q")  # stops our worker, which completes the session
            for _ in range(300):
                await pilot.pause(0.1)
                if proc.poll() is not None:
                    break
        assert proc.wait(timeout=30) == 0
        info = store.session(session_id)
        assert info.status == "completed"
        applied = store.controls(session_id)[0].applied_seq
        rows = store.samples(session_id)
        assert all(r.cache_policy == ("empty" if r.seq >= applied else "keep") for r in rows)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("failure", ["model", "samples"])
async def test_a_failing_worker_leaves_the_dashboard_up_with_the_error(tmp_path, failure):
    # a model that does not load (nothing recorded), or every image unreadable (error rows,
    # then the session fails): either way the screen stays, with the reason
    if failure == "model":
        settings, reason = {"model": "nobody/not-here"}, "not-here"
    else:
        manifest = tmp_path / "broken.jsonl"
        manifest.write_text("".join(json.dumps({"image": str(tmp_path / f"gone-{i}.png")}) + "\n" for i in range(30)))
        settings, reason = {"samples": str(manifest)}, "in a row failed"
    proc, store, session_id = start_worker_for_test(tmp_path / "fail.db", **settings)
    app = VlmtopApp(store, LiveTail(store, session_id), worker=proc)
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 240  # a worker imports torch first: slow on a loaded machine
        while time.monotonic() < deadline:
            await pilot.pause(0.1)
            if proc.poll() is not None and "failed" in str(app.query_one("#header").render()):
                break
        assert proc.returncode == 1 and app.is_running
        assert "failed" in str(app.query_one("#header").render())
        assert any(reason in n.message for n in app._notifications)
    assert store.session(session_id).error_count == (0 if failure == "model" else 20)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_snapshot_of_a_recorded_session(tmp_path, snap_compare, size):
    store = record_fixed_session(tmp_path / "fixed.db")
    source = ReplaySource(store, SESSION_ID, playing=False, position=COUNT - 1)
    assert snap_compare(VlmtopApp(store, source), terminal_size=size, press=["down"])


def test_comparison_follows_a_full_window(tmp_path):
    # Once the window is full its length stops changing: the comparison must still see
    # the policy change that arrives after that.
    from vlmtop.sessions.playback import SourceUpdate
    from vlmtop.tui.state import DashboardState

    store = record_fixed_session(tmp_path / "s.db")
    rows, info = store.samples(SESSION_ID), store.session(SESSION_ID)
    state = DashboardState(window=40)  # full from seq 39 on; the change comes at CHANGE_AT
    now = 0.0
    for start in range(0, CHANGE_AT + 30, 10):
        batch = rows[start : start + 10]
        state.apply(SourceUpdate(batch, [], False, batch[-1].seq, batch[-1].seq + 1, info))
        now += 10.0
        comparison = state.comparison(now=now)
        if batch[-1].seq < CHANGE_AT:
            assert comparison is None
    change, results = comparison
    assert change == "cache keep → empty"
    prefill = next(r for r in results if r.stage == "prefill_ms")
    assert prefill.verdict == "slower"
