"""One replicate process as a Ray actor: a fresh process that runs a Worker and exits.

The driver makes one actor per replicate and kills it when its session has ended, so every
replicate is a new draw of memory layout, threads and allocator state (what the
hierarchical statistics need). The actor is created with ``max_restarts=0``: a restarted
process would be a new replicate, never the old session resumed.

The actor has two threads (Ray's ``max_concurrency=2``): :meth:`Replica.run` measures; the
driver's :meth:`Replica.take` calls drain the outbox meanwhile. This module imports Ray
and torch only inside the actor's process.
"""

from __future__ import annotations

import os
import socket

from .proxy import StoreProxy

TAKE_TIMEOUT_S = 0.5  # how long a take waits for a message: the driver's poll of this actor


class Replica:
    """The actor's class body; :func:`vlmtop.sessions.fleet.driver` wraps it with ray.remote."""

    def __init__(self) -> None:
        import ray

        from vlmtop.sessions.rows import runtime_versions

        self.where = {"pid": os.getpid(), "hostname": socket.gethostname(),
                      "node_id": ray.get_runtime_context().get_node_id()}
        self.proxy = StoreProxy(self.where, runtime_versions())

    def place(self) -> dict:
        """Where this actor runs (pid, hostname, node_id): the driver's answer to a death."""
        return self.where

    def run(self, settings: dict, session_id: str) -> str:
        """Record the session; return its final status once the driver has committed it all."""
        from vlmtop.sessions.worker import RunSettings, Worker

        return Worker(RunSettings(**settings), self.proxy, session_id=session_id).run()

    def take(self, acked: int, controls: list, timeout_s: float = TAKE_TIMEOUT_S) -> list:
        return self.proxy.take(acked, controls, timeout_s)


