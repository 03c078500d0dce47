"""At 80x24 the dashboard's comparison panel still says why a verdict is `same`."""

from __future__ import annotations

import dataclasses

from recorded_session import SESSION_ID, record_fixed_session
from vlmtop.sessions.source import ReplaySource
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.widgets.comparison import same_gloss


async def test_at_80x24_a_same_verdict_keeps_its_reason_on_one_line(tmp_path):
    store = record_fixed_session(tmp_path / "fixed.db")
    app = VlmtopApp(store, ReplaySource(store, SESSION_ID, playing=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("end")
        await pilot.pause(1.2)  # the comparison is recomputed at most once a second
        app.refresh_frame()
        await pilot.pause()
        panel = app.query_one("#comparison")
        lines = str(panel.render()).splitlines()
        (decode,) = [line for line in lines if line.startswith("decode_per_token")]
        assert decode.rstrip().endswith("same (p ≥ 0.05)")
        assert all(len(line) <= panel.content_size.width for line in lines)
        (result,) = [r for r in app.state.comparison()[1] if r.verdict == "same"]
        width = panel.content_size.width
    # the other reasons, on the same real result: the short form where the long one would wrap
    spans = dataclasses.replace(result, p_value=0.001, ci_low=0.99, ci_high=1.01)
    small = dataclasses.replace(result, p_value=0.001, ci_low=1.005, ci_high=1.01)
    assert same_gloss(spans, width) == " CI spans 1" and same_gloss(spans, 120) == " (CI includes 1)"
    assert same_gloss(small, width).startswith(" within ±")
    assert same_gloss(result, 20) == ""  # no room at all: the row keeps one line
