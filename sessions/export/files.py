"""Where an export's bytes go: an unnamed file linked into place when complete, or a named
part file for SQLite, and what a signal or a SIGKILL leaves (nothing, or a part the next
export removes). Apart from sessions/export/writer.py, which decides what is written."""

from __future__ import annotations

import contextvars
import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# Set inside private_files(): a backup's new file is the user's data, not a file to share.
_PRIVATE = contextvars.ContextVar("vlmtop_private_files", default=False)


@contextmanager
def private_files() -> Iterator[None]:
    """New files written inside this block are 0600 whatever the umask: `vlmtop backup`
    copies prompts, paths and host names, which the default database keeps 0600 too."""
    token = _PRIVATE.set(True)
    try:
        yield
    finally:
        _PRIVATE.reset(token)


def new_file_mode() -> int:
    if _PRIVATE.get():
        return 0o600
    # An export is made to be shared: the permissions any new file of the user gets.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def output_mode(out: Path) -> int:
    """The permission bits the file at ``out`` ends with. A regular file replaced with
    --force keeps its own (a 0600 target stays private, a 0640 one shared with its group):
    the new file takes its place, and its mode must not be a silent loosening. A new file
    gets :func:`new_file_mode`."""
    try:
        st = os.stat(out)
    except OSError:
        return new_file_mode()
    return stat.S_IMODE(st.st_mode) & 0o777 if stat.S_ISREG(st.st_mode) else new_file_mode()


@contextmanager
def unnamed_output(out: Path) -> Iterator[IO[bytes]]:
    """A file with no name in ``out``'s folder, linked at ``out`` once complete: a killed
    export (even SIGKILL) leaves nothing. Where O_TMPFILE is missing, a named .part."""
    mode = output_mode(out)
    try:
        fd = os.open(out.parent, os.O_TMPFILE | os.O_WRONLY, mode)
    except (AttributeError, OSError):
        with named_part(out) as tmp, tmp.open("wb") as f:
            yield f
        return
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, mode)  # exactly these bits: open() took the umask's off them
        yield f
        f.flush()
        # linkat() cannot replace: link under a fresh name, then rename over the target.
        part = out.parent / f".{out.name}.{os.getpid()}.{threading.get_ident()}.part"
        # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd; Python only calls linkat when given
        # a directory fd, plain link() would try to link the /proc symlink itself.
        folder = os.open(out.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.link(f"/proc/self/fd/{fd}", part.name, dst_dir_fd=folder, follow_symlinks=True)
        finally:
            os.close(folder)
        try:
            os.replace(part, out)
        except BaseException:
            part.unlink(missing_ok=True)
            raise


@contextmanager
def named_part(out: Path) -> Iterator[Path]:
    """A named temporary file beside ``out`` (for SQLite, which needs a name), renamed
    over ``out`` when the block ends well, removed when it fails or on SIGTERM, SIGHUP or
    Ctrl-C. A SIGKILL leaves it: its name holds the pid, and the next export to ``out``
    removes the parts of writers no longer running."""
    # The handlers go in first and the name is chosen before the file exists: a SIGTERM
    # the moment the file appears (a busy machine widens that moment) still removes it.
    with _signals_end_cleanly():
        _remove_stale_parts(out)
        tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
        mode = output_mode(out)
        try:
            # Owner read-write while SQLite opens it by name (a replaced 0400 file's mode
            # would lock it out), those exact bits once complete (open() took the umask's).
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode | 0o600))
            yield tmp
            os.chmod(tmp, mode)
            os.replace(tmp, out)
        finally:
            for leftover in (tmp, *(Path(f"{tmp}{s}") for s in _SQLITE_SIDE_FILES)):
                leftover.unlink(missing_ok=True)


_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _remove_stale_parts(out: Path) -> None:
    """Remove ``.NAME.PID.HEX.part`` files (and their SQLite side files) beside ``out``
    whose PID is no running process: left by an export or backup killed with SIGKILL.
    Only names of exactly that form: nothing else in the folder is touched."""
    prefix = f".{out.name}."
    try:
        names = [n for n in os.listdir(out.parent) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        rest = name[len(prefix):]
        for side in _SQLITE_SIDE_FILES:
            rest = rest.removesuffix(side)
        pid, _, token = rest.removesuffix(".part").partition(".")
        if not (rest.endswith(".part") and pid.isascii() and pid.isdigit() and len(token) == 8
                and token.isascii() and all(c in "0123456789abcdef" for c in token)):  # fmt: skip
            continue
        if not _running(int(pid)):
            (out.parent / name).unlink(missing_ok=True)


def _running(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we wrote: leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process runs under that pid
        return True
    return True


@contextmanager
def _signals_end_cleanly() -> Iterator[None]:
    """SIGTERM and SIGHUP end the export as Ctrl-C does: through the ``finally`` blocks
    that remove the temporary file (the default action would skip them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
