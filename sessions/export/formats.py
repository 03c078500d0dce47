"""The export formats and their spellings: what `vlmtop export --help` needs to list.

Kept apart from sessions/export/writer.py so that building the CLI's parser imports no store,
numpy or sqlite3 (`vlmtop --help` is meant to take well under a second).
"""

from __future__ import annotations

FORMATS = ("sqlite", "csv", "jsonl", "parquet", "trace")
BINARY_FORMATS = ("sqlite", "parquet")
STDOUT = "-"  # `-o -`, as curl, tar and pandoc spell standard output
