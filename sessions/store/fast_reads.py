"""Reading samples fast: what vlmtop wrote is read without decoding each cell in Python.

Three readers, each for a caller that cannot afford a decoded record per row:

- The trusted fast path (``trusted_decoder``): decoding every cell in Python
  (rows.DECODERS) costs ~40 us a row. One SQL expression per row (and validate.plain_steps /
  plain_spans for the JSON lists) says whether every value is certainly what its decoder
  accepts; those rows are built directly, and the rows it flags go through
  rows.decode_sample, as hostile rows must.
- Raw columns (``RawReads``, a store part): `vlmtop compare` on a million samples streams
  values as SQLite holds them through the same decoders, keeping one object per distinct
  value (sessions/compare/columns.py).
- Bounded reads of what is newest (``RecentReads``, a store part): the fleet screen
  refreshes every second over up to a hundred sessions of up to a million samples each, so
  every read walks the ``(session_id, seq)`` key backwards for a bounded number of rows.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vlmtop.core.stage_table import BY_NAME
from vlmtop.core.stage_timing import decode_per_token_ms
from vlmtop.sessions.records import MEASURED_SQL, SAMPLE_SEQ_SQL, SampleRecord, SampleStatus
from vlmtop.sessions.store import validate
from vlmtop.sessions.store.rows import (
    DECODERS,
    SAMPLE_COLUMNS,
    SAMPLE_KINDS,
    SAMPLE_SELECT,
    decode_sample,
    is_optional_column,
)
from vlmtop.sessions.store.validate import finite_or_nan


def _valid_sql(name: str, kind: str) -> str:
    """The fast path's check of one sample column in SQL (see validate.py): true only where
    DECODERS[name] certainly accepts the value. NULL passes only where it reads as None."""
    special = {
        "session_id": validate.sql_text(name, optional=False),
        "seq": validate.sql_count(name, optional=False),
        "status": validate.sql_one_of(name, SampleStatus.ALL),
        # Checked in Python by validate.plain_steps and plain_spans: cheaper than SQL's GLOB and JSON.
        "decode_steps_ms": "1",
        "spans": "1",
        "extra_ms": validate.sql_stage_times(name),
        "other_ms": validate.sql_time(name, -validate.BIG),
    }
    if name in special:
        return special[name]
    optional = is_optional_column(name)
    if kind == "json":
        return validate.sql_json_object(name)
    if kind == "str":
        return validate.sql_text(name, optional)
    if kind == "bool":
        return validate.sql_flag(name)
    if kind == "int":
        return validate.sql_count(name, optional)
    return validate.sql_time(name, optional=optional)


# What the decoders turn a value SAMPLE_VALID_SQL passed into; identity for the others.
_TRUSTED: dict[str, Callable[[Any], Any]] = {
    "decode_steps_ms": validate.trusted_steps,
    "spans": validate.trusted_spans,
    "extra_ms": validate.trusted_stage_times,
    **{name: bool for name, kind in SAMPLE_KINDS.items() if kind == "bool"},
    **{name: DECODERS[name] for name, kind in SAMPLE_KINDS.items()
       if kind == "json" and name not in ("decode_steps_ms", "spans", "extra_ms")},
}  # fmt: skip


def sample_valid_sql(names: tuple[str, ...]) -> str:
    """One SQL expression: 1 where every one of ``names`` passes its fast check."""
    checks = [_valid_sql(n, SAMPLE_KINDS[n]) for n in names]
    return "(" + " AND ".join(c for c in checks if c != "1") + ")"


def python_checks(names: tuple[str, ...]) -> list[tuple[int, Callable[[Any], bool]]]:
    """(position, check) of the fast checks made in Python, not in SQL."""
    plain = {"decode_steps_ms": validate.plain_steps, "spans": validate.plain_spans}
    # Text that is not UTF-8 passes SQL's typeof(c) = 'text' but reaches Python as bytes
    # (connection.py's text factory): only Python can see it. JSON columns need no such check: their
    # SQL checks take printable ASCII only, or they are checked here already.
    plain |= {n: _decoded_text for n in names if SAMPLE_KINDS[n] == "str" and n != "status"}
    return [(i, plain[n]) for i, n in enumerate(names) if n in plain]


def _decoded_text(value: Any) -> bool:
    return value.__class__ is not bytes


def trusted_decoder(names: tuple[str, ...]) -> Callable[[tuple], SampleRecord | None]:
    """A record from a row of ``names`` whose last value is the fast check's verdict: the
    rows it passed (and whose spans pass validate.plain_spans) are built without decoding
    each cell; the others go through :func:`decode_sample`, as hostile rows must."""
    checked = python_checks(names)
    convert = [(i, _TRUSTED[n]) for i, n in enumerate(names) if n in _TRUSTED]
    positional = names == SAMPLE_COLUMNS

    def decode(row: tuple, unreadable: validate.Unreadable | None = None) -> SampleRecord | None:
        if not row[-1] or not all(plain(row[i]) for i, plain in checked):
            return decode_sample(names, row, unreadable)
        values = list(row[:-1])
        for i, trusted in convert:
            values[i] = trusted(values[i])
        return SampleRecord(*values) if positional else SampleRecord(**dict(zip(names, values)))

    return decode


# Read as stored: seq orders the rows, the measured flag comes from these two.
PLAIN = {"seq": "seq", "is_warmup": "is_warmup", "status": "status"}


class RawReads:
    def raw_columns(self, session_id: str, names: Sequence[str], measured_only: bool = False) -> sqlite3.Cursor:
        """A cursor over ``names`` of each sample in seq order, undecoded (oversized cells
        already cut by SAMPLE_SELECT's guard, so a hostile cell cannot blow up memory)."""
        sql = f"SELECT {_select(names)} FROM samples WHERE session_id = ?"
        if measured_only:
            sql += f" AND {MEASURED_SQL}"
        return self._conn.execute(sql + " ORDER BY seq", (session_id,))

    def distinct_raw(self, session_id: str, names: Sequence[str]) -> list[tuple]:
        """The distinct combinations of ``names`` over the session's samples, each with the
        first seq it appears at (last item), in that order: a GROUP BY, not a scan in Python."""
        groups = ", ".join(str(i + 1) for i in range(len(names)))
        return self._conn.execute(
            f"SELECT {_select(names)}, MIN(seq) FROM samples WHERE session_id = ? AND {SAMPLE_SEQ_SQL} "
            f"GROUP BY {groups} ORDER BY MIN(seq)", (session_id,)).fetchall()

    def repeated_sample_ids(self, session_id: str, at_most: int) -> int:
        """How many (arm, sample id) pairs were measured twice or more, counting up to ``at_most``."""
        return self._conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM samples WHERE session_id = ? AND {MEASURED_SQL} "
            "AND sample_id IS NOT NULL AND sample_id != '' GROUP BY arm, sample_id HAVING COUNT(*) >= 2 "
            "LIMIT ?)", (session_id, at_most)).fetchone()[0]


def _select(names: Sequence[str]) -> str:
    return ", ".join(PLAIN.get(name) or SAMPLE_SELECT[name] for name in names)


DECODE_PER_TOKEN = BY_NAME["decode_per_token"].column  # derived: decode_ms / tokens


class RecentReads:
    def started_since(self, session_id: str, since: float, newest: int) -> int:
        """How many of the session's ``newest`` rows started at or after ``since``."""
        (count,) = self._conn.execute(
            "SELECT count(*) FROM (SELECT started_at FROM samples WHERE session_id = ? "
            "ORDER BY seq DESC LIMIT ?) WHERE started_at >= ?", (session_id, newest, since)).fetchone()
        return count

    def newest_measured(self, session_id: str, column: str, limit: int) -> np.ndarray:
        """``column`` over the session's newest ``limit`` measured samples, finite values only
        (newest first); ``decode_per_token_ms`` is derived as a SampleRecord derives it."""
        if column == DECODE_PER_TOKEN:
            select = ("decode_ms, new_tokens, "
                      "CASE WHEN json_valid(decode_steps_ms) THEN json_array_length(decode_steps_ms) ELSE 0 END")
        elif column in SAMPLE_SELECT:
            select = SAMPLE_SELECT[column]
        else:
            raise ValueError(f"no sample column {column!r}")
        cur = self._conn.execute(
            f"SELECT {select} FROM samples WHERE session_id = ? AND {MEASURED_SQL} ORDER BY seq DESC LIMIT ?",
            (session_id, limit))
        if column == DECODE_PER_TOKEN:
            raw = (_per_token(*row) for row in cur)
        else:
            raw = (finite_or_nan(value) for (value,) in cur)
        values = np.fromiter(raw, dtype=np.float64)
        return values[np.isfinite(values)]


def _per_token(decode_ms, new_tokens, steps) -> float:
    decode = finite_or_nan(decode_ms)
    tokens = new_tokens if type(new_tokens) is int else None
    value = decode_per_token_ms(None if math.isnan(decode) else decode, steps if type(steps) is int else 0, tokens)
    return math.nan if value is None else value
