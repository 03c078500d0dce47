"""How every screen, table and report writes a time: ms with about 3 significant figures
(seconds past 1000 ms), right-aligned to `width` (0: no padding). One definition, so the
dashboard, the command line and the HTML report show the same figure the same way."""

from __future__ import annotations

import math


def ms(value: float | None, width: int = 0) -> str:
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
