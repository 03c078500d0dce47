"""The one rule that turns a ratio's interval into a verdict, for every level of evidence and
every screen (`vlmtop compare`, its JSON and `--fail-on`, the dashboard, the report).

Minimal-effect and equivalence testing on the interval (TOST: Schuirmann 1987; Lakens
2017), against the noise band ``[1/(1+t), 1+t]`` of the threshold ``t``:

- ``slower``: the whole interval lies above ``1+t``; ``faster``: the whole interval lies
  below ``1/(1+t)``. Each is a one-sided test at ``alpha/2``.
- ``same``: the whole interval lies inside the band: equivalence at ``alpha/2`` per side.
- ``inconclusive``: anything else. The reason says whether the interval is wider than the
  band or crosses one of its edges, and an estimate of how much more evidence would settle
  it, from the interval narrowing as ``1/sqrt(n)``.

The interval is the one shown beside the verdict, ``1 - alpha`` (95 % by default). TOST
usually reads equivalence from the 90 % interval (alpha = 0.05 per side); the 95 % one is
stricter, and a person reads the verdict off the very interval that decided it. The
p-value is shown as information and decides nothing.

Plain math, no numpy: `vlmtop --help` and the dashboard's modules import these words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlmtop.sessions.compare.terms import FASTER, INCONCLUSIVE, SAME, SLOWER

# The few words that stand for a reason where the full one does not fit (80 columns).
TOO_WIDE, ON_EDGE, TOO_FEW, NO_RATIO, NO_INTERVAL, NO_FLOOR = (
    "too wide", "on edge", "too few", "no ratio", "no CI", "no floor")
SHORT_REASONS = (TOO_WIDE, ON_EDGE, TOO_FEW, NO_RATIO, NO_INTERVAL, NO_FLOOR)

# Beyond this many times the current evidence an estimate is no guidance: the change is
# about the size of the band, and no affordable amount of data puts its interval on a side.
MAX_GROWTH = 1000


@dataclass(frozen=True)
class Verdict:
    """A verdict, and for `inconclusive` why and what would settle it."""

    word: str  # faster | slower | same | inconclusive
    reason: str | None = None  # "interval ±9% is wider than the ±2% band"
    short: str | None = None  # the same in a few words, for a narrow screen: "too wide"
    needed: int | None = None  # estimated evidence that would settle it, in `unit`
    unit: str = ""  # "pairs", "samples per side", "processes per side"

    @property
    def settle(self) -> str | None:
        """``~120 pairs would settle it``, or why no amount would."""
        if self.word != INCONCLUSIVE or not self.unit:
            return None
        if self.needed is None:
            return None
        return f"~{self.needed} {self.unit} would settle it"


def percent(x: float) -> str:
    """A relative size as people read it: 9%, 1.4%, 0.3%."""
    x = abs(x)
    return f"{x:.0%}" if x >= 0.095 else f"{x:.1%}".replace(".0%", "%")


def decide(ratio: float, ci: tuple[float, float], threshold: float, n: int = 0, unit: str = "",
           min_n: int = 0) -> Verdict:
    """The verdict of an interval ``ci`` of a ratio (B relative to A) against ``threshold``.

    ``n`` is the evidence the interval rests on, counted in ``unit`` (pairs, samples per
    side, processes per side); with it an inconclusive verdict estimates how much would
    settle it. Below ``min_n`` the interval itself is not to be trusted (a bootstrap of 3
    values has a handful of distinct resamples): no claim. An interval of a point (both
    medians 0: a stage the model does not have) inside the band is `same`."""
    if n < min_n:
        return Verdict(INCONCLUSIVE, f"only {n} {unit}: an interval needs {min_n} or more", TOO_FEW, min_n, unit)
    low, high = ci
    if not (math.isfinite(low) and math.isfinite(high) and low > 0 and high > 0):
        what = "no ratio (a median is 0 or less)" if not math.isfinite(ratio) else "no interval"
        return Verdict(INCONCLUSIVE, what, NO_RATIO if not math.isfinite(ratio) else NO_INTERVAL)
    upper = 1.0 + threshold
    lower = 1.0 / upper
    if low > upper:
        return Verdict(SLOWER)
    if high < lower:
        return Verdict(FASTER)
    if lower <= low and high <= upper:
        return Verdict(SAME)
    return _inconclusive(ratio, low, high, threshold, n, unit)


def _inconclusive(ratio: float, low: float, high: float, threshold: float, n: int, unit: str) -> Verdict:
    band = math.log1p(threshold)
    log_low, log_high = math.log(low), math.log(high)
    half = (log_high - log_low) / 2.0
    width = percent(math.expm1(half))
    if half > band:
        reason, short = f"interval ±{width} is wider than the ±{percent(threshold)} band", TOO_WIDE
    else:
        edge = f"{'+' if high > 1.0 + threshold else '-'}{percent(threshold)}"
        reason, short = f"interval {low:.3f}-{high:.3f} crosses the {edge} edge", ON_EDGE
    # More evidence narrows the interval around the estimate: to land on one side of an edge
    # its half-width must fall below the estimate's distance from that edge (beyond the band
    # when the estimate is outside it, inside it when inside).
    estimate = math.log(ratio) if math.isfinite(ratio) and ratio > 0 else (log_high + log_low) / 2.0
    room = abs(abs(estimate) - band)
    needed = None
    if n > 0 and room > 0:
        growth = (half / room) ** 2
        if growth <= MAX_GROWTH:
            needed = max(n + 1, math.ceil(n * growth))
    if n > 0 and needed is None:
        reason += f"; the change is about the size of the band, more {unit} will not settle it"
    return Verdict(INCONCLUSIVE, reason, short, needed, unit)
