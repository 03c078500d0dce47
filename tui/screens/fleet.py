"""`F`: every session of the experiment, live: one row per session, or per host or device.

What `vlmtop run --ray` records is one session per actor, all at once; the dashboard
follows one of them. This screen shows them side by side, read every second off the UI
thread (tui/fleet_watch.py, numbers from sessions/fleet.py): where each ran, its
status, measured samples, samples/s, the median of the dashboard's selected stage, and
how long ago its writer last showed a sign of life. `g` groups by host, then by device;
enter on a session follows it in the dashboard, on a group lists its sessions.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import get_current_worker

from vlmtop.core.format import ms
from vlmtop.core.text import markup_safe, printable, shown
from vlmtop.sessions.fleet import GROUPINGS, MEDIAN_WINDOW, RATE_WINDOW_S, FleetRow
from vlmtop.tui.fleet_watch import FLEET_INTERVAL_S, FleetFailed, FleetRead, FleetWatch
from vlmtop.tui.state import STAGES

SHARE_CAP = 24  # see fit_widths


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"


def rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}"


def fit_widths(columns: list[tuple[int, int | None]], room: int) -> list[int]:
    """Widths for columns of (needed width, minimum when cut or None: never cut) in ``room``:
    each gets what it needs when all fit; else the cuttable ones share what the others
    leave, in proportion to what each would lose (counted up to SHARE_CAP, so that one long
    reason does not starve the host and device), never under their minimum."""
    if sum(n for n, _ in columns) <= room:
        return [n for n, _ in columns]
    fixed = sum(n for n, least in columns if least is None)
    floors = {i: min(n, least) for i, (n, least) in enumerate(columns) if least is not None}
    spare = max(0, room - fixed - sum(floors.values()))
    loss = {i: max(0, min(columns[i][0], SHARE_CAP) - floor) for i, floor in floors.items()}
    total = sum(loss.values()) or 1
    widths = [n if least is None else floors[i] + min(n - floors[i], spare * loss[i] // total)
              for i, (n, least) in enumerate(columns)]
    left = room - sum(widths)  # what rounding and the caps left: to the longest cut column
    cut = [i for i in floors if widths[i] < columns[i][0]]
    if left > 0 and cut:
        longest = max(cut, key=lambda i: columns[i][0] - widths[i])
        widths[longest] += min(left, columns[longest][0] - widths[longest])
    return widths


class FleetScreen(ModalScreen[str | None]):
    """Dismissed with the session id to follow, or None."""

    DEFAULT_CSS = """
    FleetScreen { align: center middle; }
    FleetScreen > VerticalScroll { width: 100%; height: 1fr; border: thick $primary; background: $surface; padding: 0 1; }
    FleetScreen #fleet-detail { height: auto; max-height: 4; background: $surface; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,q,F", "dismiss", "close"),
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("enter", "open", "open"),
        Binding("g", "group", "group by"),
        Binding("left", "stage(-1)", "stage", show=False),
        Binding("right", "stage(1)", "stage", show=False),
    ]

    def __init__(self, db: Path, experiment_id: str, current: str | None, stage: int = 5,
                 interval: float = FLEET_INTERVAL_S):
        super().__init__()
        self.experiment_id = experiment_id
        self.current = current  # the session the dashboard follows
        self.stage = stage  # an index into tui.state.STAGES, as the dashboard's selection
        self.grouping = GROUPINGS[0]
        self.watch = FleetWatch(db, experiment_id, interval)
        self.watch.want(self.column, self.grouping)
        self.read: FleetRead | None = None  # the last read shown
        self.cursor = 0
        self._keep: str | None = None  # the row the cursor goes to once the rows asked for come
        self.error: str | None = None

    @property
    def column(self) -> str:
        return STAGES[self.stage][1]

    @property
    def rows(self) -> list[FleetRow]:
        """The rows on screen (those of the grouping and stage asked for)."""
        read = self.read
        if read is None or read.rows is None or (read.column, read.grouping) != (self.column, self.grouping):
            return []
        return read.rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="fleet-scroll") as scroll:
            scroll.can_focus = False  # its own ↑↓ would scroll the rows away from the cursor
            scroll.border_title = f"fleet {markup_safe(self.experiment_id)}"
            scroll.border_subtitle = "↑↓ select · enter open · g group · ←→ stage · esc close"
            yield Static(Text("reading the fleet…", style="italic"), id="fleet-table")
        yield Static(id="fleet-detail")

    def on_mount(self) -> None:
        self._watch_in_thread()

    @work(thread=True, exclusive=True, group="fleet", name="read the fleet")
    def _watch_in_thread(self) -> None:
        worker = get_current_worker()
        self.watch.run(lambda: worker.is_cancelled or not self.is_attached, self.post_message)

    def on_unmount(self) -> None:
        self.watch.wake()  # the thread notices it is cancelled now, not an interval later

    def on_fleet_read(self, message: FleetRead) -> None:
        shown = self.rows
        keep = self._keep or (shown[self.cursor].key if self.cursor < len(shown) else None)
        self.read, self.error = message, None
        keys = [row.key for row in self.rows]
        if keep in keys:  # the cursor stays on its row when rows come, go or move
            self.cursor = keys.index(keep)
            self._keep = None
        self.cursor = max(0, min(self.cursor, len(keys) - 1))
        self.draw()

    def on_fleet_failed(self, message: FleetFailed) -> None:
        if message.error != self.error:
            self.error = message.error
            self.notify(message.error, severity="error")

    # -- keys ----------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(self.cursor + delta, len(self.rows) - 1))
            self.draw()

    def action_group(self) -> None:
        self.grouping = GROUPINGS[(GROUPINGS.index(self.grouping) + 1) % len(GROUPINGS)]
        self._ask(keep=None)

    def action_stage(self, delta: int) -> None:
        rows = self.rows
        self.stage = (self.stage + delta) % len(STAGES)
        self._ask(keep=rows[self.cursor].key if self.cursor < len(rows) else None)

    def action_open(self) -> None:
        rows = self.rows
        if not rows:
            return
        row = rows[self.cursor]
        if self.grouping == "session":
            self.dismiss(row.key)
            return
        # a host or a device: list its sessions, the cursor on its first
        self.grouping = "session"
        self._ask(keep=row.session_ids[0])

    def _ask(self, keep: str | None) -> None:
        """Read another grouping or stage now; until it comes, the screen says it is reading."""
        self._keep = keep
        self.watch.want(self.column, self.grouping)
        self.cursor = 0
        self.draw()

    # -- drawing -------------------------------------------------------------------------

    def draw(self) -> None:
        if not self.is_attached:
            return
        current = self.read is not None and (self.read.column, self.read.grouping) == (self.column, self.grouping)
        body = self._table() if current else Text("reading the fleet…", style="italic")
        self.query_one("#fleet-table", Static).update(Group(self._title(), body))
        self.query_one("#fleet-detail", Static).update(self._detail())
        self._scroll_to_cursor()

    def _title(self) -> Text:
        title = Text(f"by {self.grouping}", style="bold", no_wrap=True, overflow="ellipsis")
        if self.read is not None:
            title.append(printable(f" · {self.read.summary.text()}", limit=0))
        title.append(f" · p50 {STAGES[self.stage][0]}", style="bold")
        return title

    def _table(self) -> Group:
        """The rows, every column sized here: the figures always whole, and host, device
        and status (the long texts) share what is left (the detail line has them in full)."""
        rows, session_rows = self.rows, self.grouping == "session"
        columns: list[tuple[str, list[str], int | None]] = [  # (heading, cells, minimum width when cut)
            (self.grouping, [row.key for row in rows], None if session_rows else 8)]
        if self.grouping != "host":
            columns.append(("host", [row.host for row in rows], 6))
        if self.grouping != "device":
            columns.append(("device", [row.device for row in rows], 8))
        columns.append(("pid", [str(row.pid or "-") for row in rows], None) if session_rows
                       else ("sess", [str(row.sessions) for row in rows], None))
        columns.append(("status", [row.status for row in rows], 9))
        columns += [("meas", [str(row.measured) for row in rows], None),
                    ("/s", [rate_text(row.rate) for row in rows], None),
                    (STAGES[self.stage][0], [ms(row.median_ms) for row in rows], None),
                    ("hb", [age_text(row.heartbeat_age_s) for row in rows], None)]
        widths = fit_widths([(max(map(len, [name, *cells])), least) for name, cells, least in columns],
                            self._width() - (len(columns) - 1))
        table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="dim", show_edge=False)
        for (name, _, least), width in zip(columns, widths):
            table.add_column(name, width=width, no_wrap=True, overflow="ellipsis",
                             justify="left" if least is not None or name == self.grouping else "right")
        for i, row in enumerate(rows):
            style = "reverse" if i == self.cursor else ("bold" if self.current in row.session_ids else "")
            table.add_row(*(shown(cells[i], limit=0) for _, cells, _ in columns), style=style)  # hosts, devices: text
        note = Text(f"{STAGES[self.stage][0]}: p50 in ms over each session's last {MEDIAN_WINDOW} measured "
                    f"samples{' (a group: the median of its sessions)' if not session_rows else ''} · "
                    f"/s: samples per second over the last {RATE_WINDOW_S:.0f} s · hb: heartbeat age",
                    style="dim")
        return Group(table, Text(""), note)

    def _width(self) -> int:
        width = self.query_one("#fleet-scroll", VerticalScroll).scrollable_content_region.width
        return width if width > 0 else self.app.size.width - 4

    def _detail(self) -> Text:
        rows = self.rows
        if not rows:
            return Text("")
        row = rows[self.cursor]
        if self.grouping == "session":
            text = shown(f"{row.key} · {row.host} · {row.device} · pid {row.pid or '-'} · {row.status}", limit=0)
            if row.key == self.current:
                text.append(" · followed now", style="dim")
            else:
                text.append(" · enter: follow it in the dashboard", style="dim")
            return text
        ids = ", ".join(row.session_ids[:6]) + (", …" if len(row.session_ids) > 6 else "")
        return Text.assemble(printable(f"{self.grouping} {row.key}: {row.sessions} sessions ({ids})", limit=0),
                             (" · enter: list them", "dim"))

    def _scroll_to_cursor(self) -> None:
        scroll = self.query_one("#fleet-scroll", VerticalScroll)
        line = 2 + self.cursor  # the title line and the table's heading come first
        height = scroll.scrollable_content_region.height
        if height <= 0:
            return
        if line < scroll.scroll_y + 2:
            scroll.scroll_to(y=max(0, line - 2), animate=False)
        elif line >= scroll.scroll_y + height:
            scroll.scroll_to(y=line - height + 1, animate=False)
