"""Writing one session to a file: a shareable database, tables for analysis, a trace.

Where the output goes, and what is never done to it:

* a new file, or an existing regular file with ``overwrite`` (``--force``): written
  unnamed (``O_TMPFILE``) in the target's folder and linked into place at the end, so
  a failed or killed export (even ``kill -9``) leaves nothing behind. The sqlite format
  needs a named file: a ``.part`` beside the target, removed on failure and on SIGTERM,
  SIGHUP or Ctrl-C;
* an existing regular file without ``overwrite``: refused;
* anything that is not a regular file (``/dev/null``, a FIFO, a terminal): written in
  place, never replaced. A symlink is followed, never replaced;
* ``-`` is standard output: text formats stream to it, binary ones (sqlite, parquet)
  are built in a temporary folder and then copied out, never onto a terminal.

Rows are streamed page by page, never a whole session in memory; csv and jsonl copy the
stored values out without building records (validated, see validate.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from vlmtop.sessions.export.files import named_part, unnamed_output
from vlmtop.sessions.export.formats import BINARY_FORMATS, FORMATS, STDOUT
from vlmtop.sessions.export.parquet import require_pyarrow, write_parquet
from vlmtop.sessions.export.trace import write_trace
from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.store import (
    SAMPLE_COLUMNS,
    SAMPLE_KINDS,
    SessionInfo,
    SessionStore,
    StoreError,
    encode_sample,
)
from vlmtop.sessions.store.connection import free_space
from vlmtop.sessions.store.errors import StoreFullError, StoreWriteError
from vlmtop.sessions.store.paths import SIDE_FILES

# What `-o FILE` implies; the names are matched at their end, longest first.
SUFFIX_FORMATS = {
    ".trace.json": "trace",
    ".db": "sqlite",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".json": "trace",
}
# Times come from perf_counter_ns (1 ns) or CUDA events (0.5 us): in ms, 6 decimals hold
# every digit the clock gave. More are binary-float noise (2.5632490000000008).
CSV_DECIMALS = 6


class ExportError(StoreError):
    """An export could not be written; nothing was."""


def format_for(path: str | os.PathLike) -> str | None:
    """The format a file name implies (``.csv`` -> csv...), None when it implies none."""
    name = Path(path).name.lower()
    return next((fmt for end, fmt in SUFFIX_FORMATS.items() if name.endswith(end)), None)


def choose_format(out: str | os.PathLike, fmt: str | None) -> str:
    """The format to write ``out`` in: ``fmt`` if given, else what the name implies.

    A name that implies another format than ``fmt`` is refused: ``-o results.json
    --format csv`` would leave a CSV file any tool opens as JSON.
    """
    to_stdout = str(out) == STDOUT
    implied = None if to_stdout else format_for(out)
    if fmt and implied and fmt != implied:
        raise ExportError(
            f"{Path(out).name} names a {implied} file but --format is {fmt}: "
            f"change the file name or the format"
        )
    if fmt or implied:
        return fmt or implied
    if to_stdout:
        raise ExportError(f"writing to standard output (-o -) needs --format ({', '.join(FORMATS)})")
    raise ExportError(
        f"cannot tell the format from {Path(out).name!r}: pass --format ({', '.join(FORMATS)})"
    )


def export_session(
    store: SessionStore,
    session_id: str,
    fmt: str,
    out_path: str | os.PathLike,
    overwrite: bool = False,
    window: tuple[int | None, int | None] = (None, None),
    csv_raw: bool = False,
) -> int:
    """Write session ``session_id`` to ``out_path`` (``-``: standard output) as ``fmt``;
    returns the samples written. ``overwrite`` allows replacing an existing regular file;
    ``window`` (lo, hi) keeps the samples with lo <= seq <= hi (trace, csv, jsonl);
    ``csv_raw`` writes csv text cells as stored, formula prefixes and all."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if csv_raw and fmt != "csv":
        raise ExportError(f"--csv-raw is for the csv format, not {fmt}")
    if window != (None, None) and fmt in BINARY_FORMATS:
        raise ExportError(f"--from/--to take a window of the trace, csv or jsonl export, not {fmt}")
    session = store.session(session_id)
    write = _writer(fmt, window, csv_raw)
    if str(out_path) == STDOUT:
        try:
            return _export_to_stdout(store, session, fmt, write)
        except BrokenPipeError:  # `| head`: the reader has what it wanted; the CLI ends quietly
            raise
        except OSError as exc:  # a full disk behind a redirect, /dev/full
            _silence_stdout()
            raise ExportError(f"cannot write the export to standard output: {exc.strerror or exc}") from None
    out, in_place = _target(Path(out_path).expanduser())
    if out.exists() and out.resolve() == store.path.resolve():
        raise ExportError(f"{out} is the database being exported: choose another file")
    database = str(store.path.resolve())
    if str(out.resolve()) in (database + side for side in SIDE_FILES):
        raise ExportError(f"{out} belongs to the database being exported (SQLite keeps it beside "
                          f"{store.path.name}): choose another file")
    if fmt == "sqlite" and not in_place and Path(f"{out}-wal").exists():
        # Its write-ahead log would be replayed onto the new file and corrupt it.
        raise ExportError(
            f"{out} is a database in use ({out.name}-wal exists): choose another file"
        )
    if fmt == "parquet":
        _require_pyarrow()
    if out.exists() and not in_place and not overwrite:
        raise ExportError(f"{out} exists: pass --force to replace it, or choose another name")
    try:
        return _export_to_file(store, session, fmt, write, out, in_place)
    except (OSError, StoreFullError, StoreWriteError) as exc:
        # A full disk, an I/O error, a quota: one line, and (see files.unnamed_output) no
        # partial file left under the name asked for. The sqlite format meets it in
        # SQLite (on its .part file, gone by now): said as for the others.
        why = exc.strerror or exc if isinstance(exc, OSError) else "the disk is full or failed"
        raise ExportError(f"cannot write {out}: {why} ({free_space(out)}); nothing was written") from None


def _export_to_file(store, session, fmt: str, write, out: Path, in_place: bool) -> int:
    if in_place:
        return _export_in_place(store, session, fmt, write, out)
    if fmt == "sqlite":
        with named_part(out) as tmp:
            return write(store, session, tmp)
    with unnamed_output(out) as raw:
        if fmt in BINARY_FORMATS:
            return write(store, session, raw)
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
        count = write(store, session, text)
        text.flush()
        text.detach()
        return count


def _target(out: Path) -> tuple[Path, bool]:
    """Where to write, and whether in place (not a regular file: never replaced)."""
    if out.is_symlink():
        if not out.exists():
            raise ExportError(f"{out} is a symlink to nothing: give the file to write")
        out = out.resolve()  # follow it: the link stays, what it points to is the output
    if not out.exists():
        if not out.parent.is_dir():
            raise ExportError(f"cannot write {out}: folder {out.parent} does not exist")
        return out, False
    mode = out.stat().st_mode
    if stat.S_ISDIR(mode):
        raise ExportError(f"{out} is a folder: give a file name")
    if not stat.S_ISREG(mode):
        if stat.S_ISSOCK(mode):
            raise ExportError(f"{out} is a socket: give a file name")
        return out, True
    return out, False


def _export_in_place(store, session, fmt, write, out: Path) -> int:
    try:
        if fmt not in BINARY_FORMATS:
            with out.open("w", newline="", encoding="utf-8") as f:
                return write(store, session, f)
        with tempfile.TemporaryDirectory(prefix="vlmtop-export-") as folder:
            tmp = Path(folder) / f"session.{fmt}"
            count = write(store, session, tmp)
            with tmp.open("rb") as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            return count
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None


def _silence_stdout() -> None:
    """After a failed write to standard output: drop what is still buffered there, or
    Python's flush at exit fails again (a second message, and exit status 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's capture)
        pass


def _export_to_stdout(store: SessionStore, session: SessionInfo, fmt: str, write) -> int:
    if fmt not in BINARY_FORMATS:
        count = write(store, session, sys.stdout)
        sys.stdout.flush()  # here, where a failure is reported, not at exit
        return count
    if sys.stdout.isatty():
        raise ExportError(f"{fmt} is binary: redirect standard output to a file, or pass -o FILE")
    if fmt == "parquet":
        _require_pyarrow()
    with tempfile.TemporaryDirectory(prefix="vlmtop-export-") as folder:
        tmp = Path(folder) / f"session.{fmt}"
        count = write(store, session, tmp)
        sys.stdout.flush()
        with tmp.open("rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return count


def _writer(fmt: str, window: tuple[int | None, int | None], csv_raw: bool = False) -> Callable[..., int]:
    lo, hi = window
    lo = 0 if lo is None else lo
    writer = _WRITERS[fmt]
    if fmt in BINARY_FORMATS:
        return writer
    if fmt == "csv":
        return lambda store, session, f: writer(store, session, f, lo, hi, raw=csv_raw)
    return lambda store, session, f: writer(store, session, f, lo, hi)


def _write_sqlite(store: SessionStore, session: SessionInfo, tmp: Path) -> int:
    with SessionStore.open(tmp, create=True) as copy:
        copy.copy_session_from(store.path, session.id)
        # One self-contained file (no -wal/-shm beside it), readable from read-only media.
        copy.use_rollback_journal()
        return copy.sample_count_in_file()


# OWASP "CSV Injection": a spreadsheet reads a cell that starts with one of these as a
# formula (`=cmd|' -C calc'!A0`, `@SUM(1)`), and a file name or a prompt may start so.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: Any) -> Any:
    """A text cell a spreadsheet would run, with a leading ``'`` (shown as text there);
    anything else, numbers included (a negative time stays a number), as it is."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value


def _write_csv(store: SessionStore, session: SessionInfo, f: IO[str], lo: int = 0, hi: int | None = None,
               raw: bool = False) -> int:
    # Values as the samples table holds them: lists as JSON text (stored rounded to the
    # clock's resolution), booleans as 0/1, floats rounded to it here. Streamed a page of
    # validated rows at a time, column by column: no record is built, no JSON parsed.
    # Text cells are neutralised (see FORMULA_PREFIXES) unless ``raw``.
    columns = store.columns
    floats = [i for i, name in enumerate(columns) if SAMPLE_KINDS[name] == "float"]
    texts = [] if raw else [i for i, name in enumerate(columns) if SAMPLE_KINDS[name] == "str"]
    at = {name: i for i, name in enumerate(columns)}
    count = 0
    writer = csv.writer(f)
    writer.writerow(SAMPLE_COLUMNS)
    for page in store.iter_valid_pages(session.id, lo=lo, hi=hi):
        if not page:
            continue
        cols = list(zip(*(row for row, _ in page)))
        for i in floats:
            cols[i] = [v if v is None else round(v, CSV_DECIMALS) for v in cols[i]]
        for i in texts:
            cols[i] = [neutralised(v) for v in cols[i]]
        # An older file: the columns it lacks, as their defaults.
        n = len(page)
        full = [cols[at[name]] if name in at else [_csv_default(name)] * n for name in SAMPLE_COLUMNS]
        writer.writerows(zip(*full))
        count += n
    return count


def _csv_default(name: str) -> Any:
    return encode_sample(SampleRecord("", 0))[SAMPLE_COLUMNS.index(name)]


def _json_cells(kind: str, key: str) -> Callable[[tuple], list[str]]:
    """One column of a page as ``"key":value`` JSON members."""
    if kind == "json":  # stored JSON, validated: copied as is
        return lambda col: [key + ("null" if v is None else v) for v in col]
    if kind == "bool":
        return lambda col: [key + ("true" if v else "false") for v in col]
    if kind == "float":
        return lambda col: [key + ("null" if v is None else repr(float(v))) for v in col]
    if kind == "int":
        return lambda col: [key + ("null" if v is None else str(v)) for v in col]
    return lambda col: [key + ("null" if v is None else _json_string(v)) for v in col]


_json_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _write_jsonl(store: SessionStore, session: SessionInfo, f: IO[str], lo: int = 0, hi: int | None = None) -> int:
    cells = [_json_cells(SAMPLE_KINDS[name], _json_string(name) + ":") for name in store.columns]
    count = 0
    for page in store.iter_valid_pages(session.id, lo=lo, hi=hi):
        if not page:
            continue
        cols = zip(*(row for row, _ in page))
        members = [cell(col) for cell, col in zip(cells, cols)]
        f.write("".join(["{" + ",".join(m) + "}\n" for m in zip(*members)]))
        count += len(page)
    return count


def _require_pyarrow() -> None:
    require_pyarrow(ExportError)



# Binary writers get a path, text writers an open text stream (a file, or stdout).
_WRITERS: dict[str, Callable[[SessionStore, SessionInfo, Any], int]] = {
    "sqlite": _write_sqlite,
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": write_parquet,
    "trace": write_trace,
}
