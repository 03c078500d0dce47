"""Number options checked once, the same way in every command: finite, in range, and a
one-line argparse error naming what was expected (exit 2)."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def number(convert: Callable[[str], float] = float, *, low: float | None = None, low_open: bool = False,
           high: float | None = None, what: str = "a number") -> Callable[[str], float]:
    """An argparse `type`: `convert(text)` within [low, high] (`low_open`: above low)."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        if not math.isfinite(value) or too_low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = number(int, low=1, what="a whole number of at least 1")
positive_float = number(float, low=0, low_open=True, what="a positive finite number")
nonnegative_float = number(float, low=0, what="a finite number of at least 0")
