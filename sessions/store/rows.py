"""How rows of the session database become Python values, and back.

``samples`` has one column per :class:`SampleRecord` field, derived from the dataclass, so
a field added to SampleRecord becomes a column (added to existing files on open, see
schema.py) without touching the store. The other tables come back as the small frozen
types below.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
import time
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, fields
from importlib import metadata
from typing import Any

from vlmtop.sessions.records import EventRecord, SampleRecord, SampleStatus, SessionStatus
from vlmtop.sessions.store import validate as codec

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
    """The validating decoder of one sample column (see codec.py)."""
    special = {
        "session_id": lambda v: codec.text(v, optional=False),
        "seq": codec.required_count,
        "status": codec.one_of(*SampleStatus.ALL),
        "decode_steps_ms": codec.steps,
        "spans": codec.spans,
        "extra_ms": codec.stage_times,
        "other_ms": codec.time_or_none(-codec.BIG),  # e2e minus the stages: may dip below 0
    }
    if name in special:
        return special[name]
    if kind == "json":
        return codec.json_object(optional=is_optional_column(name))
    if kind == "str":
        return codec.text if is_optional_column(name) else codec.text_or_empty
    decode = {"bool": codec.flag, "int": codec.count, "float": codec.time_or_none()}[kind]
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
# The sample columns selected through codec.guarded_sql: text and JSON may be any length.
# Text is cut at its own bound (codec.text refuses longer anyway), not JSON's 8 MB: a page
# of rows with 8 MB error messages took 520 MB to export.
SAMPLE_SELECT: dict[str, str] = {
    name: codec.guarded_sql(name, kind in ("str", "json"), codec.MAX_TEXT_CHARS if kind == "str" else codec.MAX_JSON_CHARS)
    for name, kind in SAMPLE_KINDS.items()
}


def encode_sample(rec: SampleRecord) -> tuple:
    """The row stored for ``rec``, in :data:`SAMPLE_COLUMNS` order (JSON text for lists)."""
    return tuple(_ENCODERS[name](getattr(rec, name)) for name in SAMPLE_COLUMNS)


def decode_value(name: str, value: Any) -> tuple[Any, bool]:
    """A sample column's value, and whether it was readable (else the field's default)."""
    try:
        return DECODERS[name](value), True
    except codec.Bad:
        return SAMPLE_DEFAULTS[name], False


def decode_sample(
    names: tuple[str, ...], row: tuple, unreadable: codec.Unreadable | None = None
) -> SampleRecord | None:
    """A record from a row holding ``names``; fields the file lacks keep their defaults.

    Unreadable values read as their field's default, and the row is marked in
    ``unreadable``; a row without a readable session id and seq is no sample: None."""
    values = {}
    bad: list[str] = []
    for name, value in zip(names, row):
        try:
            values[name] = DECODERS[name](value)
        except codec.Bad:
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


# --- the rows of the other tables --------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """One row of ``sessions``, with its sample counters."""

    id: str
    started_at: float
    ended_at: float | None
    status: str  # one of SessionStatus.ALL
    model: str
    device: str
    dtype: str
    settings: dict
    versions: dict
    pid: int | None
    hostname: str
    heartbeat_at: float | None
    error: str | None
    sample_count: int  # every row in `samples`: measured, warm-up and errors
    measured_count: int  # not warm-up and status ok: what statistics use
    warmup_count: int
    error_count: int
    experiment_id: str | None = None  # replicate processes of one `--repeat` run share it
    replicate: int | None = None
    side: str | None = None  # A | B with --alternate-model
    node_id: str | None = None  # the Ray node it ran on (`run --ray`)
    device_name: str | None = None  # the GPU's (or CPU's) model name
    device_uuid: str | None = None  # the GPU's UUID on CUDA

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
    """A request a dashboard wrote for the worker (pause, stop, a policy change...)."""

    id: int
    session_id: str
    kind: str
    value: str | None
    created_at: float
    status: str  # pending | applied | rejected
    applied_seq: int | None  # the first sample recorded under it
    answered_at: float | None
    problem: str = ""  # why no worker can apply it (an unreadable row): answered `rejected`


_COUNTERS = ("sample_count", "measured_count", "warmup_count", "error_count")


MAX_CONTROL_CHARS = 4096  # a control value is a policy or knob value, never a document

# (decoder, what an unreadable value reads as) per column of the other tables. A row whose
# key (the first entry) is unreadable is dropped; any other value reads as its default.
_SESSION_COLUMNS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "id": (lambda v: codec.text(v, optional=False), None),
    "started_at": (codec.number, 0.0),
    "ended_at": (codec.time_or_none(), None),
    # An unknown status says nothing about the writer: it may have ended any way.
    "status": (codec.one_of(*SessionStatus.ALL), SessionStatus.INTERRUPTED),
    "model": (codec.text_or_empty, ""),
    "device": (codec.text_or_empty, ""),
    "dtype": (codec.text_or_empty, ""),
    "settings": (codec.json_object(optional=False), {}),
    "versions": (codec.json_object(optional=False), {}),
    "pid": (codec.count, None),
    "hostname": (codec.text_or_empty, ""),
    "heartbeat_at": (codec.time_or_none(), None),
    "error": (codec.text, None),
    **{counter: (lambda v: codec.count(v) or 0, 0) for counter in _COUNTERS},
    "experiment_id": (codec.text, None),
    "replicate": (codec.count, None),
    "side": (codec.text, None),
    "node_id": (codec.text, None),
    "device_name": (codec.text, None),
    "device_uuid": (codec.text, None),
}
_CONTROL_COLUMNS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "id": (codec.required_count, None),
    "session_id": (codec.text_or_empty, ""),
    "kind": (codec.text_or_empty, ""),
    "value": (lambda v: _bounded(v, MAX_CONTROL_CHARS), None),
    "created_at": (codec.number, 0.0),
    "status": (codec.one_of("pending", "applied", "rejected"), "rejected"),
    "applied_seq": (codec.count, None),
    "answered_at": (codec.time_or_none(), None),
}
_EVENT_COLUMNS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "id": (codec.required_count, None),
    "session_id": (codec.text_or_empty, ""),
    "seq": (lambda v: codec.count(v) or 0, 0),
    "kind": (codec.text_or_empty, ""),
    "detail": (codec.text_or_empty, ""),
    "at": (codec.number, 0.0),
    "value": (codec.text, None),
    "name": (codec.text, None),
}
# Text and JSON columns of these tables, selected through codec.guarded_sql.
LONG_COLUMNS = {"model", "device", "dtype", "settings", "versions", "hostname", "error",
                "kind", "detail", "value", "session_id", "id", "status", "name", "experiment_id",
                "side", "node_id", "device_name", "device_uuid"}  # fmt: skip


def _bounded(value: Any, limit: int) -> str | None:
    value = codec.text(value)
    if value is not None and len(value) > limit:
        raise codec.Bad("too long")
    return value


def clean_row(
    table: str, row: dict, unreadable: codec.Unreadable | None = None
) -> dict | None:
    """``row`` of sessions, controls or events with every value validated (unreadable
    ones read as their default, the row marked); None when its key is unreadable."""
    columns = {"sessions": _SESSION_COLUMNS, "controls": _CONTROL_COLUMNS, "events": _EVENT_COLUMNS}[table]
    out = dict(row)
    bad = []
    for name, (decode, default) in columns.items():
        if name not in row:  # an older file lacks it: the default, and nothing to report
            out[name] = default
            continue
        try:
            out[name] = decode(row[name])
        except codec.Bad:
            out[name] = default
            bad.append(name)
    if bad and unreadable is not None:
        unreadable.mark(table, _hashable(row.get("id")), bad)
    key = next(iter(columns))
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
