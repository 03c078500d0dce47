"""Per-stage summary of a session: what `vlmtop run --headless` prints at the end.

Only measured samples count (status ok, not warm-up). Shares are of mean e2e, and only the
additive stages have one: they sum to 100% with `other`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stats import summarize
from .store import SessionStore

# (label, how to get the per-sample values, additive part of e2e?)
ROWS = (
    ("vision", "vision_ms", True),
    ("projector", "projector_ms", True),
    ("prefill", "prefill_ms", True),
    ("decode", "decode_ms", True),
    ("decode/tok", None, False),  # decode_ms / decode steps (TPOT), as the dashboard labels it
    ("ttft", "ttft_ms", False),
    ("e2e", "e2e_ms", False),
    ("other", "other_ms", True),
)


@dataclass
class StageSummary:
    stage: str
    n: int
    mean: float
    p50: float
    p90: float
    p99: float
    share: float | None  # of mean e2e; None for non-additive rows

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in self.__dict__.items()}


def per_token_ms(decode_ms: np.ndarray, decode_steps: list[list[float]]) -> np.ndarray:
    """Mean decode step per sample, as SampleRecord.decode_per_token_ms defines it."""
    steps = np.array([len(s) for s in decode_steps], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(steps > 0, decode_ms / steps, np.nan)


def summarize_session(store: SessionStore, session_id: str) -> list[StageSummary]:
    column = lambda name: store.column(session_id, name, measured_only=True)  # noqa: E731
    e2e_mean = float(np.nanmean(column("e2e_ms"))) if store.session(session_id).measured_count else float("nan")
    rows = []
    for label, name, additive in ROWS:
        values = column(name) if name else per_token_ms(column("decode_ms"), column("decode_steps_ms"))
        s = summarize(values, (50.0, 90.0, 99.0))
        share = s.mean / e2e_mean if additive and s.n and e2e_mean > 0 else None
        rows.append(StageSummary(label, s.n, s.mean, s.p50, s.p90, s.p99, share))
    return rows
