"""After a policy change: the new segment against the previous one, with confidence
intervals; with multipass timing: the old method's figures beside single-pass."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from vlmtop.core.stage_table import BY_NAME
from vlmtop.sessions.record import stage_label

from vlmtop.core.format import ms

VERDICT_STYLE = {"faster": "bold green", "slower": "bold red", "same": "dim"}
LABEL = max(map(len, BY_NAME)) + 1  # the longest stage name fits (core/stage_table.py)
HEADING = f"{'stage':<{LABEL}}{'before':>8}{'after':>8}  {'ratio':<7}{'95% CI':<12}{'p':>6}  verdict"
ROW_WIDTH = len(HEADING) - len("verdict")  # a result row up to its verdict


def why_same(result, short: bool = False) -> str:
    """Why a comparison says `same`, in the order the verdict is decided
    (sessions.compare._verdict): significant (p and CI) first, then big enough.
    ``short``: the form that fits beside the verdict at 80 columns."""
    if not (math.isfinite(result.ratio) and math.isfinite(result.ci_low) and math.isfinite(result.ci_high)):
        return "no ratio"
    if result.p_value >= result.alpha:
        return f"p≥{result.alpha:g}".replace("0.", ".") if short else f"p ≥ {result.alpha:g}"
    if result.ci_low <= 1.0 <= result.ci_high:
        return "CI spans 1" if short else "CI includes 1"
    return f"within ±{result.threshold:.0%}"


def same_gloss(result, width: int) -> str:
    """The reason beside a `same` verdict: in full where it fits, else short (80 columns:
    `same p≥.05`), else nothing rather than a wrapped row."""
    room = width - ROW_WIDTH - len(result.verdict)
    for gloss in (f" ({why_same(result)})", f" {why_same(result, short=True)}"):
        if len(gloss) <= room:
            return gloss
    return ""


def p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}" if math.isfinite(p) else "-"


class ComparisonPanel(Static):
    DEFAULT_CSS = """
    ComparisonPanel { height: auto; max-height: 7; border: round $warning; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.border_title = "policy change"

    def show(self, state) -> None:
        multipass = state.multipass()
        comparison = state.comparison()
        text = Text()
        if multipass:
            self.border_title = "single pass vs old multipass method (medians, ms)"
            for label, single, old in multipass:
                off = (old - single) / single if single else math.nan
                text.append(f"{label:<{LABEL}}{ms(single, 8)} vs {ms(old, 8)} ")
                text.append(f"{off:+.0%}\n" if math.isfinite(off) else "\n", style="bold")
        elif comparison is not None:
            change, results = comparison
            # What the verdicts rest on goes in the title, as the arms panel's does: on a short
            # terminal the panel keeps only its top border, so a subtitle would never show.
            evidence = results[0].evidence if results and not isinstance(results, str) else ""
            self.border_title = f"change: {change}" + (f" · {evidence}" if evidence else "")  # fits 80 columns
            if isinstance(results, str):
                text.append(results, style="italic")
            else:  # medians in ms, before and after the change; ratio = after / before
                text.append(HEADING + "\n", style="dim")
            for r in results if not isinstance(results, str) else ():
                text.append(f"{stage_label(r.stage):<{LABEL}}{ms(r.median_a, 8)}{ms(r.median_b, 8)}  ")
                if math.isfinite(r.ratio):
                    text.append(f"×{r.ratio:<6.3f}{r.ci_low:.3f}–{r.ci_high:<6.3f}")
                else:
                    text.append(" " * 19)
                text.append(f"{p_text(r.p_value):>6}  ")
                text.append(r.verdict, style=VERDICT_STYLE.get(r.verdict, ""))
                if r.verdict == "same":  # the reason is a gloss: the row never wraps for it
                    text.append(same_gloss(r, self.content_size.width), style="dim")
                text.append("\n")
        text.rstrip()
        self.display = bool(text.plain)
        self.update(text)
