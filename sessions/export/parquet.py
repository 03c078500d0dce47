"""The parquet export: typed columns (lists, structs, maps), not JSON text. Optional: pyarrow.

Built a page of rows at a time, column by column: the numbers go to Arrow as they are
stored, and each JSON column of a page is parsed in one call, never a record per sample.
Rows the store's fast check flagged (hostile or unusual values) are decoded as records
first, exactly as every reader decodes them, then written the same way.
"""

from __future__ import annotations

import itertools
import json
import typing
from collections.abc import Callable
from pathlib import Path

from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.store import SAMPLE_COLUMNS, SAMPLE_KINDS, SessionInfo, SessionStore
from vlmtop.sessions.store.validate import trusted_stage_times

SPAN_FIELDS = ("stage", "start_ms", "end_ms")  # the parts of each SampleRecord.spans tuple
PAGE_ROWS = 10_000  # rows held at once (~10 MB of stored text), whatever the session length


def _json_or_none(value):
    return None if value is None else json.dumps(value)


def _kind(name: str) -> str:
    """scalar | floats (a list of ms) | spans | stage_times (name -> ms) | json (text)."""
    if SAMPLE_KINDS[name] != "json":
        return "scalar"
    if name == "spans":
        return "spans"
    args = typing.get_args(typing.get_type_hints(SampleRecord)[name])
    return {(float,): "floats", (str, float): "stage_times"}.get(args, "json")


def _types(pa) -> dict[str, object]:
    scalar = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    stage, start, end = SPAN_FIELDS
    span = pa.struct([(stage, pa.string()), (start, pa.float64()), (end, pa.float64())])
    by_kind = {"floats": pa.list_(pa.float64()), "spans": pa.list_(span),
               "stage_times": pa.map_(pa.string(), pa.float64()), "json": pa.string()}  # fmt: skip
    return {n: scalar[SAMPLE_KINDS[n]] if _kind(n) == "scalar" else by_kind[_kind(n)] for n in SAMPLE_COLUMNS}


def _value(rec: SampleRecord, name: str) -> object:
    """A record's value as the parquet column holds it (for fields the file lacks)."""
    value, kind = getattr(rec, name), _kind(name)
    if kind == "spans":
        return [dict(zip(SPAN_FIELDS, s)) for s in value]
    if kind == "stage_times":
        return list(value.items())
    return _json_or_none(value) if kind == "json" else value


def _parsed_lists(col: tuple) -> list[list]:
    # One json.loads per page, not per row; NULL reads as [] as the decoders read it.
    return json.loads("[" + ",".join("[]" if t is None else t for t in col) + "]", parse_int=float)


def _spans_array(pa, col: tuple, arrow_type):
    """list<struct> from flat arrays: building a dict per span would cost more than the rest."""
    parsed = _parsed_lists(col)
    offsets = [0, *itertools.accumulate(map(len, parsed))]
    flat = list(itertools.chain.from_iterable(parsed))
    parts = list(zip(*flat)) if flat else [(), (), ()]
    span_type = arrow_type.value_type
    spans = pa.StructArray.from_arrays(
        [pa.array(part, type=span_type.field(i).type) for i, part in enumerate(parts)],
        fields=list(span_type),
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), spans, type=arrow_type)


def _column(pa, name: str, col: tuple, arrow_type):
    kind = _kind(name)
    if kind == "spans":
        return _spans_array(pa, col, arrow_type)
    if kind == "floats":
        return pa.array(_parsed_lists(col), type=arrow_type)
    if kind == "stage_times":
        return pa.array([list(trusted_stage_times(t).items()) for t in col], type=arrow_type)
    if kind == "json":  # stored compact; the record path wrote json.dumps of the value
        return pa.array([None if t is None or t == "null" else json.dumps(json.loads(t)) for t in col], type=arrow_type)
    if SAMPLE_KINDS[name] == "bool":
        return pa.array([bool(v) for v in col], type=arrow_type)
    return pa.array(col, type=arrow_type)


def _as_trusted(rec: SampleRecord, names: tuple[str, ...]) -> tuple:
    """A decoded record back as a stored row the fast path may trust: JSON exact (not
    rounded as a write rounds it), booleans 0/1."""
    out = []
    for name in names:
        value, kind = getattr(rec, name), SAMPLE_KINDS[name]
        out.append(json.dumps(value, separators=(",", ":")) if kind == "json" else int(value) if kind == "bool" else value)
    return (*out, 1)


def write_parquet(store: SessionStore, session: SessionInfo, tmp: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = _types(pa)
    schema = pa.schema(list(types.items())).with_metadata({"vlmtop.session": json.dumps(session.to_dict())})
    names = store.columns
    default = SampleRecord("", 0)
    count = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for page in store.iter_pages(session.id, page=PAGE_ROWS):
            rows = [r if r[-1] else _trusted_or_none(store, r, names) for r in page]
            rows = [r for r in rows if r is not None]
            if not rows:
                continue
            cols = dict(zip(names, zip(*rows)))  # the verdict, last, has no name: dropped
            n = len(rows)
            arrays = [
                _column(pa, name, cols[name], types[name]) if name in cols
                else pa.array([_value(default, name)] * n, type=types[name])
                for name in SAMPLE_COLUMNS
            ]  # fmt: skip
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            count += n
        if count == 0:
            writer.write_table(schema.empty_table())
    return count


def _trusted_or_none(store: SessionStore, row: tuple, names: tuple[str, ...]) -> tuple | None:
    rec = store.record_of(row)
    return None if rec is None else _as_trusted(rec, names)


def require_pyarrow(error: Callable[[str], Exception]) -> None:
    try:
        import pyarrow  # noqa: F401 (only whether it imports)
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise error("parquet export needs pyarrow: pip install 'vlmtop[parquet]'") from None
