"""The Ray runtime `vlmtop run --ray` starts for itself (no address): it serves this
machine only (every server on the loopback address, no dashboard), its actors run at the
driver's priority, and its /tmp/ray
session folder is gone after the run; Ctrl-C of the driver ends the sessions
`interrupted` with exit 130, as a local run; an actor that dies of an exception says
which; and a `vlmtop/` folder where the run starts (a clone's parent) breaks nothing."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from vlmtop.sessions.store import SessionStore, StoreError

pytestmark = [pytest.mark.ray,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed"),
              pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads listening sockets from /proc")]

# Runs in a fresh interpreter: Ray's global state and its cluster switch stay out of pytest.
PROBE = r'''
import ipaddress, json, os, ray
from vlmtop.cli.commands.run_ray import connect, local_session_dir, remove_session_dir
from vlmtop.sessions.run.ray.driver import _ray_reason

def listening(session_name):
    """(pid, address) of every listening TCP socket of this process and Ray's processes."""
    inodes = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            if int(pid) != os.getpid() and session_name not in cmd:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = int(pid)
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            cells = line.split()
            if cells[3] != "0A" or cells[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(cells[1].split(":")[0])
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append([inodes[cells[9]], str(ipaddress.ip_address(raw))])
    return found

assert connect(ray, None)
session = local_session_dir(ray)
node = ray._private.worker._global_node

@ray.remote(max_restarts=0)
class Broken:
    def __init__(self):
        raise TypeError("planted: expected str, not NoneType")
    def ping(self):
        return 1

@ray.remote
class Niceness:
    def value(self):
        return os.nice(0)

nice = ray.get(Niceness.remote().value.remote())
try:
    ray.get(Broken.remote().ping.remote())
    reason = ""
except Exception as exc:
    reason = _ray_reason(exc)
sockets = listening(os.path.basename(session))
ray.shutdown()
remove_session_dir(session)
print(json.dumps({"node_ip": node.node_ip_address, "sockets": sockets, "reason": reason, "nice": nice,
                  "session": session, "left": os.path.exists(session)}))
'''


def _env(ray_tmp: str) -> dict:
    # RAY_TMPDIR: Ray's /tmp/ray for this test only (short: Ray's socket names have a limit)
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_worker_niceness", None)  # the tests see the niceness vlmtop asks for
    return env


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def test_a_local_ray_serves_this_machine_only_and_leaves_no_session_folder(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="vr", dir="/tmp")
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], env=_env(ray_tmp), capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        probe = json.loads(done.stdout.strip().splitlines()[-1])
        assert probe["node_ip"] == "127.0.0.1"
        assert probe["nice"] == os.nice(0)  # actors measure at this process's priority, not Ray's nice 15
        assert probe["sockets"] and all(_loopback(address) for _, address in probe["sockets"]), probe["sockets"]
        assert probe["reason"].endswith("TypeError: planted: expected str, not NoneType"), probe["reason"]
        assert "\x1b" not in probe["reason"]
        assert not probe["left"] and not any(name.startswith("session_") for name in os.listdir(ray_tmp)
                                             if name != "session_latest")
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_ctrl_c_of_a_ray_run_reads_interrupted_and_exits_130(tmp_path):
    folder = tmp_path / "parent"
    (folder / "vlmtop").mkdir(parents=True)  # a clone's parent folder: `vlmtop` is a folder here
    (folder / "vlmtop" / "README.md").write_text("a checkout, not the installed package\n")
    db = tmp_path / "s.db"
    ray_tmp = tempfile.mkdtemp(prefix="vr", dir="/tmp")
    run = subprocess.Popen([sys.executable, "-P", "-m", "vlmtop", "run", "--ray", "--repeat", "1", "--count", "2000",
                            "--warmup", "none", "--max-new-tokens", "2", "--db", str(db)],
                           cwd=folder, env=_env(ray_tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        measured = 0
        while measured < 3 and run.poll() is None and time.monotonic() < deadline:
            try:
                with SessionStore.open(db, readonly=True) as store:
                    measured = sum(info.measured_count for info in store.sessions())
            except StoreError:
                pass
            time.sleep(0.2)  # polling the database for the condition, not waiting a time out
        assert run.poll() is None and measured >= 3, run.stderr.read()[-3000:] if run.poll() is not None else measured
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=180)
        assert run.returncode == 130, err[-3000:]
        with SessionStore.open(db, readonly=True) as store:
            (info,) = store.sessions()
            assert info.status == "interrupted" and info.measured_count >= 3, (info.status, info.error)
        assert not any(name.startswith("session_2") for name in os.listdir(ray_tmp)), os.listdir(ray_tmp)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        shutil.rmtree(ray_tmp, ignore_errors=True)
