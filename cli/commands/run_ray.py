"""`vlmtop run --ray [ADDRESS]`: an experiment's replicate processes as Ray actors.

This process is the Ray driver and the ONE writer of the session database: a progress bar
over every actor while it runs, then one row per replicate saying where it ran. `vlmtop
attach` and `vlmtop stop` work on the same database as for a local run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import warnings

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from vlmtop.cli.commands.run_headless import HEADLESS_DEFAULT_COUNT, report_experiment
from vlmtop.core.errors import VlmtopError, first_line
from vlmtop.core.text import markup_safe

INSTALL_HINT = "--ray needs Ray, which is not installed: pip install 'vlmtop[ray]'"
CLIENT_ATTEMPTS = 3  # tries at a Ray Client server (see connect)


def import_ray():
    try:
        import ray
    except ImportError:
        raise VlmtopError(INSTALL_HINT) from None
    return ray


def connect(ray, address: str | None) -> bool:
    """Join the cluster at ``address`` (`auto`, `ray://host:10001`, `host:port`), or start a
    local Ray on this machine when there is none; True when this call started Ray."""
    if ray.is_initialized():  # a library caller's own session
        return False
    client = bool(address) and address.startswith("ray://")
    if client and importlib.util.find_spec("grpc") is None:
        raise VlmtopError(f"--ray {address}: Ray Client needs grpcio, which is not installed: "
                          f"pip install 'ray[client]'")
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}  # actors' logs stay in Ray's files
    # The head's Ray Client proxy starts a server process for each client, and on a loaded
    # head that start can fail (Ray raises ConnectionAbortedError with the server's
    # traceback, and disconnects; the tests' loaded runs saw two failures in a row): a
    # later try usually gets a server.
    attempts = CLIENT_ATTEMPTS if client else 1
    for _ in range(attempts):
        try:
            # Ray Client warns on stderr before it raises (a timeout, with a link): the error
            # below says it in one line
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if address:
                    ray.init(address=address, **quiet)
                else:
                    # Ray starts its workers at nice 15: on a machine with other work the
                    # actors would then measure the scheduler's queue, not the model.
                    os.environ.setdefault("RAY_worker_niceness", "0")
                    ray.init(**LOCAL_ONLY, **quiet) if _loopback_node(ray) else ray.init(include_dashboard=False, **quiet)
            return True
        except ConnectionAbortedError as exc:
            server_failure = exc
        except (ConnectionError, RuntimeError, ValueError, ImportError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            hint = ("is its head's Ray Client server on that port? `ray start --head` serves one on 10001"
                    if client else "start one with `ray start --head`, or pass --ray auto on a node of it")
            raise VlmtopError(f"cannot start or reach {where}: {first_line(exc)} ({hint})") from None
    raise VlmtopError(f"cannot reach the Ray cluster at {address}: its Ray Client server could not start a "
                      f"server for this client ({attempts} tries): {server_reason(server_failure)} "
                      f"(see ray_client_server*.err in the head's Ray logs)")


# A Ray runtime vlmtop starts for itself serves this machine only: no dashboard, and its
# GCS, raylet, object manager and workers on the loopback address (Ray binds its servers
# to the node's address, by default the host's own; Ray before 2.52 has no token auth).
LOCAL_ONLY = {"include_dashboard": False, "_node_ip_address": "127.0.0.1"}


def _loopback_node(ray) -> bool:
    """Let Ray keep 127.0.0.1 as the node address: on Linux it replaces a loopback address
    with the host's (ray._private.services.resolve_ip_for_localhost) unless told this is no
    cluster, a switch only private to Ray. False where that switch is missing: Ray then
    starts as before (no dashboard, on the host's address)."""
    try:
        from ray._private import ray_constants  # noqa: PLC2701 (Ray has no public name for it)
    except ImportError:
        return False
    if not hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        return False
    ray_constants.ENABLE_RAY_CLUSTER = False
    return True


def local_session_dir(ray) -> str | None:
    """The /tmp/ray/session_* folder of the Ray runtime this process started (its logs and
    sockets), to remove once Ray is shut down; None where Ray does not say."""
    try:
        return ray._private.worker._global_node.get_session_dir_path()
    except Exception:
        return None


def remove_session_dir(session_dir: str) -> None:
    """Remove the session folder Ray left (its own only, never another run's) and the
    `session_latest` link beside it where that still points there."""
    import os
    import shutil

    latest = os.path.join(os.path.dirname(session_dir), "session_latest")
    try:
        if os.path.realpath(latest) == os.path.realpath(session_dir):
            os.unlink(latest)
    except OSError:
        pass
    shutil.rmtree(session_dir, ignore_errors=True)


def server_reason(exc: BaseException) -> str:
    """What a Ray Client server said when it failed: the last line of the traceback it sent
    (Ray's own message starts "Initialization failure from server:" and the cause is last)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 else first_line(exc)


def fleet_options(ray, replicates: int, workers, gpus_per_worker, cpus_per_worker, spread: bool):
    """Fill the defaults from the cluster: one GPU per worker where GPUs exist, and as many
    workers at a time as the cluster holds (on distinct nodes with --spread)."""
    from vlmtop.sessions.run.ray.driver import FleetOptions

    total = ray.cluster_resources()
    if gpus_per_worker is None:
        gpus_per_worker = 1.0 if total.get("GPU", 0) >= 1 else 0.0
    if cpus_per_worker is None:
        cpus_per_worker = 1.0
    if workers is None:
        fits = total.get("GPU", 0) / gpus_per_worker if gpus_per_worker else total.get("CPU", 1) / cpus_per_worker
        workers = max(1, min(replicates, int(fits)))
        if spread:
            workers = max(1, min(workers, sum(1 for node in ray.nodes() if node.get("Alive"))))
    return FleetOptions(workers=min(workers, replicates), cpus_per_worker=cpus_per_worker,
                        gpus_per_worker=gpus_per_worker, spread=spread)


def run_on_ray(settings, db, address: str | None, repeat: int | None = None, alternate_model: str | None = None,
               workers: int | None = None, gpus_per_worker: float | None = None,
               cpus_per_worker: float | None = None, spread: bool = False, as_json: bool = False) -> int:
    """The experiment of ``repeat`` replicates (per side with ``alternate_model``), each a
    fresh Ray actor; returns the exit status (1 when a replicate failed or was lost)."""
    from vlmtop.sessions.store import SessionStore

    if settings.sample_timeout_s:
        raise VlmtopError("--sample-timeout is not available with --ray: an actor measures off the main "
                          "thread, where the timer signal cannot reach; drop one of them")
    ray = import_ray()
    if settings.count is None and settings.duration_s is None and settings.samples == "synthetic":
        settings.count = HEADLESS_DEFAULT_COUNT
    SessionStore.open(db, create=True).close()  # refuse a foreign or read-only file before any actor
    # Ray's driver prints its notices (a worker died...) on stdout, which is the report's
    # (--json): while Ray runs, they go to stderr with the progress bar.
    with contextlib.redirect_stdout(sys.stderr):
        experiment_id, interrupted = _run(ray, settings, db, address, repeat, alternate_model, workers,
                                          gpus_per_worker, cpus_per_worker, spread)
    return report_experiment(db, experiment_id, alternate_model, interrupted, as_json)


def _run(ray, settings, db, address, repeat, alternate_model, workers, gpus_per_worker, cpus_per_worker, spread):
    from vlmtop.sessions.knobs import make_arms
    from vlmtop.sessions.run.experiment import new_experiment_id, plan

    started_ray = connect(ray, address)
    session_dir = local_session_dir(ray) if started_ray and not address else None
    try:
        options = fleet_options(ray, repeat or 1, workers, gpus_per_worker, cpus_per_worker, spread)
        if settings.threads is None:  # the CPUs Ray gave each actor, not the whole node's
            settings.threads = max(1, int(options.cpus_per_worker))
        experiment_id = new_experiment_id()
        replicates = plan(experiment_id, repeat or 1, settings.model, alternate_model, seed=settings.seed)
        per_process = settings.count * len(make_arms(settings.knobs)) if settings.count else None
        return experiment_id, _run_with_progress(settings, db, replicates, experiment_id, options, per_process)
    finally:
        if started_ray:
            ray.shutdown()
        if session_dir:
            remove_session_dir(session_dir)


def _run_with_progress(settings, db, replicates, experiment_id, options, per_process) -> bool:
    from vlmtop.sessions.records import is_measured
    from vlmtop.sessions.run.ray.driver import Fleet

    err = Console(stderr=True)
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err)
    task = progress.add_task(f"experiment {experiment_id} on Ray",
                             total=per_process * len(replicates) if per_process else None)
    live: dict[str, str] = {}  # session -> "host/pid" of the actors measuring now
    ended = [0]

    def describe():
        where = f" on {', '.join(sorted(set(live.values())))}" if live else ""
        return markup_safe(f"{experiment_id}: {ended[0]}/{len(replicates)} done, {len(live)} running{where}")

    def on_commit(rep, kind, payload):
        if kind == "create":
            live[rep.session_id] = f"{payload['where']['hostname']}/{payload['where']['pid']}"
            progress.update(task, description=describe())
        elif kind == "sample" and is_measured(payload):
            progress.advance(task)

    def on_end(rep):
        live.pop(rep.session_id, None)
        ended[0] += 1
        progress.update(task, description=describe())

    with progress:
        return Fleet(settings, db, replicates, experiment_id, options, on_commit, on_end).run()
