"""Closing the poller waits for a poll under way and starts none after it: the dashboard's
thread shares the store's sqlite3 connection, and closing that connection while another
thread is inside a statement on it crashes the process (a NULL handle in CPython's cursor).
Textual cancels a thread worker on exit without waiting for it, so the app closes its
poller before run() or run_test() returns, and only then may the store be closed."""

from __future__ import annotations

import threading

from recorded_session import SESSION_ID, record_fixed_session

from vlmtop.sessions.playback import LiveTail
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.poller import Poller


class HeldSource:
    """A source whose poll waits, inside it, until the test lets it finish."""

    def __init__(self, source):
        self.source = source
        self.inside = threading.Event()
        self.release = threading.Event()
        self.polls = 0

    def poll(self):
        self.polls += 1
        self.inside.set()
        assert self.release.wait(60)
        return self.source.poll()


def test_close_waits_for_the_poll_under_way_and_no_poll_starts_after(tmp_path):
    store = record_fixed_session(tmp_path / "s.db")
    held = HeldSource(LiveTail(store, SESSION_ID))
    poller = Poller(held, interval=0.05)
    thread = threading.Thread(target=poller.run, args=(lambda: False, lambda message: None), daemon=True)
    thread.start()
    assert held.inside.wait(60)  # the thread is inside a poll
    closed = threading.Event()
    closer = threading.Thread(target=lambda: (poller.close(), closed.set()), daemon=True)
    closer.start()
    assert not closed.wait(0.3)  # close() is waiting for the poll under way
    held.release.set()
    assert closed.wait(60)
    thread.join(60)
    assert not thread.is_alive() and held.polls == 1 and poller.poll() is False
    store.close()  # safe now: nothing is inside the connection


async def test_the_app_closes_its_poller_before_run_test_returns(tmp_path):
    store = record_fixed_session(tmp_path / "s.db")
    app = VlmtopApp(store, LiveTail(store, SESSION_ID), interval=0.05)
    async with app.run_test() as pilot:
        await pilot.pause()
    assert app.poller.poll() is False  # closed: the caller may close the store
    store.close()
