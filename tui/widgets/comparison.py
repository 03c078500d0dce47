"""After a policy change: the new segment against the previous one, with confidence
intervals; with multipass timing: the old method's figures beside single-pass."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from vlmtop.sessions.record import stage_label

from .format import ms

VERDICT_STYLE = {"faster": "bold green", "slower": "bold red", "same": "dim"}


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
                text.append(f"{label:<11}{ms(single)} vs {ms(old)} ")
                text.append(f"{off:+.0%}\n" if math.isfinite(off) else "\n", style="bold")
        elif comparison is not None:
            change, results = comparison
            self.border_title = f"after the change: {change}"
            if isinstance(results, str):
                text.append(results, style="italic")
            for r in results if not isinstance(results, str) else ():
                text.append(f"{stage_label(r.stage):<11}{ms(r.median_a)} →{ms(r.median_b)}  ")
                if math.isfinite(r.ratio):
                    text.append(f"×{r.ratio:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] ")
                text.append(r.verdict, style=VERDICT_STYLE.get(r.verdict, ""))
                text.append("\n")
        text.rstrip()
        self.display = bool(text.plain)
        self.update(text)
