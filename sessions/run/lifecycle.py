"""How a worker process ends: signals, the death of the dashboard that started it, and a
runaway sample. Kept apart from the sample loop so each rule is stated once; the Ray driver
(run/ray/driver.py) ends on signals by the same rules.

- A signal (Ctrl-C, SIGTERM, SIGHUP from a closed terminal) lets the sample in flight finish,
  then the session ends ``interrupted`` and the process exits 128 + the signal number, as a
  shell expects. A second signal abandons the sample in flight. A signal the process was
  started with ignored (SIGHUP under ``nohup``) stays ignored.
- A worker started by a dashboard asks Linux to send it SIGTERM when that dashboard dies
  (``PR_SET_PDEATHSIG``) and also checks, between samples, that its parent is still the one
  that started it, so a killed terminal never leaves a worker recording (and holding a GPU)
  forever.
- ``--sample-timeout``: a timer signal turns a sample that runs too long into an error row.
  The exception is raised between two Python bytecodes, which in ``generate()`` means
  between two tensor operations: the model stays usable and the timer's marks are reset by
  the next ``generate()``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class SampleTimeout(Exception):
    """The sample in flight ran past ``--sample-timeout``."""


def timeout_message(seconds: float) -> str:
    return f"the sample ran past --sample-timeout {seconds:g} s and was abandoned"


class Lifecycle:
    """Signal handlers and parent watch of one worker run; a context manager."""

    def __init__(self, watch_parent: bool = False):
        self.signal: int | None = None  # the first stop signal received
        self.parent_died = False
        self._signals = 0
        self.timed_out = False  # the last deadline() ran out
        self._parent = os.getppid() if watch_parent else None
        self._previous: dict[int, object] = {}

    # -- what ended the run -------------------------------------------------------------

    @property
    def stop_requested(self) -> bool:
        return self.signal is not None or self.check_parent()

    def check_parent(self) -> bool:
        """True once the process that started us is gone (we were re-parented)."""
        if self._parent is not None and not self.parent_died and os.getppid() != self._parent:
            self.parent_died = True
        return self.parent_died

    @property
    def reason(self) -> str | None:
        """Why the run was interrupted, for the session row; None when it was not."""
        if self.parent_died:
            return "the dashboard that started this worker exited"
        if self.signal is not None:
            return f"stopped by {signal.Signals(self.signal).name}"
        return None

    @property
    def exit_code(self) -> int:
        """What the process exits with: 128 + signal, as shells report a signal death."""
        return 128 + self.signal if self.signal is not None and not self.parent_died else 0

    # -- installation -------------------------------------------------------------------

    def __enter__(self) -> "Lifecycle":
        if threading.current_thread() is not threading.main_thread():
            return self  # a library user's thread: signals stay theirs
        for sig in STOP_SIGNALS:
            # An ignored signal stays ignored: `nohup` ignores SIGHUP so a closed terminal
            # does not end the run, and a background job of a script ignores SIGINT.
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue
            self._previous[sig] = signal.signal(sig, self._handle)
        if self._parent is not None:
            _die_with_parent()
            self.check_parent()  # the parent may have died before the request took effect
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        self._signals += 1
        if self.signal is None:
            self.signal = signum  # finish the sample in flight, then stop
        self.check_parent()
        if self._signals > 1:
            raise KeyboardInterrupt  # a second signal: abandon the sample in flight

    # -- runaway samples ----------------------------------------------------------------

    @contextmanager
    def deadline(self, seconds: float | None) -> Iterator[None]:
        """Raise SampleTimeout in the block after `seconds` (main thread only; else no-op).

        ``timed_out`` stays True afterwards: library code the exception passes through may
        wrap it in its own error (a tokenizer turns it into a ValueError), so the worker
        asks this flag, not the exception's type, whether the sample ran out of time."""
        self.timed_out = False
        if not seconds or threading.current_thread() is not threading.main_thread():
            yield
            return

        def expire(signum, frame):
            self.timed_out = True
            raise SampleTimeout(timeout_message(seconds))

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent dies; elsewhere the between-sample check does it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl (musl without it, sandboxes): the parent check between samples remains
