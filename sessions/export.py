"""Writing one session to a file: a shareable database, tables for analysis, a trace.

Every format is written to a temporary file beside the target and renamed over it at the
end, so a failed or interrupted export never leaves a half-written file behind. ``-`` is
standard output: text formats stream to it, binary ones (sqlite, parquet) are built in a
temporary folder and then copied out, never onto a terminal.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import tempfile
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vlmtop.sessions.record import STAGE_COLUMNS, EventRecord, SampleRecord
from vlmtop.sessions.store import (
    SAMPLE_COLUMNS,
    SAMPLE_KINDS,
    SessionInfo,
    SessionStore,
    StoreError,
    encode_sample,
)

FORMATS = ("sqlite", "csv", "jsonl", "parquet", "trace")
BINARY_FORMATS = ("sqlite", "parquet")
STDOUT = "-"  # `-o -`, as curl, tar and pandoc spell standard output
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
SPAN_FIELDS = ("stage", "start_ms", "end_ms")  # the parts of each SampleRecord.spans tuple
# Trace tracks in the order a trace viewer shows them; user-declared stages follow.
TRACE_TRACKS = ("e2e", "vision", "projector", "prefill", "decode")
PARQUET_ROW_GROUP = 50_000
# Times come from perf_counter_ns (1 ns) or CUDA events (0.5 us): in ms, 6 decimals hold
# every digit the clock gave. More are binary-float noise (2.5632490000000008).
CSV_DECIMALS = 6
# Events that switch what later samples measure: instants on the trace's timeline.
SWITCH_EVENT_KINDS = ("policy", "knob")


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
    store: SessionStore, session_id: str, fmt: str, out_path: str | os.PathLike
) -> int:
    """Write session ``session_id`` to ``out_path`` (``-``: standard output) as ``fmt``;
    returns the samples written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    session = store.session(session_id)
    if str(out_path) == STDOUT:
        return _export_to_stdout(store, session, fmt)
    out = Path(out_path).expanduser()
    if out.is_dir():
        raise ExportError(f"{out} is a folder: give a file name")
    if out.exists() and out.resolve() == store.path.resolve():
        raise ExportError(f"{out} is the database being exported: choose another file")
    if fmt == "sqlite" and Path(f"{out}-wal").exists():
        # Its write-ahead log would be replayed onto the new file and corrupt it.
        raise ExportError(
            f"{out} is a database in use ({out.name}-wal exists): choose another file"
        )
    if fmt == "parquet":
        _require_pyarrow()
    with _atomic_output(out) as tmp:
        if fmt in BINARY_FORMATS:
            return _WRITERS[fmt](store, session, tmp)
        with tmp.open("w", newline="", encoding="utf-8") as f:
            return _WRITERS[fmt](store, session, f)


def _export_to_stdout(store: SessionStore, session: SessionInfo, fmt: str) -> int:
    if fmt not in BINARY_FORMATS:
        return _WRITERS[fmt](store, session, sys.stdout)
    if sys.stdout.isatty():
        raise ExportError(f"{fmt} is binary: redirect standard output to a file, or pass -o FILE")
    if fmt == "parquet":
        _require_pyarrow()
    with tempfile.TemporaryDirectory(prefix="vlmtop-export-") as folder:
        tmp = Path(folder) / f"session.{fmt}"
        count = _WRITERS[fmt](store, session, tmp)
        sys.stdout.flush()
        with tmp.open("rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return count


@contextmanager
def _atomic_output(out: Path) -> Iterator[Path]:
    if not out.parent.is_dir():
        raise ExportError(f"cannot write {out}: folder {out.parent} does not exist")
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    # mkstemp makes the file private (0600); an export is made to be shared, so give it
    # the permissions any new file of the user gets.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in ("-wal", "-shm", "-journal"))):
            leftover.unlink(missing_ok=True)


def _write_sqlite(store: SessionStore, session: SessionInfo, tmp: Path) -> int:
    with SessionStore.open(tmp, create=True) as copy:
        copy.copy_session_from(store.path, session.id)
        # One self-contained file (no -wal/-shm beside it), readable from read-only media.
        copy.use_rollback_journal()
        return copy.sample_count_in_file()


def _rounded(value: Any) -> Any:
    """``value`` with every float in it rounded to :data:`CSV_DECIMALS`."""
    if isinstance(value, float):
        return round(value, CSV_DECIMALS)
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _write_csv(store: SessionStore, session: SessionInfo, f: IO[str]) -> int:
    # Values as the samples table holds them: lists as JSON text, booleans as 0/1; floats
    # (JSON lists' too) to the clock's resolution.
    count = 0
    writer = csv.writer(f)
    writer.writerow(SAMPLE_COLUMNS)
    for rec in store.iter_samples(session.id):
        rounded = SampleRecord(**{name: _rounded(getattr(rec, name)) for name in SAMPLE_COLUMNS})
        writer.writerow(encode_sample(rounded))
        count += 1
    return count


def _write_jsonl(store: SessionStore, session: SessionInfo, f: IO[str]) -> int:
    count = 0
    for rec in store.iter_samples(session.id):
        f.write(json.dumps({name: getattr(rec, name) for name in SAMPLE_COLUMNS}) + "\n")
        count += 1
    return count


# --- parquet (optional: pyarrow) -------------------------------------------------------------


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ExportError(
            "parquet export needs pyarrow: pip install 'vlmtop[parquet]'"
        ) from None


def _json_or_none(value):
    return None if value is None else json.dumps(value)


def _parquet_columns(pa) -> list[tuple[str, object, Callable[[SampleRecord], object]]]:
    """(name, arrow type, value getter) per column: typed lists and structs, not JSON text."""
    hints = typing.get_type_hints(SampleRecord)
    scalar = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    out = []
    for name in SAMPLE_COLUMNS:
        kind = SAMPLE_KINDS[name]
        if kind != "json":
            out.append((name, scalar[kind], lambda rec, n=name: getattr(rec, n)))
        elif name == "spans":
            stage, start, end = SPAN_FIELDS
            span = pa.struct([(stage, pa.string()), (start, pa.float64()), (end, pa.float64())])
            out.append(
                (name, pa.list_(span), lambda rec: [dict(zip(SPAN_FIELDS, s)) for s in rec.spans])
            )
        elif typing.get_args(hints[name]) == (float,):
            out.append((name, pa.list_(pa.float64()), lambda rec, n=name: getattr(rec, n)))
        elif typing.get_args(hints[name]) == (str, float):  # extra stages: name -> ms
            out.append((name, pa.map_(pa.string(), pa.float64()), lambda rec, n=name: list(getattr(rec, n).items())))
        else:  # a structure parquet has no obvious type for (the knobs): JSON text, NULL kept NULL
            out.append((name, pa.string(), lambda rec, n=name: _json_or_none(getattr(rec, n))))
    return out


def _write_parquet(store: SessionStore, session: SessionInfo, tmp: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _parquet_columns(pa)
    schema = pa.schema([(name, arrow_type) for name, arrow_type, _ in columns])
    schema = schema.with_metadata({"vlmtop.session": json.dumps(session.to_dict())})
    count = 0
    batch: list[SampleRecord] = []

    def flush(writer) -> None:
        data = {name: [get(rec) for rec in batch] for name, _, get in columns}
        writer.write_table(pa.Table.from_pydict(data, schema=schema))
        batch.clear()

    with pq.ParquetWriter(tmp, schema) as writer:
        for rec in store.iter_samples(session.id):
            batch.append(rec)
            count += 1
            if len(batch) == PARQUET_ROW_GROUP:
                flush(writer)
        if batch or count == 0:
            flush(writer)
    return count


# --- Chrome / Perfetto trace -----------------------------------------------------------------


def _write_trace(store: SessionStore, session: SessionInfo, f: IO[str]) -> int:
    """Trace Event Format, streamed: a session of any length is never held in memory."""
    written = 0

    def records() -> Iterator[SampleRecord]:
        nonlocal written
        for rec in store.iter_samples(session.id):
            written += 1
            yield rec

    switches = [e for e in store.events(session.id) if e.kind in SWITCH_EVENT_KINDS]
    f.write('{"displayTimeUnit":"ms","otherData":')
    f.write(json.dumps(session.to_dict(), default=str))
    f.write(',"traceEvents":[\n')
    for i, event in enumerate(_trace_events(session, records(), switches)):
        f.write((",\n" if i else "") + json.dumps(event, separators=(",", ":")))
    f.write("\n]}\n")
    return written


def _switch_instant(event: EventRecord) -> dict:
    """A policy or knob switch as a global instant: a line across every track at the time
    the worker applied it (the samples from ``seq`` on run under the new value)."""
    return {
        "name": f"{event.kind}: {event.detail}" if event.detail else event.kind,
        "cat": event.kind,
        "ph": "i",
        "s": "g",
        "pid": 1,
        "tid": 1,
        "ts": round(event.at * 1e6, 3),
        "args": {"seq": event.seq, "detail": event.detail, "value": event.value},
    }


def _trace_events(
    session: SessionInfo, records: Iterator[SampleRecord], switches: list[EventRecord] = ()
) -> Iterator[dict]:
    """One track (tid) per stage plus an e2e track; each span an "X" event on the real
    clock: ``ts`` = sample start + span start, in microseconds."""
    label = f"vlmtop {session.id}: {session.model} on {session.device}"
    yield {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": label}}
    tids: dict[str, int] = {}

    def new_track(name: str) -> list[dict]:
        tids[name] = tid = len(tids) + 1
        return [
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}},
            {"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
             "args": {"sort_index": tid}},
        ]  # fmt: skip

    for name in TRACE_TRACKS:
        yield from new_track(name)
    for event in switches:
        yield _switch_instant(event)
    for rec in records:
        start_us = rec.started_at * 1e6
        cat = "warmup" if rec.is_warmup else "sample"
        if rec.e2e_ms is not None:
            args = {"seq": rec.seq, "sample_id": rec.sample_id}
            args.update((column, getattr(rec, column)) for column in STAGE_COLUMNS if column != "e2e_ms")
            yield _complete("e2e", cat, tids["e2e"], start_us, rec.e2e_ms, args)
        if rec.status == "error":
            yield {"name": "error", "cat": cat, "ph": "i", "s": "t", "pid": 1,
                   "tid": tids["e2e"], "ts": round(start_us, 3),
                   "args": {"seq": rec.seq, "error": rec.error}}  # fmt: skip
        decode_step = 0
        for stage, start_ms, end_ms in rec.spans:
            if stage not in tids:
                yield from new_track(stage)
            name = stage
            if stage == "decode":
                name = f"decode[{decode_step}]"
                decode_step += 1
            ts_us = start_us + start_ms * 1e3
            yield _complete(name, cat, tids[stage], ts_us, end_ms - start_ms, {"seq": rec.seq})


def _complete(name: str, cat: str, tid: int, ts_us: float, dur_ms: float, args: dict) -> dict:
    """A complete ("X") event; times rounded to the nanosecond to keep the file small."""
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "pid": 1,
        "tid": tid,
        "ts": round(ts_us, 3),
        "dur": round(dur_ms * 1e3, 3),
        "args": args,
    }


# Binary writers get a path, text writers an open text stream (a file, or stdout).
_WRITERS: dict[str, Callable[[SessionStore, SessionInfo, Any], int]] = {
    "sqlite": _write_sqlite,
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
    "trace": _write_trace,
}
