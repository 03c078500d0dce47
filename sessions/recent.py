"""Bounded reads of what is newest in the file: what a live view of many sessions needs.

A store part (mixed into :class:`~vlmtop.sessions.store.SessionStore`): the fleet screen
refreshes every second over up to a hundred sessions of up to a million samples each, so
every read here walks the ``(session_id, seq)`` key backwards for a bounded number of rows.
"""

from __future__ import annotations

import math

import numpy as np

from vlmtop.core.stage_table import BY_NAME
from vlmtop.core.timing import decode_per_token_ms
from vlmtop.sessions.codec import finite_or_nan
from vlmtop.sessions.recorded import MEASURED_SQL
from vlmtop.sessions.rows import SAMPLE_SELECT

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
