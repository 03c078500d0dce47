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
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from typing import Any

from vlmtop.sessions.record import EventRecord, SampleRecord

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


def _json_decoder(hint: Any) -> Callable[[str | None], Any]:
    optional = type(None) in typing.get_args(hint)  # `dict | None`: NULL stays None
    hint = _strip_optional(hint)
    container = typing.get_origin(hint) or hint
    items = typing.get_args(hint)
    # Spans are list[tuple]: JSON gives lists back, so restore the tuples for a record
    # read back to equal the record written.
    items_are_tuples = container is list and bool(items) and typing.get_origin(items[0]) is tuple

    def decode(text: str | None) -> Any:
        if text is None:  # NULL, or a column added after this row was written
            return None if optional else container()
        value = json.loads(text)
        if items_are_tuples and value is not None:
            return [tuple(item) for item in value]
        return value

    return decode


_HINTS = typing.get_type_hints(SampleRecord)
SAMPLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SampleRecord))
SAMPLE_KINDS: dict[str, str] = {name: _field_kind(_HINTS[name]) for name in SAMPLE_COLUMNS}
# SQLite's own type names; bools are 0/1 and JSON is text.
SQL_TYPES = {"bool": "INTEGER", "int": "INTEGER", "float": "REAL", "str": "TEXT", "json": "TEXT"}
_ENCODERS = {
    name: {"json": _json_text, "bool": int}.get(kind, _identity)
    for name, kind in SAMPLE_KINDS.items()
}
DECODERS: dict[str, Callable[[Any], Any]] = {
    name: _json_decoder(_HINTS[name]) if kind == "json" else bool if kind == "bool" else _identity
    for name, kind in SAMPLE_KINDS.items()
}


def encode_sample(rec: SampleRecord) -> tuple:
    """The row stored for ``rec``, in :data:`SAMPLE_COLUMNS` order (JSON text for lists)."""
    return tuple(_ENCODERS[name](getattr(rec, name)) for name in SAMPLE_COLUMNS)


def decode_sample(names: tuple[str, ...], row: tuple) -> SampleRecord:
    """A record from a row holding ``names``; fields the file lacks keep their defaults."""
    return SampleRecord(**{n: DECODERS[n](v) for n, v in zip(names, row)})


# --- the rows of the other tables --------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """One row of ``sessions``, with its sample counters."""

    id: str
    started_at: float
    ended_at: float | None
    status: str  # running | completed | failed | interrupted
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
        if self.status == "failed" and not self.sample_count:
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


_COUNTERS = ("sample_count", "measured_count", "warmup_count", "error_count")


def session_info(row: dict) -> SessionInfo:
    row = dict(row)
    row["settings"] = json.loads(row.get("settings") or "{}")
    row["versions"] = json.loads(row.get("versions") or "{}")
    for counter in _COUNTERS:  # an older file may lack one: it counts nothing
        row[counter] = row.get(counter) or 0
    return SessionInfo(**{f.name: row.get(f.name) for f in fields(SessionInfo)})


def control(row: dict) -> Control:
    return Control(**{f.name: row.get(f.name) for f in fields(Control)})


def event(row: dict) -> EventRecord:
    # Only the fields the file has: an older file's events read back with value None.
    return EventRecord(**{f.name: row[f.name] for f in fields(EventRecord) if f.name in row})


def new_session_id() -> str:
    """A fresh session id: 10 random hex digits, short to type, unique in practice."""
    return secrets.token_hex(5)


def json_settings(settings: dict) -> str:
    # default=str: run options may hold paths or enums; the record must not fail on them.
    return json.dumps(settings, sort_keys=True, default=str)


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
