"""What a session recorded: its samples (one row per SampleRecord) and its events.

Every finished sample is written in its own transaction, so what the worker reported is in
the file the moment :meth:`write_sample` returns, whoever dies next.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from vlmtop.sessions.liveness import ALIVE_SQL
from vlmtop.sessions.record import EventRecord, SampleRecord
from vlmtop.sessions.rows import DECODERS, SAMPLE_COLUMNS, SAMPLE_KINDS, decode_sample, encode_sample, event
from vlmtop.sessions.sqlite_file import SqliteFile
from vlmtop.sessions.store_errors import (
    StoreError,
    StoreLockedError,
    StoreWriteError,
    UnknownSessionError,
)

_INSERT_SAMPLE_SQL = (
    f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join(['?'] * len(SAMPLE_COLUMNS))})"
)
# The one definition of a measured sample in SQL: what statistics use.
MEASURED_SQL = "is_warmup = 0 AND status = 'ok'"


class RecordedRows(SqliteFile):
    """The `samples` and `events` tables, mixed into the store."""

    # The sample columns this file has: an older file opened read-only may lack a newer
    # field, which then reads back as the field's default. Set by the store on open.
    _columns: tuple[str, ...] = SAMPLE_COLUMNS
    _event_columns: tuple[str, ...] = ()

    # --- samples -------------------------------------------------------------------------------

    def write_sample(self, rec: SampleRecord) -> None:
        """Append one sample in its own transaction: durable when this returns.

        ``rec.seq`` must be the session's next seq (0, 1, 2, ...): sessions are gapless.
        """
        counts = {
            "measured": int(not rec.is_warmup and rec.status == "ok"),
            "warmup": int(rec.is_warmup),
            "error": int(rec.status == "error"),
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
        sql = f"SELECT {', '.join(self._columns)} FROM samples WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        names = self._columns
        return [decode_sample(names, row) for row in self._conn.execute(sql, params)]

    def samples(
        self, session_id: str, after_seq: int = -1, limit: int | None = None
    ) -> list[SampleRecord]:
        """Samples with seq > ``after_seq``, in seq order, at most ``limit`` of them."""
        return self._select("session_id = ? AND seq > ?", (session_id, after_seq), limit)

    def samples_between(self, session_id: str, lo: int, hi: int) -> list[SampleRecord]:
        """Samples with ``lo <= seq <= hi``."""
        return self._select("session_id = ? AND seq BETWEEN ? AND ?", (session_id, lo, hi))

    def iter_samples(self, session_id: str, page: int = 5000) -> Iterator[SampleRecord]:
        """Every sample of a session, read ``page`` rows at a time (bounded memory)."""
        after = -1
        while batch := self.samples(session_id, after_seq=after, limit=page):
            yield from batch
            after = batch[-1].seq

    def column(
        self, session_id: str, name: str, measured_only: bool = False
    ) -> np.ndarray | list:
        """One column in seq order, without building records: the fast path for statistics.

        Numeric columns come back as a float64 array (NULL as NaN), text and JSON columns
        as a list. ``measured_only`` drops warm-up and error samples.
        """
        if name not in self._columns:
            raise StoreError(f"no sample column {name!r}; columns: {', '.join(self._columns)}")
        sql = f"SELECT {name} FROM samples WHERE session_id = ?"
        if measured_only:
            sql += f" AND {MEASURED_SQL}"
        values = [v for (v,) in self._conn.execute(sql + " ORDER BY seq", (session_id,))]
        kind = SAMPLE_KINDS[name]
        if kind in ("int", "float", "bool"):
            return np.array(values, dtype=np.float64)
        if kind == "json":
            return [DECODERS[name](v) for v in values]
        return values

    # --- events --------------------------------------------------------------------------------

    def write_event(self, ev: EventRecord) -> int:
        """Append an event (``at`` defaults to now); returns its id."""
        at = ev.at or time.time()
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO events (session_id, seq, kind, detail, at, value) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (ev.session_id, ev.seq, ev.kind, ev.detail, at, ev.value),
            )
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
            f"SELECT {', '.join(self._event_columns)} FROM events "
            f"WHERE session_id = ? AND {condition}",
            params,
        )
        return [event(row) for row in rows]
