"""The Ray driver of an experiment: one fresh actor per replicate, one SQLite writer.

The driver starts up to ``workers`` actors at a time (Ray places them by their resources,
or on distinct nodes through a STRICT_SPREAD placement group with ``spread``), drains each
actor's outbox in small batches, commits every message as it arrives, and acknowledges it,
so nothing is held in memory that a crash could lose. Between batches it hands each actor
the pending control rows of its session (`vlmtop stop` and dashboards write them to the
driver's database), and it keeps each session's heartbeat while its actor answers.

An actor that dies (node lost, out of memory, kill -9) costs at most its sample in flight
(see proxy.py); its session ends `interrupted` with Ray's reason and the experiment goes
on with the next replicate. A driver killed mid-run loses nothing committed: its actors die
with it and readers judge their sessions `interrupted` by pid or heartbeat (liveness.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from vlmtop.core.errors import VlmtopError, first_line
from vlmtop.sessions.records import SessionStatus
from vlmtop.sessions.run.experiment import Replicate
from vlmtop.sessions.run.lifecycle import Lifecycle
from vlmtop.sessions.store import SessionStore, StoreError

HEARTBEAT_S = 5.0  # the driver refreshes a session's heartbeat this often while its actor answers
PLACEMENT_TIMEOUT_S = 60.0  # a placement group not ready by then cannot be placed
WAIT_S = 1.0  # the loop's longest sleep: how soon a signal or a new actor is seen


@dataclass(frozen=True)
class FleetOptions:
    workers: int = 1  # actors at a time
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    spread: bool = False  # every concurrent actor on a distinct node (STRICT_SPREAD)


@dataclass
class Running:
    """One replicate in flight: its actor, its two calls in flight, what is committed."""

    rep: Replicate
    actor: Any
    run_ref: Any
    take_ref: Any
    bundle: int | None
    acked: int = -1  # the last message index committed
    created: bool = False  # its session row exists
    finished: bool = False  # its session row has its end
    where: dict = field(default_factory=dict)
    last_beat: float = field(default_factory=time.monotonic)


def commit(store: SessionStore, running: Running, kind: str, payload: Any) -> None:
    """Write one message of an actor's outbox to the database (each in its own transaction)."""
    sid = running.rep.session_id
    if kind == "create":
        running.where = payload["where"]
        store.create_session(**payload)
        running.created = True
    elif kind == "update":
        store.update_session(sid, **payload)
    elif kind == "sample":
        store.write_sample(payload)
    elif kind == "event":
        store.write_event(payload)
    elif kind == "heartbeat":
        store.heartbeat(sid)
        running.last_beat = time.monotonic()
    elif kind == "answer":
        try:
            store.answer_control(*payload)
        except StoreError:
            pass  # answered already (a control relayed twice is applied once, see proxy.py)
    elif kind == "finish":
        store.finish_session(sid, *payload)
        running.finished = True
    else:
        raise ValueError(f"unknown outbox message {kind!r}")


class Fleet:
    """Runs the replicates of one experiment on Ray; :meth:`run` returns whether the user
    interrupted it. Callbacks: ``on_commit(rep, kind, payload)`` after each committed message,
    ``on_end(rep)`` when a replicate's session has ended."""

    def __init__(self, settings, db: Path, replicates: list[Replicate], experiment_id: str, options: FleetOptions,
                 on_commit: Callable[[Replicate, str, Any], None] = lambda rep, kind, payload: None,
                 on_end: Callable[[Replicate], None] = lambda rep: None):
        import ray

        from vlmtop.sessions.run.ray.actor import Replica

        self.ray = ray
        self.settings = settings
        self.db = db
        self.pending = list(replicates)
        self.experiment_id = experiment_id
        self.options = options
        self.on_commit = on_commit
        self.on_end = on_end
        self.running: list[Running] = []
        self.stopping = False
        self.stop_reason = ""  # what stopped the driver ("stopped by SIGINT")
        # a fresh process per replicate: never restarted, never retried (a restart would
        # be a new replicate); two threads: run() measures while take() drains
        self.actor_class = ray.remote(Replica)
        self.actor_options = dict(num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker,
                                  max_restarts=0, max_task_retries=0, max_concurrency=2)
        self.placement = None
        self.free_bundles: list[int] = []

    def run(self) -> bool:
        self.placement = self._placement_group() if self.options.spread else None
        try:
            # The first signal only sets a flag that the loop reads between turns: an
            # exception raised inside a turn could land between committing a batch and
            # asking for the next one, and the same batch would then be committed twice.
            with SessionStore.open(self.db, create=True, readonly=False) as store, Lifecycle() as lifecycle:
                while self.pending or self.running:
                    if lifecycle.stop_requested and not self.stopping:
                        self._stop_all(store, lifecycle.reason)
                    try:
                        self._step(store)
                    except KeyboardInterrupt:  # a second signal: end every actor now
                        self._abandon(store, "the driver was interrupted twice; the sample in flight was abandoned")
                        return True
        finally:
            if self.placement is not None:
                from ray.util.placement_group import remove_placement_group

                remove_placement_group(self.placement)
        return self.stopping

    # --- one turn of the loop ----------------------------------------------------------

    def _step(self, store: SessionStore) -> None:
        while self.pending and len(self.running) < self.options.workers and not self.stopping:
            self._start(self.pending.pop(0))
        if self.stopping:
            self.pending.clear()
        calls = {}
        for running in self.running:
            calls[running.take_ref] = (running, self._took)
            calls[running.run_ref] = (running, self._ran)
        if not calls:
            return
        ready, _ = self.ray.wait(list(calls), num_returns=1, timeout=WAIT_S)
        for ref in ready:
            running, handle = calls[ref]
            if running in self.running:  # not ended by an earlier ref of this turn
                handle(store, running, ref)
        now = time.monotonic()
        for running in self.running:
            if running.created and not running.finished and now - running.last_beat > HEARTBEAT_S:
                store.heartbeat(running.rep.session_id)  # the actor answered within the last WAIT_S
                running.last_beat = now

    def _start(self, rep: Replicate) -> None:
        options = dict(self.actor_options)
        bundle = None
        if self.placement is not None:
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            bundle = self.free_bundles.pop(0)
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                self.placement, placement_group_bundle_index=bundle)
        actor = self.actor_class.options(**options).remote()
        settings = replace(self.settings, model=rep.model, experiment={
            "experiment_id": self.experiment_id, "replicate": rep.index, "side": rep.side})
        self.running.append(Running(rep, actor, actor.run.remote(asdict(settings), rep.session_id),
                                    actor.take.remote(-1, []), bundle))

    def _took(self, store: SessionStore, running: Running, ref) -> None:
        try:
            batch = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            self._died(store, running, exc)
            return
        for index, kind, payload in batch:
            if kind == "finish" and self.stopping and payload[0] == SessionStatus.COMPLETED:
                # It stopped because the driver was interrupted: the session reads as a
                # local run's after Ctrl-C, not as a run that ended by itself.
                payload = (SessionStatus.INTERRUPTED,
                           f"the Ray driver was {self.stop_reason}; the samples measured are kept")
            commit(store, running, kind, payload)
            running.acked = index
            self.on_commit(running.rep, kind, payload)
        controls = store.pending_controls(running.rep.session_id) if running.created else []
        running.take_ref = running.actor.take.remote(running.acked, controls)

    def _ran(self, store: SessionStore, running: Running, ref) -> None:
        try:
            self.ray.get(ref)  # the status: the session row already holds it
        except self.ray.exceptions.RayActorError as exc:
            self._died(store, running, exc)
            return
        except self.ray.exceptions.RayTaskError as exc:  # run() itself raised (the driver went silent)
            self._end(store, running, SessionStatus.FAILED, f"the Ray actor failed: {first_line(exc.cause or exc)}")
            return
        self._end(store, running, None, None)

    # --- endings -----------------------------------------------------------------------

    def _died(self, store: SessionStore, running: Running, exc: Exception) -> None:
        where = running.where
        place = f" (pid {where.get('pid')} on {where.get('hostname')}, node {str(where.get('node_id'))[:12]})" \
            if where else ""
        self._end(store, running, SessionStatus.INTERRUPTED,
                  f"the Ray actor{place} died: {_ray_reason(exc)}; at most its sample in flight was lost")

    def _end(self, store: SessionStore, running: Running, status: str | None, error: str | None) -> None:
        """Close the session (when its actor could not) and free the actor's place."""
        sid = running.rep.session_id
        if status and not running.finished:
            if not running.created:  # it died before it began: the experiment still shows it
                store.create_session(model=running.rep.model, device=self.settings.device or "auto",
                                     dtype=self.settings.dtype or "auto", settings=asdict(self.settings),
                                     session_id=sid, where={"pid": None, "hostname": None},
                                     experiment={"experiment_id": self.experiment_id,
                                                 "replicate": running.rep.index, "side": running.rep.side})
            store.finish_session(sid, status, error)
            running.finished = True
        self.ray.kill(running.actor, no_restart=True)  # its process exits: the next replicate is fresh
        if running.bundle is not None:
            self.free_bundles.append(running.bundle)
        self.running.remove(running)
        self.on_end(running.rep)

    def _stop_all(self, store: SessionStore, reason: str) -> None:
        """A first signal: each running actor stops after its sample in flight; none starts."""
        self.stopping = True
        self.stop_reason = reason
        for running in self.running:
            if running.created and not running.finished:
                try:
                    store.add_control(running.rep.session_id, "stop")
                except StoreError:
                    pass  # it ended meanwhile

    def _abandon(self, store: SessionStore, reason: str) -> None:
        for running in list(self.running):
            self._end(store, running, SessionStatus.INTERRUPTED, reason)

    # --- placement ---------------------------------------------------------------------

    def _placement_group(self):
        """STRICT_SPREAD: one bundle per concurrent actor, each on a node of its own."""
        from ray.util.placement_group import placement_group, remove_placement_group

        bundle = {"CPU": self.options.cpus_per_worker}
        if self.options.gpus_per_worker:
            bundle["GPU"] = self.options.gpus_per_worker
        group = placement_group([dict(bundle)] * self.options.workers, strategy="STRICT_SPREAD")
        try:
            self.ray.get(group.ready(), timeout=PLACEMENT_TIMEOUT_S)
        except self.ray.exceptions.GetTimeoutError:
            remove_placement_group(group)
            nodes = sum(1 for node in self.ray.nodes() if node.get("Alive"))
            raise VlmtopError(
                f"--spread: Ray could not place {self.options.workers} workers of {bundle} on distinct nodes "
                f"({nodes} nodes alive); pass --workers {max(1, nodes)} or fewer, or drop --spread") from None
        self.free_bundles = list(range(self.options.workers))
        return group


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Ray colours the task names in its messages
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b.*")


def _ray_reason(exc: Exception) -> str:
    """Ray's death message in one line: the exception the actor raised where there was one
    (its own `TypeError: ...` line, the last of the traceback Ray quotes), else Ray's first
    sentence that says why. Without Ray's colour codes."""
    raw = _ANSI.sub("", str(exc))
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    if len(lines) > 1 and _EXCEPTION_LINE.match(lines[-1]):
        where = "in its creation task: " if "creation task" in raw else ""
        return (where + lines[-1])[:300]
    text = " ".join(raw.split())
    for marker in ("The actor died because", "The actor is dead because", "The actor died unexpectedly"):
        at = text.find(marker)
        if at >= 0:
            text = text[at:].split(" Some common causes")[0]  # Ray's guesses follow: the row keeps the fact
            return text[:300]
    return first_line(exc)[:300]
