"""`k` on the dashboard fixes a knob of the running session from the next sample on: the
control goes through the channel, the worker applies it with the knob's own apply, writes a
`knob` event, and the rows after it form a new segment."""

from __future__ import annotations

import collections
import io

import pytest
from helpers import start_worker_for_test
from rich.console import Console
from textual.widgets import Input, Static

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.analysis.segments import segments
from vlmtop.sessions.playback import LiveTail
from vlmtop.sessions.run.worker import RunSettings, Worker
from vlmtop.sessions.store import SessionStore, StoreError
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.screens.knobs import KnobsScreen, knobs_for, parse_choice
from vlmtop.tui.widgets.comparison import ComparisonPanel


def _text(renderable) -> str:
    console = Console(width=78, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()


async def _until(pilot, condition, seconds: float) -> None:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)


async def test_k_fixes_max_new_tokens_and_the_next_samples_are_a_new_segment(tmp_path):
    proc, store, session_id = start_worker_for_test(tmp_path / "live.db")  # max_new_tokens=2, no warm-up
    try:
        app = VlmtopApp(store, LiveTail(store, session_id), worker=proc)
        async with app.run_test(size=(100, 30)) as pilot:
            await _until(pilot, lambda: app.state.total >= 1, 240)  # the worker imports torch first
            await pilot.press("k")
            assert isinstance(app.screen, KnobsScreen)
            listing = _text(app.screen.query_one("#knob-list", Static).content)
            assert "max_new_tokens" in listing and "image_splitting" not in listing  # qwen2_vl has no splitting switch
            app.screen.query_one(Input).value = "max_new_tokens=four"
            await pilot.press("enter")
            assert isinstance(app.screen, KnobsScreen)  # a bad value: one line here, nothing sent
            assert "max_new_tokens 'four'" in str(app.screen.query_one("#knob-error", Static).render())
            assert store.controls(session_id) == []
            app.screen.query_one(Input).value = "max_new_tokens=4"
            await pilot.press("enter")
            assert not isinstance(app.screen, KnobsScreen)
            (control,) = store.controls(session_id)
            assert (control.kind, control.value) == ("max_new_tokens", "4")
            await _until(pilot, lambda: store.controls(session_id)[0].status != "pending", 120)
            applied = store.controls(session_id)[0]
            assert applied.status == "applied"
            await _until(pilot, lambda: store.session(session_id).sample_count >= applied.applied_seq + 2, 120)
            # the comparison panel names what changed (it said "change: " and nothing else)
            panel = app.query_one(ComparisonPanel)
            await _until(pilot, lambda: "max_new_tokens → 4" in str(panel.border_title or ""), 60)
            await pilot.press("q")
            await _until(pilot, lambda: proc.poll() is not None, 60)
        assert proc.wait(timeout=30) == 0
        rows = store.samples(session_id)
        before = [r for r in rows if r.seq < applied.applied_seq]
        after = [r for r in rows if r.seq >= applied.applied_seq]
        assert before and len(after) >= 2
        assert {r.new_tokens for r in before} == {2} and {r.new_tokens for r in after} == {4}
        assert all(r.knobs["max_new_tokens"] == 4 for r in after)
        first, second = segments(rows)  # the fixed-knob change starts a new segment
        assert first.last_seq == applied.applied_seq - 1 and second.knobs == {"max_new_tokens": 4}
        (event,) = [e for e in store.events(session_id) if e.kind == "knob"]
        assert (event.name, event.value, event.seq) == ("max_new_tokens", "4", applied.applied_seq)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_knob_screen_refuses_a_knob_the_arms_vary_and_one_for_another_family():
    assert parse_choice(" image_size = 448x448", "qwen2_vl", set()) == ("image_size", "448x448")
    with pytest.raises(VlmtopError, match="varied by this session's arms"):
        parse_choice("max_new_tokens=8", "qwen2_vl", {"max_new_tokens"})
    with pytest.raises(VlmtopError, match="image_splitting does not apply to qwen2_vl"):
        parse_choice("image_splitting=on", "qwen2_vl", set())
    with pytest.raises(VlmtopError, match="NAME=VALUE"):
        parse_choice("max_new_tokens", None, set())
    assert "image_splitting" in {k.name for k in knobs_for("gemma3")} and "cache" not in {k.name for k in knobs_for(None)}


def test_the_worker_warms_up_again_after_a_knob_that_loads_something(tmp_path):
    db = tmp_path / "s.db"

    def on_sample(record):
        if record.seq == 1:  # another process (a dashboard) would write exactly these rows
            store = SessionStore.open(db, create=False)
            store.add_control(record.session_id, "attn", "eager")
            store.add_control(record.session_id, "max_pixels", "448x448")  # not for llava: rejected

    Worker(RunSettings(model="tiny-llava", count=3, warmup="1", max_new_tokens=2, threads=1), db,
           on_sample=on_sample).run()
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        rows, events = store.samples(info.id), store.events(info.id)
        controls = store.controls(info.id)
    assert [(r.is_warmup, (r.knobs or {}).get("attn")) for r in rows] == [
        (True, None), (False, None), (True, "eager"), (False, "eager"), (False, "eager")]
    assert [c.status for c in controls] == ["applied", "rejected"]
    kinds = collections.Counter(e.kind for e in events)
    assert kinds["knob"] == 1 and any("max_pixels does not apply to llava" in e.detail for e in events)


def test_the_control_channel_refuses_a_kind_no_worker_applies(tmp_path):
    with SessionStore.open(tmp_path / "s.db", create=True) as store:
        session_id = store.create_session("tiny-qwen2-vl", "cpu", "float32", {})
        with pytest.raises(StoreError, match="unknown control 'max_tokens'"):
            store.add_control(session_id, "max_tokens", "4")
        store.add_control(session_id, "max_new_tokens", "4")
        assert [c.kind for c in store.controls(session_id)] == ["max_new_tokens"]
