"""`vlmtop compare` on REAL sessions of the tiny preset: one experiment of 3 worker processes,
each interleaving 4 against 32 new tokens on the same synthetic samples.

Only verdicts on an 8x change of decode work are asserted (robust on a shared machine);
vision/projector/prefill verdicts are not, since no timing claim is made in a unit test.
"""

from __future__ import annotations

import json

import pytest

from vlmtop.cli import main
from vlmtop.sessions.store import SessionStore

COUNT = 8


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("real-arms") / "sessions.db")
    args = ["run", "--db", db, "--repeat", "3", "--count", str(COUNT), "--warmup", "1", "--threads", "1",
            "--knob", "max_new_tokens=4,32", "--json"]
    assert main(args) == 0
    store = SessionStore.open(db, create=False)
    infos = store.sessions()
    return db, infos[0].experiment_id, [info.id for info in infos]


def compare_json(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["compare", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_arms_of_one_session_are_paired_by_sample_id(experiment, capsys):
    db, _, sessions = experiment
    code, report = compare_json(capsys, sessions[0], "--db", db)
    assert code == 0 and report["mode"] == "arms" and len(report["comparisons"]) == 1
    pair = report["comparisons"][0]
    assert (pair["baseline"], pair["arm"]) == ("max_new_tokens=4", "max_new_tokens=32")
    assert pair["evidence"] == "paired in one process (interleaved arms)" and pair["segment"] is None
    by_stage = {row["stage"]: row for row in pair["stages"]}
    for row in by_stage.values():  # every sample ran under both arms: exact pairs
        assert row["paired"] and row["n_pairs"] == COUNT and row["test"] == "wilcoxon"
        assert row["evidence"] == pair["evidence"]
    assert by_stage["decode_ms"]["verdict"] == "slower"  # 31 decode steps against 3: no noise flips that
    # --fail-on reads arm comparisons too, naming the arms
    capsys.readouterr()
    assert main(["compare", sessions[0], "--db", db, "--stage", "decode", "--fail-on", "slower"]) == 1
    err = capsys.readouterr().err
    assert "decode slower x" in err and "(max_new_tokens=32 vs max_new_tokens=4)" in err
    assert main(["compare", sessions[0], "--db", db]) == 0
    out = capsys.readouterr().out
    assert "max_new_tokens=4 -> max_new_tokens=32" in out and "paired in one process (interleaved arms)" in out


def test_experiment_compares_arms_across_its_processes(experiment, capsys):
    db, experiment_id, sessions = experiment
    code, report = compare_json(capsys, experiment_id, "--db", db, "--stage", "decode", "--stage", "prefill")
    assert code == 0 and report["mode"] == "replicated-arms" and report["sessions"] == sessions
    stages = {row["stage"]: row for row in report["comparisons"][0]["stages"]}
    decode = stages["decode_ms"]
    assert decode["evidence"] == "paired in each process, replicated across 3 processes"
    assert decode["n_pairs"] == 3 * COUNT and decode["test"] == "one-sample-t"
    assert decode["verdict"] == "slower" and decode["ci_low"] > 1.5
    assert 0.0 <= stages["prefill_ms"]["between_process_share"] <= 1.0


def test_sides_of_several_sessions_use_the_processes(experiment, capsys):
    db, _, sessions = experiment
    code, report = compare_json(capsys, sessions[0], ",".join(sessions[1:]), "--db", db, "--stage", "vision")
    assert code == 0 and report["mode"] == "replicated"
    assert report["a"]["sessions"] == sessions[:1] and report["b"]["processes"] == 2
    row = report["stages"][0]
    assert row["evidence"] == "replicated across 3 processes (1 A, 2 B)" and row["test"] == "t"
    # one process per side: one other replicate in the database is too few to measure the
    # process noise (3 are needed), so the floor is the documented default
    code, report = compare_json(capsys, sessions[0], sessions[1], "--db", db, "--stage", "vision")
    assert report["mode"] == "sessions" and report["evidence"] == "one process per side"
    assert "default" in report["noise_floor_source"] and report["stages"][0]["noise_floor"] > 0


def test_bad_sides_are_one_line(experiment, capsys):
    db, _, sessions = experiment
    capsys.readouterr()
    assert main(["compare", "exp-00000000", "--db", db]) == 2
    assert "no experiment 'exp-00000000'" in capsys.readouterr().err
    assert main(["compare", f"{sessions[0]},{sessions[0]}", sessions[1], "--db", db]) == 2
    assert "names one session twice" in capsys.readouterr().err
    assert main(["compare", f"{sessions[0]},{sessions[1]}", sessions[1], "--db", db]) == 2
    assert "share session" in capsys.readouterr().err


def test_reliability_of_a_real_session_with_repeated_sample_ids(tmp_path, capsys):
    from PIL import Image

    from vlmtop.sessions.analysis.reliability import reliability

    for name, size in (("a.png", (64, 48)), ("b.png", (96, 96)), ("c.png", (40, 80))):
        Image.new("RGB", size, "teal").save(tmp_path / name)
    db = str(tmp_path / "rel.db")
    assert main(["run", "--db", db, "--samples", str(tmp_path), "--count", "9", "--warmup", "1",
                 "--threads", "1", "--max-new-tokens", "2", "--json"]) == 0
    code, report = compare_json(capsys, "last", "--db", db)
    # one policy, no arms: nothing to compare, but each image was measured 3 times
    assert code == 0 and report["mode"] == "reliability" and report["comparisons"] == []
    rel = report["reliability"]
    assert rel["samples"] == 3 and rel["measurements"] == 9
    prefill = rel["stages"]["prefill_ms"]
    assert prefill["icc_ci_low"] <= prefill["icc"] <= prefill["icc_ci_high"] and prefill["retest_sd_ms"] >= 0
    rows = SessionStore.open(db, create=False).samples(report["session"])
    assert reliability(rows) == rel  # the function the headless summary calls
    assert main(["compare", "last", "--db", db]) == 0
    assert "reliability of prefill over 3 samples x 3 repeats: ICC" in capsys.readouterr().out
