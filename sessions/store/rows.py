"""How rows of the session database become Python values, and back.

Every table's columns are declared here, once; schema.py builds the DDL from them, and the
decoders, SELECT lists and INSERTs follow from the same declaration:

* ``samples`` has one column per :class:`SampleRecord` field, derived from the dataclass,
  so a field added to SampleRecord becomes a column (added to existing files on open, see
  schema.py) without touching the store;
* ``sessions`` and ``controls`` are the fields of :class:`SessionInfo` and :class:`Control`,
  each carrying its SQL declaration and decoder (:class:`Column`);
* ``events`` is :data:`EVENT_COLUMNS`, checked against :class:`EventRecord`'s fields.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
import time
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib import metadata
from typing import Any

from vlmtop.sessions.records import EventRecord, SampleRecord, SampleStatus, SessionStatus
from vlmtop.sessions.store import validate

# --- SampleRecord fields <-> columns -----------------------------------------------------------


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _field_kind(hint: Any) -> str:
    """bool | int | float | str | json (lists, tuples and dicts are stored as JSON text)."""
    hint = _strip_optional(hint)
    base = typing.get_origin(hint) or hint
    if base in (list, tuple, dict):
        return "json"
    if base in (bool, int, float, str):
        return base.__name__
    raise TypeError(f"SampleRecord field type {hint!r} has no column mapping")


def _identity(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _round6(value: Any) -> Any:
    if type(value) is float:
        return round(value, 6)
    if isinstance(value, (list, tuple)):
        return [_round6(v) for v in value]
    if isinstance(value, dict):
        return {k: _round6(v) for k, v in value.items()}
    return value


def _rounded_json(value: Any) -> str:
    # Times come from perf_counter_ns (1 ns) or CUDA events (0.5 us): in ms, 6 decimals
    # hold every digit the clock gave. More are binary-float noise (2.5632490000000008)
    # that costs bytes, and would make every export parse each list to round it.
    return _json_text(_round6(value))


def is_optional_column(name: str) -> bool:
    return type(None) in typing.get_args(_HINTS[name])


def _encoder(name: str, kind: str) -> Callable[[Any], Any]:
    if kind == "bool":
        return int
    if kind != "json":
        return _identity
    return _json_text if name == "knobs" else _rounded_json


def _decoder(name: str, kind: str) -> Callable[[Any], Any]:
    """The validating decoder of one sample column (see validate.py)."""
    special = {
        "session_id": lambda v: validate.text(v, optional=False),
        "seq": validate.required_count,
        "status": validate.one_of(*SampleStatus.ALL),
        "decode_steps_ms": validate.steps,
        "spans": validate.spans,
        "extra_ms": validate.stage_times,
        "other_ms": validate.time_or_none(-validate.BIG),  # e2e minus the stages: may dip below 0
    }
    if name in special:
        return special[name]
    if kind == "json":
        return validate.json_object(optional=is_optional_column(name))
    if kind == "str":
        return validate.text if is_optional_column(name) else validate.text_or_empty
    decode = {"bool": validate.flag, "int": validate.count, "float": validate.time_or_none()}[kind]
    if is_optional_column(name):
        return decode
    default = _field_default(next(f for f in fields(SampleRecord) if f.name == name))
    # NULL in a field that is never None (started_at): the field's default.
    return lambda v: default if v is None else decode(v)


def _field_default(f: Any) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


_HINTS = typing.get_type_hints(SampleRecord)
SAMPLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SampleRecord))
SAMPLE_KINDS: dict[str, str] = {name: _field_kind(_HINTS[name]) for name in SAMPLE_COLUMNS}
# SQLite's own type names; bools are 0/1 and JSON is text.
SQL_TYPES = {"bool": "INTEGER", "int": "INTEGER", "float": "REAL", "str": "TEXT", "json": "TEXT"}
_ENCODERS = {name: _encoder(name, kind) for name, kind in SAMPLE_KINDS.items()}
DECODERS: dict[str, Callable[[Any], Any]] = {
    name: _decoder(name, kind) for name, kind in SAMPLE_KINDS.items()
}
# What a field reads as when its value is unreadable: its default (None where optional).
# An unreadable status reads as "error": no measurement statistics would count.
SAMPLE_DEFAULTS: dict[str, Any] = {
    f.name: None if is_optional_column(f.name) else _field_default(f) for f in fields(SampleRecord)
} | {"status": SampleStatus.ERROR}
# The sample columns selected through validate.guarded_sql: text and JSON may be any length.
# Text is cut at its own bound (validate.text refuses longer anyway), not JSON's 8 MB: a page
# of rows with 8 MB error messages took 520 MB to export.
SAMPLE_SELECT: dict[str, str] = {
    name: validate.guarded_sql(name, kind in ("str", "json"), validate.MAX_TEXT_CHARS if kind == "str" else validate.MAX_JSON_CHARS)
    for name, kind in SAMPLE_KINDS.items()
}


def encode_sample(rec: SampleRecord) -> tuple:
    """The row stored for ``rec``, in :data:`SAMPLE_COLUMNS` order (JSON text for lists)."""
    return tuple(_ENCODERS[name](getattr(rec, name)) for name in SAMPLE_COLUMNS)


def decode_value(name: str, value: Any) -> tuple[Any, bool]:
    """A sample column's value, and whether it was readable (else the field's default)."""
    try:
        return DECODERS[name](value), True
    except validate.Bad:
        return SAMPLE_DEFAULTS[name], False


def decode_sample(
    names: tuple[str, ...], row: tuple, unreadable: validate.Unreadable | None = None
) -> SampleRecord | None:
    """A record from a row holding ``names``; fields the file lacks keep their defaults.

    Unreadable values read as their field's default, and the row is marked in
    ``unreadable``; a row without a readable session id and seq is no sample: None."""
    values = {}
    bad: list[str] = []
    for name, value in zip(names, row):
        try:
            values[name] = DECODERS[name](value)
        except validate.Bad:
            values[name] = SAMPLE_DEFAULTS[name]
            bad.append(name)
    if not bad:
        return SampleRecord(**values)
    if values.get("status") == SampleStatus.OK:
        # Statistics (compare, summaries, the dashboard) count ok samples and trust their
        # values: a sample with any unreadable value is an error row, saying which.
        values["status"] = SampleStatus.ERROR
        values["error"] = f"unreadable in the session database: {', '.join(bad)}"
    if unreadable is not None:
        raw_seq = row[names.index("seq")] if "seq" in names else None
        unreadable.mark("samples", (values.get("session_id"), _hashable(raw_seq)), bad)
    if "session_id" in bad or "seq" in bad:
        return None
    return SampleRecord(**values)


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, (bytes, bytearray)) else bytes(value[:64])


# --- the other tables: each column declared once ----------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of ``sessions``, ``events`` or ``controls``: its declaration in CREATE
    TABLE (schema.py builds the DDL from it), and how a value read back is checked."""

    sql: str  # type and constraints, as CREATE TABLE says them
    decode: Callable[[Any], Any]  # the validating decoder (see validate.py); raises validate.Bad
    unreadable: Any = None  # what an unreadable value reads as (and a column an older file lacks)


def _column(sql: str, decode: Callable[[Any], Any], unreadable: Any = None, **default: Any) -> Any:
    """A dataclass field that is also a table column: the field's name, place and type are
    the column's, the Column in its metadata says the rest."""
    return field(metadata={"column": Column(sql, decode, unreadable)}, **default)


def _columns_of(cls: type) -> tuple[tuple[str, Column], ...]:
    return tuple((f.name, f.metadata["column"]) for f in fields(cls) if "column" in f.metadata)


MAX_CONTROL_CHARS = 4096  # a control value is a policy or knob value, never a document
CONTROL_STATUSES = ("pending", "applied", "rejected")  # a request is pending until answered


def _bounded(value: Any, limit: int) -> str | None:
    value = validate.text(value)
    if value is not None and len(value) > limit:
        raise validate.Bad("too long")
    return value


def _required_text(value: Any) -> str:
    return validate.text(value, optional=False)


def _counter(value: Any) -> int:
    return validate.count(value) or 0


def _control_value(value: Any) -> str | None:
    return _bounded(value, MAX_CONTROL_CHARS)


# A row whose key (a table's first column) is unreadable is dropped; any other unreadable
# value reads as its column's `unreadable`. Columns added in a later schema version go last.


@dataclass(frozen=True)
class SessionInfo:
    """One row of ``sessions``, with its sample counters: its fields are the table's columns."""

    id: str = _column("TEXT PRIMARY KEY", _required_text)
    started_at: float = _column("REAL NOT NULL", validate.number, 0.0)
    ended_at: float | None = _column("REAL", validate.time_or_none())
    # An unknown status says nothing about the writer: it may have ended any way.
    status: str = _column("TEXT NOT NULL", validate.one_of(*SessionStatus.ALL), SessionStatus.INTERRUPTED)
    model: str = _column("TEXT", validate.text_or_empty, "")
    device: str = _column("TEXT", validate.text_or_empty, "")
    dtype: str = _column("TEXT", validate.text_or_empty, "")
    settings: dict = _column("TEXT", validate.json_object(optional=False), {})  # JSON: the run options
    # JSON: python, torch, transformers, vlmtop, sqlite
    versions: dict = _column("TEXT", validate.json_object(optional=False), {})
    pid: int | None = _column("INTEGER", validate.count)
    hostname: str = _column("TEXT", validate.text_or_empty, "")
    heartbeat_at: float | None = _column("REAL", validate.time_or_none())
    error: str | None = _column("TEXT", validate.text)
    # every row in `samples`: measured, warm-up and errors
    sample_count: int = _column("INTEGER NOT NULL DEFAULT 0", _counter, 0)
    # not warm-up and status ok: what statistics use
    measured_count: int = _column("INTEGER NOT NULL DEFAULT 0", _counter, 0)
    warmup_count: int = _column("INTEGER NOT NULL DEFAULT 0", _counter, 0)
    error_count: int = _column("INTEGER NOT NULL DEFAULT 0", _counter, 0)
    # `vlmtop run --repeat N`: the replicate processes of one experiment share its id
    experiment_id: str | None = _column("TEXT", validate.text, default=None)
    replicate: int | None = _column("INTEGER", validate.count, default=None)  # 0..N-1, in run order
    side: str | None = _column("TEXT", validate.text, default=None)  # A | B with --alternate-model
    # where the process ran, when a Ray actor recorded it (`vlmtop run --ray`)
    node_id: str | None = _column("TEXT", validate.text, default=None)  # the Ray node id
    # e.g. "NVIDIA H100 80GB HBM3", or the CPU's model name
    device_name: str | None = _column("TEXT", validate.text, default=None)
    # the GPU's UUID on CUDA: tells two cards of one model apart
    device_uuid: str | None = _column("TEXT", validate.text, default=None)

    @property
    def duration_s(self) -> float:
        """Wall time from start to end; up to now while it is still running."""
        end = self.ended_at if self.ended_at is not None else time.time()
        return max(0.0, end - self.started_at)

    @property
    def failed_before_any_sample(self) -> str | None:
        """The one-line reason when the session failed with nothing recorded (a model that
        does not load, a stage path that does not exist): all a command has to report."""
        if self.status == SessionStatus.FAILED and not self.sample_count:
            return f"{self.error} (session {self.id} recorded as failed)"
        return None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["duration_s"] = self.duration_s
        return out


@dataclass(frozen=True)
class Control:
    """A request a dashboard wrote for the worker (pause, stop, a policy change...): its
    fields but ``problem`` are the columns of ``controls``."""

    id: int = _column("INTEGER PRIMARY KEY", validate.required_count)
    session_id: str = _column("TEXT NOT NULL REFERENCES sessions(id)", validate.text_or_empty, "")
    kind: str = _column("TEXT NOT NULL", validate.text_or_empty, "")
    value: str | None = _column("TEXT", _control_value)
    created_at: float = _column("REAL NOT NULL", validate.number, 0.0)
    status: str = _column("TEXT NOT NULL DEFAULT 'pending'", validate.one_of(*CONTROL_STATUSES), "rejected")
    applied_seq: int | None = _column("INTEGER", validate.count)  # the first sample recorded under it
    answered_at: float | None = _column("REAL", validate.time_or_none())
    problem: str = ""  # why no worker can apply it (an unreadable row): answered `rejected`


SESSION_COLUMNS = _columns_of(SessionInfo)
CONTROL_COLUMNS = _columns_of(Control)
# EventRecord belongs to the run vocabulary (records.py), which knows no SQL: its table's
# columns are declared here, in table order, and checked against its fields below.
EVENT_COLUMNS: tuple[tuple[str, Column], ...] = (
    ("id", Column("INTEGER PRIMARY KEY", validate.required_count)),
    ("session_id", Column("TEXT NOT NULL REFERENCES sessions(id)", validate.text_or_empty, "")),
    ("seq", Column("INTEGER NOT NULL", _counter, 0)),  # the first sample it applies from
    ("kind", Column("TEXT NOT NULL", validate.text_or_empty, "")),  # start | policy | knob | rejected | pause | ... | end
    ("detail", Column("TEXT", validate.text_or_empty, "")),  # for people: "cache=empty", an error message
    ("at", Column("REAL NOT NULL", validate.number, 0.0)),
    ("value", Column("TEXT", validate.text)),  # for programs: the new value a policy or knob event set
    ("name", Column("TEXT", validate.text)),  # for programs: which policy or knob it set ("cache")
)
if [name for name, _ in EVENT_COLUMNS] != ["id", *(f.name for f in fields(EventRecord) if f.name != "id")]:
    raise TypeError("the events columns and EventRecord's fields differ: declare a new field in both")
TABLE_COLUMNS: dict[str, tuple[tuple[str, Column], ...]] = {
    "sessions": SESSION_COLUMNS, "events": EVENT_COLUMNS, "controls": CONTROL_COLUMNS,
}


def select_sql(names: Iterable[str]) -> str:
    """The SELECT list of these tables' columns ``names``. Every value goes through
    validate.guarded_sql: a hostile file may hold a long cell in any column, whatever its
    declared type, and a number is never long enough to be cut."""
    return ", ".join(f"{validate.guarded_sql(name, True)} AS {name}" for name in names)


def clean_row(
    table: str, row: dict, unreadable: validate.Unreadable | None = None
) -> dict | None:
    """``row`` of sessions, controls or events with every value validated (unreadable
    ones read as their default, the row marked); None when its key is unreadable."""
    columns = TABLE_COLUMNS[table]
    out = dict(row)
    bad = []
    for name, col in columns:
        if name not in row:  # an older file lacks it: the default, and nothing to report
            out[name] = col.unreadable
            continue
        try:
            out[name] = col.decode(row[name])
        except validate.Bad:
            out[name] = col.unreadable
            bad.append(name)
    if bad and unreadable is not None:
        unreadable.mark(table, _hashable(row.get("id")), bad)
    key = columns[0][0]
    return None if key in bad else out


def session_info(row: dict) -> SessionInfo:
    """A SessionInfo from a row :func:`clean_row` has validated."""
    return SessionInfo(**{f.name: row.get(f.name) for f in fields(SessionInfo)})


def control(row: dict) -> Control:
    return Control(**{f.name: row.get(f.name) for f in fields(Control)})


def event(row: dict) -> EventRecord:
    return EventRecord(**{f.name: row[f.name] for f in fields(EventRecord) if f.name in row})


EXPERIMENT_PREFIX = "exp-"  # an experiment id: this and 8 hex digits (sessions/run/experiment.py)


def new_session_id() -> str:
    """A fresh session id: 10 random hex digits, short to type, unique in practice."""
    return secrets.token_hex(5)


def json_settings(settings: dict) -> str:
    # default=str: run options may hold paths or enums; the record must not fail on them.
    # Not sorted: the order of settings["knobs"] is the run's knob order (the arms' order
    # and labels, sessions/knobs.py). Readers that need a canonical text sort on their own.
    return json.dumps(settings, default=str)


def runtime_versions() -> dict[str, str | None]:
    """Versions worth recording with a session; read from metadata, nothing is imported."""

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "torch": version("torch"),
        "transformers": version("transformers"),
        "vlmtop": version("vlmtop"),
        "sqlite": sqlite3.sqlite_version,
    }
