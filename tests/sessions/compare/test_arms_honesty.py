"""Honesty checks of interleaved arms, on real tiny models: the verdicts
`vlmtop compare SESSION` gives must follow what a knob can and cannot change, every time.

Six separate processes differing only in --max-new-tokens called vision, projector or
prefill `faster`/`slower` in 13 of 15 pairs (one process is one draw of memory layout and
clock state). Interleaving arms on the same samples in one worker cancels that offset, so
here the decode length must move decode, and nothing before it, on every seed.

Only verdicts and token counts are asserted, never a timing or a ratio (the verdict's own
interval carries the noise of this shared machine); the false-positive rate over many runs
is measured in bench/, not here.
"""

from __future__ import annotations

import collections
import json

from vlmtop.cli import main
from vlmtop.sessions.store import SessionStore

UNAFFECTED_BY_DECODE = ("vision_ms", "projector_ms", "prefill_ms", "ttft_ms")
CLAIMS = ("faster", "slower")


def _armed_session(tmp_path, capsys, *argv) -> tuple[str, list]:
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--json", "--db", str(db), "--threads", "1", *argv]) == 0
    session_id = json.loads(capsys.readouterr().out)["session"]["id"]
    with SessionStore.open(db, create=False) as store:
        rows = store.samples(session_id)
    return session_id, rows


def _verdicts(tmp_path, capsys, session_id: str) -> dict[str, str]:
    """stage -> verdict of the one (baseline, arm) pair, from `vlmtop compare SESSION --json`."""
    assert main(["compare", session_id, "--db", str(tmp_path / "s.db"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "arms"
    (pair,) = report["comparisons"]
    return {stage["stage"]: stage["verdict"] for stage in pair["stages"]}


def test_a_longer_decode_is_slower_in_decode_and_never_called_different_before_it(tmp_path, capsys):
    """Over three seeds: decode `slower` every time; vision, projector, prefill and ttft
    never `faster` or `slower` (each may be `same` or `inconclusive`: 24 pairs on a shared
    machine may not bound a stage to +-2 %). A claim needs the whole 95 % interval beyond
    the band, so chance alone makes one about 1 time in several hundred per stage
    (bench/processes.py measures the rate per comparison)."""
    claimed = collections.Counter()
    for seed in (1, 2, 3):
        session_id, rows = _armed_session(tmp_path, capsys, "--knob", "max_new_tokens=8,16",
                                          "--count", "24", "--seed", str(seed))
        measured = collections.Counter(r.arm for r in rows if not r.is_warmup and r.status == "ok")
        assert measured == {"max_new_tokens=8": 24, "max_new_tokens=16": 24}
        verdicts = _verdicts(tmp_path, capsys, session_id)
        assert verdicts["decode_ms"] == "slower", (seed, verdicts)
        claimed.update(f"{stage} {verdicts[stage]} (seed {seed})" for stage in UNAFFECTED_BY_DECODE
                       if verdicts[stage] in CLAIMS)
    assert not claimed, claimed


def test_a_four_times_larger_image_has_four_times_the_tokens_and_slower_vision(tmp_path, capsys):
    session_id, rows = _armed_session(tmp_path, capsys, "--model", "tiny-qwen2-vl",
                                      "--knob", "image_size=224x224,448x448", "--count", "12",
                                      "--max-new-tokens", "2")
    tokens = {arm: {r.image_tokens for r in rows if r.arm == arm} for arm in ("image_size=224x224", "image_size=448x448")}
    (small,), (large,) = tokens.values()
    assert large == 4 * small  # a dynamic-resolution family: one token per 28x28 px
    assert _verdicts(tmp_path, capsys, session_id)["vision_ms"] == "slower"
