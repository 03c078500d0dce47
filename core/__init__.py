"""vlmtop.core: measurement. No screen, no database.

    from vlmtop.core import locate_stages, StageTimer, StageTiming
"""

from .errors import ModelLoadError, SampleError, StageNotFoundError, VlmtopError
from .stages import Stage, StageMap, locate_stages
from .timer import StageTimer
from .timing import Span, StageTiming

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
