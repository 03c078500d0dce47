"""`A`: every arm against the baseline, every stage, in full (what `vlmtop compare SESSION`
prints, live): medians over the pairs, the ratio with its 95% CI, p, pairs and verdict."""

from __future__ import annotations

import math

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from vlmtop.sessions.compare import Comparison
from vlmtop.sessions.record import stage_label

from ..arms import ARM_STAGES, arm_display
from ..widgets.arms_panel import SHORT
from ..widgets.comparison import VERDICT_STYLE, p_text, why_same
from ..widgets.format import ms


def p50_table(state, stages: list[str]) -> Table:
    arms = state.arm_views()
    table = Table(box=None, padding=(0, 1), header_style="dim", title_justify="left",
                  title=Text(f"p50 ms per arm · baseline {arm_display(arms[0].label)}", style="bold"))
    # the labels are what tells arms apart: never wrapped or cut, the figures are short
    table.add_column("arm", no_wrap=True, min_width=max(len(arm_display(a.label)) for a in arms))
    table.add_column("n", justify="right", no_wrap=True)
    for attr in stages:
        name = stage_label(attr)
        table.add_column(SHORT.get(name, name), justify="right", no_wrap=True)
    for arm in arms:
        table.add_row(arm_display(arm.label), str(arm.measured), *(ms(arm.p50(a), 0) for a in stages))
    return table


def comparison_table(item, baseline: str, unlocated: set[str]) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="dim", title_justify="left",
                  title=Text(f"{item.label} vs {baseline} · {item.pairs} samples paired in one process", style="bold"))
    for name, justify in (("stage", "left"), ("baseline", "right"), ("arm", "right"), ("ratio", "right"),
                          ("95% CI", "left"), ("p", "right")):
        table.add_column(name, justify=justify, no_wrap=True)
    table.add_column("verdict", no_wrap=True, overflow="ellipsis")
    for attr in ARM_STAGES:
        result = item.results.get(attr)
        if not isinstance(result, Comparison):
            table.add_row(stage_label(attr), "", "", "", "", "", Text(result or "-", style="dim italic"))
            continue
        finite = math.isfinite(result.ratio)
        verdict = Text(result.verdict, style=VERDICT_STYLE.get(result.verdict, ""))
        if result.verdict == "same":
            verdict.append(f" ({why_same(result)})", style="dim")
        table.add_row(
            stage_label(attr), ms(result.median_a, 0), ms(result.median_b, 0),
            f"×{result.ratio:.3f}" if finite else "-",
            f"{result.ci_low:.3f}–{result.ci_high:.3f}" if finite else "",
            p_text(result.p_value), verdict,
        )
    return table


class ArmsScreen(ModalScreen):
    DEFAULT_CSS = """
    ArmsScreen { align: center middle; }
    ArmsScreen > VerticalScroll { width: 100%; height: 100%; border: thick $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [("escape,q,A", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "arms: each vs the baseline (medians over the pairs, ms) · escape closes"
            yield Static(id="arms-detail")

    def on_mount(self) -> None:
        self.show(self.app.state)

    def show(self, state) -> None:
        """Redrawn by the app on every frame while open: the comparison stays live."""
        unlocated = state.unlocated
        stages = [attr for attr in ARM_STAGES if stage_label(attr) not in unlocated]
        parts: list = [p50_table(state, stages)]
        if unlocated:
            parts.append(Text(", ".join(f"{name}: not located (its time is in other)" for name in sorted(unlocated)),
                              style="italic"))
        baseline = arm_display(state.arm_labels[0])
        for item in state.arm_comparisons():
            parts += [Text(""), comparison_table(item, baseline, unlocated)]
        parts.append(Text("\npaired: per sample id, arm minus baseline; ratio = 1 + median(d) / median(baseline); "
                          "Wilcoxon p; bootstrap CI. Current policy segment of each arm.", style="dim"))
        self.query_one("#arms-detail", Static).update(Group(*parts))
