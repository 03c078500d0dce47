"""Stored sample values as SQLite holds them, streamed: for readers that decode as they go.

A store part (mixed into :class:`~vlmtop.sessions.store.SessionStore`). `vlmtop compare`
on a million samples cannot afford a record, or even a list of strings, per sample: it
streams these raw values through the same decoders (rows.decode_value) that every reader
uses, keeping one object per distinct value (sessions/compare_columns.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from vlmtop.sessions.recorded import MEASURED_SQL, SAMPLE_SEQ_SQL
from vlmtop.sessions.rows import SAMPLE_SELECT

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
