"""What the dashboard shows, computed without Textual: the view-models.

    dashboard       the window of samples, each stage's figures, the segments
    arms            the arms of an interleaved run as the arms panel shows them
    costmodel_fit   what the cost-model screen shows, from the rows the dashboard holds

It imports sessions (never ``sessions.run``) and never Textual; widgets and screens read
it and never call the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.tui.state.dashboard import STAGES as STAGES
    from vlmtop.tui.state.dashboard import DashboardState as DashboardState

__getattr__, __all__ = lazy_exports(__name__, __file__)
