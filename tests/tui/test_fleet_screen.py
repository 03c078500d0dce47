"""The fleet of an experiment (`vlmtop run --ray`): `F` in the dashboard, `vlmtop attach exp-...`.

The sessions are written as the Ray driver writes them (sessions/run/ray/driver.commit: the
actor's create, the worker's update naming its device, samples, the end), into a real
SQLite file, with hosts and devices that differ; no Ray is started. The figures on screen
are checked against what the database returns to independent reads.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from helpers_store import full_record

from vlmtop.cli import main
from vlmtop.core.format import ms
from vlmtop.sessions.fleet import FleetView, experiment_summary
from vlmtop.sessions.playback import LiveTail
from vlmtop.sessions.run.experiment import Replicate
from vlmtop.sessions.run.ray.driver import Running, commit
from vlmtop.sessions.store import SessionStore, new_session_id
from vlmtop.tui.app import VlmtopApp
from vlmtop.tui.launch import fleet_session
from vlmtop.tui.screens.fleet import FleetScreen
from vlmtop.tui.widgets.header import SessionHeader

EXP = "exp-0f1ee7ab"
H100, L4 = "NVIDIA H100 80GB HBM3", "NVIDIA L4"
# (host, device name, GPU uuid, samples, e2e offset ms, how it ends: None = still running)
FLEET = [
    ("gpu-node-a", H100, "GPU-aaaa0000-0000-0000-0000-00000000000a", 30, 0.0, "completed"),
    ("gpu-node-a", H100, "GPU-aaaa0000-0000-0000-0000-00000000000b", 24, 5.0, None),
    ("gpu-node-b", L4, "GPU-bbbb0000-0000-0000-0000-00000000000c", 18, 40.0,
     ("interrupted", "Ray actor died: The actor died because its node was lost")),
    ("gpu-node-b", L4, "GPU-bbbb0000-0000-0000-0000-00000000000d", 12, 45.0, None),
]


def write_fleet(store: SessionStore, experiment_id: str = EXP, fleet=FLEET) -> list[str]:
    """The fleet's sessions, committed message by message as the driver commits an actor's
    outbox. Running sessions' samples start 0.5 s apart from the session's start (2/s, so
    their last ones are in the next seconds: a reader asks at a chosen time)."""
    ids = []
    now = time.time()
    for index, (host, name, uuid, count, offset, end) in enumerate(fleet):
        rep = Replicate(index, None, "tiny-qwen2-vl", new_session_id())
        running = Running(rep, actor=None, run_ref=None, take_ref=None, bundle=None)
        where = {"pid": 4000 + index, "hostname": host, "node_id": f"{index:x}" * 56}
        commit(store, running, "create", dict(
            model="tiny-qwen2-vl", device="auto", dtype="auto", settings={"warmup": "none"},
            versions={"torch": "2.4"}, session_id=rep.session_id, where=where,
            experiment={"experiment_id": experiment_id, "replicate": index, "side": None}))
        commit(store, running, "update", {"device": "cuda", "dtype": "bfloat16", "device_name": name,
                                          "device_uuid": uuid})
        for seq in range(count):
            record = full_record(rep.session_id, seq)
            started = now + seq * 0.5 if end is None else record.started_at
            commit(store, running, "sample", replace(record, e2e_ms=record.e2e_ms + offset, started_at=started))
        if end is not None:
            status, reason = (end, None) if isinstance(end, str) else end
            commit(store, running, "finish", (status, reason))
        ids.append(rep.session_id)
    return ids


@pytest.fixture
def fleet_db(tmp_path):
    db = tmp_path / "fleet.db"
    with SessionStore.open(db) as store:
        ids = write_fleet(store)
        store.create_session("tiny-qwen2-vl", "cpu", "float32", {})  # a session of no experiment
    return db, ids


def test_the_fleet_rows_are_the_databases_figures(fleet_db):
    db, ids = fleet_db
    with SessionStore.open(db, create=False) as store:
        infos = {info.id: info for info in store.experiment_sessions(EXP)}
        e2e = {sid: float(np.median(store.column(sid, "e2e_ms", measured_only=True))) for sid in ids}
        tpot = {sid: float(np.median([r.decode_per_token_ms for r in store.samples(sid)
                                      if not r.is_warmup and r.status == "ok"])) for sid in ids}
        starts = {sid: [r.started_at for r in store.samples(sid)] for sid in ids}
        newest_start = {sid: starts[sid][-1] for sid in ids}
        view = FleetView(store, EXP)
        now = newest_start[ids[1]] + 0.25  # 12 s into the longer running session
        summary, rows = view.rows("e2e_ms", "session", now=now)
        _, tpot_rows = view.rows("decode_per_token_ms", "session", now=now)
        _, hosts = view.rows("e2e_ms", "host", now=now)
        _, devices = view.rows("e2e_ms", "device", now=now)

    assert (summary.sessions, summary.hosts, summary.devices, summary.running) == (4, 2, 4, 2)
    assert summary.short() == "4 sessions on 2 hosts"
    assert [row.key for row in rows] == ids  # run order
    for row in rows:
        info = infos[row.key]
        assert (row.host, row.pid, row.measured) == (info.hostname, info.pid, info.measured_count)
        assert row.device.startswith(info.device_name) and row.median_ms == pytest.approx(e2e[row.key])
    assert [r.median_ms for r in tpot_rows] == pytest.approx([tpot[sid] for sid in ids])
    assert [row.status for row in rows] == [
        "completed", "running", "interrupted: Ray actor died: The actor died because its node was lost", "running"]
    # running sessions: the samples that started in the last 10 s, per second (20 of 24 of
    # the one 12 s old); and a fresh heartbeat
    assert rows[1].rate == pytest.approx(20 / 10)
    assert rows[3].rate == pytest.approx(sum(t >= now - 10 for t in starts[ids[3]]) / 10)
    assert rows[0].rate is None and rows[0].heartbeat_age_s is None
    assert 0 <= rows[1].heartbeat_age_s < 60

    # per host: sessions, measured samples and rates add up; the median is of the sessions'
    a, b = hosts
    assert (a.key, a.sessions, a.device, b.key, b.sessions) == ("gpu-node-a", 2, "2 devices", "gpu-node-b", 2)
    assert a.measured == infos[ids[0]].measured_count + infos[ids[1]].measured_count
    assert a.median_ms == pytest.approx(np.median([e2e[ids[0]], e2e[ids[1]]]))
    assert b.status in ("1 interrupted, 1 running", "1 running, 1 interrupted")
    assert b.rate == pytest.approx(rows[3].rate) and a.session_ids == tuple(ids[:2])
    # per device: one row per physical GPU, on its host
    assert [d.session_ids for d in devices] == [(sid,) for sid in ids] and devices[2].host == "gpu-node-b"


def test_an_experiment_is_named_by_its_id_or_a_unique_prefix(fleet_db, capsys):
    db, ids = fleet_db
    with SessionStore.open(db) as store:
        (other,) = write_fleet(store, "exp-0f1ee7cd", FLEET[:1])
        assert store.resolve_experiment(EXP) == EXP and store.resolve_experiment("exp-0f1ee7a") == EXP
        assert fleet_session(store, EXP) == ids[3]  # the newest running session
        assert fleet_session(store, "exp-0f1ee7cd") == other  # none runs: its newest
    assert main(["attach", "exp-0f1ee7", "--db", str(db)]) == 2
    assert main(["attach", "exp-nope", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "matches 2 experiments" in err[0] and "no experiment 'exp-nope'" in err[1]


def screen_text(app) -> str:
    """What the terminal shows, line by line, as text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def _wait_until(pilot, condition, seconds: float = 300.0) -> None:
    """Let the app run until ``condition()`` holds. The deadline only bounds a broken test (the
    assertions after the wait then say what is missing): the rows are read off the UI thread
    and drawn after they come, which takes its time on a loaded machine."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await pilot.pause(0.05)


async def test_the_fleet_screen_groups_and_enter_follows_a_session(fleet_db):
    db, ids = fleet_db
    with SessionStore.open(db, create=False) as store:
        app = VlmtopApp(store, LiveTail(store, ids[3]), fleet=True)  # what `vlmtop attach exp-...` opens
        async with app.run_test(size=(120, 40)) as pilot:
            await _wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.rows)
            screen = app.screen
            assert [row.key for row in screen.rows] == ids
            shown = ("gpu-node-a", "gpu-node-b", "NVIDIA L4", "interrupted: Ray actor died", "by session", *ids)
            await _wait_until(pilot, lambda: all(text in screen_text(app) for text in shown))  # drawn, not only read
            shot = screen_text(app)
            for text in ("gpu-node-a", "gpu-node-b", "NVIDIA L4", "interrupted: Ray actor died", "by session"):
                assert text in shot
            for sid in ids:  # each session's line holds the database's figures
                info = store.session(sid)
                median = float(np.median(store.column(sid, "prefill_ms", measured_only=True)))
                (line,) = [line for line in shot.splitlines() if sid in line and "pid" not in line]
                assert f" {info.pid} " in line and f" {info.measured_count} " in line
                assert ms(median) in line and screen.column == "prefill_ms"  # the dashboard's selected stage
            median = screen.rows[0].median_ms
            await pilot.press("g")
            await _wait_until(pilot, lambda: screen.rows and screen.rows[0].key == "gpu-node-a")
            assert [(r.key, r.sessions) for r in screen.rows] == [("gpu-node-a", 2), ("gpu-node-b", 2)]
            await _wait_until(pilot, lambda: "by host" in screen_text(app))
            assert "by host" in screen_text(app)
            await pilot.press("g")
            await _wait_until(pilot, lambda: screen.grouping == "device" and len(screen.rows) == 4)
            await pilot.press("g")  # back to sessions
            await _wait_until(pilot, lambda: screen.grouping == "session" and len(screen.rows) == 4)
            assert screen.rows[0].median_ms == median
            await pilot.press("down", "down")
            await _wait_until(pilot, lambda: screen.cursor == 2)
            await pilot.press("enter")
            await _wait_until(pilot, lambda: app.state.session is not None and app.state.session.id == ids[2])
            assert not isinstance(app.screen, FleetScreen) and app.session_id == ids[2]
            assert app.state.total == store.session(ids[2]).sample_count  # its rows, from the database
            # the header says it is a fleet, and where the fleet screen is
            await _wait_until(pilot, lambda: "fleet:" in str(app.query_one(SessionHeader).render()))
            assert "fleet: 4 sessions on 2 hosts · F" in str(app.query_one(SessionHeader).render())
            await pilot.press("F")
            await _wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.rows)
            assert app.screen.current == ids[2]
            await pilot.press("escape")
            assert not isinstance(app.screen, FleetScreen)


async def test_a_group_row_lists_its_sessions_and_a_lone_session_has_no_fleet(fleet_db):
    db, ids = fleet_db
    with SessionStore.open(db, create=False) as store:
        app = VlmtopApp(store, LiveTail(store, ids[0]))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("F")
            await _wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.rows)
            await pilot.press("g", "down")
            await _wait_until(pilot, lambda: app.screen.grouping == "host" and app.screen.cursor == 1)
            await pilot.press("enter")  # gpu-node-b: back to sessions, the cursor on its first
            await _wait_until(pilot, lambda: app.screen.grouping == "session" and app.screen.rows)
            assert app.screen.rows[app.screen.cursor].key == ids[2]
        lone = [info.id for info in store.sessions() if info.experiment_id is None][0]
        app = VlmtopApp(store, LiveTail(store, lone))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.3)
            await pilot.press("F")
            await pilot.pause(0.1)
            assert not isinstance(app.screen, FleetScreen)
            assert "fleet" not in str(app.query_one(SessionHeader).render())


def test_a_summary_on_one_host_counts_its_devices(tmp_path):
    with SessionStore.open(tmp_path / "one.db") as store:
        write_fleet(store, EXP, [("gpu-node-a", H100, f"GPU-{i}", 3, 0.0, "completed") for i in range(3)])
        summary = experiment_summary(store, EXP)
    assert summary.spread and summary.short() == "3 sessions on 3 devices"


async def test_the_cursor_row_stays_on_screen_in_a_fleet_taller_than_it(tmp_path):
    db = tmp_path / "tall.db"
    with SessionStore.open(db) as store:
        ids = write_fleet(store, EXP, [(f"node-{i % 5}", H100, f"GPU-{i:04d}", 3, i, "completed") for i in range(30)])
        app = VlmtopApp(store, LiveTail(store, ids[0]), fleet=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await _wait_until(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.rows)
            for _ in range(25):
                await pilot.press("down")
            await _wait_until(pilot, lambda: app.screen.cursor == 25)
            await pilot.pause(0.1)
            text = screen_text(app)
            assert ids[25] in text and ids[0] not in text  # scrolled with the cursor
