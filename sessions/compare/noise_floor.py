"""The process-noise floor: how far apart two processes of identical settings land.

With one process per side a comparison cannot estimate the between-process variance
from its own data, so it borrows it (sessions/compare/across_processes.py), from the best source
there is:

1. Replicated sessions already in the database: completed sessions of the same model,
   device, dtype and settings (`vlmtop run --repeat N` makes them), the compared
   sessions left out. 3 or more such sessions: the standard deviation of their log
   medians per stage (pooled over such groups) is the process noise.
2. Otherwise a default measured by bench/processes.py and bench/verdicts.py on this
   project's 2-core CI machine, busy (docs/stats.md has the figures and the method). It is
   a machine's figure, not a law: `vlmtop run --repeat 3` gives the database its own.

The SD is an ESTIMATE from few processes (3 replicates give 2 degrees of freedom), not a
known constant: every floor carries its degrees of freedom (`df`), and the verdict and the
figure shown use Student-t quantiles with them (sessions/compare/across_processes.py). Treating a 3-
replicate SD as known called identical settings different in 25 of 150 simulated pairs.

The floor shown to people is the relative change two processes reach by noise alone one
time in 20: exp(t(0.975, df) x sqrt(2) x sd) - 1 (1.96 in place of t when df is unknown).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vlmtop.sessions.compare.columns import read_columns
from vlmtop.sessions.records import SampleRecord, SessionStatus
from vlmtop.sessions.store.rows import SessionInfo

# Log-scale SD of a process's stage median between processes of identical settings, on this
# project's 2-core CPU machine (1 torch thread), rounded up: the larger of two measurements,
# bench/processes.py (8 processes of tiny-qwen2-vl, other jobs running; prefill and ttft
# come from it) and bench/verdicts.py under 2 CPU burners (20 processes; vision, projector,
# decode and e2e, which spread more there: docs/stats.md "Process noise"). `other` takes
# the largest. A busy machine's figure: wide on a quiet one, where `--repeat` measures less.
DEFAULT_PROCESS_SD = {
    "vision_ms": 0.21,
    "projector_ms": 0.09,
    "prefill_ms": 0.25,
    "decode_ms": 0.27,
    "decode_per_token_ms": 0.27,
    "ttft_ms": 0.25,
    "e2e_ms": 0.25,
    "other_ms": 0.27,
}
DEFAULT_SD_OTHER = 0.27
# The smaller of the two measurements' process counts: its degrees of freedom (7) make the
# t quantile the wider of the two.
DEFAULT_PROCESSES = 8
DEFAULT_SOURCE = ("default process noise of bench/processes.py and bench/verdicts.py on a busy 2-core CPU "
                  "machine (7 degrees of freedom; docs/stats.md)")
MIN_REPLICATES = 3  # sessions of one setting needed to estimate its process noise
MAX_SESSIONS_PER_GROUP = 20  # the newest ones: bounded reading on a long-lived database
# Settings that do not change what a process measures (how long it ran, which experiment).
VOLATILE_SETTINGS = ("experiment", "count", "duration_s", "sample_timeout_s")


@dataclass(frozen=True)
class NoiseFloor:
    sds: dict[str, float] = field(default_factory=dict)  # stage -> log SD between processes
    source: str = DEFAULT_SOURCE
    other: float | None = DEFAULT_SD_OTHER  # stages without their own figure
    # Degrees of freedom of the SD estimates (None: treated as known, normal quantiles; an
    # SD from replicates has some: build it with replicate_floor or floor_from_store).
    # `dfs` per stage where the pooling differs; `df` for the rest (and for `other`).
    df: float | None = None
    dfs: dict[str, float] = field(default_factory=dict)

    def sd(self, stage: str) -> float | None:
        return self.sds.get(stage, self.other)

    def degrees(self, stage: str) -> float | None:
        """The degrees of freedom of ``stage``'s SD (None: known)."""
        return self.dfs.get(stage, self.df) if stage in self.sds else self.df

    def quantile(self, stage: str, confidence: float = 0.95) -> float:
        """The two-sided quantile for an SD with this floor's df: Student's t, not 1.96."""
        from scipy import stats

        df = self.degrees(stage)
        q = 0.5 + confidence / 2.0
        return float(stats.norm.ppf(q) if df is None or not math.isfinite(df) else stats.t.ppf(q, df))

    def relative(self, stage: str) -> float | None:
        """The change two processes reach by noise alone 1 time in 20 (a prediction from an
        estimated SD: the t quantile of its df)."""
        sd = self.sd(stage)
        return None if sd is None else math.exp(self.quantile(stage) * math.sqrt(2.0) * sd) - 1.0


# Measured on DEFAULT_PROCESSES processes: their SDs have DEFAULT_PROCESSES - 1 df.
DEFAULT_FLOOR = NoiseFloor(dict(DEFAULT_PROCESS_SD), df=DEFAULT_PROCESSES - 1)


def settings_key(info: SessionInfo) -> str:
    """What makes two sessions replicates of one setting."""
    settings = {k: v for k, v in (info.settings or {}).items() if k not in VOLATILE_SETTINGS}
    return json.dumps([info.model, info.device, info.dtype, settings], sort_keys=True, default=str)


def process_sd(per_session: Sequence[Sequence[SampleRecord]], stages: Iterable[str]) -> dict[str, float]:
    """Log-median SD between the sessions of ONE setting, per stage (needs 2+ sessions).
    A session is its records or its Columns (sessions/compare/columns.py)."""
    stages = list(stages)
    return _sd_between([log_medians(rows, stages) for rows in per_session], stages)


def log_medians(rows, stages: Iterable[str]) -> dict[str, float]:
    """The log of each stage's median in one session (stages with 2+ values and median > 0)."""
    from vlmtop.sessions.compare.two_sets import stage_values  # compare imports this module's users, not this module

    out = {}
    for stage in stages:
        values, _ = stage_values(rows, stage)
        values = values[np.isfinite(values)]
        if values.size >= 2 and np.median(values) > 0:
            out[stage] = math.log(float(np.median(values)))
    return out


def replicate_floor(per_session, stages: Iterable[str], source: str, other: float | None = None) -> NoiseFloor:
    """The floor measured by the sessions of ONE setting (2+), each stage's SD with its
    degrees of freedom (the sessions that measured it, minus 1)."""
    stages = list(stages)
    medians = [log_medians(rows, stages) for rows in per_session]
    sds = _sd_between(medians, stages)
    dfs = {stage: float(sum(stage in m for m in medians) - 1) for stage in sds}
    return NoiseFloor(sds, source, other=other, df=min(dfs.values(), default=None), dfs=dfs)


def _sd_between(per_session: list[dict[str, float]], stages: list[str]) -> dict[str, float]:
    out = {}
    for stage in stages:
        logs = [medians[stage] for medians in per_session if stage in medians]
        if len(logs) >= 2:
            out[stage] = float(np.std(logs, ddof=1))
    return out


def floor_from_store(store, sides: Sequence[Sequence[SessionInfo]], stages: Sequence[str]) -> NoiseFloor:
    """Process noise from replicated sessions in ``store`` matching a side's settings (the
    compared sessions left out), pooled over the matching groups; else the default."""
    compared = {info.id for side in sides for info in side}
    wanted = {settings_key(info) for side in sides for info in side}
    groups: dict[str, list[SessionInfo]] = {}
    for info in store.sessions():
        if info.id in compared or info.status != SessionStatus.COMPLETED or info.measured_count < 2:
            continue
        key = settings_key(info)
        if key in wanted:
            groups.setdefault(key, []).append(info)
    groups = {k: v[-MAX_SESSIONS_PER_GROUP:] for k, v in groups.items() if len(v) >= MIN_REPLICATES}
    if not groups:
        return DEFAULT_FLOOR
    pooled: dict[str, list[float]] = {}  # stage -> [sum of squares, degrees of freedom]
    count = 0
    for infos in groups.values():
        # One session's columns at a time, reduced to its medians: bounded memory however
        # many samples the replicates hold.
        medians = [log_medians(read_columns(store, info.id, stages), stages) for info in infos]
        count += len(infos)
        for stage, sd in _sd_between(medians, list(stages)).items():
            acc = pooled.setdefault(stage, [0.0, 0.0])
            acc[0] += sd**2 * (len(infos) - 1)
            acc[1] += len(infos) - 1
    sds = {stage: math.sqrt(ss / df) for stage, (ss, df) in pooled.items() if df > 0}
    dfs = {stage: df for stage, (_, df) in pooled.items() if df > 0}  # pooled sum(n_i - 1)
    if not sds:
        return DEFAULT_FLOOR
    model = groups[next(iter(groups))][0].model
    low, high = min(dfs.values()), max(dfs.values())
    df_text = f"{low:g}" if low == high else f"{low:g}-{high:g}"
    source = (f"{count} replicated sessions of {model} with the same settings in this database "
              f"(their between-process spread, {df_text} degrees of freedom)")
    # A stage the replicates did not measure falls back to the default figure (and its df).
    return NoiseFloor(sds, source, other=DEFAULT_SD_OTHER, df=DEFAULT_PROCESSES - 1, dfs=dfs)
