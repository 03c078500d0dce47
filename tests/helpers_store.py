"""Shared pieces of the session-database tests, and a writer to run as a subprocess.

``python tests/helpers_store.py DB COUNT DELAY_S`` records a session of COUNT samples
(forever when COUNT < 0) into DB, printing the session id, then each seq once its
``write_sample`` has returned: what the parent reads is what is committed.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from vlmtop.sessions.records import EventRecord, SampleRecord
from vlmtop.sessions.store import SessionStore

HERE = Path(__file__).resolve()


def full_record(session_id: str, seq: int) -> SampleRecord:
    """A record with every field set away from its default, derived from ``seq`` alone."""
    steps = [10.0 + seq + i / 8 for i in range(3)]
    return SampleRecord(
        session_id=session_id,
        seq=seq,
        sample_id=f"img-{seq:05d}.png",
        is_warmup=seq % 7 == 0,
        status="error" if seq % 11 == 5 else "ok",
        error="CUDA out of memory" if seq % 11 == 5 else None,
        cache_policy="empty",
        cache_action="gc.collect (cpu)",
        warmup_policy="2",
        timing_mode="sync",
        started_at=1_700_000_000.0 + seq * 0.25,
        image_width=640 + seq,
        image_height=480,
        prompt_tokens=20 + seq,
        image_tokens=576,
        new_tokens=4,
        vision_ms=5.5 + seq,
        projector_ms=0.75,
        prefill_ms=40.125 + seq,
        decode_ms=sum(steps),
        ttft_ms=46.5 + seq,
        e2e_ms=100.0 + 2 * seq,
        other_ms=1.0 / 3.0,
        decode_steps_ms=steps,
        spans=[
            ("vision", 0.5, 6.0 + seq),
            ("projector", 6.0 + seq, 6.75 + seq),
            ("prefill", 7.0 + seq, 47.125 + 2 * seq),
            *[("decode", 50.0 + 2 * seq + 12 * i, 50.0 + 2 * seq + 12 * i + ms)
              for i, ms in enumerate(steps)],  # fmt: skip
        ],
        vision_calls=2,
        extra_ms={"tokenizer_stage": 0.25 + seq},
        mp_vision_ms=6.0,
        mp_projector_ms=0.5,
        mp_prefill_ms=45.0,
        mp_decode_ms=30.0,
        mp_e2e_ms=120.0,
    )


def raw_sql(store: SessionStore, sql: str, params=()) -> sqlite3.Cursor:
    """Run ``sql`` on the store's own connection, past its methods: how a test hand-makes
    a row no vlmtop would write, or reads a PRAGMA."""
    return store.connection.execute(sql, params)


def folder_state(folder) -> dict:
    """Every file in ``folder`` by name, with a hash of its bytes: "nothing was written"."""
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(folder).iterdir()}


def new_session(store: SessionStore, **settings) -> str:
    return store.create_session(
        model="tiny-llava",
        device="cpu",
        dtype="float32",
        settings={"max_new_tokens": 4, **settings},
        versions={"python": "3.11", "torch": "2.4", "transformers": "5.0", "vlmtop": "0.1.0"},
    )


def record_session(store: SessionStore, count: int, **settings) -> str:
    """A finished session of ``count`` full records with a start and an end event."""
    session_id = new_session(store, **settings)
    store.write_event(EventRecord(session_id, 0, "start", "cache=empty", at=1.0))
    for seq in range(count):
        store.write_sample(full_record(session_id, seq))
    store.write_event(EventRecord(session_id, count, "end", "", at=2.0))
    store.finish_session(session_id, "completed")
    return session_id


def start_writer(db: Path, count: int, delay_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE), str(db), str(count), str(delay_s)],
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def _write(db: str, count: int, delay_s: float) -> None:
    with SessionStore.open(db, create=True) as store:
        session_id = new_session(store)
        print(session_id, flush=True)
        seq = 0
        while count < 0 or seq < count:
            store.write_sample(full_record(session_id, seq))
            print(seq, flush=True)
            if seq % 10 == 0:
                store.write_event(EventRecord(session_id, seq + 1, "policy", f"after {seq}"))
            seq += 1
            time.sleep(delay_s)
        store.finish_session(session_id, "completed")


if __name__ == "__main__":
    _write(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))


# The schema vlmtop 0.1 wrote (user_version 1), verbatim from such a file: migration
# tests start from what users really have on disk, not from today's DDL minus a column.
SCHEMA_V1 = """
CREATE TABLE "sessions" ("id" TEXT PRIMARY KEY, "started_at" REAL NOT NULL, "ended_at" REAL,
   "status" TEXT NOT NULL, "model" TEXT, "device" TEXT, "dtype" TEXT, "settings" TEXT,
   "versions" TEXT, "pid" INTEGER, "hostname" TEXT, "heartbeat_at" REAL, "error" TEXT,
   "sample_count" INTEGER NOT NULL DEFAULT 0, "measured_count" INTEGER NOT NULL DEFAULT 0,
   "warmup_count" INTEGER NOT NULL DEFAULT 0, "error_count" INTEGER NOT NULL DEFAULT 0);
CREATE TABLE "samples" ("session_id" TEXT NOT NULL REFERENCES "sessions"("id"),
   "seq" INTEGER NOT NULL, "sample_id" TEXT, "is_warmup" INTEGER NOT NULL,
   "status" TEXT NOT NULL, "error" TEXT, "cache_policy" TEXT, "cache_action" TEXT,
   "warmup_policy" TEXT, "timing_mode" TEXT, "started_at" REAL, "image_width" INTEGER,
   "image_height" INTEGER, "prompt_tokens" INTEGER, "image_tokens" INTEGER,
   "new_tokens" INTEGER, "vision_ms" REAL, "projector_ms" REAL, "prefill_ms" REAL,
   "decode_ms" REAL, "ttft_ms" REAL, "e2e_ms" REAL, "other_ms" REAL, "decode_steps_ms" TEXT,
   "spans" TEXT, "vision_calls" INTEGER, "extra_ms" TEXT, "mp_vision_ms" REAL,
   "mp_projector_ms" REAL, "mp_prefill_ms" REAL, "mp_decode_ms" REAL, "mp_e2e_ms" REAL,
   PRIMARY KEY ("session_id", "seq"));
CREATE TABLE "events" ("id" INTEGER PRIMARY KEY,
   "session_id" TEXT NOT NULL REFERENCES "sessions"("id"), "seq" INTEGER NOT NULL,
   "kind" TEXT NOT NULL, "detail" TEXT, "at" REAL NOT NULL);
CREATE INDEX "idx_events_session_id_seq" ON "events" ("session_id", "seq");
CREATE TABLE "controls" ("id" INTEGER PRIMARY KEY,
   "session_id" TEXT NOT NULL REFERENCES "sessions"("id"), "kind" TEXT NOT NULL,
   "value" TEXT, "created_at" REAL NOT NULL, "status" TEXT NOT NULL DEFAULT 'pending',
   "applied_seq" INTEGER, "answered_at" REAL);
CREATE INDEX "idx_controls_session_id_status" ON "controls" ("session_id", "status");
PRAGMA application_id = 1986817396;
PRAGMA user_version = 1;
"""


def build_v1_database(path: Path, samples: int = 3) -> str:
    """A vlmtop 0.1 file (schema 1, WAL) holding one finished session with a policy
    event and an answered control; returns the session id. Written with plain sqlite3,
    as that version's store would have left it."""
    import sqlite3

    from vlmtop.sessions.store import encode_sample

    session_id = "0ldc0ffee1"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA_V1)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        "INSERT INTO sessions (id, started_at, ended_at, status, model, device, dtype, settings,"
        " versions, pid, hostname, heartbeat_at, sample_count, measured_count)"
        " VALUES (?, 1.7e9, 1.7e9 + 5, 'completed', 'tiny-llava', 'cpu', 'float32', '{}', '{}',"
        " 1, 'old-host', 1.7e9 + 5, ?, ?)",
        (session_id, samples, samples),
    )
    # Schema 1 had exactly today's sample columns up to mp_e2e_ms.
    names = [r[1] for r in conn.execute("PRAGMA table_info(samples)")]
    for seq in range(samples):
        row = dict(zip(_sample_columns(), encode_sample(full_record(session_id, seq))))
        conn.execute(
            f"INSERT INTO samples ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[n] for n in names],
        )
    conn.execute(
        "INSERT INTO events (session_id, seq, kind, detail, at) VALUES"
        " (?, 0, 'start', 'cache=keep warmup=2', 1.7e9), (?, 2, 'policy', 'cache=empty', 1.7e9 + 2),"
        " (?, 3, 'end', 'completed', 1.7e9 + 5)",
        (session_id, session_id, session_id),
    )
    conn.execute(
        "INSERT INTO controls (session_id, kind, value, created_at, status, applied_seq, answered_at)"
        " VALUES (?, 'cache', 'empty', 1.7e9 + 1, 'applied', 2, 1.7e9 + 2)",
        (session_id,),
    )
    conn.close()
    return session_id


def _sample_columns() -> tuple[str, ...]:
    from vlmtop.sessions.store import SAMPLE_COLUMNS

    return SAMPLE_COLUMNS
