"""Starting a worker process, and hearing why it stopped.

A dashboard (`vlmtop run`) and a replicated run (`--repeat`) both start workers the same
way: isolated from the current directory, in a session of their own, their output read
through a pipe. The pipe matters on a full disk: the worker's log sits beside the database,
so there the log stays empty, and the worker's one line (``FAULT_PREFIX ...``) reaches us
only through the lines kept here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import deque
from dataclasses import asdict
from pathlib import Path

FAULT_PREFIX = "vlmtop worker:"  # how a worker process says why it stopped (exit 2)

# Python 3.10 has no -P: `-c` puts '' (the cwd) first on sys.path, so this takes it off
# before anything is imported, then runs the worker module as `-m` would. Not -I, which
# would also drop PYTHONPATH and the user's site-packages that users rely on.
_SAFE_PATH_310 = (
    "import sys\n"
    "if sys.path and sys.path[0] == '': del sys.path[0]\n"
    "import runpy\n"
    "runpy.run_module('vlmtop.sessions.run.worker', run_name='__main__', alter_sys=True)"
)


def worker_command(db: Path, session_id: str, settings, version: tuple[int, ...] = tuple(sys.version_info)) -> list[str]:
    """How a worker process is started, isolated from the current directory: `-m` would
    otherwise put the cwd first on sys.path, and a `torch.py` there would run. ``version``
    is the interpreter's (another one only to test the 3.10 form on a newer Python)."""
    if tuple(version[:2]) >= (3, 11):
        start = ["-P", "-m", "vlmtop.sessions.run.worker"]  # -P: no cwd on sys.path
    else:
        start = ["-c", _SAFE_PATH_310]
    return [sys.executable, *start, str(db), session_id, json.dumps(asdict(settings))]


def start_worker(db: Path, session_id: str, settings, log: Path | None) -> tuple[subprocess.Popen, WorkerOutput]:
    """Start the worker recording ``session_id``; its output is read here, copied to
    ``log`` (None: nowhere) and its last lines kept (see :class:`WorkerOutput`)."""
    worker = subprocess.Popen(
        worker_command(db, session_id, settings),  # isolated: no code from the cwd
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # the terminal's Ctrl+C is ours to pass on, not the worker's
    )
    return worker, WorkerOutput(worker.stdout, log)


class WorkerOutput:
    """A worker's output, through a pipe into this process: copied to its log, and its last
    lines kept in memory, where its one-line reason survives a log that cannot be written."""

    def __init__(self, stream, log: Path | None) -> None:
        self.log = log
        self.lines: deque[str] = deque(maxlen=20)
        self._thread = threading.Thread(target=self._copy, args=(stream,), daemon=True)
        self._thread.start()

    def _copy(self, stream) -> None:
        out = None
        if self.log is not None:
            try:
                out = open(self.log, "w", buffering=1, encoding="utf-8", errors="replace")
            except OSError:  # a full disk, a read-only folder: the lines in memory still say why
                pass
        with stream:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                if out is not None:
                    try:
                        out.write(line)
                    except OSError:  # the disk filled up: stop writing, keep reading
                        out = _close_quietly(out)
        if out is not None:
            _close_quietly(out)

    def last_line(self, wait_s: float = 0.0) -> str | None:
        """The worker's last line of output (after waiting up to ``wait_s`` for its end)."""
        self._thread.join(wait_s)
        return next((line for line in reversed(self.lines) if line.strip()), None)

    def reason(self, wait_s: float = 1.0) -> str | None:
        """The worker's fault line (sessions/run/worker.py main) without its prefix. Call it
        once the worker has exited: it waits up to ``wait_s`` for the pipe's end, so a
        line still in the pipe is not missed."""
        self._thread.join(wait_s)
        said = [line for line in self.lines if line.startswith(FAULT_PREFIX)]
        return said[-1].removeprefix(FAULT_PREFIX).strip() if said else None


def _close_quietly(out) -> None:
    try:
        out.close()
    except OSError:  # what is still buffered cannot be written either
        pass
