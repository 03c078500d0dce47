"""`vlmtop stop`, `vlmtop rm` and `vlmtop prune`: end a recording, delete sessions.

All three write, so they open the database for writing and say in one line when that is
impossible. rm and prune delete in one transaction and ask first: with no terminal to ask
on, only ``--yes`` lets them go ahead.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import TYPE_CHECKING

from vlmtop.cli.parser import add_db_option
from vlmtop.core.errors import VlmtopError
from vlmtop.core.text import printable
from vlmtop.sessions.store.errors import SessionNotRunningError, SessionRunningError
from vlmtop.sessions.store.paths import db_path

# The store loads when a command runs: `vlmtop --help` builds these parsers (no sqlite3, numpy).
if TYPE_CHECKING:
    from vlmtop.sessions.store import SessionInfo, SessionStore

STOP_WAIT_S = 30.0
_AGE = re.compile(r"^(\d+)([hdw])$")
_AGE_UNITS_S = {"h": 3600, "d": 86400, "w": 7 * 86400}


def register(subparsers: argparse._SubParsersAction) -> None:
    stop = subparsers.add_parser(
        "stop",
        help="stop a running session, from any terminal",
        description="Ask a running session's worker to stop after the sample in flight "
        "(through the database, so it works from any terminal), wait for it to end, and "
        "print its final status.",
    )
    stop.add_argument(
        "session", nargs="?", metavar="SESSION",
        help="id or unique prefix, or an experiment id (exp-...: its running process, and "
        "no further replicate starts); default: the newest running session",
    )  # fmt: skip
    stop.add_argument(
        "--wait", type=float, default=STOP_WAIT_S, metavar="SECONDS",
        help=f"how long to wait for it to end; 0 to only ask (default: {STOP_WAIT_S:.0f})",
    )  # fmt: skip
    add_db_option(stop)
    stop.set_defaults(func=run_stop)

    rm = subparsers.add_parser(
        "rm",
        help="delete sessions and all their rows",
        description="Delete sessions with their samples, events and controls, in one "
        "transaction. A running session is refused: stop it first.",
    )
    rm.add_argument("sessions", nargs="+", metavar="SESSION", help="id, unique prefix or `last`")
    _add_yes(rm)
    add_db_option(rm)
    rm.set_defaults(func=run_rm)

    prune = subparsers.add_parser(
        "prune",
        help="delete failed or empty sessions (or all older than a date)",
        description="Delete, in one transaction, the sessions that failed or recorded no "
        "measured sample; with --older-than, every finished session started before that "
        "date instead. Running sessions are never pruned.",
    )
    prune.add_argument(
        "--older-than", metavar="DATE",
        help="a date (YYYY-MM-DD, local time) or an age such as 12h, 7d, 2w",
    )  # fmt: skip
    _add_yes(prune)
    add_db_option(prune)
    prune.set_defaults(func=run_prune)


def _add_yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


# --- stop ----------------------------------------------------------------------------------------


def run_stop(args: argparse.Namespace) -> int:
    from vlmtop.sessions.records import SessionStatus
    from vlmtop.sessions.store import SessionStore

    with SessionStore.open(db_path(args.db), create=False, readonly=False) as store:
        session_id = _session_to_stop(store, args.session)
        store.request_stop(session_id)
        if args.wait <= 0:
            print(printable(f"asked session {session_id} to stop after the sample in flight"))
            return 0
        print(printable(f"vlmtop: stopping session {session_id} after the sample in flight…"), file=sys.stderr)
        info = store.wait_until_ended(session_id, args.wait)
    if info.status == SessionStatus.RUNNING:
        print(
            printable(f"vlmtop: session {session_id} has not stopped within {args.wait:g} s; it stops "
                      f"once its sample in flight ends (see `vlmtop sessions`)"),
            file=sys.stderr,
        )
        return 1
    print(printable(f"session {info.id}: {info.status}, {info.measured_count} measured samples"))
    return 0


def _session_to_stop(store: SessionStore, ref: str | None) -> str:
    """The session `vlmtop stop REF` stops: the newest running one, a named one, or an
    experiment's running replicate (its run then starts no further replicate)."""
    from vlmtop.sessions.records import SessionStatus
    from vlmtop.sessions.store.rows import EXPERIMENT_PREFIX

    if ref in (None, "last"):
        return store.last_running()
    if not ref.startswith(EXPERIMENT_PREFIX):
        return store.resolve(ref)
    experiment_id = store.resolve_experiment(ref)
    running = [info for info in store.experiment_sessions(experiment_id) if info.status == SessionStatus.RUNNING]
    if not running:
        raise SessionNotRunningError(f"experiment {experiment_id} has no running session: nothing to stop")
    return running[-1].id


# --- rm and prune --------------------------------------------------------------------------------


def run_rm(args: argparse.Namespace) -> int:
    from vlmtop.sessions.store import SessionStore

    with SessionStore.open(db_path(args.db), create=False, readonly=False) as store:
        ids = list(dict.fromkeys(store.resolve(ref) for ref in args.sessions))
        infos = [store.session(session_id) for session_id in ids]
        return _remove(store, infos, args.yes)


def run_prune(args: argparse.Namespace) -> int:
    from vlmtop.sessions.store import SessionStore

    older_than = parse_date(args.older_than) if args.older_than else None
    with SessionStore.open(db_path(args.db), create=False, readonly=False) as store:
        infos = store.prune_candidates(older_than)
        if not infos:
            what = f"started before {args.older_than}" if older_than else "failed or empty"
            print(printable(f"no finished sessions {what} in {store.path}: nothing to prune", limit=0))
            return 0
        return _remove(store, infos, args.yes)


def _remove(store: SessionStore, infos: list[SessionInfo], yes: bool) -> int:
    from vlmtop.sessions.records import SessionStatus

    for info in infos:  # asked before asking: a question whose answer cannot be used
        if info.status == SessionStatus.RUNNING:
            raise SessionRunningError(
                f"session {info.id} is still running: stop it first with `vlmtop stop {info.id}`"
            )
    samples = sum(info.sample_count for info in infos)
    what = f"{len(infos)} session{'s' * (len(infos) != 1)} ({samples} samples)"
    from rich.console import Console

    from vlmtop.cli.commands.sessions_export import sessions_table

    Console().print(sessions_table(infos, store.path))
    if not yes and not _confirm(f"remove {what} from {store.path}?"):
        print("nothing removed")
        return 1
    removed = store.remove_sessions(info.id for info in infos)
    print(printable(f"removed {removed.sessions} session{'s' * (removed.sessions != 1)} "
                    f"({removed.samples} samples) from {store.path}", limit=0))  # fmt: skip
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise VlmtopError(
            f"{question.rstrip('?')}: no terminal to confirm on; pass --yes to go ahead"
        )
    print(f"{printable(question, limit=0)} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def parse_date(text: str) -> float:
    """``YYYY-MM-DD`` (local midnight) or an age (``12h``, ``7d``, ``2w``) as a unix time."""
    age = _AGE.match(text.strip())
    if age:
        return time.time() - int(age.group(1)) * _AGE_UNITS_S[age.group(2)]
    try:
        return time.mktime(time.strptime(text.strip(), "%Y-%m-%d"))
    except ValueError:
        raise VlmtopError(
            f"--older-than {text!r} is neither a date (YYYY-MM-DD) nor an age (12h, 7d, 2w)"
        ) from None

