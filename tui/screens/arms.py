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

from vlmtop.core.format import ms
from vlmtop.core.text import shown
from vlmtop.sessions.compare import Comparison
from vlmtop.sessions.records import stage_label
from vlmtop.tui.state.arms import ARM_STAGES, arm_display
from vlmtop.tui.widgets.arms_panel import SHORT
from vlmtop.tui.widgets.comparison import VERDICT_STYLE, p_text, verdict_gloss


def p50_table(state, stages: list[str], width: int) -> Table:
    """Each arm's p50 per stage: arms as rows where that fits `width`, else arms as columns
    (80 columns hold a row of eight stages only with the figures cut)."""
    arms = state.arm_views()
    names = [arm_display(a.label) for a in arms]
    title = shown(f"p50 ms per arm · baseline {names[0]}", style="bold", limit=0)
    table = Table(box=None, padding=(0, 1), header_style="dim", title_justify="left", title=title)
    if max(map(len, names)) + 8 + 9 * len(stages) <= width:
        # the labels are what tells arms apart: never wrapped or cut, the figures are short
        table.add_column("arm", no_wrap=True)
        table.add_column("n", justify="right", no_wrap=True)
        for attr in stages:
            name = stage_label(attr)
            table.add_column(SHORT.get(name, name), justify="right", no_wrap=True)
        for name, arm in zip(names, arms):
            table.add_row(Text(name), str(arm.measured), *(ms(arm.p50(a), 0) for a in stages))  # never markup
        return table
    table.add_column("stage", no_wrap=True)
    for name in names:
        table.add_column(Text(name), justify="right", no_wrap=True)  # never markup
    table.add_row("n", *(str(arm.measured) for arm in arms))
    for attr in stages:
        table.add_row(stage_label(attr), *(ms(arm.p50(attr), 0) for arm in arms))
    return table


def comparison_table(item, baseline: str, unlocated: set[str]) -> Group:
    """Every stage of one arm against the baseline, and under the table each inconclusive
    verdict's reason and what would settle it (wrapped to the width: never a figure cut)."""
    # the title is a line of its own: a table's title wraps at the table's width
    title = shown(f"{item.arm} vs {baseline} · {item.pairs} samples paired in one process", style="bold", limit=0)
    table = Table(box=None, padding=(0, 1), collapse_padding=True, pad_edge=False, header_style="dim")
    # Δ/pair: the median per-sample difference, arm minus baseline. It is what the ratio is
    # made of; the two medians beside it can differ by more when a stage's times have several
    # modes (image sizes), which the pairs cancel.
    # (heading, justify, the width its figures need: at 80 columns only a stage's name may
    # be cut, never a figure or a verdict)
    for name, justify, width in (("stage", "left", 10), ("base", "right", 5), ("arm", "right", 5),
                                 ("Δ/pair", "right", 6), ("ratio", "right", 6), ("95% CI", "left", 11),
                                 ("p", "right", 6), ("verdict", "left", len("inconclusive"))):
        table.add_column(name, justify=justify, no_wrap=True, min_width=width)
    reasons = Text(style="dim")
    for attr in ARM_STAGES:
        result = item.results.get(attr)
        if not isinstance(result, Comparison):
            table.add_row(stage_label(attr), "", "", "", "", "", "", Text(result or "-", style="dim italic"))
            continue
        finite = math.isfinite(result.ratio)
        delta = (result.ratio - 1.0) * result.median_a if finite else math.nan
        table.add_row(
            stage_label(attr), ms(result.median_a, 0), ms(result.median_b, 0),
            (f"{delta:+.2f}" if abs(delta) < 100 else f"{delta:+.0f}") if finite else "-",
            f"×{result.ratio:.3f}" if finite else "-",
            f"{result.ci_low:.3f}–{result.ci_high:.3f}" if finite else "",
            p_text(result.p_value), Text(result.verdict, style=VERDICT_STYLE.get(result.verdict, "")),
        )
        if result.verdict_note:
            reasons.append(f"{stage_label(attr)}: {verdict_gloss(result, 10**6).strip(' ()')}\n")
    reasons.rstrip()
    return Group(title, table, reasons) if reasons.plain else Group(title, table)


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
        parts: list = [p50_table(state, stages, self.app.size.width - 4)]
        if unlocated:
            parts.append(Text(", ".join(f"{name}: not located (its time is in other)" for name in sorted(unlocated)),
                              style="italic"))
        baseline = arm_display(state.arm_labels[0])
        for item in state.arm_comparisons():
            parts += [Text(""), comparison_table(item, baseline, unlocated)]
        parts.append(Text("\npaired: d = arm minus baseline per sample id; Δ/pair = median(d); ratio = 1 + "
                          "median(d) / median(baseline); Wilcoxon p; bootstrap CI; the current policy segment "
                          "of each arm.", style="dim"))
        self.query_one("#arms-detail", Static).update(Group(*parts))
