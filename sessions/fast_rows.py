"""The fast path of reading samples: what vlmtop writes is read without decoding each cell.

Decoding every cell in Python (rows.DECODERS) cost ~40 us a row. Here one SQL expression
per row (and codec.plain_steps / plain_spans for the JSON lists) says whether every value
is certainly what its decoder accepts; those rows are built directly, and the rows it
flags go through rows.decode_sample, as hostile rows must. See codec.py's fast-path checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vlmtop.sessions import codec
from vlmtop.sessions.record import SampleRecord
from vlmtop.sessions.rows import DECODERS, SAMPLE_COLUMNS, SAMPLE_KINDS, _optional, decode_sample


def _valid_sql(name: str, kind: str) -> str:
    """The fast path's check of one sample column in SQL (see codec.py): true only where
    DECODERS[name] certainly accepts the value. NULL passes only where it reads as None."""
    special = {
        "session_id": codec.sql_text(name, optional=False),
        "seq": codec.sql_count(name, optional=False),
        "status": codec.sql_one_of(name, ("ok", "error")),
        # Checked in Python by codec.plain_steps and plain_spans: cheaper than SQL's GLOB and JSON.
        "decode_steps_ms": "1",
        "spans": "1",
        "extra_ms": codec.sql_stage_times(name),
        "other_ms": codec.sql_time(name, -codec.BIG),
    }
    if name in special:
        return special[name]
    optional = _optional(name)
    if kind == "json":
        return codec.sql_json_object(name)
    if kind == "str":
        return codec.sql_text(name, optional)
    if kind == "bool":
        return codec.sql_flag(name)
    if kind == "int":
        return codec.sql_count(name, optional)
    return codec.sql_time(name, optional=optional)


# What the decoders turn a value SAMPLE_VALID_SQL passed into; identity for the others.
_TRUSTED: dict[str, Callable[[Any], Any]] = {
    "decode_steps_ms": codec.trusted_steps,
    "spans": codec.trusted_spans,
    "extra_ms": codec.trusted_stage_times,
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
    plain = {"decode_steps_ms": codec.plain_steps, "spans": codec.plain_spans}
    # Text that is not UTF-8 passes SQL's typeof(c) = 'text' but reaches Python as bytes
    # (sqlite_file._text): only Python can see it. JSON columns need no such check: their
    # SQL checks take printable ASCII only, or they are checked here already.
    plain |= {n: _decoded_text for n in names if SAMPLE_KINDS[n] == "str" and n != "status"}
    return [(i, plain[n]) for i, n in enumerate(names) if n in plain]


def _decoded_text(value: Any) -> bool:
    return value.__class__ is not bytes


def trusted_decoder(names: tuple[str, ...]) -> Callable[[tuple], SampleRecord | None]:
    """A record from a row of ``names`` whose last value is the fast check's verdict: the
    rows it passed (and whose spans pass codec.plain_spans) are built without decoding
    each cell; the others go through :func:`decode_sample`, as hostile rows must."""
    checked = python_checks(names)
    convert = [(i, _TRUSTED[n]) for i, n in enumerate(names) if n in _TRUSTED]
    positional = names == SAMPLE_COLUMNS

    def decode(row: tuple, unreadable: codec.Unreadable | None = None) -> SampleRecord | None:
        if not row[-1] or not all(plain(row[i]) for i, plain in checked):
            return decode_sample(names, row, unreadable)
        values = list(row[:-1])
        for i, trusted in convert:
            values[i] = trusted(values[i])
        return SampleRecord(*values) if positional else SampleRecord(**dict(zip(names, values)))

    return decode
