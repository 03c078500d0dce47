"""What the panels say, read as a user reads them: labels, reasons, and nothing covered."""

from __future__ import annotations

from recorded_session import COUNT, SESSION_ID, record_fixed_session
from textual.widgets._footer import FooterKey  # noqa: PLC2701 (Textual exports no public name)
from textual.widgets._toast import Toast, ToastRack  # noqa: PLC2701 (Textual exports no public name)

from vlmtop.core.format import ms
from vlmtop.sessions.compare import compare_rows, is_measured, segments
from vlmtop.sessions.compare.terms import CompareOptions
from vlmtop.sessions.playback import ReplaySource
from vlmtop.sessions.records import stage_label
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.widgets.comparison import verdict_gloss
from vlmtop.tui.widgets.distribution import axis_line
from vlmtop.tui.widgets.stage_table import StageRow


def _app(tmp_path, prefill_change_ms: float = 1.0, **kwargs):
    store = record_fixed_session(tmp_path / "fixed.db", prefill_change_ms)
    return store, VlmtopApp(store, ReplaySource(store, SESSION_ID, playing=False, **kwargs))


def _footer(app) -> list[str]:
    return [key.description for key in app.query(FooterKey)]


async def test_the_footer_offers_resume_while_paused_and_pause_while_playing(tmp_path):
    _, app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "resume" in _footer(app) and "pause" not in _footer(app)
        await pilot.press("space")
        await pilot.pause()
        assert app.replay.playing
        assert "pause" in _footer(app) and "resume" not in _footer(app)


async def test_the_comparison_is_labelled_and_says_why_a_verdict_is_inconclusive(tmp_path):
    # prefill 1 % slower after the change: too small for these samples to place beyond or
    # inside the ±2 % band
    store, app = _app(tmp_path, prefill_change_ms=0.05, position=COUNT - 1)
    async with app.run_test(size=(100, 34)) as pilot:
        await pilot.pause()
        panel = app.query_one("#comparison")
        lines = str(panel.render()).splitlines()
        heading = lines[0].split()
        assert heading[:3] == ["stage", "before", "after"] and "CI" in heading and "p" in heading
        rows = [r for r in store.samples(SESSION_ID)]
        a, b = segments(rows)[-2:]
        results = {r.stage: r for r in compare_rows(a.measured, b.measured, options=CompareOptions(n_boot=500))}
        prefill = lines[1]
        # the numbers are the database's: medians before and after, as compare computes them
        assert prefill.split()[1:3] == [ms(results["prefill_ms"].median_a).strip(), ms(results["prefill_ms"].median_b).strip()]
        by_stage = {line.split()[0]: line for line in lines[1:]}
        inconclusive = [r for r in results.values() if r.verdict == "inconclusive"]
        assert results["prefill_ms"] in inconclusive  # each such line says why, in a few words at least
        for r in inconclusive:
            line = by_stage.get(stage_label(r.stage))
            if line is None:  # a stage the panel does not show
                continue
            assert f"{r.p_value:.3f}" in line and line.rstrip().endswith(r.verdict_short)
        assert all(line.rstrip().endswith(("same", "slower", "faster")) for line in by_stage.values()
                   if "inconclusive" not in line)


async def test_at_80x24_an_inconclusive_verdict_keeps_its_reason_on_one_line(tmp_path):
    store, app = _app(tmp_path, prefill_change_ms=0.05, position=COUNT - 1)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        panel = app.query_one("#comparison")
        width = panel.content_size.width
        lines = str(panel.render()).splitlines()
        assert "p" not in lines[0].split()  # p gives way to the reason at this width
        assert all(len(line) <= width for line in lines)
        _, results = app.state.comparison()
        shown = [line for line in lines[1:] if "inconclusive" in line]
        assert shown and len(shown) == sum(r.verdict == "inconclusive" for r in results
                                           if any(line.startswith(stage_label(r.stage) + " ") for line in lines))
        for line in shown:  # `inconclusive too wide`, `inconclusive on edge`
            assert line.split("inconclusive")[1].strip() in ("too wide", "on edge")
    # the same real result at other widths: the reason in full where it fits, else nothing
    # rather than a wrapped row
    (result,) = [r for r in results if r.verdict == "inconclusive"][:1]
    assert verdict_gloss(result, 200) == f" ({result.verdict_note}; {result.settle})"
    assert verdict_gloss(result, 9) == f" {result.verdict_short}" and verdict_gloss(result, 3) == ""


async def test_percentile_labels_sit_under_their_marks_and_never_collide(tmp_path):
    _, app = _app(tmp_path, position=COUNT - 1)
    for width in (160, 60):
        async with app.run_test(size=(width, 40)) as pilot:
            await pilot.pause()
            *_, marks, axis = str(app.query_one("#distribution").render()).splitlines()
            glyphs = [axis.index(glyph) for glyph in "│┆┊"]
            for glyph, q in zip("│┆┊", (50, 90, 99)):  # every label whole, led or ended by its glyph
                assert f"{glyph}p{q} " in axis or f" {ms(app.state.selected_window().percentile(q), 0)}{glyph}" in axis
            assert glyphs == sorted(glyphs)  # in order, none written over another
            if width == 160:  # room enough: each label's glyph is right under its mark
                assert [marks.index(glyph) for glyph in "│┆┊"] == glyphs
        app = _app(tmp_path / "again", position=COUNT - 1)[1] if width == 160 else app


def test_axis_line_pushes_labels_apart_and_keeps_them_inside():
    line = axis_line(40, [(10, "│", "p50 4.50"), (11, "┆", "p90 4.70"), (39, "┊", "p99 5.00")], "4.0", "5.2")
    assert line == "4.0       │p50 4.50 ┆p90 4.70  p99 5.00┊"  # p90 pushed right; p99 ends at its mark
    # no room for p99 to end at its mark either: the set is pulled back from the edge
    assert axis_line(30, [(10, "│", "p50 4.50"), (11, "┆", "p90 4.70"), (29, "┊", "p99 5.00")], "4.0", "5.2") \
        == " │p50 4.50 ┆p90 4.70 ┊p99 5.00"
    assert axis_line(8, [(1, "│", "p50 1"), (4, "┆", "p90 2")], "0", "9") == " │  ┆   "  # too narrow: glyphs only


async def test_a_toast_covers_neither_the_figures_nor_the_verdicts(tmp_path):
    _, app = _app(tmp_path, position=COUNT - 1)
    for size in ((80, 24), (120, 36)):
        async with app.run_test(size=size, notifications=True) as pilot:
            await pilot.pause()
            app.notify("exported 120 samples to /somewhere/with/a/long/path/vlmtop-5eed5e55a0.db")
            await pilot.pause(0.3)
            (toast,) = app.screen.get_child_by_type(ToastRack).query(Toast)
            comparison = app.query_one("#comparison").region
            cells = app.query_one("#row-prefill", StageRow).cells.region
            assert not toast.region.overlaps(comparison)
            assert toast.region.x >= cells.right  # right of last/p50/p90/p99
        app = _app(tmp_path / f"again{size[0]}", position=COUNT - 1)[1]


async def test_sparklines_get_one_point_per_cell(tmp_path):
    _, app = _app(tmp_path, position=COUNT - 1)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        row = app.query_one("#row-e2e", StageRow)
        measured = sum(1 for r in app.state.rows if is_measured(r))
        assert len(row.sparkline.data) == min(measured, row.sparkline.size.width)
