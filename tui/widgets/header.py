"""The top line: what is being measured, where, and the session's state (right-aligned,
always visible: at 80 columns the left part is shortened instead)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class SessionHeader(Static):
    DEFAULT_CSS = """
    SessionHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def show(self, state, replay=None) -> None:
        session = state.session
        if session is None:
            self.update(Text("vlmtop · waiting for the session…"))
            return
        left = Text()
        left.append(f"{session.model}", style="bold")
        if session.status == "running" and not session.sample_count:
            # Before its first sample the worker is loading the model, and device and dtype
            # still read as asked ("auto auto"), not as resolved: say what is happening.
            left.append(f" · {session.id} · loading {session.model}…", style="italic")
        else:
            left.append(f" · {session.device} {session.dtype} · {session.id} · {session.measured_count} measured")
        if session.warmup_count:
            left.append(f" +{session.warmup_count} warm-up")
        if session.error_count:
            errors = "error" if session.error_count == 1 else "errors"
            left.append(f" · {session.error_count} {errors}", style="bold red")
        rate = state.rate()
        if rate and session.status == "running" and replay is None:
            left.append(f" · {rate:.1f}/s")
        right = self._status(state, session, replay)
        room = max(10, self.content_size.width - len(right.plain) - 1)
        left.truncate(room, overflow="ellipsis", pad=True)
        self.update(Text.assemble(left, " ", right))

    @staticmethod
    def _status(state, session, replay) -> Text:
        if replay is not None:
            mode = "▶" if replay.playing else "❚❚"
            return Text(f"{mode} replay seq {state.position}/{state.total - 1} ×{replay.speed:g}", style="bold")
        if session.status == "running":
            return Text("❚❚ paused" if state.paused else "● live", style="bold")
        return Text(session.status, style="bold red" if session.status == "failed" else "bold")
