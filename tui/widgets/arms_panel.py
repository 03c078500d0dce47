"""The arms of an interleaved run: each arm's p50 per stage, and the selected stage of each
arm against the baseline (median ratio, 95% CI, verdict), paired by sample in one process.

Graceful at 80 columns: the selected stage's column and its comparison always show; more
stage columns are added while they fit (prefill, e2e, decode, vision, ... by how often
people look for them). A p50 cell is coloured by its own stage's verdict, so every stage's
answer is on screen even where only one stage's ratio fits. `A` shows every stage in full.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from vlmtop.core.format import ms
from vlmtop.core.stage_table import BY_PRIORITY
from vlmtop.core.text import markup_safe
from vlmtop.sessions.compare import Comparison
from vlmtop.sessions.records import stage_label
from vlmtop.tui.state.arms import ARM_STAGES, compact_arm_labels
from vlmtop.tui.widgets.comparison import VERDICT_STYLE, verdict_gloss

MARK, COUNT_WIDTH, CELL_WIDTH = 2, 5, 8
MIN_LABEL, MAX_LABEL = 8, 28
# which stage columns to add first, after the selected one
PRIORITY = tuple(stage.column for stage in BY_PRIORITY)  # core/stage_table.py's priority
SHORT = {"projector": "proj", "decode_per_token": "per_tok"}
RATIO_WIDTH = 40  # "×0.978 0.962–1.025 inconclusive too wide": stage columns give way to it
CELL_STYLE = {"faster": "green", "slower": "red"}  # a p50 cell: its stage's verdict vs the baseline


def ratio_text(result: Comparison | str | None, room: int) -> Text:
    """One arm's comparison for one stage in at most `room` cells: the ratio and verdict
    always; then the reason of an inconclusive verdict, in its few words at least, before
    the interval (which `A` shows in full)."""
    if result is None:
        return Text("baseline", style="bold")
    if isinstance(result, str):
        return Text(result, style="dim italic")
    ratio = f"×{result.ratio:.3f} " if math.isfinite(result.ratio) else ""
    interval = f"{result.ci_low:.3f}–{result.ci_high:.3f} " if math.isfinite(result.ratio) else ""
    for figures in (ratio + interval, ratio):
        gloss = verdict_gloss(result, room - len(figures) - len(result.verdict))
        if len(figures) + len(result.verdict) + len(gloss) <= room and (gloss or not result.verdict_note):
            break
    text = Text(figures)
    text.append(result.verdict, style=VERDICT_STYLE.get(result.verdict, ""))
    text.append(gloss, style="dim")
    return text


def columns_that_fit(width: int, label_width: int, selected: str, stages: list[str]) -> list[str]:
    """The stage columns for `width`: the selected one always, then by PRIORITY, shown in
    the stages' own order."""
    room = width - MARK - label_width - COUNT_WIDTH - 3 - RATIO_WIDTH
    chosen = [selected]
    for attr in PRIORITY:
        if attr in stages and attr not in chosen and room - CELL_WIDTH * (len(chosen) + 1) >= 0:
            chosen.append(attr)
    return [attr for attr in stages if attr in chosen]


class ArmsPanel(Static):
    DEFAULT_CSS = """
    ArmsPanel { height: auto; border: round $primary; padding: 0 1; }
    """
    MAX_ROWS = 8  # arms shown here; more: `A`

    def show(self, state, now: float | None = None) -> None:
        self.display = state.has_arms
        if not state.has_arms:
            return
        comparisons = {c.arm: c for c in state.arm_comparisons(now)}
        pairs = max((c.pairs for c in comparisons.values()), default=0)
        self.border_title = f"arms · vs the baseline, paired by sample in one process · {pairs} pairs"
        arms = state.arm_views()
        # three knobs' labels cut to fit would all read alike: name the knobs once instead
        knobs, names = compact_arm_labels([a.label for a in arms], MAX_LABEL)
        self.border_subtitle = "a: show next arm · A: every stage" + (f" · arms: {markup_safe(knobs)}" if knobs else "")
        unlocated = state.unlocated
        stages = [attr for attr in ARM_STAGES if stage_label(attr) not in unlocated]
        selected = state.selected_attr if state.selected_attr in stages else "prefill_ms"
        width = max(40, self.content_size.width or 78)
        label_width = max(MIN_LABEL, min(MAX_LABEL, max(map(len, names))))
        shown = columns_that_fit(width, label_width, selected, stages)

        text = Text()
        text.append(" " * MARK + "arm p50 ms".ljust(label_width) + "n".rjust(COUNT_WIDTH), style="dim")
        for attr in shown:
            name = stage_label(attr)
            name = SHORT.get(name, name) if len(name) >= CELL_WIDTH - 1 else name
            text.append(name.rjust(CELL_WIDTH), style="bold" if attr == selected else "dim")
        text.append(" │ ", style="dim")
        text.append(f"{stage_label(selected)}: ratio, 95% CI", style="dim")
        room = width - (MARK + label_width + COUNT_WIDTH + CELL_WIDTH * len(shown) + 3)
        for index, arm in enumerate(arms[: self.MAX_ROWS]):
            text.append("\n")
            label = names[index]
            label = label if len(label) <= label_width else label[: label_width - 1] + "…"
            is_shown = index == state.shown_arm
            text.append("▶ " if is_shown else "  ", style="bold")
            text.append(label.ljust(label_width), style="bold" if is_shown else "")
            text.append(str(arm.measured).rjust(COUNT_WIDTH))
            comparison = comparisons.get(arm.label or "") if index else None
            for attr in shown:
                result = comparison.results.get(attr) if comparison else None
                style = CELL_STYLE.get(result.verdict, "") if isinstance(result, Comparison) else ""
                text.append(ms(arm.p50(attr), CELL_WIDTH), style=style)
            text.append(" │ ", style="dim")
            if index == 0:
                text.append_text(ratio_text(None, room))
            else:
                text.append_text(ratio_text(comparison.results.get(selected, "…") if comparison else "comparing…", room))
        if len(arms) > self.MAX_ROWS:
            text.append(f"\n  +{len(arms) - self.MAX_ROWS} more arms: A shows every arm", style="dim italic")
        self.update(text)
