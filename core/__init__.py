"""vlmtop.core: measurement. No screen, no database.

    from vlmtop.core import locate_stages, StageTimer, StageTiming

The names that need torch (the timer, the stage locator) load on first use (PEP 562), so
importing ``vlmtop.core.errors`` or ``vlmtop.core.timing`` from the command line, the
session store or the dashboard never pulls in torch and transformers (seconds and hundreds
of MB, and absent on a laptop that only replays sessions).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vlmtop.core.errors import ModelLoadError, SampleError, StageNotFoundError, VlmtopError
from vlmtop.core.timing import Span, StageTiming

if TYPE_CHECKING:
    from vlmtop.core.stages import Stage, StageMap, locate_stages
    from vlmtop.core.timer import StageTimer

# name -> the submodule that defines it and imports torch
_LAZY = {"Stage": "stages", "StageMap": "stages", "locate_stages": "stages", "StageTimer": "timer"}

__all__ = [
    "ModelLoadError",
    "SampleError",
    "Span",
    "Stage",
    "StageMap",
    "StageTimer",
    "locate_stages",
    "StageNotFoundError",
    "StageTiming",
    "VlmtopError",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
