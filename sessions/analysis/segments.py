"""Policy segments of one session: maximal runs of samples recorded under the same policies.

Every sample row carries the policies it ran under, so the samples alone are the truth
about segment boundaries; events only say when a change was asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vlmtop.sessions.analysis.outliers import detect_transient
from vlmtop.sessions.knobs import label_names
from vlmtop.sessions.policies import KINDS, Policies
from vlmtop.sessions.records import SampleRecord, is_measured

ARM_VARIED = "*"  # a policy value that differs between the arms of the session


def arm_knobs(rows: Iterable[SampleRecord]) -> set[str]:
    """The knobs the session's arms vary: the names in its arm labels (``attn=eager,...``)."""
    return {name for row in rows if row.arm for name in label_names(row.arm)}


@dataclass
class Segment:
    """A maximal run of consecutive samples recorded under the same three policies."""

    cache_policy: str  # ARM_VARIED when the session's arms vary it
    warmup_policy: str
    timing_mode: str
    rows: list[SampleRecord] = field(default_factory=list)  # every sample: warm-up, errors too
    transient: int = 0  # leading measured samples before e2e_ms settles: flagged, kept

    knobs: dict = field(default_factory=dict)  # other knobs fixed in this segment (not arms)

    @property
    def policies(self) -> tuple[str, str, str]:
        return (self.cache_policy, self.warmup_policy, self.timing_mode)

    @property
    def label(self) -> str:
        text = f"cache={self.cache_policy} warmup={self.warmup_policy} timing={self.timing_mode}"
        return " ".join([text, *(f"{name}={value}" for name, value in self.knobs.items())])

    @property
    def first_seq(self) -> int:
        return self.rows[0].seq

    @property
    def last_seq(self) -> int:
        return self.rows[-1].seq

    @property
    def sample_count(self) -> int:
        """Every sample of the segment: warm-up and errors too."""
        return len(self.rows)

    @property
    def measured(self) -> list[SampleRecord]:
        return [row for row in self.rows if is_measured(row)]

    @property
    def settled(self) -> list[SampleRecord]:
        """The measured samples after the detected transient (for an explicit opt-out)."""
        return self.measured[self.transient :]

    def to_dict(self) -> dict:
        return {
            "cache_policy": self.cache_policy,
            "warmup_policy": self.warmup_policy,
            "timing_mode": self.timing_mode,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "samples": self.sample_count,
            "measured": len(self.measured),
            "transient": self.transient,
            **({"knobs": dict(self.knobs)} if self.knobs else {}),
        }


def segments(rows: Iterable[SampleRecord]) -> list[Segment]:
    """Split samples (any order; sorted by seq here) at every change of policy or fixed knob.

    A policy or knob the session's arms vary (``--knob cache=keep,empty``) changes from
    one sample to the next by design: it is not a segment boundary, and the segment shows
    it as ``*`` (the arm comparison compares those values).

    Every sample carries the policies it ran under, so the samples alone are the truth
    about segment boundaries; events only say when a change was asked for. Each segment's
    ``transient`` is :func:`detect_transient` on its measured e2e_ms in seq order.
    """
    ordered = sorted(rows, key=lambda r: r.seq)
    varied = arm_knobs(ordered)
    out: list[Segment] = []
    for row in ordered:
        policies = tuple(
            ARM_VARIED if name in varied else value
            for name, value in zip(KINDS, Policies.from_row(row).values)
        )
        knobs = {k: v for k, v in (row.knobs or {}).items() if k not in varied and k not in KINDS}
        if not out or out[-1].policies != policies or out[-1].knobs != knobs:
            out.append(Segment(*policies, knobs=knobs))
        out[-1].rows.append(row)
    for seg in out:
        seg.transient = detect_transient([row.e2e_ms for row in seg.measured])
    return out
