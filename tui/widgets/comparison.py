"""After a policy change: the new segment against the previous one, with confidence
intervals; with multipass timing: the old method's figures beside single-pass."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from vlmtop.core.format import ms
from vlmtop.core.stage_table import BY_NAME
from vlmtop.core.text import markup_safe
from vlmtop.sessions.compare.verdict import SHORT_REASONS
from vlmtop.sessions.records import stage_label

VERDICT_STYLE = {"faster": "bold green", "slower": "bold red", "same": "dim", "inconclusive": "yellow"}
LABEL = max(map(len, BY_NAME)) + 1  # the longest stage name fits (core/stage_table.py)
P_WIDTH = 6


def heading(with_p: bool = True) -> str:
    p = f"{'p':>{P_WIDTH}}" if with_p else ""
    return f"{'stage':<{LABEL}}{'before':>8}{'after':>8}  {'ratio':<7}{'95% CI':<12}{p}  verdict"


ROW_WIDTH = len(heading()) - len("verdict")  # a result row up to its verdict
# The widest short reason beside a verdict, with its space.
SHORT_GLOSS = 1 + max(map(len, SHORT_REASONS))


def verdict_gloss(result, room: int) -> str:
    """The reason beside an inconclusive verdict in at most ``room`` cells: in full with what
    would settle it where that fits, else the reason, else its few words (80 columns:
    `inconclusive too wide`), else nothing rather than a wrapped row."""
    if not result.verdict_note:
        return ""
    settle = f"; {result.settle}" if result.settle else ""
    for gloss in (f" ({result.verdict_note}{settle})", f" ({result.verdict_note})", f" {result.verdict_short}"):
        if len(gloss) <= room:
            return gloss
    return ""


def shows_p(results, width: int) -> bool:
    """Whether a row keeps its p column: the p-value is information, the reason for an
    inconclusive verdict is not, so at 80 columns p gives way to it."""
    return not any(r.verdict_note for r in results) or width >= ROW_WIDTH + len("inconclusive") + SHORT_GLOSS


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
            self.border_title = f"change: {markup_safe(change)}" + (f" · {evidence}" if evidence else "")  # fits 80 columns
            if isinstance(results, str):
                text.append(results, style="italic")
            else:  # medians in ms, before and after the change; ratio = after / before
                width = self.content_size.width
                with_p = shows_p(results, width)
                text.append(heading(with_p) + "\n", style="dim")
            for r in results if not isinstance(results, str) else ():
                text.append(f"{stage_label(r.stage):<{LABEL}}{ms(r.median_a, 8)}{ms(r.median_b, 8)}  ")
                if math.isfinite(r.ratio):
                    text.append(f"×{r.ratio:<6.3f}{r.ci_low:.3f}–{r.ci_high:<6.3f}")
                else:
                    text.append(" " * 19)
                if with_p:
                    text.append(f"{p_text(r.p_value):>{P_WIDTH}}")
                text.append("  ")
                text.append(r.verdict, style=VERDICT_STYLE.get(r.verdict, ""))
                # the reason is a gloss: the row never wraps for it
                room = width - ROW_WIDTH + (0 if with_p else P_WIDTH) - len(r.verdict)
                text.append(verdict_gloss(r, room), style="dim")
                text.append("\n")
        text.rstrip()
        self.display = bool(text.plain)
        self.update(text)
