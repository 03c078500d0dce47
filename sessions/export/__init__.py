"""Writing one session out: a shareable database, tables for analysis, a trace.

    writer    export_session: the one entry point every format goes through
    formats   the formats and their spellings (``vlmtop export --help``)
    files     where the bytes go, so an interrupted export leaves nothing half-written
    parquet   typed columns through pyarrow (optional)
    trace     the Chrome / Perfetto trace, one track per stage
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.sessions.export.writer import ExportError as ExportError
    from vlmtop.sessions.export.writer import choose_format as choose_format
    from vlmtop.sessions.export.writer import export_session as export_session
    from vlmtop.sessions.export.writer import format_for as format_for

__getattr__, __all__ = lazy_exports(__name__, __file__)
