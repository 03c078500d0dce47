"""The Chrome / Perfetto trace export: one track per stage, each span an event on the
real clock. Streamed, and windowed by seq for sessions too large to view whole."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import IO

from vlmtop.core.stage_table import SPANS
from vlmtop.sessions.records import STAGE_COLUMNS, EventRecord, SampleRecord, SampleStatus
from vlmtop.sessions.store import SessionInfo, SessionStore

# Trace tracks in the order a trace viewer shows them; user-declared stages follow.
TRACE_TRACKS = ("e2e", *(stage.name for stage in SPANS))  # the whole call, then the stage spans
# Events that switch what later samples measure: instants on the trace's timeline.
SWITCH_EVENT_KINDS = ("policy", "knob")


def write_trace(
    store: SessionStore, session: SessionInfo, f: IO[str], lo: int = 0, hi: int | None = None
) -> int:
    """Trace Event Format, streamed: a session of any length is never held in memory.
    ``lo``/``hi`` (seq) take a window of a session too large to view whole."""
    written = 0

    def records() -> Iterator[SampleRecord]:
        nonlocal written
        for rec in store.iter_samples(session.id, lo=lo, hi=hi):
            written += 1
            yield rec

    upper = hi if hi is not None else 2**62
    switches = [
        e for e in store.events_between(session.id, lo, upper) if e.kind in SWITCH_EVENT_KINDS
    ]
    f.write('{"displayTimeUnit":"ms","otherData":')
    f.write(json.dumps(session.to_dict(), default=str))
    f.write(',"traceEvents":[\n')
    for i, event in enumerate(_trace_events(session, records(), switches)):
        text = event if type(event) is str else json.dumps(event, separators=(",", ":"))
        f.write((",\n" if i else "") + text)
    f.write("\n]}\n")
    return written


def _switch_instant(event: EventRecord) -> dict:
    """A policy or knob switch as a global instant: a line across every track at the time
    the worker applied it (the samples from ``seq`` on run under the new value)."""
    return {
        "name": f"{event.kind}: {event.detail}" if event.detail else event.kind,
        "cat": event.kind,
        "ph": "i",
        "s": "g",
        "pid": 1,
        "tid": 1,
        "ts": round(event.at * 1e6, 3),
        "args": {"seq": event.seq, "detail": event.detail, "value": event.value},
    }


def _trace_events(
    session: SessionInfo, records: Iterator[SampleRecord], switches: list[EventRecord] = ()
) -> Iterator[dict]:
    """One track (tid) per stage plus an e2e track; each span an "X" event on the real
    clock: ``ts`` = sample start + span start, in microseconds."""
    label = f"vlmtop {session.id}: {session.model} on {session.device}"
    yield {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": label}}
    tids: dict[str, int] = {}

    def new_track(name: str) -> list[dict]:
        tids[name] = tid = len(tids) + 1
        return [
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}},
            {"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
             "args": {"sort_index": tid}},
        ]  # fmt: skip

    for name in TRACE_TRACKS:
        yield from new_track(name)
    for event in switches:
        yield _switch_instant(event)
    for rec in records:
        start_us = rec.started_at * 1e6
        cat = "warmup" if rec.is_warmup else "sample"
        if rec.e2e_ms is not None:
            args = {"seq": rec.seq, "sample_id": rec.sample_id}
            if rec.arm or rec.knobs:  # which arm and settings this span measured (filterable in Perfetto)
                args.update(arm=rec.arm, knobs=rec.knobs)
            args.update((column, getattr(rec, column)) for column in STAGE_COLUMNS if column != "e2e_ms")
            yield _complete("e2e", cat, tids["e2e"], start_us, rec.e2e_ms, args)
        if rec.status == SampleStatus.ERROR:
            yield {"name": "error", "cat": cat, "ph": "i", "s": "t", "pid": 1,
                   "tid": tids["e2e"], "ts": round(start_us, 3),
                   "args": {"seq": rec.seq, "error": rec.error}}  # fmt: skip
        decode_step = 0
        for stage, start_ms, end_ms in rec.spans:
            if stage not in tids:
                yield from new_track(stage)
            name = stage
            if stage == "decode":
                name = f"decode[{decode_step}]"
                decode_step += 1
            ts_us = start_us + start_ms * 1e3
            yield _span_text(name, cat, tids[stage], ts_us, end_ms - start_ms, rec.seq)


def _span_text(name: str, cat: str, tid: int, ts_us: float, dur_ms: float, seq: int) -> str:
    """``json.dumps(_complete(..., {"seq": seq}), separators=(",", ":"))``, the same bytes,
    written out: a span is most of a trace, and json.dumps of a dict per span was most of
    its cost."""
    return (
        f'{{"name":{_json_str(name)},"cat":{_json_str(cat)},"ph":"X","pid":1,"tid":{tid},'
        f'"ts":{_json_float_text(round(ts_us, 3))},"dur":{_json_float_text(round(dur_ms * 1e3, 3))},'
        f'"args":{{"seq":{seq}}}}}'
    )


_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _json_float_text(value: float) -> str:
    # As json.dumps writes a float: repr, and Infinity/NaN by name (a start time near BIG
    # times 1e6 overflows).
    return repr(value) if math.isfinite(value) else json.dumps(value)


def _complete(name: str, cat: str, tid: int, ts_us: float, dur_ms: float, args: dict) -> dict:
    """A complete ("X") event; times rounded to the nanosecond to keep the file small."""
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "pid": 1,
        "tid": tid,
        "ts": round(ts_us, 3),
        "dur": round(dur_ms * 1e3, 3),
        "args": args,
    }
