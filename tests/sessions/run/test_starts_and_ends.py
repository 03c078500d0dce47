"""How runs start and end as a user meets them: no terminal, a dead dashboard, Ctrl-C,
sets where every sample fails, warm-up on finite sets, runaway samples, mixed policies.

Real worker processes on the tiny default preset and real SQLite files throughout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import pytest
from helpers import vlmtop_command, vlmtop_env
from PIL import Image
from recorded_session import CHANGE_AT, SESSION_ID, record_fixed_session
from rich.console import Console

from vlmtop.cli import main
from vlmtop.cli.commands.run_headless import print_summary
from vlmtop.sessions.run.worker import RunSettings
from vlmtop.sessions.store import SessionStore
from vlmtop.sessions.summary import summarize_segments

QUICK = ["--max-new-tokens", "2", "--warmup", "none"]


def _images(folder, names, size=(64, 48)):
    folder.mkdir()
    for name in names:
        Image.new("RGB", size, (200, 30, 30)).save(folder / name)
    return folder


def _only_session(db):
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        return info, store.samples(info.id)


def test_no_terminal_runs_headless_with_one_line_and_ends(tmp_path):
    db = tmp_path / "s.db"
    done = subprocess.run(vlmtop_command("--count", "2", *QUICK, "--db", str(db)),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, env=vlmtop_env(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no terminal: running headless" in done.stderr
    assert "\x1b[?1049h" not in done.stdout  # no alternate screen: the dashboard never started
    info, rows = _only_session(db)
    assert info.status == "completed" and info.measured_count == 2


def test_json_implies_headless(tmp_path, capsys):
    assert main(["run", "--json", "--count", "2", *QUICK, "--db", str(tmp_path / "s.db")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["session"]["status"] == "completed" and "segments" not in report


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "0"])
def test_duration_and_timeout_must_be_positive_and_finite(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--headless", "--duration", value])
    assert exc.value.code == 2 and "positive finite" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["run", "--max-new-tokens", "1000000000"], ["run", "--threads", "100000"],
                                  ["replay", "--speed", "nan"], ["replay", "--speed", "0"], ["replay", "--speed", "-1"]])
def test_unbounded_numbers_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "expected a" in err and "Traceback" not in err


def test_a_set_where_every_sample_fails_exits_non_zero_with_the_reason(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(b"not an image")
    code = main(["run", "--headless", "--samples", str(folder), *QUICK, "--db", str(tmp_path / "s.db")])
    assert code == 1
    assert "no sample could be measured: 2 of 2 failed" in capsys.readouterr().err
    info, rows = _only_session(tmp_path / "s.db")
    assert info.status == "failed" and [r.status for r in rows] == ["error", "error"]


def test_warmup_on_a_finite_set_does_not_use_up_samples(tmp_path):
    folder = _images(tmp_path / "imgs", [f"{i}.png" for i in range(3)])
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--samples", str(folder), "--warmup", "2", "--max-new-tokens", "2",
                 "--db", str(db)]) == 0
    info, rows = _only_session(db)
    measured = [r.sample_id for r in rows if not r.is_warmup]
    assert sorted(measured) == ["0.png", "1.png", "2.png"]  # every image measured once
    assert [r.sample_id for r in rows if r.is_warmup] == ["0.png", "1.png"]  # warm-up on the first ones


def test_a_sample_past_the_timeout_becomes_an_error_row(tmp_path, capsys):
    folder = _images(tmp_path / "imgs", ["a.png", "b.png"])
    db = tmp_path / "s.db"
    # no generate() of even the tiny model takes 1 ms: every sample runs past it
    assert main(["run", "--headless", "--samples", str(folder), *QUICK, "--sample-timeout", "0.001",
                 "--db", str(db)]) == 1
    info, rows = _only_session(db)
    assert [r.status for r in rows] == ["error", "error"]
    assert all("--sample-timeout 0.001" in r.error for r in rows)
    assert "Traceback" not in capsys.readouterr().err


def test_a_fifo_named_like_an_image_is_an_error_row_not_a_hang(tmp_path):
    folder = _images(tmp_path / "imgs", ["a.png", "c.png"])
    os.mkfifo(folder / "b.png")  # opening it would block forever
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--samples", str(folder), *QUICK, "--db", str(db)]) == 0
    info, rows = _only_session(db)
    by_id = {r.sample_id: r for r in rows}
    assert by_id["b.png"].status == "error" and "not a regular file" in by_id["b.png"].error
    assert by_id["a.png"].status == by_id["c.png"].status == "ok" and info.status == "completed"


def test_a_worker_whose_dashboard_died_stops_and_reads_interrupted(tmp_path):
    db = tmp_path / "s.db"
    settings = json.dumps(asdict(RunSettings(max_new_tokens=2, warmup="none", threads=1)))
    # a stand-in for the dashboard: starts the worker as launch.py does, then is killed -9
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time; "
         f"w = subprocess.Popen([sys.executable, '-m', 'vlmtop.sessions.run.worker', {str(db)!r}, 'deadparent01', "
         f"{settings!r}], start_new_session=True); print(w.pid, flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, env=vlmtop_env(tmp_path),
    )
    worker_pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with SessionStore.open(db, create=False) as store:
                if store.session("deadparent01").sample_count >= 2:
                    break
        except Exception:
            pass
        time.sleep(0.2)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _alive(worker_pid):
        time.sleep(0.2)
    assert not _alive(worker_pid), "the worker outlived its dashboard"
    with SessionStore.open(db, create=False) as store:
        info = store.session("deadparent01")
        rows = store.samples(info.id)
    assert info.status == "interrupted" and "dashboard" in info.error
    assert [r.seq for r in rows] == list(range(len(rows))) and all(r.status == "ok" for r in rows)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose (its parent, killed, no longer reaps it until init does)
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_the_headless_summary_is_per_segment_after_a_policy_change(tmp_path):
    with record_fixed_session(tmp_path / "s.db") as store:
        segments = summarize_segments(store, SESSION_ID)
        info = store.session(SESSION_ID)
    assert [s.label.split()[0] for s in segments] == ["cache=keep", "cache=empty"]
    assert segments[0].last_seq == CHANGE_AT - 1 and segments[1].first_seq == CHANGE_AT
    e2e = {s.label.split()[0]: next(r for r in s.stages if r.stage == "e2e").n for s in segments}
    assert e2e == {"cache=keep": CHANGE_AT - 2, "cache=empty": 120 - CHANGE_AT - 2 - 1}  # warm-up, the error
    console = Console(record=True, width=120)
    print_summary(console, info, segments, "completed", tmp_path / "s.db")
    text = console.export_text()
    assert "cache=empty" in text and "2 policy segments, summarised apart" in text


def test_the_headless_summary_reports_reliability_when_sample_ids_repeat(tmp_path, capsys):
    folder = _images(tmp_path / "imgs", ["a.png", "b.png", "c.png"])
    assert main(["run", "--headless", "--json", "--samples", str(folder), "--count", "6", *QUICK,
                 "--db", str(tmp_path / "s.db")]) == 0
    report = json.loads(capsys.readouterr().out)
    reliability = report["reliability"]  # a fixed count cycles the folder: every id twice
    assert reliability["samples"] == 3 and reliability["line"].startswith("reliability of prefill")


def test_a_folder_of_bad_files_with_the_default_warmup_says_none_could_be_measured(tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        (folder / name).write_bytes(b"not an image")
    db = tmp_path / "s.db"
    code = main(["run", "--headless", "--samples", str(folder), "--max-new-tokens", "2", "--db", str(db)])
    assert code == 1
    err = capsys.readouterr().err
    # a failed warm-up counts down the warm-up (default 2): not 20 warm-up error rows
    assert "no sample could be measured: 3 of 3 failed" in err and "in a row" not in err
    info, rows = _only_session(db)
    assert info.status == "failed" and len(rows) <= 5
    assert sorted(r.sample_id for r in rows if not r.is_warmup) == ["a.png", "b.png", "c.png"]
