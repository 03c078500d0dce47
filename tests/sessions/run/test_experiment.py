"""`vlmtop run --repeat N [--alternate-model M2]`: fresh worker processes grouped as one
experiment in the database, in counterbalanced ABBA order."""

from __future__ import annotations

import json

from vlmtop.cli import main
from vlmtop.cli.commands.run_headless import report_experiment
from vlmtop.sessions.run.experiment import plan
from vlmtop.sessions.store import SessionStore

QUICK = ["--count", "2", "--max-new-tokens", "2", "--warmup", "none"]


def test_the_plan_runs_sides_in_pairs_of_random_order():
    reps = plan("exp-1", 3, "m1", "m2", seed=0)
    pairs = [tuple(r.side for r in reps[i:i + 2]) for i in range(0, 6, 2)]
    assert all(sorted(pair) == ["A", "B"] for pair in pairs)  # every pair one of each side
    assert all({"A": "m1", "B": "m2"}[r.side] == r.model for r in reps)
    assert len({r.session_id for r in reps}) == 6 and [r.index for r in reps] == list(range(6))
    # seeded: the same seed and experiment give the same order; across seeds both sides lead
    assert [r.side for r in plan("exp-1", 3, "m1", "m2", seed=0)] == [r.side for r in reps]
    firsts = {plan("exp-1", 1, "m1", "m2", seed=seed)[0].side for seed in range(20)}
    assert firsts == {"A", "B"}
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
    # which side leads a pair is drawn at random (seeded by --seed and the experiment id)
    assert sorted((s["side"], s["model"]) for s in report["sessions"]) == [("A", "tiny-qwen2-vl"), ("B", "tiny-llava")]


def test_alternate_model_without_repeat_is_one_line(capsys):
    assert main(["run", "--alternate-model", "tiny-llava"]) == 2
    assert "needs --repeat" in capsys.readouterr().err


def _hinted_command(text: str) -> list[str]:
    """The `vlmtop compare ...` command the end-of-run hint suggests."""
    (hint,) = [line for line in text.splitlines() if "`vlmtop compare" in line]
    return hint.split("`")[1].split()[2:]


def _images(folder, count=3):
    from PIL import Image

    folder.mkdir()
    for i in range(count):
        Image.new("RGB", (56 + 28 * i, 56), (30 * i, 90, 200)).save(folder / f"img{i}.png")
    return folder


def test_repeat_reports_reliability_pooled_over_processes_and_hints_a_compare_that_works(tmp_path, capsys):
    # 3 images, 2 processes, each image once per process: no id repeats inside a session,
    # but every image is measured twice across the experiment: its test-retest reliability
    # is pooled over the processes.
    db, images = tmp_path / "s.db", _images(tmp_path / "images")
    run = ["run", "--repeat", "2", "--samples", str(images), "--count", "3", "--warmup", "none",
           "--db", str(db), "--json"]
    assert main([*run, "--max-new-tokens", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    rel = report["reliability"]
    assert rel["pooled_over"] == "processes" and rel["processes"] == 2
    prefill = rel["stages"]["prefill_ms"]
    assert (prefill["samples"], prefill["measurements"]) == (3, 6)
    assert rel["line"].startswith("across 2 processes, reliability of prefill over 3 samples x 2 repeats")

    # the text summary: the same line, and a hint that does not send one setting to
    # `vlmtop compare EXP` (which exits 2 "nothing to compare")
    assert report_experiment(db, report["experiment_id"], None, False, as_json=False) == 0
    out = capsys.readouterr().out
    assert rel["line"] in " ".join(out.split())
    hinted = _hinted_command(out)
    assert hinted == [report["experiment_id"], "OTHER_EXP"]
    assert main(["compare", report["experiment_id"], "--db", str(db)]) == 2  # why the bare one is not hinted
    capsys.readouterr()
    # another setting as another experiment: the hinted command then works
    assert main([*run, "--max-new-tokens", "3"]) == 0
    other = json.loads(capsys.readouterr().out)["experiment_id"]
    assert main(["compare", *[other if part == "OTHER_EXP" else part for part in hinted], "--db", str(db)]) == 0
    assert "replicated across 4 processes (2 A, 2 B)" in capsys.readouterr().out


def test_repeat_with_arms_hints_the_bare_compare_and_it_works(tmp_path, capsys):
    db = tmp_path / "s.db"
    assert main(["run", "--repeat", "2", *QUICK, "--knob", "max_new_tokens=2,3", "--db", str(db), "--json"]) == 0
    experiment_id = json.loads(capsys.readouterr().out)["experiment_id"]
    assert report_experiment(db, experiment_id, None, False, as_json=False) == 0
    hinted = _hinted_command(capsys.readouterr().out)
    assert hinted == [experiment_id]
    assert main(["compare", *hinted, "--db", str(db)]) == 0
    assert "paired in each process, replicated across 2 processes" in capsys.readouterr().out
