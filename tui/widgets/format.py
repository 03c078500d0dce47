"""Number formatting shared by the panels: ms with 3 significant figures, fixed width."""

from __future__ import annotations

import math


def ms(value: float | None, width: int = 8) -> str:
    if value is None or not math.isfinite(value):
        return "-".rjust(width)
    if abs(value) >= 1000:
        text = f"{value / 1000:.2f}s"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return text.rjust(width)
