"""The headless progress bar's live text, on a clock the test moves (no timing measured)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress

from vlmtop.cli.commands.run_headless import InFlight, InFlightColumn, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _render(in_flight: InFlight) -> str:
    progress = Progress(InFlightColumn(in_flight), console=Console(width=200))
    task = progress.add_task("x", total=None)
    return progress.columns[0].render(progress.tasks[task]).plain


def test_the_last_e2e_has_one_unit():
    assert duration(1160.0) == "1.16 s" and duration(153.0) == "153 ms" and duration(4.5) == "4.50 ms"
    in_flight = InFlight(clock=Clock())
    in_flight.loaded()
    in_flight.finish(1160.0)
    assert "last e2e 1.16 s" in _render(in_flight) and "s ms" not in _render(in_flight)


def test_the_rate_falls_while_a_sample_runs():
    clock = Clock()
    in_flight = InFlight(clock=clock)
    in_flight.loaded()
    for seq in range(4):
        in_flight.start(seq, f"s{seq}")
        clock.now += 0.5
        in_flight.finish(500.0)
    assert _render(in_flight).startswith("2.0 samples/s")  # 4 in 2 s
    in_flight.start(4, "huge-prompt")
    clock.now += 38.0  # no sample ends: the rate is drawn from the clock, not from the last end
    text = _render(in_flight)
    assert text.startswith("0.1 samples/s") and "seq 4 (huge-prompt) running 38 s" in text
    assert "76x the median" in text
