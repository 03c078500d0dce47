"""A session's measured samples column by column: what `vlmtop compare` reads, not records.

A million SampleRecords take gigabytes (7 GB and 316 s for two 1M-sample
sessions); the statistics need a few float arrays. :class:`Columns` holds those arrays
(one per stage), the sample ids (one shared string per distinct id) and the arms, in seq
order. :func:`read_columns` fills it from the store's column readers; the per-token
decode stage is derived exactly as SampleRecord.decode_per_token_ms derives it, from
decode_ms, new_tokens and the NUMBER of decode steps, which is counted while streaming
the step lists (never holding them). :func:`read_layout` streams the policy columns into
small integer codes: the segment boundaries and arms without a record.

The raw values come from the store's streaming readers (sessions/store/fast_reads.py) and pass
through the same decoders (rows.decode_value), so a hostile cell reads as it does
everywhere else.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vlmtop.core.stage_table import BY_NAME, STORED
from vlmtop.sessions.analysis.outliers import detect_transient
from vlmtop.sessions.analysis.segments import ARM_VARIED, Segment
from vlmtop.sessions.policies import COLUMNS, KINDS
from vlmtop.sessions.records import SampleRecord, SampleStatus, is_measured, measured_mask
from vlmtop.sessions.store.rows import SAMPLE_DEFAULTS, decode_value

DECODE_PER_TOKEN = BY_NAME["decode_per_token"].column
STORED_STAGES = tuple(stage.column for stage in STORED)
LAYOUT_FIELDS = (*(COLUMNS[kind] for kind in KINDS), "arm", "knobs")  # the policies first, in KINDS order


@dataclass
class Columns:
    """Measured samples of one process (or a part of one), in seq order."""

    values: dict[str, np.ndarray]  # stage column -> float64, NaN where absent
    sample_ids: list  # one str per sample; equal ids are one shared object
    arms: list  # arm label or None per sample
    seq: np.ndarray

    def __len__(self) -> int:
        return int(self.seq.size)

    def stage(self, stage: str) -> np.ndarray:
        return self.values[stage]

    def take(self, index) -> Columns:
        """A subset by an index array, a boolean mask or a slice (order kept)."""
        if isinstance(index, slice):
            pick = index
            ids, arms = self.sample_ids[index], self.arms[index]
        else:
            pick = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)
            ids = [self.sample_ids[i] for i in pick.tolist()]
            arms = [self.arms[i] for i in pick.tolist()]
        return type(self)(self._take_values(pick), ids, arms, self.seq[pick])

    def _take_values(self, pick):
        return {k: v[pick] for k, v in self.values.items()}

    def by_arm(self) -> dict[str, Columns]:
        """The samples of each arm (first appearance order); unlabelled samples left out."""
        index: dict[str, list[int]] = {}
        for i, arm in enumerate(self.arms):
            if arm:
                index.setdefault(arm, []).append(i)
        return {arm: self.take(np.array(rows, dtype=np.int64)) for arm, rows in index.items()}

    def reliability_columns(self) -> dict:
        """What sessions/analysis/reliability.py takes: the samples are measured already, so no flags."""
        return {"sample_id": self.sample_ids, "arm": self.arms, **self.values}

    @classmethod
    def from_records(cls, rows: Iterable[SampleRecord]) -> Columns:
        """The measured rows of records (tests, and callers that hold records anyway)."""
        measured = [row for row in rows if is_measured(row)]
        values = {
            stage: np.array([_nan(getattr(row, stage)) for row in measured], dtype=np.float64)
            for stage in (*STORED_STAGES, DECODE_PER_TOKEN)
        }
        return cls(values, [r.sample_id for r in measured], [r.arm for r in measured],
                   np.array([r.seq for r in measured], dtype=np.int64))


def _nan(value) -> float:
    return np.nan if value is None else float(value)


def text_columns(store, session_id: str, names: tuple[str, ...]) -> list[list]:
    """Text columns of the measured samples in seq order, as store.column reads them (same
    decoder, same unreadable marks, the default on an older file), streamed in one pass with
    equal values as one object: 1M ids of 1000 samples hold 1000 strings, where store.column
    would build 1M of them first (70 MB at the peak)."""
    present = [name for name in names if name in store.columns]
    out: dict[str, list] = {name: [] for name in names}
    if present:
        decoded: dict = {}  # (column, type, raw) -> (value, readable): each distinct cell decoded once
        lists = [out[name] for name in present]
        for row in store.raw_columns(session_id, present, measured_only=True):
            for name, raw, values in zip(present, row, lists):
                key = (name, type(raw), raw)  # 1 and 1.0 hash alike but may decode apart
                hit = decoded.get(key)
                if hit is None:
                    hit = decoded[key] = decode_value(name, raw)
                if not hit[1]:
                    store.unreadable.mark("samples", (session_id, name, len(values)), [name])
                values.append(hit[0])
    n = len(out[present[0]]) if present else len(store.column(session_id, "seq", True))
    for name in names:
        if name not in present:  # an older file: every row holds the default
            out[name] = [SAMPLE_DEFAULTS[name]] * n
    return [out[name] for name in names]


def per_token(decode_ms: np.ndarray, new_tokens: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """core/stage_timing.py's decode_per_token_ms, vectorised: decode_ms / decode tokens, where the
    tokens are new_tokens - 1 (floored at 0) when new_tokens is set and non-zero, else the
    steps; NaN without a step, a token or a decode time."""
    has_new = np.isfinite(new_tokens) & (new_tokens != 0)
    tokens = np.where(has_new, np.maximum(0.0, np.where(has_new, new_tokens, 1.0) - 1.0), steps)
    ok = (steps > 0) & (tokens > 0) & np.isfinite(decode_ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, decode_ms / np.where(ok, tokens, 1.0), np.nan)


def decode_step_counts(store, session_id: str) -> np.ndarray:
    """How many decode steps each measured sample has, in seq order, streamed: the lists
    are parsed one row at a time (as the validators read them) and only their length is kept."""
    if "decode_steps_ms" not in store.columns:
        return np.zeros(len(store.column(session_id, "seq", True)))
    out = []
    for (raw,) in store.raw_columns(session_id, ("decode_steps_ms",), measured_only=True):
        value, ok = decode_value("decode_steps_ms", raw)
        if not ok:
            store.unreadable.mark("samples", (session_id, "decode_steps_ms", len(out)), ["decode_steps_ms"])
        out.append(len(value))
    return np.array(out, dtype=np.float64)


def read_columns(store, session_id: str, stages: Sequence[str] | None = None) -> Columns:
    """The measured samples of one session: ``stages`` (None: every stage) as arrays."""
    wanted = list(stages) if stages is not None else [*STORED_STAGES, DECODE_PER_TOKEN]
    numeric = [s for s in STORED_STAGES if s in wanted]
    if DECODE_PER_TOKEN in wanted:
        numeric += [name for name in ("decode_ms", "new_tokens") if name not in numeric]
    cols = store.sample_columns(session_id, ("seq", *numeric), measured_only=True)
    values = {stage: cols[stage] for stage in STORED_STAGES if stage in wanted}
    if DECODE_PER_TOKEN in wanted:
        values[DECODE_PER_TOKEN] = per_token(cols["decode_ms"], cols["new_tokens"],
                                             decode_step_counts(store, session_id))
    ids, arms = text_columns(store, session_id, ("sample_id", "arm"))
    return Columns(values, ids, arms, cols["seq"].astype(np.int64))


def read_stage(store, session_id: str, stage: str) -> np.ndarray:
    """One stage of the measured samples, in seq order (per token derived as read_columns does)."""
    if stage != DECODE_PER_TOKEN:
        return store.column(session_id, stage, measured_only=True)
    cols = store.sample_columns(session_id, ("decode_ms", "new_tokens"), measured_only=True)
    return per_token(cols["decode_ms"], cols["new_tokens"], decode_step_counts(store, session_id))


class StageReads(Mapping):
    """A session's stage arrays read from the store when asked, the last one kept, with the
    rows ``pick`` selects (an index array or a slice of the measured rows; None: all)."""

    def __init__(self, store, session_id: str, pick=None, held: tuple[str, np.ndarray] | None = None):
        self._store, self._session_id, self._pick, self._held = store, session_id, pick, held

    def __getitem__(self, stage: str) -> np.ndarray:
        if self._held is None or self._held[0] != stage:
            self._held = None  # let the previous stage go before the next is read
            values = read_stage(self._store, self._session_id, stage)
            self._held = (stage, values if self._pick is None else values[self._pick])
        return self._held[1]

    def __iter__(self):
        return iter((*STORED_STAGES, DECODE_PER_TOKEN))

    def __len__(self) -> int:
        return len(STORED_STAGES) + 1

    def narrowed(self, pick, rows: int) -> StageReads:
        """The same reads of a subset: ``pick`` (a slice or an index array) of this view's
        ``rows`` rows; the held stage is narrowed too, not read again."""
        # A slice of all rows stays a slice (a view, not an 8 MB index of a million rows).
        relative = pick if self._pick is None and isinstance(pick, slice) else np.arange(rows)[pick]
        absolute = relative if self._pick is None else self._pick[relative]
        held = None if self._held is None else (self._held[0], self._held[1][relative])
        return StageReads(self._store, self._session_id, absolute, held)


class StoredColumns(Columns):
    """Columns whose stages stay in the store until asked for, one held at a time:
    `vlmtop compare A B` of two 1M-sample sessions holds a stage per side (8 MB), not all
    nine (435 MB at the peak otherwise; the goal is 300)."""

    def _take_values(self, pick):
        return self.values.narrowed(pick, len(self))


def read_stored_columns(store, session_id: str) -> StoredColumns:
    """The measured samples of one session, their stages read when used (see StoredColumns)."""
    ids, arms = text_columns(store, session_id, ("sample_id", "arm"))
    seq = store.column(session_id, "seq", measured_only=True).astype(np.int64)
    return StoredColumns(StageReads(store, session_id), ids, arms, seq)


# --- the policy layout: segments and arms without records ---------------------------------------


@dataclass
class Layout:
    """Every sample's policy combination as a small code, in seq order."""

    seq: np.ndarray  # every sample, warm-up and errors too
    measured: np.ndarray  # bool per sample
    code: np.ndarray  # index into combos
    combos: list[tuple] = field(default_factory=list)  # decoded (cache, warmup, timing, arm, knobs)

    def arms_in_order(self) -> list[str]:
        """Arm labels by first appearance (seq order)."""
        first: dict[str, int] = {}
        for index, combo in enumerate(self.combos):
            if combo[3]:
                at = int(np.argmax(self.code == index))
                first[combo[3]] = min(first.get(combo[3], at), at)
        return sorted(first, key=first.get)


def distinct_combos(store, session_id: str) -> list[tuple[tuple, int]]:
    """The distinct policy combinations of a session (decoded) with the first seq of each,
    in that order, by SQL: "one policy?" answered without reading a row into Python."""
    rows = store.distinct_raw(session_id, LAYOUT_FIELDS)
    return [(decode_combo(store, session_id, row[:-1], row[-1]), row[-1]) for row in rows]


def segment_labels(combos: list[tuple[tuple, int]]) -> list[str]:
    """The segment labels of a session's policy combinations, in first appearance order."""
    labels = [Segment(*policies, knobs=dict(knobs)).label for policies, knobs in segment_keys([c for c, _ in combos])]
    return list(dict.fromkeys(labels))


def may_have_repeats(store, session_id: str) -> bool:
    """Whether 2 or more sample ids (per arm) were measured twice: what a reliability needs."""
    from vlmtop.sessions.analysis.reliability import MIN_REPEATED_IDS

    return store.repeated_sample_ids(session_id, MIN_REPEATED_IDS) >= MIN_REPEATED_IDS


def decode_combo(store, session_id: str, raw: tuple, key) -> tuple:
    out = []
    for name, value in zip(LAYOUT_FIELDS, raw):
        decoded, ok = decode_value(name, value)
        if not ok:
            store.unreadable.mark("samples", (session_id, key), [name])
        out.append(decoded)
    return tuple(out)


def segment_keys(combos: list[tuple]) -> list[tuple]:
    """Per combination, what segments.segments() splits on: the policies (``*`` where the
    arms vary them) and the fixed knobs."""
    varied = {part.partition("=")[0] for c in combos if c[3] for part in c[3].split(",")}
    keys = []
    for cache, warmup, timing, _, knobs in combos:
        policies = tuple(ARM_VARIED if name in varied else value
                         for name, value in zip(KINDS, (cache, warmup, timing)))
        fixed = {k: v for k, v in (knobs or {}).items() if k not in varied and k not in KINDS}
        keys.append((policies, tuple(fixed.items())))
    return keys


def read_layout(store, session_id: str) -> Layout:
    """Every sample's seq, measured flag and policy code, streamed (bounded memory)."""
    codes: dict[tuple, int] = {}
    combos: list[tuple] = []
    seq, code = array("q"), array("i")  # 8 + 4 bytes a sample
    # (is_warmup, status) as stored, one code per distinct pair: measured_mask decides them
    flags: dict[tuple, int] = {}
    flag = array("i")
    for row in store.raw_columns(session_id, ("seq", "is_warmup", "status", *LAYOUT_FIELDS)):
        if type(row[0]) is not int or row[0] < 0:  # no readable seq: no sample (as store.samples reads it)
            continue
        raw = row[3:]
        index = codes.get(raw)
        if index is None:
            index = codes[raw] = len(combos)
            combos.append(decode_combo(store, session_id, raw, row[0]))
        seq.append(row[0])
        flag.append(flags.setdefault(row[1:3], len(flags)))
        code.append(index)
    pairs = list(flags) or [(0, SampleStatus.OK)]
    measured_by_flag = measured_mask([warm for warm, _ in pairs], [status for _, status in pairs])
    measured = measured_by_flag[np.frombuffer(flag, dtype=np.int32)]
    return Layout(np.frombuffer(seq, dtype=np.int64), measured, np.frombuffer(code, dtype=np.int32), combos)


class ColumnSegment(Segment):
    """A policy segment whose samples are columns: its measured samples are :class:`Columns`."""

    def __init__(self, policies, knobs, first_seq: int, last_seq: int, samples: int, measured: Columns):
        super().__init__(*policies, knobs=dict(knobs))
        self._first, self._last, self._samples, self._measured = first_seq, last_seq, samples, measured
        self.transient = detect_transient(measured.values["e2e_ms"]) if "e2e_ms" in measured.values else 0

    first_seq = property(lambda self: self._first)
    last_seq = property(lambda self: self._last)
    measured = property(lambda self: self._measured)
    sample_count = property(lambda self: self._samples)

    @property
    def settled(self) -> Columns:
        return self._measured.take(slice(self.transient, None))


def column_segments(layout: Layout, columns: Columns) -> list[ColumnSegment]:
    """segments.segments() on a layout: split at every change of policy or fixed knob."""
    keys = segment_keys(layout.combos)
    if layout.seq.size == 0:
        return []
    key_index: dict[str, int] = {}
    of_combo = np.array([key_index.setdefault(repr(key), len(key_index)) for key in keys], dtype=np.int64)
    per_row = of_combo[layout.code]
    starts = np.flatnonzero(np.r_[True, per_row[1:] != per_row[:-1]])
    ends = np.r_[starts[1:], layout.seq.size]
    out = []
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        first, last = int(layout.seq[lo]), int(layout.seq[hi - 1])
        inside = slice(int(np.searchsorted(columns.seq, first)), int(np.searchsorted(columns.seq, last, "right")))
        policies, knobs = keys[int(layout.code[lo])]
        out.append(ColumnSegment(policies, knobs, first, last, hi - lo, columns.take(inside)))
    return out
