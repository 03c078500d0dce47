"""Values read from a session database, validated: hostile content is data, not a crash.

A session database may be shared, hand-edited, damaged, or written by anything. Every
value read from one passes through a decoder here. A value that is not what its column
holds (JSON that does not parse, a wrong type, NaN or infinity, a negative time, an array
beyond a sane bound) reads as missing, and its row is counted in an :class:`Unreadable`
tally that commands report in one line. Nothing read from a file raises.

Memory stays bounded whatever one cell holds: text and JSON cells are selected through
:func:`guarded_sql`, so a cell longer than the bound never reaches Python (SQLite hands
back a short marker instead), and arrays are capped at :data:`MAX_DECODE_STEPS`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

MAX_DECODE_STEPS = 100_000  # per sample: max_new_tokens far beyond any real run
MAX_SPANS = 2 * MAX_DECODE_STEPS + 64  # each step a span, plus the stages
MAX_TEXT_CHARS = 1_000_000  # one text cell: an error message, a model path, a prompt
MAX_JSON_CHARS = 40 * MAX_SPANS  # one JSON cell: MAX_SPANS spans of ~40 characters
TOO_LONG = b"\x00vlmtop: cell too long"  # what guarded_sql returns for a longer cell
BIG = 1e300  # beyond any time or count


class Bad(Exception):
    """A value that is not what its column holds."""


def _reject_constant(name: str) -> Any:
    raise Bad(name)  # NaN, Infinity: Python's json accepts them, no column holds them


def loads(text: Any) -> Any:
    if type(text) is not str:
        raise Bad("not text")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise Bad(str(exc)) from None


def number(value: Any, low: float = 0.0) -> float:
    # Exact types: SQLite never returns a bool, and JSON's true must not pass as 1.
    if type(value) is not float and type(value) is not int:
        raise Bad("not a number")
    if not low <= value < BIG:  # also False for NaN; 1e999 parses as inf and fails too
        raise Bad("out of range")
    return float(value)


def text(value: Any, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if type(value) is not str or len(value) > MAX_TEXT_CHARS:
        raise Bad("not text")
    return value


def text_or_empty(value: Any) -> str:
    return "" if value is None else text(value)


def count(value: Any) -> int | None:
    """A non-negative integer (NULL stays None)."""
    if value is None:
        return None
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value < 2**53:
        raise Bad("not a count")
    return value


def required_count(value: Any) -> int:
    value = count(value)
    if value is None:
        raise Bad("missing")
    return value


def time_or_none(low: float = 0.0) -> Callable[[Any], float | None]:
    def decode(value: Any) -> float | None:
        return None if value is None else number(value, low)

    return decode


def flag(value: Any) -> bool:
    if value is None:
        return False
    if type(value) not in (int, float) or value not in (0, 1):
        raise Bad("not 0 or 1")
    return bool(value)


def steps(raw: Any) -> list[float]:
    if raw is None:
        return []
    value = loads(raw)
    if type(value) is not list or len(value) > MAX_DECODE_STEPS:
        raise Bad("not a list of times")
    return [number(v) for v in value]


def spans(raw: Any) -> list[tuple[str, float, float]]:
    if raw is None:
        return []
    value = loads(raw)
    if type(value) is not list or len(value) > MAX_SPANS:
        raise Bad("not a list of spans")
    out = []
    for span in value:
        if type(span) is not list or len(span) != 3 or type(span[0]) is not str:
            raise Bad("not a span")
        out.append((span[0], number(span[1], -BIG), number(span[2], -BIG)))
    return out


def stage_times(raw: Any) -> dict[str, float]:
    if raw is None:
        return {}
    value = loads(raw)
    if type(value) is not dict or len(value) > MAX_SPANS:
        raise Bad("not stage times")
    return {key: number(v) for key, v in value.items()}


def json_object(optional: bool) -> Callable[[Any], dict | None]:
    def decode(raw: Any) -> dict | None:
        if raw is None:
            return None if optional else {}
        value = loads(raw)
        if value is None and optional:  # JSON null: how None is stored
            return None
        if type(value) is not dict:
            raise Bad("not an object")
        return value

    return decode


def one_of(*allowed: str) -> Callable[[Any], str]:
    def decode(value: Any) -> str:
        if value not in allowed or type(value) is not str:
            raise Bad(f"not one of {allowed}")
        return value

    return decode


def guarded_sql(name: str, long_cells_possible: bool, bound: int = MAX_JSON_CHARS) -> str:
    """``name`` as a SELECT expression that never hands Python a cell too long to hold:
    longer than ``bound`` characters (MAX_TEXT_CHARS for plain text: an export page of
    5000 rows must not hold 5000 JSON-sized error messages)."""
    if not long_cells_possible:
        return name
    return f"CASE WHEN length({name}) > {bound} THEN x'{TOO_LONG.hex()}' ELSE {name} END"


# --- the fast path: the same checks, cheaper, for values that are what they claim ------------
#
# Decoding every cell in Python costs ~40 us a row: a million-sample export took minutes.
# The checks below run in SQL (or one regular expression) and are one-sided: each is true
# only where the decoder above certainly accepts the value, never the reverse. A row any
# of them flags goes through the decoders, so they may be strict (an unusual but valid
# value only takes the slow path), never lax. They accept only what vlmtop itself writes:
# REAL in float columns, INTEGER counts, compact JSON without exponents or escapes.

_SQL_BIG = "1e300"  # BIG in SQL
_MAX_COUNT = 2**53
# No run of this many digits: numbers stay below 1e16 (no exponents pass either), far
# from BIG, from int64 overflow in SQLite and from Python's int-parsing limit.
_LONG_DIGITS = "*" + "[0-9]" * 16 + "*"
_PRINTABLE_ONLY = "NOT GLOB '*[^ -~]*'"  # ASCII without control characters


def sql_text(c: str, optional: bool = True) -> str:
    text = f"(typeof({c}) = 'text' AND length({c}) <= {MAX_TEXT_CHARS})"
    return f"({c} IS NULL OR {text})" if optional else text


def sql_count(c: str, optional: bool = True) -> str:
    count = f"(typeof({c}) = 'integer' AND {c} >= 0 AND {c} < {_MAX_COUNT})"
    return f"({c} IS NULL OR {count})" if optional else count


def sql_time(c: str, low: float = 0.0, optional: bool = True) -> str:
    # REAL only: what a REAL column returns; an integer (an old or odd file) takes the slow path.
    time = f"(typeof({c}) = 'real' AND {c} >= {low:.17g} AND {c} < {_SQL_BIG})"
    return f"({c} IS NULL OR {time})" if optional else time


def sql_flag(c: str) -> str:
    return f"(typeof({c}) = 'integer' AND {c} IN (0, 1))"


def sql_one_of(c: str, allowed: tuple[str, ...]) -> str:
    return f"(typeof({c}) = 'text' AND {c} IN ({', '.join(repr(a) for a in allowed)}))"


def sql_stage_times(c: str) -> str:
    """A small JSON object of non-negative numbers (extra stages: name -> ms)."""
    # CASE, not AND: json_type and json_each raise on malformed JSON, and only CASE
    # promises SQLite evaluates them after json_valid said it is JSON.
    return (
        f"({c} IS NULL OR {c} = '{{}}' OR CASE WHEN typeof({c}) = 'text' AND length({c}) <= 4000 "
        f"AND {c} {_PRINTABLE_ONLY} AND {c} NOT GLOB '{_LONG_DIGITS}' AND json_valid({c}) "
        f"THEN json_type({c}) = 'object' AND NOT EXISTS (SELECT 1 FROM json_each({c}) "
        f"WHERE type NOT IN ('integer', 'real') OR atom < 0 OR atom >= {_SQL_BIG}) ELSE 0 END)"
    )


def sql_json_object(c: str) -> str:
    """A small JSON object (or null): short enough that no nesting reaches Python's limit."""
    return (
        f"({c} IS NULL OR {c} = 'null' OR CASE WHEN typeof({c}) = 'text' AND length({c}) <= 512 "
        f"AND {c} {_PRINTABLE_ONLY} AND json_valid({c}) THEN json_type({c}) = 'object' ELSE 0 END)"
    )


# Spans: SQLite's JSON functions would check each span at ~30 us a row; one regular
# expression checks the whole compact text in a few. Stage names: printable ASCII without
# quotes or backslashes; numbers as JSON writes them, without exponents, and no bare -0
# (json reads it as the integer 0; the fast decoder would make it -0.0).
_SPAN_NUM = r"(?:-?[1-9][0-9]{0,15}|-?0(?=\.)|0)(?:\.[0-9]+)?"
_SPAN = r'\["[\x20\x21\x23-\x5b\x5d-\x7e]*",' + _SPAN_NUM + "," + _SPAN_NUM + r"\]"
_PLAIN_SPANS = re.compile(r"\[(?:" + _SPAN + "(?:," + _SPAN + r")*)?\]")


# Decode steps: a flat array of non-negative numbers, no exponents (a regex: SQLite's GLOB
# needs ~5 us a row for the same).
_STEP_NUM = r"(?:[1-9][0-9]{0,15}|0)(?:\.[0-9]+)?"
_PLAIN_STEPS = re.compile(r"\[(?:" + _STEP_NUM + "(?:," + _STEP_NUM + r")*)?\]")


def plain_steps(raw: Any) -> bool:
    """Whether ``raw`` is certainly what :func:`steps` accepts (the fast path's check)."""
    if raw is None:
        return True
    if type(raw) is not str or _PLAIN_STEPS.fullmatch(raw) is None:
        return False
    return len(raw) <= 2 * MAX_DECODE_STEPS or raw.count(",") < MAX_DECODE_STEPS


def plain_spans(raw: Any) -> bool:
    """Whether ``raw`` is certainly what :func:`spans` accepts (the fast path's check)."""
    if raw is None:
        return True
    if type(raw) is not str or _PLAIN_SPANS.fullmatch(raw) is None:
        return False
    return len(raw) <= 9 * MAX_SPANS or raw.count("[") <= MAX_SPANS + 1


def trusted_steps(raw: str | None) -> list[float]:
    """:func:`steps` of a value :func:`plain_steps` passed: no check left to make."""
    return [] if raw is None else json.loads(raw, parse_int=float)


def trusted_spans(raw: str | None) -> list[tuple[str, float, float]]:
    """:func:`spans` of a value :func:`plain_spans` passed."""
    return [] if raw is None else [tuple(s) for s in json.loads(raw, parse_int=float)]


def trusted_stage_times(raw: str | None) -> dict[str, float]:
    """:func:`stage_times` of a value :func:`sql_stage_times` passed (float() as number()
    does: a -0 integer reads as 0.0)."""
    if raw is None or raw == "{}":
        return {}
    return {key: float(v) for key, v in json.loads(raw).items()}


def finite_or_nan(value: Any) -> float:
    """A number for statistics arrays: NaN (missing) for anything else."""
    if (type(value) is float or type(value) is int) and math.isfinite(value) and abs(value) < BIG:
        return float(value)
    return math.nan


class Unreadable:
    """What a store has read as missing: rows (by table and key) and values by column.

    Rows are remembered by key, so a row read twice (a replay polling) counts once; past
    :data:`MAX_REMEMBERED` keys the count is a lower bound, and the memory stays bounded.
    """

    MAX_REMEMBERED = 100_000

    def __init__(self) -> None:
        self.rows: set[tuple] = set()
        self.values: dict[str, int] = {}

    def mark(self, table: str, key: Any, columns: list[str]) -> None:
        if (table, key) in self.rows or len(self.rows) >= self.MAX_REMEMBERED:
            return
        self.rows.add((table, key))
        for column in columns:
            name = f"{table}.{column}"
            self.values[name] = self.values.get(name, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.rows)

    def note(self, path: Any) -> str | None:
        """One line for a command to print; None when everything read was valid."""
        if not self.rows:
            return None
        values = sum(self.values.values())
        worst = sorted(self.values.items(), key=lambda kv: -kv[1])[:4]
        which = ", ".join(f"{name} x{n}" for name, n in worst)
        more = ", ..." if len(self.values) > len(worst) else ""
        bound = "at least " if len(self.rows) >= self.MAX_REMEMBERED else ""
        rows = len(self.rows)
        return (
            f"{bound}{rows} row{'s' * (rows != 1)} of {path} held {values} unreadable "
            f"value{'s' * (values != 1)} ({which}{more}): shown as missing"
        )
