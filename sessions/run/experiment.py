"""Replicated runs: one experiment of N worker processes, each its own session.

A process is one draw of memory layout, thread placement, allocator and clock state, so
samples inside one process are not independent evidence about a setting (six identical
sessions here were called "different" in 13 of 15 pairs). `vlmtop run --repeat N` therefore
runs N fresh processes one after another under one experiment id, and compare resamples
processes, then samples. With `--alternate-model M2` the two sides run in pairs, each
pair's order (AB or BA) drawn at random with the run's seed, so a drift of the machine
over the experiment, or a slow first process, falls on both sides alike.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.run.process import start_worker
from vlmtop.sessions.store.rows import EXPERIMENT_PREFIX, new_session_id


def new_experiment_id() -> str:
    """`exp-` and 8 hex digits: never mistaken for a session id (10 hex digits)."""
    import secrets

    return f"{EXPERIMENT_PREFIX}{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Replicate:
    index: int  # run order within the experiment
    side: str | None  # A | B with an alternate model, else None
    model: str
    session_id: str


def plan(experiment_id: str, repeat: int, model: str, alternate_model: str | None, seed: int = 0) -> list[Replicate]:
    """The processes to run, in order: N of one side, or N pairs of A and B, each pair's
    leading side drawn at random (seeded by ``seed`` and the experiment id, both recorded,
    so the order can be rebuilt). A fixed AB, BA, ... always started with A: a first
    process slower for a cold disk cache or a machine still settling fell on A alone."""
    if alternate_model is None:
        return [Replicate(i, None, model, new_session_id()) for i in range(repeat)]
    import random

    sides = {"A": model, "B": alternate_model}
    rng = random.Random(f"{seed}:{experiment_id}")
    order = [side for _ in range(repeat) for side in (("A", "B") if rng.random() < 0.5 else ("B", "A"))]
    return [Replicate(i, side, sides[side], new_session_id()) for i, side in enumerate(order)]


def run_experiment(
    settings,
    db: Path,
    replicates: list[Replicate],
    experiment_id: str,
    on_start: Callable[[Replicate], None] = lambda r: None,
    on_poll: Callable[[Replicate], None] = lambda r: None,
    log_folder: Path | None = None,
) -> tuple[list[int], bool]:
    """Run the replicates one after another; return their exit codes and whether the
    user interrupted: Ctrl-C here, or `vlmtop stop` (or a dashboard's stop) on the session
    in flight, ends that process after its sample and starts no more."""
    codes: list[int] = []
    interrupted = False
    for rep in replicates:
        run = replace(settings, model=rep.model,
                      experiment={"experiment_id": experiment_id, "replicate": rep.index, "side": rep.side})
        on_start(rep)
        log = (log_folder / f"worker-{rep.session_id}.log") if log_folder else None
        proc, output = start_worker(db, rep.session_id, run, log)
        try:
            while proc.poll() is None:
                on_poll(rep)
                time.sleep(0.2)
        except KeyboardInterrupt:
            interrupted = True
            proc.send_signal(signal.SIGINT)  # its own session: the terminal's ^C did not reach it
            proc.wait()
        said = output.reason(wait_s=10)
        codes.append(proc.returncode)
        interrupted = interrupted or stopped_by_the_user(db, rep.session_id)
        if interrupted:
            break
        if proc.returncode == 2:  # the worker's own fault line (disk full, lock, a model that will not load)
            raise ReplicateError(f"experiment {experiment_id} stopped at process {rep.index + 1}: "
                                 f"{said or 'its worker exited with status 2'}")
    return codes, interrupted


class ReplicateError(VlmtopError):
    """A replicate's worker stopped on a fault the next one would meet too: no more start."""


def stopped_by_the_user(db: Path, session_id: str) -> bool:
    """Whether the session ended on a stop request: the worker's `end` event says so.

    A stop reaches the one process in flight through the control channel; without this
    the next replicate would start as if nothing had been asked."""
    from vlmtop.sessions.store import SessionStore
    from vlmtop.sessions.store.errors import StoreError

    try:
        with SessionStore.open(db, create=False, readonly=True) as store:
            ends = [event for event in store.events(session_id) if event.kind == "end"]
    except StoreError:  # the worker died before writing its session: nobody asked it to stop
        return False
    return bool(ends) and "stopped by the user" in (ends[-1].detail or "")
