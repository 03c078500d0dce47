"""The cost-model screen (`M`): on a real image-size sweep of tiny-qwen2-vl, replayed and
followed live, at 80x24 it shows each arm's median of the selected stage (the database's) and
the coefficients exactly as `vlmtop model SESSION --boot 50` prints them; on a session without
a sweep, one line says why there is nothing to fit. The character plot puts marks in the
right cells. No timing is asserted."""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pytest
from recorded_session import SESSION_ID, record_fixed_session
from rich.console import Console

from vlmtop.cli import main
from vlmtop.core.format import ms
from vlmtop.sessions.costmodel.drivers import points_from_rows
from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.sessions.store import SessionStore
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.screens.costmodel import CostModelScreen
from vlmtop.tui.screens.help import HelpScreen
from vlmtop.tui.state.costmodel_fit import REFIT_EVERY, FitKey, PlotData, refit_due
from vlmtop.tui.widgets.costmodel_plot import BOTTOM_ROWS, render_plot

SIZES = ("56x56", "112x112", "168x168")
SIZE = (80, 24)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    db = tmp_path_factory.mktemp("cm") / "s.db"
    assert main(["run", "--headless", "--db", str(db), "--knob", f"image_size={','.join(SIZES)}",
                 "--count", "3", "--max-new-tokens", "3", "--warmup", "1"]) == 0
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        return db, info, store.samples(info.id)


def _plain(renderable, width: int = 76) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


async def _wait_for_fit(pilot, screen: CostModelScreen, tries: int = 600) -> None:
    """Until the newest fit is on every point the screen holds (the worker thread is done)."""
    for _ in range(tries):
        await pilot.pause(0.1)
        if screen.fit is not None and not screen._fitting and screen.fit.key == FitKey.of(screen._points):
            await pilot.pause()
            return
    raise AssertionError(f"no fit on all points: {screen.fit and screen.fit.key}, {len(screen._points)} points")


def _cli_output(capsys, db, session_id: str) -> str:
    """What `vlmtop model SESSION --boot 50` prints (run outside the app: a running Textual app
    takes stdout over)."""
    capsys.readouterr()
    assert main(["model", session_id, "--db", str(db), "--boot", "50"]) == 0
    return capsys.readouterr().out


def _cli_section(output: str, label: str) -> str:
    """The coefficient rows of one stage in `vlmtop model`'s output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [label])
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "" or not lines[i].startswith(" " * 5))
    return "\n".join(lines[start:end])


def _shown(screen: CostModelScreen) -> tuple[list, str]:
    """The coefficient cells the screen holds and the text it draws under the plot."""
    return list(screen.view.coefficients), _plain(screen.query_one("#cm-fit").content)


def _assert_coefficients_as_printed(shown: tuple[list, str], section: str) -> None:
    """Each coefficient row on screen (unit, value, CI) is drawn and is a row of `section`
    (`vlmtop model`'s), and every row of that section is on screen."""
    coefficients, text = shown
    assert coefficients, text
    for unit, value, ci in coefficients:
        row = rf"{re.escape(unit)}\s+{re.escape(value)}\s+{re.escape(ci)}"
        assert re.search(row, text), (unit, text)
        assert re.search(row + r"\s*$", section, re.M), (unit, section)
    assert len(coefficients) == section.count("\n") + 1  # every term, no more


def _arm_medians(rows, stage: str, driver: str) -> dict[str, tuple[float, float]]:
    """Per image size: the median driver and the median stage value, from the database's rows."""
    points = points_from_rows(rows)
    out = {}
    for size in SIZES:
        own = [p for p in points if p.knobs["image_size"] == size]
        value = [p.decode_ms / p.steps if stage == "decode_per_step_ms" else getattr(p, stage) for p in own]
        out[size] = (float(np.median([getattr(p, driver) for p in own])), float(np.median(value)))
    return out


async def test_the_screen_shows_the_sweeps_medians_and_vlmtop_models_coefficients(sweep, capsys):
    db, info, rows = sweep
    store = SessionStore.open(db, create=False)
    printed = _cli_output(capsys, db, info.id)
    app = VlmtopApp(store, ReplaySource(store, info.id, playing=False, position=10**9))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("M")
        screen = app.screen
        assert isinstance(screen, CostModelScreen)
        await _wait_for_fit(pilot, screen)
        for stage, label, driver in (("prefill_ms", "prefill", "prompt_tokens"),
                                     ("decode_per_step_ms", "decode/step", "context")):
            view = screen.view
            assert view.stage == stage
            assert str(screen.query_one("#cm-head").render()).startswith(f"{label} ms vs ")
            expected = _arm_medians(rows, stage, driver)
            assert [a.label for a in view.arms] == [f"image_size={s}" for s in SIZES]  # in the driver's order
            legend = str(screen.query_one("#cm-legend").render()).splitlines()
            for index, (arm, size) in enumerate(zip(view.arms, SIZES)):
                assert (arm.x, arm.y) == pytest.approx(expected[size])
                assert arm.n == 3
                # the legend row and the plot's mark of this arm
                assert legend[index + 1].split() == [str(index + 1), size, f"{arm.x:g}", "3", ms(arm.y).strip()]
            plot = str(screen.query_one("#cm-plot").render())
            assert all(str(i + 1) in plot for i in range(len(SIZES)))
            _assert_coefficients_as_printed(_shown(screen), _cli_section(printed, label))
            assert f"fit: 9 samples, 3 settings · = vlmtop model {info.id} --boot 50" in _plain(
                screen.query_one("#cm-fit").content, 80)
            await pilot.press("down")  # the stage table's selection: prefill -> decode
            await pilot.pause()
        assert screen.view.stage == "ttft_ms"  # no model of its own: one line, no plot
        fit_text = _plain(screen.query_one("#cm-fit").content).strip()
        assert fit_text == "" and screen.view.plot is None
        head = str(screen.query_one("#cm-head").render())
        assert head.startswith("ttft has no cost model of its own") and "\n" not in head.strip()
        await pilot.press("escape")
        assert not isinstance(app.screen, CostModelScreen)


async def test_a_live_sweep_waits_for_a_second_setting_then_fits(sweep, tmp_path, capsys):
    """Attached to a session being written: one image size says what the fit waits for; once
    the other sizes arrive, the fit is the one `vlmtop model` makes on the same rows."""
    _, info, rows = sweep
    db = tmp_path / "live.db"
    store = SessionStore.open(db, create=True)
    live_id = "11fe5eed01"
    store.create_session(info.model, info.device, info.dtype, info.settings, info.versions, session_id=live_id)
    first = [r for r in rows if r.arm == f"image_size={SIZES[0]}"]
    rest = [r for r in rows if r.arm != first[0].arm]

    def write(rows_) -> None:  # as a worker would: the next seq, gapless
        for row in rows_:
            store.write_sample(dataclasses.replace(row, session_id=live_id, seq=store.session(live_id).sample_count))

    write(first)
    app = VlmtopApp(store, LiveTail(store, live_id), interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("M")
        screen = app.screen
        await _wait_for_fit(pilot, screen)
        reason = _plain(screen.query_one("#cm-fit").content).strip()
        assert reason == "fit needs 2 settings; 1 measured so far (sweep image_size: 3 values)"
        assert [a.label for a in screen.view.arms] == [f"image_size={SIZES[0]}"]  # its point is drawn already
        write(rest)
        for _ in range(300):  # until the poller has brought every row in
            await pilot.pause(0.05)
            if len(screen._points) == len(points_from_rows(rows)):
                break
        await _wait_for_fit(pilot, screen)
        assert len(screen.view.arms) == len(SIZES)
        shown = _shown(screen)
    _assert_coefficients_as_printed(shown, _cli_section(_cli_output(capsys, db, live_id), "prefill"))


async def test_a_session_without_a_sweep_says_in_one_line_why_nothing_is_fitted(tmp_path):
    store = record_fixed_session(tmp_path / "one.db")
    app = VlmtopApp(store, ReplaySource(store, SESSION_ID, playing=False, position=10**9))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "cost model of a sweep" in _plain(list(app.screen.query("Static"))[1].content)
        await pilot.press("escape")
        await pilot.press("M")
        screen = app.screen
        await _wait_for_fit(pilot, screen)
        reason = _plain(screen.query_one("#cm-fit").content, 200).strip()
        assert reason.startswith("nothing to fit: every sample runs with the same token counts (no sweep)")
        assert "\n" not in reason and "--knob image_size=" in reason
        assert screen.fit.model is None and len(screen.view.arms) == 1


# --- the plot and the refit rule -------------------------------------------------------------


def _cells(text, width: int) -> list[str]:
    return [line.ljust(width) for line in text.plain.split("\n")]


def test_points_land_in_their_cells_and_the_axes_are_labelled():
    # y axis: the highest point 10, x 1.05 = 10.5, rounds up to 15; x axis 0..100
    data = PlotData([(0.0, 0.0), (100.0, 10.0), (50.0, 5.0)], x_max=100.0)
    width, height = 41, 12
    lines = _cells(render_plot(data, width, height), width)
    assert len(lines) == height
    left = 4  # the widest y label ("7.5") and the axis line
    rows, cols = height - BOTTOM_ROWS, width - left
    y_max = data.y_max()
    assert y_max == 15.0
    assert lines[rows - 1][left] == "1"  # (0, 0): bottom left
    assert lines[rows - 1 - round(10 / 15 * (rows - 1))][left + cols - 1] == "2"  # (100, 10): right edge
    assert lines[rows - 1 - round(5 / 15 * (rows - 1))][left + round(0.5 * (cols - 1))] == "3"
    assert lines[0].startswith(" 15┤") and lines[rows - 1].startswith("  0┤")
    assert lines[rows - 1 - round(7.5 / 15 * (rows - 1))].startswith("7.5┤")  # each label on its own value's row
    assert lines[rows].startswith("   └┬") and lines[rows].rstrip().endswith("┬")
    assert lines[rows + 1].split() == ["0", "50", "100"]


def test_the_curve_is_braille_and_the_band_shades_its_cells():
    xs = np.linspace(0, 100, 30)
    data = PlotData([], x_max=100.0, curve=[(x, 2.0) for x in xs], band=[(x, 1.0, 3.0) for x in xs])
    width, height = 23, 10
    text = render_plot(data, width, height, band_style="on red")
    lines = _cells(text, width)
    rows = height - BOTTOM_ROWS
    y_max = data.y_max()  # 3 x 1.05 -> 4
    row = rows - 1 - round(2 / y_max * (rows - 1))
    left = lines[0].index("┤") + 1
    assert all(0x2800 < ord(ch) <= 0x28FF for ch in lines[row][left:])  # a flat line: a dot in every cell
    assert all(ch == " " for r, line in enumerate(lines[:rows]) if r != row for ch in line[left:])
    shaded = {(span.start, span.end) for span in text.spans if span.style == "on red"}
    assert shaded  # the band's cells carry the band style


def test_refit_rule():
    a, b = frozenset({"s1"}), frozenset({"s1", "s2"})
    assert refit_due(None, FitKey(3, a), at_rest=False)
    assert refit_due(FitKey(3, a), FitKey(4, b), at_rest=False)  # a second setting: fit now
    assert not refit_due(FitKey(10, b), FitKey(10 + REFIT_EVERY - 1, b), at_rest=False)  # a few samples: wait
    assert refit_due(FitKey(10, b), FitKey(10 + REFIT_EVERY, b), at_rest=False)
    assert refit_due(FitKey(10, b), FitKey(11, b), at_rest=True)  # rows stopped: fit all of them
    assert not refit_due(FitKey(10, b), FitKey(10, b), at_rest=True)
