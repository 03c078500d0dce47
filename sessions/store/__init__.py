"""The session database: the ONLY package in vlmtop that runs SQL.

One SQLite file (WAL) holds many recorded sessions. ``SessionStore`` is the handle every
reader and writer opens; the other modules are its parts:

    session_store   SessionStore: opening, creating, reading and writing sessions
    connection      how the file is opened (read-write, read-only, immutable), transactions
    schema          each table's DDL (built from rows), how a file is recognised as ours, migration
    rows            each table's columns, declared once; rows <-> Python values: the decoders
    validate        checks of values read back: hostile content is data, not a crash
    samples         a session's samples and events as records
    fast_reads      reads that skip per-cell decoding: trusted rows, raw columns, newest rows
    controls        the control channel a dashboard writes and the worker answers
    lookup          naming a session: full id, unique prefix or ``last``
    liveness        whether the process recording a ``running`` session is still there
    removal         ``vlmtop rm`` and ``vlmtop prune``
    copying         copying a session in from another database
    paths           where the database lives (``--db``, ``$VLMTOP_DB``, the default)
    errors          what the database refuses, as one-line errors

It imports ``sessions.records``, ``knobs``, ``policies`` and ``core`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.sessions.store.errors import (
        EmptyStoreError as EmptyStoreError,
    )
    from vlmtop.sessions.store.errors import (
        ReadOnlyStoreError as ReadOnlyStoreError,
    )
    from vlmtop.sessions.store.errors import (
        SessionRunningError as SessionRunningError,
    )
    from vlmtop.sessions.store.errors import (
        StoreError as StoreError,
    )
    from vlmtop.sessions.store.errors import (
        StoreLockedError as StoreLockedError,
    )
    from vlmtop.sessions.store.errors import (
        StoreNotFoundError as StoreNotFoundError,
    )
    from vlmtop.sessions.store.errors import (
        StoreWriteError as StoreWriteError,
    )
    from vlmtop.sessions.store.errors import (
        UnknownSessionError as UnknownSessionError,
    )
    from vlmtop.sessions.store.rows import (
        SAMPLE_COLUMNS as SAMPLE_COLUMNS,
    )
    from vlmtop.sessions.store.rows import (
        SAMPLE_KINDS as SAMPLE_KINDS,
    )
    from vlmtop.sessions.store.rows import (
        SessionInfo as SessionInfo,
    )
    from vlmtop.sessions.store.rows import (
        encode_sample as encode_sample,
    )
    from vlmtop.sessions.store.rows import (
        new_session_id as new_session_id,
    )
    from vlmtop.sessions.store.schema import APPLICATION_ID as APPLICATION_ID
    from vlmtop.sessions.store.session_store import SessionStore as SessionStore

__getattr__, __all__ = lazy_exports(__name__, __file__)
