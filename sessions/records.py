"""The row types that travel through the session database.

The worker builds a :class:`SampleRecord` per sample (measured or warm-up, ok or error) and
the store writes it; readers (tail, replay, export, compare, the dashboard) get the same
type back. One type both ways keeps "numbers on screen are the numbers in the database"
true by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from vlmtop.core.stage_table import ADDITIVE, STORED
from vlmtop.core.stage_timing import StageTiming, decode_per_token_ms

# Derived from core/stage_table.py, the one list of stages.
STAGE_COLUMNS = tuple(stage.column for stage in STORED)  # stored stage times, in display order
ADDITIVE_COLUMNS = tuple(stage.column for stage in ADDITIVE)  # they add up to e2e_ms, other_ms last


class SessionStatus:
    """A session's status, as ``sessions.status`` stores it: these strings are the file
    format (and what `vlmtop sessions --json` prints), so every module names them from here."""

    RUNNING: Final = "running"  # a writer records it (liveness.py judges whether one still does)
    COMPLETED: Final = "completed"
    FAILED: Final = "failed"
    INTERRUPTED: Final = "interrupted"  # stopped by a signal, or its writer is gone
    ALL: Final = (RUNNING, COMPLETED, FAILED, INTERRUPTED)
    ENDED: Final = (COMPLETED, FAILED, INTERRUPTED)  # how a session finishes


class SampleStatus:
    """A sample's status, as ``samples.status`` stores it."""

    OK: Final = "ok"
    ERROR: Final = "error"
    ALL: Final = (OK, ERROR)


def stage_label(column: str) -> str:
    """How every screen and table names a stage column: ``prefill_ms`` -> ``prefill``."""
    return column.removesuffix("_ms")


# The separate-pass method's figures, stored beside the single-pass ones of the same
# sample when timing_mode == "multipass" (decode derived by subtraction, as that method does).
MULTIPASS_COLUMNS = (
    "mp_vision_ms",
    "mp_projector_ms",
    "mp_prefill_ms",
    "mp_decode_ms",
    "mp_e2e_ms",
)


@dataclass
class SampleRecord:
    session_id: str
    seq: int  # 0-based, gapless within a session, warm-up samples included
    sample_id: str = ""  # where the sample came from: synthetic index, file name, manifest line
    is_warmup: bool = False
    status: str = SampleStatus.OK
    error: str | None = None
    cache_policy: str = "keep"  # keep | empty
    cache_action: str = ""  # what the cache policy actually did, e.g. "gc.collect (cpu)"
    warmup_policy: str = "none"  # none | N | per-sample
    timing_mode: str = "events"  # events | sync | multipass
    arm: str | None = None  # the varied knobs of this sample's arm, e.g. "attn=eager"; None: one arm
    knobs: dict | None = None  # every knob value in force (json_extract(knobs, '$.attn') in SQL)
    started_at: float = 0.0  # unix time the sample started
    image_width: int | None = None  # the first image's, as the processor got it
    image_height: int | None = None
    image_count: int | None = None  # images in the prompt (0: text-only); None in rows before it was kept
    video_frames: int | None = None  # frames of the prompt's video; None without one
    prompt_tokens: int | None = None
    image_tokens: int | None = None  # the prompt's image placeholder tokens, over every image
    new_tokens: int | None = None
    vision_ms: float | None = None
    projector_ms: float | None = None
    prefill_ms: float | None = None
    decode_ms: float | None = None
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    other_ms: float | None = None
    decode_steps_ms: list[float] = field(default_factory=list)
    # [(stage, start_ms, end_ms), ...] from generate() start: the sample on a timeline.
    spans: list[tuple[str, float, float]] = field(default_factory=list)
    vision_calls: int | None = None  # vision module calls summed in vision_ms (images, crops)
    # stages declared with --stage NAME=PATH beyond the standard four, inclusive ms
    extra_ms: dict[str, float] = field(default_factory=dict)
    decode_clock: str | None = None  # hooks | streamer (compiled decode: steps between tokens)
    graph_breaks: int | None = None  # Dynamo graph breaks in this generate() (compiled models)
    speculative: bool = False  # assisted / prompt-lookup decoding: several tokens per step
    tokens_per_step: float | None = None  # decode tokens per language-model call (1 unless speculative)
    unlocated: str | None = None  # standard stages not found, e.g. "projector": their time is in other_ms
    mp_vision_ms: float | None = None
    mp_projector_ms: float | None = None
    mp_prefill_ms: float | None = None
    mp_decode_ms: float | None = None
    mp_e2e_ms: float | None = None

    @property
    def decode_per_token_ms(self) -> float | None:
        return decode_per_token_ms(self.decode_ms, len(self.decode_steps_ms or ()), self.new_tokens)

    def set_timing(self, timing: StageTiming) -> None:
        """Copy a timer result into this record."""
        for column in STAGE_COLUMNS:  # the stored stage times: the same fields in both
            setattr(self, column, getattr(timing, column))
        self.decode_steps_ms = list(timing.decode_steps_ms)
        self.spans = [(s.stage, s.start_ms, s.end_ms) for s in timing.spans]
        self.prompt_tokens = timing.prompt_tokens
        self.new_tokens = timing.new_tokens
        self.vision_calls = timing.vision_calls
        self.extra_ms = dict(timing.extra_ms)
        self.speculative = timing.speculative
        self.decode_clock = timing.decode_clock
        self.graph_breaks = timing.graph_breaks
        self.tokens_per_step = timing.tokens_per_step
        self.unlocated = ",".join(timing.unlocated) or None


@dataclass
class EventRecord:
    session_id: str
    seq: int  # the first sample this event applies from
    kind: str  # start | policy | knob | rejected | pause | resume | stop | error | end
    detail: str = ""  # for people: "cache=empty", an error message
    at: float = 0.0  # unix time
    id: int | None = None  # row id in the events table, set when read back (tails track it)
    # For programs: the value a `policy` or `knob` event switched to ("empty"), so no
    # reader parses it out of `detail`. None for events that set nothing.
    value: str | None = None
    name: str | None = None  # which policy or knob a `policy`/`knob` event set ("cache")


# "Measured" is defined here once, in its three forms: a record, columns, SQL. Statistics
# use measured samples only; a re-spelling elsewhere would drift (a warm-up counted, an
# unreadable row trusted), so every reader imports one of these.
# A row is a sample only where its seq is what validate.required_count reads (rows.decode_sample
# drops the others, and exports leave them out): statistics must count the same rows.
SAMPLE_SEQ_SQL = "typeof(seq) = 'integer' AND seq >= 0 AND seq < 9007199254740992"
MEASURED_SQL = f"is_warmup = 0 AND status = '{SampleStatus.OK}' AND {SAMPLE_SEQ_SQL}"


def is_measured(row: SampleRecord) -> bool:
    """What statistics use: not a warm-up sample, and the sample ran without error."""
    return not row.is_warmup and row.status == SampleStatus.OK


def measured_mask(is_warmup, status) -> np.ndarray:
    """:func:`is_measured` over columns (as stored or decoded): a bool per sample. A raw
    value that is not a number (a hostile cell) is not 0, so not measured, as in SQL."""
    # a list may mix types (raw cells): object, so that numpy does not turn 0 into "0"
    warm = is_warmup if isinstance(is_warmup, np.ndarray) else np.asarray(is_warmup, dtype=object)
    not_warm = np.array([value == 0 for value in warm], dtype=bool) if warm.dtype == object else warm == 0
    return not_warm & (np.asarray(status, dtype=object) == SampleStatus.OK).astype(bool)
