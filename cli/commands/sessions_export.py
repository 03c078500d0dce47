"""`vlmtop sessions` and `vlmtop export`: list what the session database holds, write one out."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vlmtop.cli.argtypes import number
from vlmtop.cli.parser import add_db_option
from vlmtop.core.errors import VlmtopError
from vlmtop.core.text import printable, shown
from vlmtop.sessions.export.formats import FORMATS, STDOUT
from vlmtop.sessions.store.paths import db_path

# The store, the exporters and rich load when a command runs, not when the parser is
# built: `vlmtop --help` would otherwise pull in sqlite3 and numpy (the store).
if TYPE_CHECKING:
    from rich.table import Table

    from vlmtop.sessions.store import SessionInfo, SessionStore

def register(subparsers: argparse._SubParsersAction) -> None:
    sessions = subparsers.add_parser(
        "sessions",
        help="list recorded sessions",
        description="List the sessions recorded in the session database.",
    )
    add_db_option(sessions)
    sessions.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sessions.set_defaults(func=run_sessions)

    export = subparsers.add_parser(
        "export",
        help="write a session to a file (sqlite, csv, jsonl, parquet, trace)",
        description="Write one session to a file: `sqlite` is a standalone database to share "
        "(opens with every vlmtop command), `trace` a Chrome/Perfetto timeline.",
    )
    export.add_argument("session", metavar="SESSION", help="session id, unique prefix, or `last`")
    export.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        help="output format (default: from the file name: .db .csv .jsonl .parquet "
        ".json/.trace.json; a name that says otherwise is an error)",
    )
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="file to write; - for standard output"
    )
    export.add_argument(
        "--force", action="store_true", help="replace FILE if it exists (a regular file only)"
    )
    export.add_argument(
        "--from", dest="seq_from", type=_seq, metavar="SEQ",
        help="first sample (seq) to write: a window of a session too large to view (trace, csv, jsonl)",
    )  # fmt: skip
    export.add_argument("--to", dest="seq_to", type=_seq, metavar="SEQ", help="last sample (seq) to write")
    export.add_argument(
        "--csv-raw", action="store_true",
        help="csv: write text cells as stored; by default a cell that starts with = + - @ tab or CR "
        "gets a leading ' so that a spreadsheet shows it rather than runs it as a formula",
    )
    add_db_option(export)
    export.set_defaults(func=run_export)


_seq = number(int, low=0, what="a sample number (seq, from 0)")


def print_unreadable(store: SessionStore) -> None:
    """The one line saying how much of the file was unreadable (shown as missing)."""
    print_note(store.unreadable_note())


def run_sessions(args: argparse.Namespace) -> int:
    from rich.console import Console

    from vlmtop.sessions.store import SessionStore

    with SessionStore.open(db_path(args.db), create=False, readonly=True) as store:
        infos = store.sessions()
        path = store.path
        print_unreadable(store)
    if args.json:
        print(json.dumps([info.to_dict() for info in infos], indent=2, default=str))
        return 0
    # User text (model names, paths, errors) is data, never Rich markup: `exp[/old]`.
    console = Console(highlight=False)
    if not infos:
        console.print(shown(f"no sessions recorded in {path}"))
        return 0
    console.print(sessions_table(infos, path))
    return 0


def sessions_table(infos: list[SessionInfo], path: Path) -> Table:
    from rich.table import Table

    from vlmtop.sessions.records import SessionStatus
    from vlmtop.sessions.store.rows import EXPERIMENT_PREFIX

    styles = {SessionStatus.RUNNING: "green", SessionStatus.FAILED: "red", SessionStatus.INTERRUPTED: "yellow"}
    table = Table(
        title=shown(f"{len(infos)} session{'s' * (len(infos) != 1)} in {path}"),
        caption="samples: measured / warm-up / errors"
        + ("; exp: experiment exp-XXXX (`vlmtop compare exp-XXXX`)" if any(i.experiment_id for i in infos) else ""),
        title_justify="left",
        # No borders: all columns (eight with experiments) fit an 80-column terminal, as
        # `top`'s do: one space between columns when the experiment column needs the room.
        box=None,
        pad_edge=False,
        collapse_padding=any(info.experiment_id for info in infos),
        header_style="bold reverse",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("model", overflow="fold", min_width=12)
    table.add_column("device", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("samples", justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    short = short_experiment_ids({info.experiment_id for info in infos if info.experiment_id})
    if short:  # replicated runs: which sessions are one experiment
        table.add_column("exp", no_wrap=True, min_width=4)
    for info in infos:
        table.add_row(
            shown(info.id),
            format_started(info.started_at),
            shown(info.model),
            shown(info.device),
            shown(info.status, style=styles.get(info.status, "")),
            f"{info.measured_count}/{info.warmup_count}/{info.error_count}",
            format_duration(info.duration_s),
            # the hex digits only (the `exp-` is in the caption): 80 columns hold them
            *([shown(short.get(info.experiment_id, "-").removeprefix(EXPERIMENT_PREFIX))] if short else []),
        )
    return table


def short_experiment_ids(ids: set[str], least: int = 4) -> dict[str, str]:
    """Each experiment id cut to its shortest prefix (at least ``least`` hex digits after
    `exp-`) that no other listed experiment shares: what a person types, in 8 columns."""
    from vlmtop.sessions.store.rows import EXPERIMENT_PREFIX

    out = {}
    for eid in ids:
        n = len(EXPERIMENT_PREFIX) + least
        while n < len(eid) and any(other != eid and other.startswith(eid[:n]) for other in ids):
            n += 1
        out[eid] = eid[:n]
    return out


def format_started(unix_time: float) -> str:
    """Local time; the year only when it is not this year, to leave the model room."""
    try:
        started = time.localtime(unix_time)
    except (OverflowError, OSError, ValueError):  # a time no clock reads: shown, not fatal
        return "?"
    same_year = started.tm_year == time.localtime().tm_year
    return time.strftime("%m-%d %H:%M" if same_year else "%Y-%m-%d", started)


def format_duration(seconds: float) -> str:
    if not 0 <= seconds < 1e9:  # NaN, or a start time far from any real one
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def print_note(note: str | None) -> None:
    """What ``last`` picked and why, when that needs saying: one line on stderr, so it
    never mixes into output meant for a pipe."""
    if note:
        print(f"vlmtop: {printable(note)}", file=sys.stderr)


def run_export(args: argparse.Namespace) -> int:
    from vlmtop.sessions.export import choose_format, export_session
    from vlmtop.sessions.store import SessionStore

    fmt = choose_format(args.output, args.format)
    to_stdout = args.output == STDOUT
    output = args.output if to_stdout else Path(args.output).expanduser()
    window = (args.seq_from, args.seq_to)
    if None not in window and window[0] > window[1]:
        raise VlmtopError(f"--from {window[0]} is after --to {window[1]}: nothing to write")
    with SessionStore.open(db_path(args.db), create=False, readonly=True) as store:
        picked = store.lookup(args.session)
        print_note(picked.note)
        count = export_session(store, picked.id, fmt, output, overwrite=args.force, window=window,
                               csv_raw=args.csv_raw)
        print_unreadable(store)
    where = "standard output" if to_stdout else output
    # With -o - the data is on stdout: the report goes beside the other messages.
    print(
        printable(f"wrote {count} samples of session {picked.id} to {where} ({fmt})", limit=0),
        file=sys.stderr if to_stdout else sys.stdout,
    )
    return 0
