"""The dashboard on a session being recorded: it reads the database off the UI thread and
draws only on change; Ctrl+C quits and stops our worker; S stops any run after a yes."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace

from helpers import start_worker_for_test
from helpers_store import full_record

from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.sessions.store import SessionStore
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.poller import DEFAULT_INTERVAL_S
from vlmtop.tui.widgets.stage_table import StageRow


def _running_session(tmp_path):
    """A `running` session owned by this process (alive, so never read as interrupted),
    with no sample yet: what a dashboard sees while its worker loads the model."""
    store = SessionStore.open(tmp_path / "live.db", create=True)
    session_id = store.create_session("tiny-qwen2-vl", "auto", "auto", {"warmup": "none"})
    return store, session_id


class CountingApp(VlmtopApp):
    draws = 0

    def draw(self) -> None:
        self.draws += 1
        super().draw()


class RecordingTail(LiveTail):
    """A live tail that notes on which thread each poll ran."""

    threads: list[int]

    def poll(self):
        self.threads = getattr(self, "threads", []) + [threading.get_ident()]
        return super().poll()


async def _wait_until(pilot, condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)


async def test_an_idle_session_is_not_redrawn_and_a_new_row_is_drawn_from_another_thread(tmp_path):
    store, session_id = _running_session(tmp_path)
    source = RecordingTail(store, session_id)
    app = CountingApp(store, source, interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        settled = app.draws
        polls = len(source.threads)
        await pilot.pause(1.0)  # 20 intervals with nothing new in the database
        assert app.draws == settled  # the old dashboard drew 10 frames a second regardless
        assert len(source.threads) > polls  # it kept reading, though
        with app.poller.lock:
            store.write_sample(replace(full_record(session_id, 0), is_warmup=False, status="ok", error=None))
        await _wait_until(pilot, lambda: app.state.total == 1)
        assert app.state.total == 1 and app.draws > settled
        (row,) = store.samples(session_id)
        assert f"{row.prefill_ms:.1f}" in str(app.query_one("#row-prefill", StageRow).cells.render())
    main = threading.main_thread().ident
    assert source.threads[0] == main  # the first frame, before the screen shows
    assert set(source.threads[1:]) - {main}, "the periodic polls ran on the UI thread"


async def test_before_the_first_sample_the_screen_says_loading_and_draws_no_bars(tmp_path):
    store, session_id = _running_session(tmp_path)
    app = VlmtopApp(store, LiveTail(store, session_id))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        header = str(app.query_one("#header").render())
        assert "loading tiny-qwen2-vl…" in header and "auto auto" not in header
        for row in app.query(StageRow):
            assert row.sparkline.data == []  # not one full-height bar per stage


async def test_s_stops_an_attached_run_after_a_yes_and_q_only_detaches(tmp_path):
    store, session_id = _running_session(tmp_path)
    app = VlmtopApp(store, LiveTail(store, session_id))  # attached: no worker of ours
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.1)
        # the footer offers what the keys do here: q leaves the run going, S stops it
        footer = {key: b.description for key, (_, b, enabled, _) in app.screen.active_bindings.items()
                  if b.show and enabled}
        assert footer["q"] == "detach" and footer["S"] == "stop run"
        await pilot.press("S")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.press("n")  # changed my mind: nothing written
        await pilot.pause()
        assert store.controls(session_id) == []
        await pilot.press("S", "y")
        await pilot.pause()
        assert [(c.kind, c.status) for c in store.controls(session_id)] == [("stop", "pending")]
        assert app.is_running  # stopping is not leaving: the screen shows the run end
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert len(store.controls(session_id)) == 1  # q on an attached session writes nothing


async def test_ctrl_c_quits_and_stops_the_worker_after_the_sample_in_flight(tmp_path):
    proc, store, session_id = start_worker_for_test(tmp_path / "ctrlc.db")
    try:
        app = VlmtopApp(store, LiveTail(store, session_id), worker=proc)
        async with app.run_test(size=(100, 30)) as pilot:
            await _wait_until(pilot, lambda: app.state.total >= 2, 60)
            footer = {key: b.description for key, (_, b, enabled, _) in app.screen.active_bindings.items()
                      if b.show and enabled}
            assert footer["q"] == "quit" and "S" not in footer  # our own run: q stops it
            await pilot.press("ctrl+c")  # Textual's default only says "press ctrl+q"
            await _wait_until(pilot, lambda: proc.poll() is not None, 60)
        assert proc.wait(timeout=30) == 0
        assert not app.is_running
        info = store.session(session_id)
        assert info.status == "completed"
        assert [c.kind for c in store.controls(session_id)] == ["stop"]
        rows = store.samples(session_id)
        assert rows and all(r.status == "ok" and r.e2e_ms > 0 for r in rows)  # the last one finished
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_a_source_that_can_seek_is_played_back_whatever_its_class(tmp_path):
    from recorded_session import SESSION_ID, record_fixed_session

    store = record_fixed_session(tmp_path / "fixed.db")

    class Playback:  # not a ReplaySource: the app must go by the capability
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

    source = Playback(ReplaySource(store, SESSION_ID, playing=False))
    app = VlmtopApp(store, source)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.replay is source and not app.steerable
        await pilot.press("end")
        await pilot.pause()
        assert app.state.position == source.total - 1


def test_interval_option_on_attach_and_replay(tmp_path):
    cli = [sys.executable, "-m", "vlmtop"]
    for command in ("attach", "replay"):
        help_text = subprocess.run(cli + [command, "--help"], capture_output=True, text=True).stdout
        assert "--interval SECONDS" in help_text and f"default {DEFAULT_INTERVAL_S:g}" in " ".join(help_text.split())
        bad = subprocess.run(cli + [command, "--interval", "0", "--db", str(tmp_path / "none.db")],
                             capture_output=True, text=True)
        assert bad.returncode == 2 and "--interval 0" in bad.stderr and "Traceback" not in bad.stderr
        assert not (tmp_path / "none.db").exists()  # refused before anything is opened
