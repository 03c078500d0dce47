"""The one interface the dashboard reads a session through: a live tail or a replay.

The dashboard calls ``poll()`` every refresh interval (off its UI thread) and applies the
:class:`SourceUpdate` it returns; the panels cannot tell a session being recorded from one
being replayed. The contract:

- the first poll of a source has ``reset=True``;
- ``reset=True``: drop every row and event you hold; ``rows`` is the whole window now (at
  most ``window`` rows ending at ``position``) and ``events`` every event up to there;
- otherwise append ``rows`` (in seq order, all rows new since the last poll, batched) and
  ``events``.

Rows are read in pages, never all at once, so a million-sample session opens instantly.

What a source can do beyond ``poll()`` is a capability it declares, not its class:
``can_seek`` says it plays, pauses, steps and seeks (a replay); ``is_live`` that a worker may
still be recording it, so steering it makes sense.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vlmtop.sessions.records import EventRecord, SampleRecord
from vlmtop.sessions.store import SessionInfo, SessionStore

# Rows a dashboard keeps: enough for stable p99s and a long sparkline, cheap to re-read.
DEFAULT_WINDOW = 2000
DEFAULT_SPEED = 10.0  # replayed samples per second
MIN_SPEED = 0.25
MAX_SPEED = 100_000.0


@dataclass
class SourceUpdate:
    rows: list[SampleRecord]  # new rows to append, in seq order
    events: list[EventRecord]  # new events
    reset: bool  # drop what you hold: `rows`/`events` are the whole state now
    position: int  # seq of the last row shown (-1 if none)
    total: int  # rows in the session so far
    session: SessionInfo  # refreshed status and counters

    @property
    def changes_screen(self) -> bool:
        """Whether drawing this update could change what the dashboard shows. The session's
        heartbeat ticks every poll and is not shown: it alone is no reason to redraw."""
        return self.reset or bool(self.rows) or bool(self.events)

    def then(self, newer: SourceUpdate) -> SourceUpdate:
        """This update followed by ``newer``, as one: what a dashboard that missed a frame
        applies, so coalescing frames never drops a row. A reset in ``newer`` wins."""
        if newer.reset:
            return newer
        return SourceUpdate(self.rows + newer.rows, self.events + newer.events, self.reset,
                            newer.position, newer.total, newer.session)


def shown_session_state(info: SessionInfo) -> tuple:
    """The parts of a session row a dashboard shows (status and counters, not the heartbeat):
    a change in them is worth a redraw even when no row or event came with it."""
    return (info.status, info.ended_at, info.error, info.model, info.device, info.dtype,
            info.sample_count, info.measured_count, info.warmup_count, info.error_count)


@runtime_checkable
class SampleSource(Protocol):
    session_id: str
    is_live: bool
    can_seek: bool
    window: int

    def poll(self) -> SourceUpdate: ...


class LiveTail:
    """Follows a session while its worker records it: each poll returns rows not yet seen."""

    is_live = True
    can_seek = False

    def __init__(self, store: SessionStore, session_id: str, window: int = DEFAULT_WINDOW):
        self.store = store
        self.session_id = session_id
        self.window = window
        self._last_seq = -1
        self._last_event_id = 0
        self._fresh = True
        store.session(session_id)  # an unknown id fails here, not on the first frame

    def poll(self) -> SourceUpdate:
        session = self.store.session(self.session_id)
        count = session.sample_count
        # Attaching to a long session (or falling far behind): start from its last window
        # instead of streaming every row through the dashboard.
        reset = self._fresh or count - 1 - self._last_seq > self.window
        if reset:
            rows = self.store.samples(self.session_id, after_seq=max(-1, count - 1 - self.window))
            events = self.store.events(self.session_id)
        else:
            rows = self.store.samples(self.session_id, after_seq=self._last_seq)
            events = self.store.events(self.session_id, after_id=self._last_event_id)
        self._fresh = False
        if rows:
            self._last_seq = rows[-1].seq
        if events:
            self._last_event_id = events[-1].id
        # Rows committed between the two reads are included, so count from them too.
        total = max(count, self._last_seq + 1)
        return SourceUpdate(rows, events, reset, self._last_seq, total, session)


class ReplaySource:
    """Walks a recorded session: play/pause, speed, step, seek, home, end.

    While playing, each poll advances by the elapsed time times ``speed``. Moving forward
    by at most ``window`` rows returns just the rows passed; moving backward or jumping
    further returns ``reset=True`` with the window ending at the new position.

    Events are shown with the sample before the one they apply from, as a live tail sees
    them: at position p, the events with ``seq <= p + 1``.
    """

    is_live = False
    can_seek = True

    def __init__(
        self,
        store: SessionStore,
        session_id: str,
        window: int = DEFAULT_WINDOW,
        position: int = 0,
        speed: float = DEFAULT_SPEED,
        playing: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.session_id = session_id
        self.window = window
        self.speed = min(MAX_SPEED, max(MIN_SPEED, speed))  # the same range + and - keep to
        self.playing = playing
        self._clock = clock
        self._session = store.session(session_id)
        self._target = self._clamp(position)
        self._shown = -1
        self._fresh = True
        self._last_tick = clock()
        self._owed = 0.0  # fraction of a sample earned by elapsed time, not yet shown
        self._rows: list[SampleRecord] = []  # the window last shown, contiguous, ending at _shown

    @property
    def position(self) -> int:
        """The seq the next poll shows (moves take effect on the next poll)."""
        return self._target

    @property
    def total(self) -> int:
        return self._session.sample_count

    @property
    def at_end(self) -> bool:
        return self._target >= self.total - 1

    def _clamp(self, seq: int) -> int:
        return max(min(0, self.total - 1), min(seq, self.total - 1))

    def play(self) -> None:
        self.playing = True
        self._last_tick = self._clock()

    def pause(self) -> None:
        self.playing = False
        self._owed = 0.0

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def faster(self) -> None:
        self.speed = min(MAX_SPEED, self.speed * 2)

    def slower(self) -> None:
        self.speed = max(MIN_SPEED, self.speed / 2)

    def step(self, n: int = 1) -> None:
        """Move ``n`` samples (negative: back) and pause, to look at them."""
        self.pause()
        self._target = self._clamp(self._target + n)

    def seek(self, seq: int) -> None:
        self._target = self._clamp(seq)
        self._owed = 0.0

    def home(self) -> None:
        self.seek(0)

    def end(self) -> None:
        self.seek(self.total - 1)

    def poll(self) -> SourceUpdate:
        now = self._clock()
        # Refreshed every frame: a session still being recorded keeps growing.
        self._session = self.store.session(self.session_id)
        if self.playing:
            self._owed += (now - self._last_tick) * self.speed
            # The epsilon: float error in elapsed time must not hold a due sample back a frame.
            advance = int(self._owed + 1e-9)
            self._owed -= advance
            self._target = self._clamp(self._target + advance)
            if self.at_end:
                self._owed = 0.0  # time spent waiting at the end is not banked
        self._last_tick = now

        old, new = self._shown, self._target
        sid = self.session_id
        if self._fresh or new < old or new - old > self.window:
            reset = True
            self._rows = self._window_ending_at(new)
            rows = list(self._rows)
            events = self.store.events_between(sid, 0, new + 1)
        else:
            reset = False
            rows = self._fetch(old + 1, new)
            self._rows = (self._rows + rows)[-self.window :]
            events = self.store.events_between(sid, old + 2, new + 1) if new > old else []
        self._fresh = False
        self._shown = new
        return SourceUpdate(rows, events, reset, new, self.total, self._session)

    def _fetch(self, lo: int, hi: int) -> list[SampleRecord]:
        return self.store.samples_between(self.session_id, lo, hi) if lo <= hi else []

    def _window_ending_at(self, new: int) -> list[SampleRecord]:
        """The ``window`` rows ending at ``new``, reading only those not already held, so
        stepping back costs one row, not a window (decoding a row costs ~40 us)."""
        lo = max(0, new - self.window + 1)
        held = self._rows
        if not held or held[0].seq > new or held[-1].seq < lo:
            return self._fetch(lo, new)
        first = held[0].seq
        kept = held[max(0, lo - first) : new - first + 1]
        return self._fetch(lo, kept[0].seq - 1) + kept + self._fetch(kept[-1].seq + 1, new)
