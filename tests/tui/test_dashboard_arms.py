"""The dashboard on runs with arms, and on a model with a stage that was not located: the
numbers on screen are the database's, per arm, and never two arms pooled."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import start_worker_for_test
from recorded_arms_session import (
    ARMS,
    ARMS_SESSION_ID,
    TOKENS_PER_STEP,
    UNLOCATED_SESSION_ID,
    record_arms_session,
    record_unlocated_session,
)
from recorded_session import SESSION_ID, record_fixed_session
from rich.console import Console
from textual.widgets._footer import FooterKey  # noqa: PLC2701 (Textual exports no public name)

from vlmtop.core.format import ms
from vlmtop.sessions.compare import compare_rows, is_measured
from vlmtop.sessions.compare.terms import CompareOptions
from vlmtop.sessions.knobs import arm_order
from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.screens.arms import ArmsScreen
from vlmtop.tui.state.arms import ARM_STAGES
from vlmtop.tui.widgets.arms_panel import ArmsPanel
from vlmtop.tui.widgets.stage_table import StageRow


def _replay(store, session_id):
    return VlmtopApp(store, ReplaySource(store, session_id, playing=False, position=10**9))


def _row(app, label: str) -> StageRow:
    return app.query_one(f"#row-{label.replace('/', '-')}", StageRow)


def _cells(row: StageRow) -> list[str]:
    return str(row.cells.render()).split()


def _plain(renderable, width: int = 116) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def _arm_rows(store, session_id, arm):
    return [r for r in store.samples(session_id) if is_measured(r) and r.arm == arm]


def _median(rows, attr: str) -> str:
    return ms(float(np.median([getattr(r, attr) for r in rows]))).strip()


def _panel_lines(app, arms=ARMS) -> dict[str, str]:
    """The arms panel's lines by arm label."""
    lines = str(app.query_one(ArmsPanel).render()).splitlines()
    return {arm: next(line for line in lines if f" {arm} " in line) for arm in arms}


def _figures(line: str, arm: str) -> list[str]:
    """n and the p50 cells of an arms panel line (after the label, before the ratio)."""
    cells = line.split("│")[0].split()
    return cells[cells.index(arm) + 1 :]


async def test_the_stage_table_shows_one_arm_at_a_time_with_its_own_numbers(tmp_path):
    store = record_arms_session(tmp_path / "arms.db")
    app = _replay(store, ARMS_SESSION_ID)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        pooled = [r for r in store.samples(ARMS_SESSION_ID) if is_measured(r)]
        for arm in ARMS:  # the baseline first, then `a` moves on
            rows = _arm_rows(store, ARMS_SESSION_ID, arm)
            heading = str(app.query_one("#stages .heading").render())
            assert f"arm {arm}" in heading
            # p50 of e2e = that arm's median in the database, not the two arms' pooled one
            label, last, p50, *_ = _cells(_row(app, "e2e"))
            assert p50 == _median(rows, "e2e_ms") != _median(pooled, "e2e_ms")
            assert last == ms(rows[-1].e2e_ms).strip()
            assert "arm " + arm in app.query_one("#distribution").border_title
            await pilot.press("a")
            await pilot.pause()
        assert f"arm {ARMS[0]} (baseline)" in str(app.query_one("#stages .heading").render())  # wrapped round


async def test_the_arms_panel_has_each_arms_p50_and_the_paired_comparison(tmp_path):
    store = record_arms_session(tmp_path / "arms.db")
    app = _replay(store, ARMS_SESSION_ID)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        panel = app.query_one(ArmsPanel)
        assert panel.display and "paired by sample in one process" in panel.border_title
        lines = _panel_lines(app)
        for arm in ARMS:
            rows = _arm_rows(store, ARMS_SESSION_ID, arm)
            cells = _figures(lines[arm], arm)
            assert cells[0] == str(len(rows))  # n
            for attr in ("vision_ms", "prefill_ms", "decode_ms", "e2e_ms"):
                assert _median(rows, attr) in cells
        # the selected stage (prefill) against the baseline, as compare computes it on the pairs
        base, other = (_arm_rows(store, ARMS_SESSION_ID, arm) for arm in ARMS)
        # one of the 8 stages whose intervals hold together, as `vlmtop compare` gives it
        expected = {r.stage: r for r in compare_rows(base, other, ARM_STAGES, CompareOptions(n_boot=500))}["prefill_ms"]
        assert expected.paired and expected.n_pairs == len(base)
        ratio = lines[ARMS[1]].split("│")[1]
        assert f"×{expected.ratio:.3f} {expected.ci_low:.3f}–{expected.ci_high:.3f} {expected.verdict}" in ratio
        if expected.verdict_short:  # an inconclusive verdict says why, in a few words at least
            assert ratio.rstrip().endswith(expected.verdict_short)
        assert "baseline" in lines[ARMS[0]].split("│")[1]
        # decode doubles with twice the tokens (the data say so), prefill is never called different
        comparison = {r: c for r, c in app.state.arm_comparisons()[0].results.items()}
        assert comparison["decode_ms"].verdict == "slower"
        assert comparison["prefill_ms"].verdict in ("same", "inconclusive")
        # A: every stage in full, with the same figures
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, ArmsScreen)
        detail = _plain(app.screen.query_one("#arms-detail").content)
        (decode,) = compare_rows(base, other, ["decode_ms"], CompareOptions(n_boot=500))
        decode_line = next(line for line in detail.splitlines() if line.strip().startswith("decode "))
        assert f"×{decode.ratio:.3f}" in decode_line and "slower" in decode_line
        assert f"{(decode.ratio - 1) * decode.median_a:+.2f}" in decode_line  # Δ/pair, ms
        assert f"{len(base)} samples paired in one process" in detail
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ArmsScreen)


async def test_at_80x24_the_arms_panel_keeps_the_selected_stage_and_its_verdict(tmp_path):
    store = record_arms_session(tmp_path / "arms.db")
    app = _replay(store, ARMS_SESSION_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("down")  # decode_per_token
        await pilot.pause()
        panel = app.query_one(ArmsPanel)
        assert panel.region.bottom <= 24 and panel.region.height >= 4  # on screen: rule, heading, two arms
        text = str(panel.render())
        assert "decode_per_token: ratio" in text.splitlines()[0]
        lines = _panel_lines(app)
        base, other = (_arm_rows(store, ARMS_SESSION_ID, arm) for arm in ARMS)
        assert _median(other, "decode_per_token_ms") in _figures(lines[ARMS[1]], ARMS[1])
        expected = {r.stage: r for r in compare_rows(base, other, ARM_STAGES,
                                                     CompareOptions(n_boot=500))}["decode_per_token_ms"]
        assert f"×{expected.ratio:.3f}" in lines[ARMS[1]] and expected.verdict in lines[ARMS[1]]
        if expected.verdict_short:  # at 80 columns too, the reason in a few words
            assert lines[ARMS[1]].rstrip().endswith(expected.verdict_short)
        assert all(len(line) <= panel.content_size.width for line in text.splitlines())
        assert "a" in [key.key for key in app.query(FooterKey)]  # `a` is offered


async def test_a_run_with_one_arm_shows_no_arms_panel_and_offers_no_a(tmp_path):
    store = record_fixed_session(tmp_path / "fixed.db")
    app = _replay(store, SESSION_ID)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        before = _cells(_row(app, "e2e"))
        await pilot.press("a")
        await pilot.pause()
        assert not app.query_one(ArmsPanel).display
        assert "a" not in [key.key for key in app.query(FooterKey)]
        assert _cells(_row(app, "e2e")) == before and "arm" not in str(app.query_one("#stages .heading").render())


async def test_an_unlocated_projector_reads_not_located_and_speculative_decode_is_marked(tmp_path):
    store = record_unlocated_session(tmp_path / "janus.db")
    app = _replay(store, UNLOCATED_SESSION_ID)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        projector = _row(app, "projector")
        text = str(projector.cells.render())
        assert "not located" in text and "0.00" not in text
        assert not projector.sparkline.display
        rows = [r for r in store.samples(UNLOCATED_SESSION_ID) if is_measured(r)]
        decode = _row(app, "decode_per_token")
        assert f"speculative: {TOKENS_PER_STEP:.2f} tok/step" in str(decode.cells.render())
        # per token = decode time over the 15 decode tokens, not over the 6 steps
        assert _cells(decode)[2] == _median(rows, "decode_per_token_ms")
        assert rows[0].decode_per_token_ms == pytest.approx(rows[0].decode_ms / 15)
        share = str(app.query_one("#share").render())
        assert "projector" in share and "not located" in share and "%" not in share.split("projector")[1]
        await pilot.press("up")  # select the projector: the distribution says why it is empty
        await pilot.pause()
        assert "not located" in str(app.query_one("#distribution").render())


async def test_a_live_run_with_arms_shows_each_arm_as_recorded(tmp_path):
    proc, store, session_id = start_worker_for_test(tmp_path / "live.db", knobs={"max_new_tokens": [1, 3]}, count=9)
    try:
        app = VlmtopApp(store, LiveTail(store, session_id), worker=proc)
        async with app.run_test(size=(100, 34)) as pilot:
            for _ in range(600):
                await pilot.pause(0.1)
                if store.session(session_id).status != "running" and app.state.session.status != "running":
                    break
            await pilot.pause(1.2)  # the comparison is recomputed at most once a second
            app.refresh_frame()
            await pilot.pause()
            assert proc.wait(timeout=30) == 0
            labels = arm_order(store.session(session_id).settings, [])
            assert labels == ["max_new_tokens=1", "max_new_tokens=3"] == app.state.arm_labels
            lines = _panel_lines(app, labels)
            for label in labels:
                rows = [r for r in store.samples(session_id) if is_measured(r) and r.arm == label]
                cells = _figures(lines[label], label)
                assert cells[0] == str(len(rows)) == "9"
                assert _median(rows, "prefill_ms") in cells
            assert "9 pairs" in app.query_one(ArmsPanel).border_title
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_r_resets_every_arm_and_the_comparison_waits_for_new_pairs(tmp_path):
    store = record_arms_session(tmp_path / "arms.db")
    app = _replay(store, ARMS_SESSION_ID)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        lines = _panel_lines(app)
        assert [_figures(lines[arm], arm)[0] for arm in ARMS] == ["0", "0"]
        assert "waiting for pairs: 0 of 8" in lines[ARMS[1]]


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
def test_snapshot_of_a_recorded_session_with_arms(tmp_path, snap_compare, size):
    store = record_arms_session(tmp_path / "arms.db")
    assert snap_compare(_replay(store, ARMS_SESSION_ID), terminal_size=size, press=["down", "down"])
