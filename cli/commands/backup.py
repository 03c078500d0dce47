"""`vlmtop backup`: a consistent copy of the session database, or of one session.

Copying ``sessions.db`` with cp or scp is not a backup: rows a writer committed may still
be in ``sessions.db-wal`` (after a kill -9, all of them), and a copy of the main file
alone silently lacks them. This uses SQLite's online backup API, which reads through the
WAL and takes a consistent snapshot even while a worker keeps writing. With SESSION it
writes that session alone, as `vlmtop export SESSION -o FILE.db` does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vlmtop.cli.parser import add_db_option
from vlmtop.core.errors import VlmtopError
from vlmtop.core.text import printable
from vlmtop.sessions.store.paths import db_path


def register(subparsers: argparse._SubParsersAction) -> None:
    backup = subparsers.add_parser(
        "backup",
        help="copy the session database safely (with rows still in its write-ahead log)",
        description="Write a consistent copy of the session database with SQLite's online "
        "backup API: safe while a session records, and unlike cp or scp of the file it "
        "keeps the rows still in its -wal. With SESSION, that session alone.",
    )
    backup.add_argument("session", nargs="?", metavar="SESSION", help="only this session (id, prefix or `last`)")
    backup.add_argument("-o", "--output", required=True, metavar="FILE", help="the copy to write")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_db_option(backup)
    backup.set_defaults(func=run_backup)


def run_backup(args: argparse.Namespace) -> int:
    # The store (sqlite3, numpy) is imported here, not with the parser: `vlmtop --help` stays light.
    from vlmtop.sessions.export import export_session
    from vlmtop.sessions.export.files import private_files
    from vlmtop.sessions.store import SessionStore

    out = Path(args.output).expanduser()
    # A backup holds prompts, paths and host names: a new one is 0600 whatever the umask,
    # as the default database itself (one replaced with --force keeps the mode it had).
    with SessionStore.open(db_path(args.db), create=False, readonly=True) as store, private_files():
        if args.session:
            picked = store.lookup(args.session)
            count = export_session(store, picked.id, "sqlite", out, overwrite=args.force)
            print(printable(f"wrote session {picked.id} ({count} samples) to {out}", limit=0))
            return 0
        _refuse(out, store.path, args.force)
        sessions = len(store.sessions())
        _backup_file(store.path, out)
    print(printable(f"wrote a copy of {store.path} ({sessions} sessions) to {out}", limit=0))
    return 0


def _refuse(out: Path, source: Path, force: bool) -> None:
    if out.is_dir():
        raise VlmtopError(f"{out} is a folder: give a file name")
    if not out.parent.is_dir():
        raise VlmtopError(f"cannot write {out}: folder {out.parent} does not exist")
    if out.exists() and out.resolve() == source.resolve():
        raise VlmtopError(f"{out} is the database itself: choose another file")
    if out.exists() or out.is_symlink():
        if not out.is_file() or out.is_symlink():
            raise VlmtopError(f"{out} is not a regular file: a backup goes to a new file")
        if not force:
            raise VlmtopError(f"{out} exists: pass --force to replace it, or choose another name")
        if Path(f"{out}-wal").exists():
            raise VlmtopError(f"{out} is a database in use ({out.name}-wal exists): choose another file")


def _backup_file(source: Path, out: Path) -> None:
    from vlmtop.sessions.export.files import named_part
    from vlmtop.sessions.store.copying import backup_database

    # Into export's named .part file beside the target, renamed over it when complete:
    # an interrupted backup (Ctrl-C, SIGTERM, SIGHUP) leaves no half copy nor its journal,
    # and one killed with SIGKILL is cleaned by the next backup or export to that name.
    with named_part(out) as tmp:
        backup_database(source, tmp, shown_as=out)
