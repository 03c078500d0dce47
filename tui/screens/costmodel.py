"""`M`: the cost model of a sweep, live: each arm's median of the selected stage against the
token count that drives it, the fitted curve with its 95 % band once two settings are
measured, and the coefficients as `vlmtop model` prints them.

The fit takes a fraction of a second to seconds (a bootstrap of robust fits), so it never runs
on the UI thread: a thread worker fits a snapshot of the points and hands the result back.
It is redone when a setting appears, every REFIT_EVERY new samples, and once more when rows
stop coming for SETTLE_S, so that at rest the screen holds exactly `vlmtop model`'s figures.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from vlmtop.core.format import ms
from vlmtop.core.text import printable, shown
from vlmtop.sessions.costmodel.drivers import Point, points_from_rows
from vlmtop.tui.state.costmodel_fit import (
    N_BOOT,
    SHORT_DRIVER,
    Fit,
    FitKey,
    StageFitView,
    fit_rows,
    legend_lines,
    refit_due,
    stage_fit_view,
    x_text,
)
from vlmtop.tui.theme import stage_color
from vlmtop.tui.widgets.costmodel_plot import CostModelPlot, marker

SETTLE_S = 1.0  # no new rows for this long: the data is at rest, fit on all of it


class CostModelScreen(ModalScreen):
    DEFAULT_CSS = """
    CostModelScreen { align: center middle; }
    CostModelScreen > Vertical { width: 100%; height: 100%; border: thick $primary; background: $surface; padding: 0 1; }
    CostModelScreen #cm-head { height: auto; }
    CostModelScreen #cm-body { height: 1fr; min-height: 7; }
    CostModelScreen #cm-plot { width: 1fr; }
    CostModelScreen #cm-legend { width: auto; max-width: 45%; padding-left: 1; }
    CostModelScreen #cm-fit { height: auto; }
    """
    # A modal screen hides the app's bindings: ↑/↓ are passed on, so the stage table's selection
    # (and this screen, which the app redraws) follows.
    BINDINGS = [("escape,q,M", "dismiss", "close"), ("up", "select(-1)", "stage"), ("down", "select(1)", "stage")]

    def __init__(self) -> None:
        super().__init__()
        self.fit: Fit | None = None  # the newest finished fit
        self.view: StageFitView | None = None  # what is drawn now
        self._points: list[Point] = []
        self._fitting = False
        self._settle: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "cost model · ↑/↓ stage · escape closes"
            yield Static(id="cm-head")
            with Horizontal(id="cm-body"):
                yield CostModelPlot(id="cm-plot")
                yield Static(id="cm-legend")
            yield Static(id="cm-fit")

    def on_mount(self) -> None:
        self.show(self.app.state)

    def action_select(self, delta: int) -> None:
        self.app.action_select(delta)

    # -- data ----------------------------------------------------------------------------

    def show(self, state) -> None:
        """Redrawn by the app on every frame while open (new rows, a stage selected)."""
        self._points = points_from_rows(state.rows)
        self._maybe_refit(at_rest=False)
        self._draw()

    @property
    def fitted_on(self) -> FitKey | None:
        return self.fit.key if self.fit else None

    def _maybe_refit(self, at_rest: bool) -> None:
        if self._fitting:
            return  # one fit at a time: looked at again when it lands
        key = FitKey.of(self._points)
        if refit_due(self.fitted_on, key, at_rest):
            self._fitting = True
            settings = getattr(self.app.state.session, "settings", None) or {}
            self._fit_in_thread(list(self._points), settings.get("knobs"))
        elif key != self.fitted_on and not at_rest:
            # a few new rows: fit them once rows stop coming (restarted by each frame)
            if self._settle is not None:
                self._settle.stop()
            self._settle = self.set_timer(SETTLE_S, self._settled)

    def _settled(self) -> None:
        self._settle = None
        self._maybe_refit(at_rest=True)

    @work(thread=True, exclusive=True, group="costmodel", name="fit the cost model")
    def _fit_in_thread(self, points: list[Point], sweep: dict | None) -> None:
        try:
            fit = fit_rows(points, sweep)  # a VlmtopError is already a reason in the Fit
        except Exception as exc:  # noqa: BLE001 - a failed worker would take the whole dashboard down
            fit = Fit(FitKey.of(points), points, reason=f"the fit failed: {type(exc).__name__}: {exc}")
        if get_current_worker().is_cancelled:
            return
        try:
            self.app.call_from_thread(self._fitted, fit)
        except RuntimeError:
            pass  # the app quit while this fit ran: there is nothing left to show it on

    def _fitted(self, fit: Fit) -> None:
        self._fitting = False
        if not self.is_attached:
            return
        self.fit = fit
        self._maybe_refit(at_rest=False)  # rows that came while it ran
        self._draw()

    # -- drawing -------------------------------------------------------------------------

    def _draw(self) -> None:
        state = self.app.state
        view = self.view = stage_fit_view(state.selected_attr, state.selected_label, self._points, self.fit)
        color = stage_color(self.app, view.label.split("/")[0])
        self.query_one("#cm-head", Static).update(self._head(view))
        self.query_one(CostModelPlot).show(view.plot, point_style=f"bold {color}", curve_style=color,
                                           band_style=f"on {self._band_color()}")
        self.query_one("#cm-legend", Static).update(self._legend(view, color))
        self.query_one("#cm-fit", Static).update(self._fit_text(view))

    def _band_color(self) -> str:
        from textual.color import Color

        theme = self.app.current_theme
        foreground = Color.parse(theme.foreground or ("#e0e0e0" if theme.dark else "#1e1e1e"))
        background = Color.parse(theme.background or ("#121212" if theme.dark else "#efefef"))
        return background.blend(foreground, 0.12).hex  # a faint shade: the curve and numbers stay legible on it

    def _head(self, view: StageFitView) -> Text:
        text = Text()
        if not view.driver:
            return text.append(printable(view.reason or ""), style="italic")
        return text.append(printable(view.label), style="bold").append(f" ms vs {view.x_title}")

    def _fitted_on_text(self) -> Text:
        """Which rows the coefficients are from: while a run goes on, the fit lags the points."""
        key = self.fit.key
        text = Text(f"fit: {key.points} samples, {len(key.settings)} settings", style="dim",
                    no_wrap=True, overflow="ellipsis")
        behind = len(self._points) - key.points
        if behind or self._fitting:
            text.append(f" (+{behind} new: refit {'running' if self._fitting else 'due'})", style="italic")
        return text.append(printable(f" · = vlmtop model {self.app.session_id} --boot {N_BOOT}", limit=0))

    @staticmethod
    def _legend(view: StageFitView, color: str) -> Text:
        if not view.arms:
            return Text("")
        heading, rows = legend_lines(view)
        width = max(len(heading), *(len(label) for label, _ in rows))
        short = SHORT_DRIVER[view.driver]
        text = Text(f"  {heading:<{width}}  {short:>7}   n  p50 ms", style="dim", no_wrap=True, overflow="ellipsis")
        for label, arm in rows:
            text.append("\n")
            text.append(marker(arm.marker_index), style=f"bold {color}")
            text.append(printable(f" {label:<{width}}", limit=0) + f"  {x_text(arm.x):>7} {arm.n:>3} {ms(arm.y, 7)}")
        return text

    def _fit_text(self, view: StageFitView) -> Group | Text:
        if view.reason is not None:
            return shown(view.reason if view.driver else "", style="italic")
        table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="dim", show_edge=False)
        table.add_column("term", no_wrap=True)
        table.add_column("value", justify="right", no_wrap=True)
        table.add_column("95% CI", justify="right", no_wrap=True)
        for unit, value, ci in view.coefficients:
            table.add_row(unit, value, ci)
        q = view.quality
        quality = Text(f"R² {q['R²']} · residual {q['residual']} vs noise {q['noise']} = {q['residual/noise']}"
                       f" (n {q['n']})", no_wrap=True, overflow="ellipsis")
        parts: list = [table, quality]
        parts += [Text(printable(note), style="dim", no_wrap=True, overflow="ellipsis") for note in view.notes]
        parts.append(self._fitted_on_text())
        return Group(*parts)
