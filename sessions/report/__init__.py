"""``vlmtop report``: one self-contained HTML page about one or more sessions.

    html                the page: stages per arm, a timeline, the comparisons
    svg                 the charts as inline SVG strings
    costmodel_section   the cost-model charts: fitted curve, band, held-out prediction
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.sessions.report.html import LANES as LANES
    from vlmtop.sessions.report.html import Report as Report
    from vlmtop.sessions.report.html import write as write

__getattr__, __all__ = lazy_exports(__name__, __file__)
