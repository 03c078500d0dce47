"""`vlmtop run --repeat N [--alternate-model M2]`: fresh worker processes grouped as one
experiment in the database, in counterbalanced ABBA order."""

from __future__ import annotations

import json

from vlmtop.cli import main
from vlmtop.sessions.experiment import plan
from vlmtop.sessions.store import SessionStore

QUICK = ["--count", "2", "--max-new-tokens", "2", "--warmup", "none"]


def test_the_plan_alternates_sides_in_abba_order():
    reps = plan("exp-1", 3, "m1", "m2")
    assert [r.side for r in reps] == ["A", "B", "B", "A", "A", "B"]
    assert [r.model for r in reps] == ["m1", "m2", "m2", "m1", "m1", "m2"]
    assert len({r.session_id for r in reps}) == 6 and [r.index for r in reps] == list(range(6))
    assert [r.side for r in plan("exp-2", 2, "m1", None)] == [None, None]


def test_repeat_runs_fresh_processes_under_one_experiment(tmp_path, capsys):
    db = tmp_path / "s.db"
    assert main(["run", "--repeat", "2", *QUICK, "--knob", "max_new_tokens=2,3", "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with SessionStore.open(db, create=False) as store:
        infos = store.experiment_sessions(report["experiment_id"])
        arms = {info.id: {r.arm for r in store.samples(info.id)} for info in infos}
    assert [i.replicate for i in infos] == [0, 1] and all(i.status == "completed" for i in infos)
    assert len({i.pid for i in infos}) == 2  # one process each: the unit of replication
    assert all(i.measured_count == 4 for i in infos)  # 2 per arm, both arms in every process
    assert all(a == {"max_new_tokens=2", "max_new_tokens=3"} for a in arms.values())


def test_alternate_model_runs_both_sides(tmp_path, capsys):
    db = tmp_path / "s.db"
    assert main(["run", "--repeat", "1", "--alternate-model", "tiny-llava", *QUICK, "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(s["side"], s["model"]) for s in report["sessions"]] == [("A", "tiny-qwen2-vl"), ("B", "tiny-llava")]


def test_alternate_model_without_repeat_is_one_line(capsys):
    assert main(["run", "--alternate-model", "tiny-llava"]) == 2
    assert "needs --repeat" in capsys.readouterr().err
