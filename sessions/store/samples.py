"""What a session recorded: its samples (one row per SampleRecord) and its events.

Every finished sample is written in its own transaction, so what the worker reported is in
the file the moment :meth:`write_sample` returns, whoever dies next.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

import numpy as np

from vlmtop.sessions.records import MEASURED_SQL, SAMPLE_SEQ_SQL, EventRecord, SampleRecord, SampleStatus, is_measured
from vlmtop.sessions.store.connection import SqliteFile
from vlmtop.sessions.store.errors import (
    StoreError,
    StoreLockedError,
    StoreWriteError,
    UnknownSessionError,
)
from vlmtop.sessions.store.fast_reads import python_checks, sample_valid_sql, trusted_decoder
from vlmtop.sessions.store.liveness import ALIVE_SQL
from vlmtop.sessions.store.rows import (
    DECODERS,
    EVENT_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLE_DEFAULTS,
    SAMPLE_KINDS,
    SAMPLE_SELECT,
    clean_row,
    decode_value,
    encode_sample,
    event,
    select_sql,
)
from vlmtop.sessions.store.validate import BIG, Unreadable

PAGE_TEXT_CHARS = 32_000_000  # the text of one page of an export: its rows' strings and JSON
_NONE_BAD: list[str] = []  # shared, never changed: the unreadable values of a valid row
_INSERT_SAMPLE_SQL = (
    f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join(['?'] * len(SAMPLE_COLUMNS))})"
)
_NUMERIC = ("int", "float", "bool")
_EVENT_WRITTEN = tuple(name for name, _ in EVENT_COLUMNS if name != "id")  # SQLite chooses the id
_INSERT_EVENT_SQL = (
    f"INSERT INTO events ({', '.join(_EVENT_WRITTEN)}) VALUES ({', '.join(['?'] * len(_EVENT_WRITTEN))})"
)


def _valid_raw(name: str):
    decode = DECODERS[name]

    def valid(value: object) -> bool:
        try:
            decode(value)
        except Exception:  # validate.Bad; anything else a decoder meets is unreadable too
            return False
        return True

    return valid


# The slow path's checks, for rows the fast check (fast_reads.py) flagged: each JSON
# cell parsed to know whether it is what it claims.
VALID_RAW = {name: _valid_raw(name) for name in SAMPLE_COLUMNS}


# What _numeric_column's SQL returns for an unreadable value: beyond BIG, so never valid.
_UNREADABLE = 1e308


def _numeric_valid_sql(name: str) -> str:
    """SQL true where rows.DECODERS[name] accepts a (non-NULL) value: validate.number (low 0,
    or -BIG for other_ms), validate.count, validate.flag, exactly."""
    kind, c = SAMPLE_KINDS[name], name
    number = f"typeof({c}) IN ('integer', 'real')"
    if kind == "bool":
        return f"{number} AND {c} IN (0, 1)"
    if kind == "int":
        return f"{number} AND {c} >= 0 AND {c} < 9007199254740992 AND {c} = CAST({c} AS INTEGER)"
    low = -BIG if name == "other_ms" else 0.0
    return f"{number} AND {c} >= {low:.17g} AND {c} < {BIG:.17g}"


class RecordedRows(SqliteFile):
    """The `samples` and `events` tables, mixed into the store."""

    # The sample columns this file has: an older file opened read-only may lack a newer
    # field, which then reads back as the field's default. Set by the store on open.
    _columns: tuple[str, ...] = SAMPLE_COLUMNS
    _event_columns: tuple[str, ...] = ()
    unreadable: Unreadable  # what was read as missing; set by the store
    _fast_for: tuple[str, ...] | None = None  # the columns _fast_parts was made for

    # --- samples -------------------------------------------------------------------------------

    def write_sample(self, rec: SampleRecord) -> None:
        """Append one sample in its own transaction: durable when this returns.

        ``rec.seq`` must be the session's next seq (0, 1, 2, ...): sessions are gapless.
        """
        counts = {
            "measured": int(is_measured(rec)),
            "warmup": int(rec.is_warmup),
            "error": int(rec.status == SampleStatus.ERROR),
            "now": time.time(),
            "id": rec.session_id,
            "seq": rec.seq,
        }
        try:
            self._insert_sample(rec, counts)
        except (StoreWriteError, StoreLockedError) as exc:
            # The one line a user sees: which sample was lost, on which file, and why.
            raise type(exc)(
                f"sample {rec.seq} of session {rec.session_id} could not be recorded: {exc}"
            ) from exc

    def _insert_sample(self, rec: SampleRecord, counts: dict) -> None:
        with self._transaction():
            # The counters double as the gapless check: the update only matches when
            # `seq` is exactly the number of samples already there. Same transaction as
            # the insert, so no other writer can slip a row in between.
            cur = self._conn.execute(
                "UPDATE sessions SET sample_count = sample_count + 1, "
                "measured_count = measured_count + :measured, "
                "warmup_count = warmup_count + :warmup, error_count = error_count + :error, "
                f"{ALIVE_SQL} WHERE id = :id AND sample_count = :seq",
                counts,
            )
            if cur.rowcount != 1:
                raise self._out_of_order(rec)
            self._conn.execute(_INSERT_SAMPLE_SQL, encode_sample(rec))

    def _out_of_order(self, rec: SampleRecord) -> StoreError:
        row = self._conn.execute(
            "SELECT sample_count FROM sessions WHERE id = ?", (rec.session_id,)
        ).fetchone()
        if row is None:
            return UnknownSessionError(f"no session {rec.session_id!r} in {self.path}")
        return StoreError(
            f"sample seq {rec.seq} does not follow session {rec.session_id}'s "
            f"{row[0]} samples (seq must be {row[0]}: sessions are gapless)"
        )

    def _select(self, where: str, params: tuple, limit: int | None = None) -> list[SampleRecord]:
        return [rec for rec in self._decoded(self._raw(where, params, limit)) if rec is not None]

    def _raw(self, where: str, params: tuple, limit: int | None = None) -> list[tuple]:
        # Text and JSON cells come through validate.guarded_sql: one cell of any length never
        # reaches Python whole. Rows come back as stored, with the fast check's verdict
        # last (see _fast), decoded by _decoded.
        select, _ = self._fast()
        sql = f"SELECT {select} FROM samples WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._conn.execute(sql, params).fetchall()

    def _page_end(self, where: str, params: tuple, rows: int, chars: int) -> object:
        """The seq that ends the next page: at most ``rows`` rows, and no more than ``chars``
        of text past its first row. Each cell is bounded (validate.guarded_sql), but
        a page of 5000 rows of 8192-token decodes would hold GBs; SQLite measures the
        text here (~1 us a row) so that Python never holds more than a budget of it."""
        sizes = " + ".join(f"coalesce(length({name}), 0)" for name in self._columns
                           if SAMPLE_KINDS[name] in ("str", "json"))
        return self._conn.execute(
            f"SELECT max(seq) FROM (SELECT seq, size, sum(size) OVER (ORDER BY seq) AS total FROM "
            f"(SELECT seq, {sizes} AS size FROM samples WHERE {where} ORDER BY seq LIMIT {int(rows)})) "
            f"WHERE total - size < {int(chars)}", params).fetchone()[0]

    def _raw_utf8(self, where: str, params: tuple, limit: int) -> tuple[list[tuple], bool]:
        """:meth:`_raw`, its text decoded by sqlite3 in C (~2 us a row less than the file's
        own text_factory, connection.py), and whether that worked: a page holding text
        that is not UTF-8 makes sqlite3 raise, and is read again the careful way."""
        conn = self._conn
        careful = conn.text_factory
        conn.text_factory = str
        try:
            return self._raw(where, params, limit), True
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):  # "Could not decode to UTF-8 column ..."
                raise
        finally:
            conn.text_factory = careful
        return self._raw(where, params, limit), False

    def _fast(self) -> tuple[str, Callable]:
        """The SELECT list of this file's sample columns plus the fast check (1 where every
        value is certainly valid), and the decoder that trusts it; made once per file."""
        if self._fast_for != self._columns:
            names = self._columns
            select = ", ".join(SAMPLE_SELECT[name] for name in names)
            self._fast_parts = (f"{select}, {sample_valid_sql(names)}", trusted_decoder(names))
            self._fast_for = names
        return self._fast_parts

    def _decoded(self, rows: list[tuple]) -> Iterator[SampleRecord | None]:
        _, decode = self._fast()
        unreadable = self.unreadable
        for row in rows:
            yield decode(row, unreadable)

    def record_of(self, row: tuple) -> SampleRecord | None:
        """The record of a row from :meth:`iter_pages` (None: no sample, see samples)."""
        return self._fast()[1](row, self.unreadable)

    def samples(
        self, session_id: str, after_seq: int = -1, limit: int | None = None
    ) -> list[SampleRecord]:
        """Samples with seq > ``after_seq``, in seq order, at most ``limit`` of them.
        A row without a readable seq is no sample (counted in ``unreadable``)."""
        return self._select("session_id = ? AND seq > ?", (session_id, after_seq), limit)

    def samples_between(self, session_id: str, lo: int, hi: int) -> list[SampleRecord]:
        """Samples with ``lo <= seq <= hi``."""
        return self._select("session_id = ? AND seq BETWEEN ? AND ?", (session_id, lo, hi))

    def iter_samples(
        self, session_id: str, page: int = 5000, lo: int = 0, hi: int | None = None
    ) -> Iterator[SampleRecord]:
        """Every sample of a session (``lo <= seq <= hi``), read ``page`` rows at a time:
        bounded memory. Pages follow the stored seq, so unreadable rows cannot stall it."""
        seq_at = self._columns.index("seq")
        after: object = lo - 1
        upper = "" if hi is None else f" AND seq <= {int(hi)}"
        while rows := self._raw(f"session_id = ? AND seq > ?{upper}", (session_id, after), page):
            yield from (rec for rec in self._decoded(rows) if rec is not None)
            after = rows[-1][seq_at]

    def iter_pages(
        self, session_id: str, page: int = 5000, lo: int = 0, hi: int | None = None,
        page_chars: int = PAGE_TEXT_CHARS,
    ) -> Iterator[list[tuple]]:
        """The rows of a session (``lo <= seq <= hi``) as stored, at most ``page`` rows and
        about ``page_chars`` of text at a time, each with one more value last: True where
        every value is certainly valid (the fast check). Decode the others with
        :meth:`record_of`, or validate them as iter_rows does."""
        names = self._columns
        seq_at = names.index("seq")
        checked = python_checks(names)  # the checks made here, not in SQL (JSON lists, UTF-8)
        # A page read as UTF-8 holds no bytes: only the JSON lists are left to check.
        lists = [(i, plain) for i, plain in checked if names[i] in ("decode_steps_ms", "spans")]
        after: object = lo - 1
        upper = "" if hi is None else f" AND seq <= {int(hi)}"
        where = f"session_id = ? AND seq > ?{upper}"
        while (end := self._page_end(where, (session_id, after), page, page_chars)) is not None:
            rows, utf8 = self._raw_utf8("session_id = ? AND seq > ? AND seq <= ?", (session_id, after, end), page)
            if not rows:
                return
            after = rows[-1][seq_at]
            row_checks = lists if utf8 else checked
            yield [r if not r[-1] or all(plain(r[i]) for i, plain in row_checks) else (*r[:-1], 0) for r in rows]

    def iter_rows(
        self, session_id: str, page: int = 5000, lo: int = 0, hi: int | None = None
    ) -> Iterator[tuple[tuple, list[str]]]:
        """The fast path for exports: each row as stored, in :attr:`columns` order, after
        validation, and the names of its unreadable values (read as None). JSON stays text,
        so nothing is parsed that is only copied out."""
        for rows in self.iter_valid_pages(session_id, page, lo, hi):
            for row, bad in rows:
                yield row, bad

    def iter_valid_pages(
        self, session_id: str, page: int = 5000, lo: int = 0, hi: int | None = None
    ) -> Iterator[list[tuple[tuple, list[str]]]]:
        """:meth:`iter_rows` a page at a time. Rows the fast check passed are copied out
        as they are; the others are validated cell by cell (unreadable values read as None,
        rows without a readable seq are left out, each counted in ``unreadable``)."""
        names = self._columns
        n, seq_at = len(names), names.index("seq")
        checks = [(i, name, VALID_RAW[name]) for i, name in enumerate(names)]
        for rows in self.iter_pages(session_id, page, lo, hi):
            out = []
            for row in rows:
                if row[-1]:
                    out.append((row[:n], _NONE_BAD))
                    continue
                bad = [name for i, name, valid in checks if not valid(row[i])]
                if not bad:
                    out.append((row[:n], bad))
                    continue
                key = row[seq_at] if type(row[seq_at]) is int else None
                self.unreadable.mark("samples", (session_id, key), bad)
                if "seq" not in bad:
                    out.append((tuple(None if name in bad else v for name, v in zip(names, row)), bad))
            yield out

    @property
    def columns(self) -> tuple[str, ...]:
        """The sample columns this file has, in :data:`SAMPLE_COLUMNS` order."""
        return self._columns

    def column(
        self, session_id: str, name: str, measured_only: bool = False
    ) -> np.ndarray | list:
        """One column in seq order, without building records: the fast path for statistics.

        Numeric columns come back as a float64 array (NULL and unreadable values as NaN),
        text and JSON columns as a list (unreadable values as the field's default; decode
        step lists longer than validate.MAX_DECODE_STEPS count as unreadable).
        ``measured_only`` drops warm-up and error samples.
        """
        if name not in SAMPLE_COLUMNS:
            raise StoreError(f"no sample column {name!r}; columns: {', '.join(self._columns)}")
        kind = SAMPLE_KINDS[name]
        if name not in self._columns:  # an older file: every row holds the default
            n = len(self.column(session_id, "seq", measured_only))
            return np.full(n, np.nan) if kind in _NUMERIC else [SAMPLE_DEFAULTS[name]] * n
        where = f"session_id = ? AND {MEASURED_SQL if measured_only else SAMPLE_SEQ_SQL}"
        if kind in _NUMERIC:
            return self._numeric_column(session_id, name, where)
        cur = self._conn.execute(f"SELECT {SAMPLE_SELECT[name]} FROM samples WHERE {where} ORDER BY seq", (session_id,))
        out = []
        for (raw,) in cur:
            value, ok = decode_value(name, raw)
            if not ok:
                self.unreadable.mark("samples", (session_id, name, len(out)), [name])
            out.append(value)
        return out

    def _numeric_column(self, session_id: str, name: str, where: str) -> np.ndarray:
        # The validators' rule for this column (rows.DECODERS), in SQL: a value it would reject
        # (a negative time, a fraction in a count...) comes back as _UNREADABLE, never as a
        # number statistics would use; NULL stays NULL (missing, not unreadable).
        valid = _numeric_valid_sql(name)
        value = f"CASE WHEN {name} IS NULL THEN NULL WHEN {valid} THEN {name} ELSE {_UNREADABLE!r} END"
        cur = self._conn.execute(f"SELECT {value} FROM samples WHERE {where} ORDER BY seq", (session_id,))
        # Column by column, never a record, nor a list of a million floats: 8 MB here.
        out = np.fromiter((np.nan if v is None else v for (v,) in cur), dtype=np.float64)
        bad = out == _UNREADABLE
        if bad.any():
            out[bad] = np.nan
            # Marked by (session, seq) as rows.decode_sample marks them: one row, one count.
            for (seq,) in self._conn.execute(
                f"SELECT seq FROM samples WHERE {where} AND {name} IS NOT NULL AND NOT ({valid})",
                (session_id,),
            ):
                self.unreadable.mark("samples", (session_id, seq), [name])
        return out

    def sample_columns(
        self, session_id: str, names: tuple[str, ...], measured_only: bool = False
    ) -> dict[str, np.ndarray | list]:
        """Several columns of one session (see :meth:`column`): what compare and replay
        statistics need without holding a million records (300+ MB)."""
        return {name: self.column(session_id, name, measured_only) for name in names}

    # --- events --------------------------------------------------------------------------------

    def write_event(self, ev: EventRecord) -> int:
        """Append an event (``at`` defaults to now); returns its id."""
        values = {**{name: getattr(ev, name) for name in _EVENT_WRITTEN}, "at": ev.at or time.time()}
        with self._transaction():
            cur = self._conn.execute(_INSERT_EVENT_SQL, tuple(values.values()))
        return cur.lastrowid

    def events(self, session_id: str, after_id: int = 0) -> list[EventRecord]:
        """Events with id > ``after_id``, in the order they were written."""
        return self._events("id > ? ORDER BY id", (session_id, after_id))

    def events_between(self, session_id: str, lo_seq: int, hi_seq: int) -> list[EventRecord]:
        """Events applying from a sample with ``lo_seq <= seq <= hi_seq``."""
        return self._events("seq BETWEEN ? AND ? ORDER BY seq, id", (session_id, lo_seq, hi_seq))

    def _events(self, condition: str, params: tuple) -> list[EventRecord]:
        if not self._event_columns:  # an older file opened read-only, without the table
            return []
        rows = self._dicts(
            f"SELECT {select_sql(self._event_columns)} FROM events "
            f"WHERE session_id = ? AND {condition}",
            params,
        )
        return [event(c) for r in rows if (c := clean_row("events", r, self.unreadable))]
