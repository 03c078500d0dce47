"""Fixed recorded sessions for the dashboard's arm and honesty tests, as the worker writes
them: deterministic numbers, real SQLite files.

- :func:`record_arms_session`: `--knob max_new_tokens=4,8`, two arms interleaved in seeded
  random blocks on the same sample ids; arm 8 decodes twice the tokens (decode about 2x),
  every other stage is drawn from the same distribution in both arms.
- :func:`record_unlocated_session`: a model whose projector was not located (its time is
  in other, the worker's `unlocated` event and every row say so), decoding speculatively
  (2.5 tokens per language-model call).
"""

from __future__ import annotations

import random

import numpy as np

from vlmtop.sessions.records import EventRecord, SampleRecord
from vlmtop.sessions.store import SessionStore

ARMS_SESSION_ID = "a4a5e55a01"
ARMS = ("max_new_tokens=4", "max_new_tokens=8")
BLOCKS = 40  # measured samples per arm
UNLOCATED_SESSION_ID = "a4a5e55a02"
UNLOCATED_COUNT = 30
TOKENS_PER_STEP = 2.5


def _timed(rng, session_id: str, seq: int, sample_id: str, new_tokens: int, **fields) -> SampleRecord:
    """One ok sample with every stage drawn from fixed distributions; decode has one step
    per token after the first, ~1.3 ms each."""
    steps = [round(float(x), 3) for x in rng.normal(1.3, 0.05, new_tokens - 1)]
    vision, projector = round(float(rng.normal(4.0, 0.3)), 3), round(float(rng.normal(0.3, 0.02)), 3)
    prefill, other = round(float(rng.normal(4.5, 0.2)), 3), round(float(rng.normal(2.0, 0.1)), 3)
    record = SampleRecord(
        session_id=session_id, seq=seq, sample_id=sample_id, started_at=1.7e9 + seq * 0.05,
        image_width=224, image_height=224, prompt_tokens=90, image_tokens=64, new_tokens=new_tokens,
        vision_ms=vision, projector_ms=projector, prefill_ms=prefill, decode_ms=round(sum(steps), 3),
        ttft_ms=round(vision + projector + prefill + 0.5, 3), other_ms=other, decode_steps_ms=steps,
        tokens_per_step=1.0,
    )
    for name, value in fields.items():
        setattr(record, name, value)
    additive = (record.vision_ms, record.projector_ms, record.prefill_ms, record.decode_ms, record.other_ms)
    record.e2e_ms = round(sum(additive), 3)
    return record


def record_arms_session(db, blocks: int = BLOCKS) -> SessionStore:
    store = SessionStore.open(db, create=True)
    settings = {"warmup": "2", "seed": 0, "knobs": {"max_new_tokens": [4, 8]}}
    store.create_session("tiny-qwen2-vl", "cpu", "float32", settings, {"python": "3.11"}, session_id=ARMS_SESSION_ID)
    store.write_event(EventRecord(ARMS_SESSION_ID, 0, "start", "cache=keep warmup=2 timing=events", 1.7e9))
    rng, order = np.random.default_rng(11), random.Random(0)
    seq = 0

    def write(arm: str, sample_id: str, is_warmup: bool) -> None:
        nonlocal seq
        tokens = int(arm.partition("=")[2])
        knobs = {"cache": "keep", "warmup": "2", "timing": "events", "max_new_tokens": tokens}
        store.write_sample(_timed(rng, ARMS_SESSION_ID, seq, sample_id, tokens, arm=arm, knobs=knobs,
                                  is_warmup=is_warmup, warmup_policy="2"))
        seq += 1

    for block in range(blocks):
        for arm in order.sample(ARMS, len(ARMS)):
            if block == 0:  # each arm warms up twice before its first measured sample
                write(arm, "synthetic-0", True)
                write(arm, "synthetic-1", True)
            write(arm, f"synthetic-{block}", False)
    store.write_event(EventRecord(ARMS_SESSION_ID, seq, "end", "completed", 1.7e9 + seq))
    store.finish_session(ARMS_SESSION_ID, "completed")
    return store


def record_unlocated_session(db) -> SessionStore:
    store = SessionStore.open(db, create=True)
    store.create_session("tiny-janus", "cpu", "float32", {"warmup": "none"}, {"python": "3.11"},
                         session_id=UNLOCATED_SESSION_ID)
    store.write_event(EventRecord(UNLOCATED_SESSION_ID, 0, "start", "cache=keep warmup=none timing=events", 1.7e9))
    store.write_event(EventRecord(
        UNLOCATED_SESSION_ID, 0, "unlocated",
        "projector: not located; its time is in other (declare it with --stage projector=PATH)", 1.7e9,
    ))
    rng = np.random.default_rng(5)
    for seq in range(UNLOCATED_COUNT):
        # 16 new tokens: the first from prefill, 15 more in 6 speculative steps (2.5 per step)
        record = _timed(rng, UNLOCATED_SESSION_ID, seq, f"synthetic-{seq}", 16, projector_ms=0.0, unlocated="projector",
                        warmup_policy="none", speculative=True, tokens_per_step=TOKENS_PER_STEP)
        record.decode_steps_ms = record.decode_steps_ms[:6]
        record.decode_ms = round(sum(record.decode_steps_ms), 3)
        record.e2e_ms = round(record.vision_ms + record.prefill_ms + record.decode_ms + record.other_ms, 3)
        store.write_sample(record)
    store.write_event(EventRecord(UNLOCATED_SESSION_ID, UNLOCATED_COUNT, "end", "completed", 1.7e9 + UNLOCATED_COUNT))
    store.finish_session(UNLOCATED_SESSION_ID, "completed")
    return store
