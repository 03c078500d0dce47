"""`vlmtop run --ray`: replicate processes as Ray actors, the driver the one SQLite writer.

The cluster tests start a real two-node Ray cluster on this machine (a head raylet and a
second raylet joined to it, each with its own temp dir) once for the module, and always
stop it afterwards: only its own processes, never another Ray on the machine. They are marked `ray` and skipped where ray is missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from helpers import vlmtop_command

from vlmtop.cli import main
from vlmtop.cli.commands.run_ray import CLIENT_ATTEMPTS
from vlmtop.sessions.run.experiment import Replicate
from vlmtop.sessions.run.ray.driver import Running, commit
from vlmtop.sessions.run.ray.proxy import StoreProxy
from vlmtop.sessions.run.worker import RunSettings, Worker
from vlmtop.sessions.store import SessionStore, StoreNotFoundError

HAVE_RAY = importlib.util.find_spec("ray") is not None
# Ray Client (`ray://`) needs grpcio on both ends: the `ray[client]` extra
HAVE_RAY_CLIENT = HAVE_RAY and importlib.util.find_spec("grpc") is not None
CLIENT_PORT: dict[str, int] = {}  # the cluster's Ray Client server port, once it is started
HEAD_LOGS: list[Path] = []  # the head's Ray log folder, for a failing test's message


def on_ray(test):
    """Marked `ray` (CI runs them where the extra is installed), skipped without ray."""
    skip = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'vlmtop[ray]')")
    return pytest.mark.ray(skip(test))


QUICK = ["--warmup", "none", "--max-new-tokens", "2"]
RAY_CLI = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]


def assert_gapless(store: SessionStore, session_id: str) -> int:
    seqs = [r.seq for r in store.samples(session_id)]
    assert seqs == list(range(len(seqs)))
    return len(seqs)


# --- without a cluster ---------------------------------------------------------------------


def test_without_ray_the_option_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from vlmtop.cli import main; "
            f"raise SystemExit(main(['run', '--ray', '--count', '1', '--db', {str(tmp_path / 's.db')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["vlmtop: error: --ray needs Ray, which is not installed: pip install 'vlmtop[ray]'"]
    assert not (tmp_path / "s.db").exists()


def test_fleet_options_need_ray(capsys):
    assert main(["run", "--workers", "2", "--count", "1"]) == 2
    assert "go with --ray" in capsys.readouterr().err


def test_a_worker_writing_through_the_proxy_is_committed_by_its_driver(tmp_path):
    """The actor's half and the driver's half of the relay, in one process: every record
    commits in order, and a stop written to the driver's database reaches the worker."""
    db = tmp_path / "s.db"
    rep = Replicate(0, None, "tiny-qwen2-vl", "feedc0ffee")
    proxy = StoreProxy({"pid": 4242, "hostname": "node-a", "node_id": "n" * 56}, {"torch": "x.y"})
    settings = RunSettings(count=200, max_new_tokens=2, warmup="none", knobs={"max_new_tokens": [2, 3]},
                           experiment={"experiment_id": "exp-1", "replicate": 0, "side": None})
    statuses = []
    thread = threading.Thread(target=lambda: statuses.append(Worker(settings, proxy, session_id=rep.session_id).run()))
    running = Running(rep, actor=None, run_ref=None, take_ref=None, bundle=None)
    stopped = False
    with SessionStore.open(db) as store:
        thread.start()
        while thread.is_alive() or proxy._outbox:
            controls = store.pending_controls(rep.session_id) if running.created else []
            for index, kind, payload in proxy.take(running.acked, controls, 0.2):
                commit(store, running, kind, payload)
                running.acked = index
            if not stopped and running.created and store.session(rep.session_id).sample_count >= 3:
                store.request_stop(rep.session_id)  # what `vlmtop stop` does on the driver's file
                stopped = True
        thread.join()
        info = store.session(rep.session_id)
        count = assert_gapless(store, rep.session_id)
        (stop,) = store.controls(rep.session_id)
        kinds = [e.kind for e in store.events(rep.session_id)]
    assert statuses == ["completed"] and info.status == "completed"
    assert (info.pid, info.hostname, info.node_id, info.versions) == (4242, "node-a", "n" * 56, {"torch": "x.y"})
    assert info.device_name and info.experiment_id == "exp-1"  # the worker named the CPU it ran on
    assert 3 <= count < 400 and stop.status == "applied" and "stop" in kinds and kinds[-1] == "end"


# --- on a real two-node cluster ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_under(folders: list[str]) -> list[int]:
    """Pids of the processes whose command line names one of ``folders``: every daemon and
    worker of a Ray node started with ``--temp-dir`` there (their sockets and logs live in it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                command = open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace")
            except OSError:  # gone meanwhile
                continue
            if any(folder in command for folder in folders):
                found.append(int(entry))
    return found


def _stop_processes_under(folders: list[str], grace_s: float = 10.0) -> None:
    # Not `ray stop --force`: that kills every Ray process of this user on the machine,
    # a developer's own cluster (or a parallel test run's) included.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _processes_under(folders):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while _processes_under(folders) and time.monotonic() < deadline:
            time.sleep(0.2)


def _ray(*args: str, env: dict) -> None:
    done = subprocess.run([*RAY_CLI, *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.fixture(scope="module")
def cluster():
    """A head raylet (2 CPUs) and a second raylet (1 CPU) on 127.0.0.1: two nodes."""
    pytest.importorskip("ray")
    # A local `ray.init()` elsewhere leaves a token in ~/.ray that would switch this cluster
    # to token auth: the test cluster and its drivers (this process and its children) opt out.
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # The head's Ray Client proxy starts a server process per client and gives it 30 s to
    # answer: on a loaded 2-core machine that start alone can take longer.
    # Its actors at the test's priority, as docs/scaling.md tells a cluster's owner: at Ray's
    # nice 15 they starve behind whatever else loads the machine.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "120",
           "RAY_worker_niceness": "0"}
    port = _free_port()
    # short paths: Ray's unix sockets live under the temp dir and their names have a limit
    temp_dirs = [tempfile.mkdtemp(prefix="vr", dir="/tmp") for _ in range(2)]
    common = ["--node-ip-address", "127.0.0.1", "--object-store-memory", "100000000", "--disable-usage-stats"]
    # the head serves Ray Client too where grpcio is installed (test_a_ray_client_address_...)
    client = ["--ray-client-server-port", str(_free_port())] if HAVE_RAY_CLIENT else []
    try:
        _ray("start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
             "--dashboard-agent-listen-port", str(_free_port()), "--temp-dir", temp_dirs[0], *client, *common,
             env=env)
        if client:
            CLIENT_PORT["port"] = int(client[1])
        HEAD_LOGS.append(Path(temp_dirs[0]) / "session_latest" / "logs")
        _ray("start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1",
             "--dashboard-agent-listen-port", str(_free_port()), "--temp-dir", temp_dirs[1], *common, env=env)
        yield f"127.0.0.1:{port}"
    finally:
        _stop_processes_under(temp_dirs)
        for folder in temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved
        CLIENT_PORT.clear()
        HEAD_LOGS.clear()


@on_ray
def test_an_experiment_spreads_over_two_nodes_into_one_database(cluster, tmp_path, capsys):
    db = tmp_path / "s.db"
    assert main(["run", "--ray", cluster, "--workers", "2", "--spread", "--repeat", "2", "--count", "2",
                 "--knob", "max_new_tokens=2,3", *QUICK, "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with SessionStore.open(db, create=False) as store:
        infos = store.experiment_sessions(report["experiment_id"])
        counts = [assert_gapless(store, info.id) for info in infos]
        arms = [{r.arm for r in store.samples(info.id)} for info in infos]
    assert [i.replicate for i in infos] == [0, 1] and all(i.status == "completed" for i in infos)
    assert counts == [4, 4] and all(i.measured_count == 4 for i in infos)  # 2 per arm, both arms interleaved
    assert all(a == {"max_new_tokens=2", "max_new_tokens=3"} for a in arms)
    assert len({i.node_id for i in infos}) == 2  # --spread: one node each
    assert len({i.pid for i in infos}) == 2 and os.getpid() not in {i.pid for i in infos}
    assert all(i.hostname == socket.gethostname() and i.device == "cpu" and i.device_name for i in infos)
    assert all(i.versions.get("torch") and i.settings["experiment"]["experiment_id"] == report["experiment_id"]
               for i in infos)


@on_ray
@pytest.mark.skipif(not HAVE_RAY_CLIENT, reason="Ray Client needs grpcio: pip install 'ray[client]'")
def test_a_ray_client_address_runs_the_experiment_through_ray_client(cluster, tmp_path, capsys):
    """`--ray ray://HOST:PORT`: the driver is a Ray Client of the cluster's head (its actors
    run in the cluster, the driver commits here); everything else as with a GCS address."""
    db = tmp_path / "s.db"
    address = f"ray://127.0.0.1:{CLIENT_PORT['port']}"
    status = main(["run", "--ray", address, "--workers", "2", "--repeat", "2", "--count", "2", *QUICK,
                   "--db", str(db), "--json"])
    assert status == 0, _client_server_logs()
    report = json.loads(capsys.readouterr().out)
    with SessionStore.open(db, create=False) as store:
        infos = store.experiment_sessions(report["experiment_id"])
        counts = [assert_gapless(store, info.id) for info in infos]
    assert [i.status for i in infos] == ["completed", "completed"] and counts == [2, 2]
    assert len({i.pid for i in infos}) == 2 and os.getpid() not in {i.pid for i in infos}
    assert all(i.node_id and i.device_name for i in infos)


@on_ray
@pytest.mark.skipif(not HAVE_RAY_CLIENT, reason="Ray Client needs grpcio: pip install 'ray[client]'")
def test_a_ray_client_server_that_cannot_start_is_tried_again_then_one_line(tmp_path):
    """A real head whose Ray Client proxy gives each per-client server 0 s to answer: the
    start fails every time (Ray sends its traceback); vlmtop tries CLIENT_ATTEMPTS times,
    then says the server's last line."""
    folder = tempfile.mkdtemp(prefix="vr", dir="/tmp")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "0"}
    client_port = _free_port()
    try:
        _ray("start", "--head", "--port", str(_free_port()), "--num-cpus", "1", "--include-dashboard", "false",
             "--dashboard-agent-listen-port", str(_free_port()), "--temp-dir", folder,
             "--ray-client-server-port", str(client_port), "--node-ip-address", "127.0.0.1",
             "--object-store-memory", "100000000", "--disable-usage-stats", env=env)
        address = f"ray://127.0.0.1:{client_port}"
        code = ("from vlmtop.cli import main; "
                f"raise SystemExit(main(['run', '--ray', {address!r}, '--count', '1', '--db', {str(tmp_path / 's.db')!r}]))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
        tries = len(list((Path(folder) / "session_latest" / "logs").glob("ray_client_server_*.err")))
    finally:
        _stop_processes_under([folder])
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"vlmtop: error: cannot reach the Ray cluster at {address}: its Ray Client server "
                           f"could not start a server for this client ({CLIENT_ATTEMPTS} tries): "
                           "RuntimeError: Proxy failed to Connect")
    assert tries == CLIENT_ATTEMPTS  # one per-client server per try, each with its own log


def _client_server_logs() -> str:
    """The end of the head's Ray Client logs: why a `ray://` connection failed, in the
    failing test's message (the cluster's folders are removed when the module ends)."""
    tails = []
    for log in sorted(HEAD_LOGS[0].glob("ray_client_server*.err")) if HEAD_LOGS else []:
        tails.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(tails) or "(no Ray Client server logs)"


@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'vlmtop[ray]')")
def test_an_unreachable_ray_client_address_is_one_line(tmp_path):
    """No Ray Client server there, or no grpcio here: one line saying so, never a traceback
    (Ray Client warns before it raises)."""
    address = f"ray://127.0.0.1:{_free_port()}"
    code = ("from vlmtop.cli import main; "
            f"raise SystemExit(main(['run', '--ray', {address!r}, '--count', '1', '--db', {str(tmp_path / 's.db')!r}]))")
    # Ray Client's connection timeouts: seconds instead of its default 5 + 10 + 20
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1",
           "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()
    if HAVE_RAY_CLIENT:
        assert line.startswith(f"vlmtop: error: cannot start or reach the Ray cluster at {address}: ")
        assert line.endswith("`ray start --head` serves one on 10001)")
    else:
        assert line == f"vlmtop: error: --ray {address}: Ray Client needs grpcio, which is not installed: " \
                       "pip install 'ray[client]'"


def _vlmtop(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(vlmtop_command(*args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(db: Path, predicate, timeout_s: float = 300.0):
    # A bound for a broken run, not a speed limit: a loaded CI box can take minutes to
    # start a Ray actor and load its model.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with SessionStore.open(db, create=False, readonly=True) as store:
                infos = [info for info in store.sessions() if info.experiment_id]
        except StoreNotFoundError:  # not created yet, or created and not yet initialised
            infos = []
        if predicate(infos):
            return infos
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting on {db}")


@on_ray
def test_a_killed_actor_loses_nothing_committed_and_the_experiment_goes_on(cluster, tmp_path):
    db = tmp_path / "s.db"
    proc = _vlmtop(["run", "--ray", cluster, "--workers", "2", "--repeat", "3", "--count", "50",
                    "--knob", "max_new_tokens=2,3", *QUICK, "--db", str(db), "--json"])
    try:
        infos = _wait_for(db, lambda infos: len(infos) == 2 and all(i.sample_count >= 2 for i in infos))
        killed, stopped = sorted(infos, key=lambda i: i.replicate)
        os.kill(killed.pid, signal.SIGKILL)  # the actor's own process
        with SessionStore.open(db, create=False) as store:
            committed = store.session(killed.id).sample_count
            store.request_stop(stopped.id)  # `vlmtop stop` on the driver's database
        out, err = proc.communicate(timeout=400)
    finally:
        proc.kill()
    assert proc.returncode == 1, err  # one replicate was lost, and the exit status says so
    report = json.loads(out)
    with SessionStore.open(db, create=False) as store:
        infos = {info.replicate: info for info in store.experiment_sessions(report["experiment_id"])}
        counts = {r: assert_gapless(store, info.id) for r, info in infos.items()}
        stop_events = [e for e in store.events(stopped.id) if e.kind == "stop"]
    assert infos[0].status == "interrupted" and "Ray actor" in infos[0].error and "died" in infos[0].error
    assert counts[0] >= committed
    assert infos[1].status == "completed" and stop_events and counts[1] < 100
    assert infos[2].status == "completed" and infos[2].measured_count == 100  # the experiment went on
    assert len({info.pid for info in infos.values()}) == 3  # a fresh process each


# Runs in a fresh interpreter, which signals itself: Ray's global state and the signal stay
# out of pytest's process.
SIGNAL_AFTER_COMMIT = """
import json, os, signal, sys
import ray
from vlmtop.sessions.run.experiment import Replicate
from vlmtop.sessions.run.ray.driver import Fleet, FleetOptions
from vlmtop.sessions.run.worker import RunSettings

address, db = sys.argv[1:]
settings = RunSettings(count=500, max_new_tokens=2, warmup="none")
rep = Replicate(0, None, settings.model, "5161a1c0de")
signalled = []

def on_commit(rep, kind, payload):
    if kind == "sample" and payload.seq == 2 and not signalled:
        signalled.append(True)
        os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler before the next bytecode

ray.init(address=address, log_to_driver=False)
try:
    interrupted = Fleet(settings, db, [rep], "exp-sig", FleetOptions(), on_commit=on_commit).run()
finally:
    ray.shutdown()
print(json.dumps({"interrupted": interrupted, "signalled": bool(signalled)}))
"""


@on_ray
def test_a_signal_right_after_a_commit_commits_nothing_twice(cluster, tmp_path):
    """The signal lands between committing a message and asking the actor for the next
    batch, where it once made the driver commit the same batch again."""
    db = tmp_path / "s.db"
    done = subprocess.run([sys.executable, "-c", SIGNAL_AFTER_COMMIT, cluster, str(db)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"interrupted": True, "signalled": True}
    with SessionStore.open(db, create=False) as store:
        info = store.session("5161a1c0de")
        count = assert_gapless(store, "5161a1c0de")
    assert info.status == "interrupted" and "SIGINT" in info.error, (info.status, info.error)
    assert 3 <= count < 500


@on_ray
def test_a_killed_driver_keeps_every_committed_sample(cluster, tmp_path):
    db = tmp_path / "s.db"
    proc = _vlmtop(["run", "--ray", cluster, "--workers", "2", "--repeat", "2", "--count", "500", *QUICK,
                    "--db", str(db)])
    try:
        infos = _wait_for(db, lambda infos: len(infos) == 2 and all(i.sample_count >= 2 for i in infos))
        with SessionStore.open(db, create=False, readonly=True) as store:
            before = {info.id: store.session(info.id).sample_count for info in infos}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    # its actors die with it (Ray ends the actors of a dead driver); readers then judge them
    infos = _wait_for(db, lambda infos: all(i.status == "interrupted" for i in infos), timeout_s=120)
    with SessionStore.open(db, create=False) as store:
        assert all(assert_gapless(store, info.id) >= before[info.id] for info in infos)
