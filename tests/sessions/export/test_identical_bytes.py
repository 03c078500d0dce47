"""The fast export paths write exactly the bytes the record-by-record exporter wrote.

tests/golden/ holds what the exporter wrote before it read validated rows in pages
(recorded with `python tests/sessions/export/test_identical_bytes.py`): every sample shape a run makes
(errors, warm-ups, NULLs, integer-valued floats, knobs, extra stages, negative other_ms,
a -0.0, a value needing an exponent), so a faster path cannot change one byte.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))  # helpers_store, when this file runs as a script

from helpers_store import full_record  # noqa: E402

from vlmtop.sessions.export import export_session  # noqa: E402
from vlmtop.sessions.records import EventRecord, SampleRecord  # noqa: E402
from vlmtop.sessions.store import SessionStore  # noqa: E402

GOLDEN = TESTS / "golden"
SESSION = "golden0001"
TEXT_FORMATS = ("csv", "jsonl")


def shaped_record(seq: int) -> SampleRecord:
    """``full_record`` varied by seq into the shapes a real run records."""
    rec = full_record(SESSION, seq)
    if seq % 5 == 1:  # a sample with the optional fields unset
        rec.vision_calls = rec.mp_vision_ms = rec.image_width = None
        rec.extra_ms = {}
    if seq % 4 == 2:
        rec.knobs = {"max_new_tokens": 4 + seq, "attn": "eager"}
        rec.arm = f"max_new_tokens={4 + seq}"
    if seq % 6 == 3:  # floats the clock gives: integer-valued, tiny, long
        rec.decode_steps_ms = [12.0, 0.00001, 1 / 3, 2.5632490000000008]
        rec.other_ms = -0.0 if seq == 3 else -1.25
        rec.e2e_ms = 120
        rec.tokens_per_step, rec.speculative = 1.75, True
    if seq == 7:
        rec.decode_steps_ms, rec.spans = [], []
        rec.unlocated, rec.decode_clock, rec.graph_breaks = "projector", "streamer", 2
    return rec


def build(path: Path) -> None:
    with SessionStore.open(path) as store:
        store.create_session("m", "cpu", "float32", {}, versions={}, session_id=SESSION)
        for seq in range(24):
            store.write_sample(shaped_record(seq))
        store.write_event(EventRecord(SESSION, 4, "policy", "cache=empty", at=1.7e9 + 1, value="empty"))


def exported(tmp_path: Path) -> dict[str, str]:
    """Each format's output as text (parquet as its rows and schema, trace as its events)."""
    import pyarrow.parquet as pq

    build(tmp_path / "s.db")
    out = {}
    with SessionStore.open(tmp_path / "s.db", readonly=True) as store:
        for fmt in (*TEXT_FORMATS, "parquet", "trace"):
            target = tmp_path / f"out.{fmt}"
            assert export_session(store, SESSION, fmt, target) == 24
            if fmt in TEXT_FORMATS:
                out[fmt] = target.read_bytes().decode()
            elif fmt == "parquet":
                table = pq.read_table(target)
                out[fmt] = json.dumps({"schema": str(table.schema.remove_metadata()),
                                       "rows": table.to_pylist()}, indent=0, default=repr)  # fmt: skip
            else:
                out[fmt] = json.dumps(json.loads(target.read_text())["traceEvents"], indent=0)
        for lo, hi in ((5, 9), (20, 10_000)):
            target = tmp_path / f"window-{lo}.csv"
            export_session(store, SESSION, "csv", target, window=(lo, hi))
            out[f"window-{lo}.csv"] = target.read_bytes().decode()
    return out


@pytest.mark.parametrize("name", [*TEXT_FORMATS, "parquet", "trace", "window-5.csv", "window-20.csv"])
def test_exports_are_byte_for_byte_what_they_were(name, tmp_path):
    assert exported(tmp_path)[name] == (GOLDEN / f"export.{name}").read_bytes().decode()


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for key, text in exported(Path(folder)).items():
            (GOLDEN / f"export.{key}").write_bytes(text.encode())
