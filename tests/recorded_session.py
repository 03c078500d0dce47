"""A fixed recorded session for dashboard tests: deterministic numbers, a policy change
half-way (so the comparison panel has something to say) and one failed sample."""

from __future__ import annotations

import numpy as np

from vlmtop.sessions.records import EventRecord, SampleRecord
from vlmtop.sessions.store import SessionStore

SESSION_ID = "5eed5e55a0"
COUNT = 120
CHANGE_AT = 60  # samples from here on ran with cache=empty and a slower prefill


def record_fixed_session(db, prefill_change_ms: float = 1.0) -> SessionStore:
    """``prefill_change_ms``: how much slower prefill is after the change (4.5 ms before)."""
    store = SessionStore.open(db, create=True)
    store.create_session("tiny-qwen2-vl", "cpu", "float32", {"warmup": "2"}, {"python": "3.11"}, session_id=SESSION_ID)
    rng = np.random.default_rng(7)
    store.write_event(EventRecord(SESSION_ID, 0, "start", "cache=keep warmup=2 timing=events", 1.7e9))
    for seq in range(COUNT):
        after = seq >= CHANGE_AT
        if seq == CHANGE_AT:
            store.write_event(EventRecord(SESSION_ID, seq, "policy", "cache=empty", 1.7e9 + seq, value="empty", name="cache"))
        steps = list(np.round(rng.normal(1.3, 0.05, 15), 3))
        vision, projector = round(rng.normal(4.0, 0.3), 3), round(rng.normal(0.3, 0.02), 3)
        prefill = round(rng.normal(4.5 + prefill_change_ms if after else 4.5, 0.2), 3)
        other = round(rng.normal(8.0, 0.4), 3)
        decode = round(sum(steps), 3)
        record = SampleRecord(
            session_id=SESSION_ID,
            seq=seq,
            sample_id=f"synthetic-{seq % 5}",
            is_warmup=seq in (0, 1, CHANGE_AT, CHANGE_AT + 1),
            cache_policy="empty" if after else "keep",
            cache_action="gc.collect (cpu: no CUDA cache to empty)" if after else "",
            started_at=1.7e9 + seq * 0.05,
            image_width=224, image_height=224, prompt_tokens=90, image_tokens=64, new_tokens=16,
            vision_ms=vision, projector_ms=projector, prefill_ms=prefill, decode_ms=decode,
            ttft_ms=round(vision + projector + prefill + 1.0, 3),
            e2e_ms=round(vision + projector + prefill + decode + other, 3),
            other_ms=other, decode_steps_ms=steps,
        )
        if seq == 90:
            record = SampleRecord(SESSION_ID, seq, "synthetic-0", status="error",
                                  error="SampleError: cannot read image", cache_policy="empty", started_at=1.7e9 + seq * 0.05)
        store.write_sample(record)
    store.write_event(EventRecord(SESSION_ID, COUNT, "end", "completed", 1.7e9 + COUNT))
    store.finish_session(SESSION_ID, "completed")
    return store
