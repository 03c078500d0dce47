"""The help screen (`?`): built from the dashboard's active bindings, it lists every key that
works there once, and scrolls where the terminal is too short to show them all."""

from __future__ import annotations

import re

import pytest
from recorded_session import SESSION_ID, record_fixed_session

from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.sessions.policies import Policies
from vlmtop.sessions.store import SessionStore
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.screens.help import HelpScreen, key_rows
from vlmtop.tui.steering import POLICY_KEYS, STEERING_BINDINGS


def _replay(tmp_path) -> VlmtopApp:
    store = record_fixed_session(tmp_path / "fixed.db")
    return VlmtopApp(store, ReplaySource(store, SESSION_ID, playing=False))


def _attached(tmp_path) -> VlmtopApp:
    """A running session this process owns (never read as interrupted), watched as attached."""
    store = SessionStore.open(tmp_path / "live.db", create=True)
    session_id = store.create_session("tiny-qwen2-vl", "auto", "auto", {"warmup": "none"})
    return VlmtopApp(store, LiveTail(store, session_id))


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


async def _read_by_scrolling(pilot, screen: HelpScreen) -> str:
    """The help's whole text, read the way a user can: what the box shows, scrolled down a
    line at a time with the keyboard until it scrolls no further."""
    box = screen.query_one("VerticalScroll")
    lines: dict[int, str] = {}
    while True:
        region = box.scrollable_content_region
        shown = [strip.text for strip in pilot.app.screen._compositor.render_strips()]
        for row in range(region.height):
            lines[round(box.scroll_y) + row] = shown[region.y + row][region.x:region.right]
        if box.scroll_y >= box.max_scroll_y:
            return "\n".join(lines[row] for row in sorted(lines))
        before = box.scroll_y
        await pilot.press("down")
        await pilot.pause()
        assert box.scroll_y > before  # the key scrolls the box


@pytest.mark.parametrize("make", [_replay, _attached], ids=["replay", "attached"])
async def test_at_80x24_every_key_and_what_it_does_is_reachable_by_scrolling(tmp_path, make):
    app = make(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bindings = [(node, b) for node, b, _, _ in app.screen.active_bindings.values() if node is app and not b.system]
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        if make is _replay:  # too long for 24 lines: read by scrolling
            assert screen.query_one("VerticalScroll").max_scroll_y > 0
        text = _words(await _read_by_scrolling(pilot, screen))
        for _, binding in bindings:
            key, what = app.get_key_display(binding), binding.tooltip or binding.description
            assert re.search(rf"(^| ){re.escape(key)}( \S+)* {re.escape(_words(what))}", text), (key, what)
            assert binding.description.lower() in what.lower()  # the footer's word is in the help's line
        keys = [keys for keys, _ in key_rows(app, screen.active)]
        assert len(keys) == len(set(keys))  # each key once
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_the_help_lists_the_keys_of_the_mode_it_is_in(tmp_path):
    for make, listed, absent in ((_replay, "[", "c"), (_attached, "c", "[")):
        (folder := tmp_path / make.__name__).mkdir()
        app = make(folder)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            await pilot.press("question_mark")
            await pilot.pause()
            keys = {key for row, _ in key_rows(app, app.screen.active) for key in row.split()}
            assert listed in keys and absent not in keys


def test_each_policy_key_says_the_cycle_it_steps_through_from_the_default():
    for kind, key in POLICY_KEYS.items():
        start = Policies()[kind]
        stepped = [start]
        while (value := Policies().with_value(kind, stepped[-1]).next_value(kind)) != start:
            stepped.append(value)
        (binding,) = (b for b in STEERING_BINDINGS if b.key == key)
        assert binding.tooltip.endswith(": " + " → ".join(stepped))
