"""The measurement worker and `vlmtop run --headless`: real tiny model, real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time

import pytest
from PIL import Image

from vlmtop.cli import main
from vlmtop.sessions.run.worker import RunSettings, Worker
from vlmtop.sessions.store import SessionStore

STAGES = ("vision_ms", "projector_ms", "prefill_ms", "decode_ms", "ttft_ms", "e2e_ms", "other_ms")


def _only_session(db):
    store = SessionStore.open(db, create=False)
    (info,) = store.sessions()
    return store, info


def test_headless_run_records_every_stage_of_n_measured_samples(tmp_path, capsys):
    db = tmp_path / "s.db"
    code = main(["run", "--headless", "--count", "4", "--warmup", "1", "--max-new-tokens", "4", "--db", str(db), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    store, info = _only_session(db)
    assert info.status == "completed" and info.measured_count == 4 and info.warmup_count == 1
    rows = store.samples(info.id)
    assert [r.seq for r in rows] == list(range(5)) and rows[0].is_warmup and not rows[1].is_warmup
    for row in rows:
        assert all(getattr(row, name) is not None and getattr(row, name) >= 0 for name in STAGES)
        assert len(row.decode_steps_ms) == 3 and row.new_tokens == 4
        assert row.image_tokens > 0 and row.image_width > 0 and row.vision_calls >= 1
    e2e = next(s for s in summary["stages"] if s["stage"] == "e2e")
    assert e2e["n"] == 4
    # the summary's numbers are the database's numbers
    measured = sorted(r.e2e_ms for r in rows if not r.is_warmup)
    assert e2e["p50"] == pytest.approx((measured[1] + measured[2]) / 2)
    per_token = next(s for s in summary["stages"] if s["stage"] == "decode_per_token")  # vLLM's TPOT
    assert per_token["p50"] == pytest.approx(statistics.median(r.decode_per_token_ms for r in rows if not r.is_warmup))
    settings = store.session(info.id).settings
    assert settings["threads"] >= 1 and settings["max_new_tokens"] == 4


def test_a_control_written_mid_run_changes_later_samples_only(tmp_path):
    db = tmp_path / "s.db"
    steer = {}

    def on_sample(record):
        if record.seq == 1:  # another process (a dashboard) would write exactly this row
            store = SessionStore.open(db, create=False)
            steer["control"] = store.add_control(record.session_id, "cache", "empty")
            store.add_control(record.session_id, "timing", "bogus")

    worker = Worker(RunSettings(count=5, warmup="none", max_new_tokens=3), db, on_sample=on_sample)
    assert worker.run() == "completed"
    store, info = _only_session(db)
    rows = store.samples(info.id)
    (control,) = [c for c in store.controls(info.id) if c.id == steer["control"]]
    assert control.status == "applied" and control.applied_seq == 2
    assert [r.cache_policy for r in rows] == ["keep", "keep", "empty", "empty", "empty"]
    assert rows[2].cache_action.startswith("gc.collect") and rows[0].cache_action == ""
    events = {e.kind: e for e in store.events(info.id)}
    assert events["policy"].detail == "cache=empty" and events["policy"].seq == 2
    assert "bogus" in events["rejected"].detail
    assert all(r.timing_mode == "events" for r in rows)


def test_warmup_is_rearmed_after_a_policy_change(tmp_path):
    db = tmp_path / "s.db"

    def on_sample(record):
        if record.seq == 2:
            SessionStore.open(db, create=False).add_control(record.session_id, "timing", "sync")

    Worker(RunSettings(count=4, warmup="1", max_new_tokens=2), db, on_sample=on_sample).run()
    store, info = _only_session(db)
    rows = store.samples(info.id)
    assert [(r.is_warmup, r.timing_mode) for r in rows] == [
        (True, "events"), (False, "events"), (False, "events"),
        (True, "sync"), (False, "sync"), (False, "sync"),
    ]


def test_pause_resume_and_stop_controls(tmp_path):
    db = tmp_path / "s.db"
    seen = []

    def on_sample(record):
        seen.append(record.seq)
        store = SessionStore.open(db, create=False)
        if record.seq == 0:
            store.add_control(record.session_id, "pause")
            store.add_control(record.session_id, "resume")
        if record.seq == 2:
            store.add_control(record.session_id, "stop")

    assert Worker(RunSettings(warmup="none", max_new_tokens=2), db, on_sample=on_sample).run() == "completed"
    store, info = _only_session(db)
    assert info.sample_count == 3
    kinds = [e.kind for e in store.events(info.id)]
    assert kinds[:1] == ["start"] and {"pause", "resume", "stop"} <= set(kinds) and kinds[-1] == "end"


def test_a_corrupt_image_is_one_error_row_and_the_session_completes(tmp_path):
    Image.new("RGB", (80, 60), "blue").save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"image": "good.png"}\n{"image": "bad.png"}\n{"image": "good.png", "prompt": "Why?"}\n')
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--samples", str(manifest), "--warmup", "none", "--max-new-tokens", "2", "--db", str(db)]) == 0
    store, info = _only_session(db)
    rows = store.samples(info.id)
    assert info.status == "completed" and [r.status for r in rows] == ["ok", "error", "ok"]
    assert "cannot read image" in rows[1].error and rows[1].e2e_ms is None


def test_a_model_that_fails_to_load_marks_the_session_failed(tmp_path, capsys):
    # (an uncached Hub id is refused before any session opens: tests/core/test_model_hub.py)
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--model", str(broken), "--db", str(db)]) == 2
    captured = capsys.readouterr()
    # one line: no progress bar left behind, no empty summary table
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "recorded as failed" in captured.err and "broken-model" in captured.err
    store, info = _only_session(db)
    assert info.status == "failed" and "broken-model" in info.error and "\n" not in info.error
    assert [e.kind for e in store.events(info.id)] == ["start", "error", "end"]


def test_a_stage_path_that_does_not_exist_is_one_line(tmp_path, capsys):
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--stage", "vision=model.nowhere", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.nowhere" in err and "Traceback" not in err


def test_misspelt_model_or_samples_are_refused_before_a_session_opens(tmp_path, capsys):
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--model", "tiny-lava", "--db", str(db)]) == 2
    assert "unknown model 'tiny-lava'" in capsys.readouterr().err
    assert main(["run", "--headless", "--samples", str(tmp_path / "missing"), "--db", str(db)]) == 2
    assert "not found" in capsys.readouterr().err
    assert not db.exists()


def test_bad_options_are_one_line_errors(capsys):
    assert main(["run", "--headless", "--cache-policy", "sometimes"]) == 2
    assert "invalid cache policy 'sometimes'" in capsys.readouterr().err
    assert main(["run", "--headless", "--stage", "vision"]) == 2
    assert "NAME=dotted.module.path" in capsys.readouterr().err


def test_multipass_rows_carry_both_sets_of_figures(tmp_path):
    db = tmp_path / "s.db"
    Worker(RunSettings(count=2, warmup="none", timing="multipass", max_new_tokens=3), db).run()
    store, info = _only_session(db)
    for row in store.samples(info.id):
        assert row.timing_mode == "multipass" and row.e2e_ms > 0
        # the old method subtracts separate runs: a part can come out 0 (floored), never the sum
        assert row.mp_vision_ms >= 0 and row.mp_vision_ms + row.mp_projector_ms > 0
        assert row.mp_prefill_ms > 0 and row.mp_e2e_ms > 0
        from_parts = max(0.0, row.mp_e2e_ms - row.mp_vision_ms - row.mp_projector_ms - row.mp_prefill_ms)
        if row.mp_vision_ms > 0 and row.mp_projector_ms > 0:
            # nothing floored: vision + projector is the vision run decode was derived from
            assert row.mp_decode_ms == pytest.approx(from_parts, abs=1e-6)
        else:
            # a part floored at 0 (a noisy run subtracted from a shorter one): the stored parts
            # add up to more than the vision run, so decode lies between the two derivations
            assert from_parts - 1e-6 <= row.mp_decode_ms <= max(0.0, row.mp_e2e_ms - row.mp_prefill_ms) + 1e-6


def test_sigint_mid_run_ends_interrupted_with_a_consistent_database_and_exit_130(tmp_path):
    db = tmp_path / "s.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmtop", "run", "--headless", "--count", "100000", "--warmup", "none",
         "--max-new-tokens", "2", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists():
            try:
                sessions = SessionStore.open(db, create=False).sessions()
                if sessions and sessions[0].sample_count >= 3:
                    break
            except Exception:
                pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130  # as a shell reports Ctrl-C
    store, info = _only_session(db)
    rows = store.samples(info.id)
    # Ctrl-C is an interruption, not a completion: the sample in flight finished and was kept
    assert info.status == "interrupted" and info.ended_at is not None and "SIGINT" in info.error
    assert [r.seq for r in rows] == list(range(len(rows))) and len(rows) >= 3
    assert all(r.status == "ok" and r.e2e_ms > 0 for r in rows)
    assert store.events(info.id)[-1].detail == "interrupted"
    assert b"interrupted" in stderr and b"Traceback" not in stderr
