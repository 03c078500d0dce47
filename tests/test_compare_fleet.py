"""`vlmtop compare EXP --by device|host` on real session files whose sessions ran on
different devices and hosts (as the Ray driver records them: `where=` on create_session).

The per-sample values are synthetic with a known truth: one device 2x slower than the
other under clear noise, so the verdict is unambiguous. No timing of this machine is
asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vlmtop.cli import main
from vlmtop.sessions.record import SampleRecord
from vlmtop.sessions.store import SessionStore

EXP = "exp-fleet0001"
SAMPLES = 30


def _session(store, replicate: int, device: str, host: str, scale: float, rng, arms=("",)) -> str:
    sid = store.create_session(
        "tiny-llava", "cuda", "float16", {"max_new_tokens": 4},
        versions={"python": "3.11"},
        experiment={"experiment_id": EXP, "replicate": replicate},
        where={"pid": 100 + replicate, "hostname": host, "node_id": f"node-{host}",
               "device_name": device, "device_uuid": f"GPU-{replicate}"},
    )
    offset = rng.normal(0.0, 0.03)  # the process's own level
    seq = 0
    for i in range(SAMPLES):
        for arm in arms:
            slow = 1.5 if arm == "attn=sdpa" else 1.0
            e2e = 100.0 * scale * slow * np.exp(offset + rng.normal(0.0, 0.05))
            store.write_sample(SampleRecord(
                session_id=sid, seq=seq, sample_id=f"img-{i}", arm=arm or None, new_tokens=4,
                vision_ms=0.2 * e2e, prefill_ms=0.3 * e2e, decode_ms=0.4 * e2e, e2e_ms=e2e,
                decode_steps_ms=[0.4 * e2e / 3] * 3))
            seq += 1
    store.finish_session(sid, "completed")
    return sid


@pytest.fixture
def fleet(tmp_path):
    """3 processes on H100 (host a), 3 on L4 (hosts b and c), L4 2x slower."""
    db = tmp_path / "fleet.db"
    rng = np.random.default_rng(7)
    with SessionStore.open(db) as store:
        for r in range(3):
            _session(store, r, "NVIDIA H100", "host-a", 1.0, rng)
        for r in range(3, 6):
            _session(store, r, "NVIDIA L4", "host-b" if r < 5 else "host-c", 2.0, rng)
    return db


def _json(argv, capsys) -> dict:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_by_device_compares_the_devices_sessions_as_replicated_processes(fleet, capsys):
    report = _json(["compare", EXP, "--by", "device", "--db", str(fleet), "--stage", "e2e"], capsys)
    assert report["mode"] == "by-device" and report["arm"] is None
    assert list(report["groups"]) == ["NVIDIA H100", "NVIDIA L4"]
    assert [len(ids) for ids in report["groups"].values()] == [3, 3]
    (block,) = report["blocks"]
    assert block["device"] == ["NVIDIA H100", "NVIDIA L4"] and block["mode"] == "replicated"
    assert block["evidence"] == "replicated across 6 processes (3 A, 3 B)"
    (e2e,) = block["stages"]
    assert e2e["verdict"] == "slower" and e2e["ci_low"] > 1.5 and e2e["processes_b"] == 3
    # the table names both devices and the evidence
    assert main(["compare", EXP, "--by", "device", "--db", str(fleet), "--stage", "e2e"]) == 0
    out = capsys.readouterr().out
    assert "device NVIDIA L4 against NVIDIA H100" in out and "replicated across 6 processes" in out


def test_by_host_with_one_process_per_group_uses_the_noise_floor_rule(fleet, capsys):
    report = _json(["compare", EXP, "--by", "host", "--db", str(fleet), "--stage", "e2e"], capsys)
    assert list(report["groups"]) == ["host-a", "host-b", "host-c"]
    assert [b["host"] for b in report["blocks"]] == [["host-a", "host-b"], ["host-a", "host-c"]]
    assert report["blocks"][1]["mode"] == "replicated"  # 3 processes against 1
    assert report["blocks"][1]["stages"][0]["verdict"] == "slower"
    # --fail-on names the block the verdict belongs to
    code = main(["compare", EXP, "--by", "host", "--db", str(fleet), "--stage", "e2e", "--fail-on", "slower"])
    assert code == 1 and "(host host-c vs host-a)" in capsys.readouterr().err


def test_one_process_per_device_is_judged_against_the_process_floor(tmp_path, capsys):
    db = tmp_path / "two.db"
    rng = np.random.default_rng(3)
    with SessionStore.open(db) as store:
        _session(store, 0, "NVIDIA H100", "host-a", 1.0, rng)
        _session(store, 1, "NVIDIA L4", "host-b", 1.01, rng)  # 1 %: within process noise
    report = _json(["compare", EXP, "--by", "device", "--db", str(db), "--stage", "e2e"], capsys)
    (block,) = report["blocks"]
    assert block["mode"] == "sessions" and block["evidence"] == "one process per side"
    assert block["stages"][0]["verdict"] in ("same", "inconclusive")
    assert block["stages"][0]["noise_floor"] is not None


def test_arms_are_compared_one_at_a_time_across_devices(tmp_path, capsys):
    db = tmp_path / "arms.db"
    rng = np.random.default_rng(5)
    with SessionStore.open(db) as store:
        for r, (device, scale) in enumerate([("A100", 1.0), ("A100", 1.0), ("L4", 2.0), ("L4", 2.0)]):
            _session(store, r, device, "h", scale, rng, arms=("attn=eager", "attn=sdpa"))
    base = _json(["compare", EXP, "--by", "device", "--db", str(db), "--stage", "e2e"], capsys)
    assert base["arm"] == "attn=eager" and base["blocks"][0]["stages"][0]["verdict"] == "slower"
    other = _json(["compare", EXP, "--by", "device", "--arm", "attn=sdpa", "--db", str(db), "--stage", "e2e"], capsys)
    assert other["arm"] == "attn=sdpa" and other["blocks"][0]["stages"][0]["n_a"] == 2 * SAMPLES


def test_one_device_and_unknown_arm_are_one_line(tmp_path, fleet, capsys):
    db = tmp_path / "one.db"
    rng = np.random.default_rng(1)
    with SessionStore.open(db) as store:
        for r in range(2):
            _session(store, r, "NVIDIA H100", "host-a", 1.0, rng)
    assert main(["compare", EXP, "--by", "device", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ran on one device (NVIDIA H100)" in err and len(err.splitlines()) == 1
    assert main(["compare", EXP, "--by", "device", "--arm", "attn=x", "--db", str(fleet)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no arm 'attn=x'" in err and len(err.splitlines()) == 1
