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
import sys

from vlmtop.sessions.run.ray.proxy import StoreProxy

TAKE_TIMEOUT_S = 0.5  # how long a take waits for a message: the driver's poll of this actor


class Replica:
    """The actor's class body; :func:`vlmtop.sessions.run.ray.driver` wraps it with ray.remote."""

    def __init__(self) -> None:
        import ray

        # Before anything imports torch or the worker: Ray puts the driver's working folder
        # (and its script's folder) first on a worker's sys.path, so a torch.py where
        # `vlmtop run --ray` was started would run here. vlmtop is installed; it needs none.
        drop_driver_paths(_driver_sys_path(ray))

        from vlmtop.sessions.store.rows import runtime_versions

        self.where = {"pid": os.getpid(), "hostname": socket.gethostname(),
                      "node_id": ray.get_runtime_context().get_node_id()}
        self.proxy = StoreProxy(self.where, runtime_versions())

    def place(self) -> dict:
        """Where this actor runs (pid, hostname, node_id): the driver's answer to a death."""
        return self.where

    def run(self, settings: dict, session_id: str) -> str:
        """Record the session; return its final status once the driver has committed it all."""
        from vlmtop.sessions.run.worker import RunSettings, Worker

        return Worker(RunSettings(**settings), self.proxy, session_id=session_id).run()

    def take(self, acked: int, controls: list, timeout_s: float = TAKE_TIMEOUT_S) -> list:
        return self.proxy.take(acked, controls, timeout_s)




def _driver_sys_path(ray) -> list[str]:
    """The folders Ray added to this worker's sys.path for the driver (its job config's
    py_driver_sys_path: the driver's cwd and script folder, ray/_private/worker.py)."""
    try:
        config = ray._private.worker.global_worker.core_worker.get_job_config()
        return list(config.py_driver_sys_path)
    except Exception:  # a Ray without this private API: the cwd entries below still go
        return []


def drop_driver_paths(driver_paths: list[str]) -> None:
    """Remove ``driver_paths`` and the current-folder entries ('' and '.') from sys.path,
    so imports come from installed packages only (what `python -P` does for a script)."""
    drop = {os.path.realpath(p) for p in driver_paths if p} | {os.path.realpath(os.curdir)}
    # Except the folder vlmtop itself was imported from (a checkout on PYTHONPATH): the
    # worker's modules must keep coming from where this one did.
    # (None where `vlmtop` resolved as a namespace package: a `vlmtop/` folder in the
    # working folder, the clone's parent. Nothing was imported from there to keep.)
    import vlmtop

    if getattr(vlmtop, "__file__", None):
        drop.discard(os.path.dirname(os.path.dirname(os.path.realpath(vlmtop.__file__))))
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.realpath(p) not in drop]
