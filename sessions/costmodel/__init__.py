"""Per-stage cost models fitted from a sweep of knob settings.

    fit       the fitted models, their predictions and their held-out test
    drivers   what a model is fitted on: each sample's drivers, and a knob value's
    text      a fitted model as the text ``vlmtop model`` and the dashboard show
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.sessions.costmodel.fit import (
        MIN_SETTINGS as MIN_SETTINGS,
    )
    from vlmtop.sessions.costmodel.fit import (
        CostModel as CostModel,
    )
    from vlmtop.sessions.costmodel.fit import (
        HeldOut as HeldOut,
    )
    from vlmtop.sessions.costmodel.fit import (
        StageFit as StageFit,
    )
    from vlmtop.sessions.costmodel.fit import (
        design_matrix as design_matrix,
    )
    from vlmtop.sessions.costmodel.fit import (
        holdout as holdout,
    )
    from vlmtop.sessions.costmodel.fit import (
        robust_fit as robust_fit,
    )

__getattr__, __all__ = lazy_exports(__name__, __file__)
