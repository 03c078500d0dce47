"""Live tail and replay: the one interface the dashboard reads samples through."""

from __future__ import annotations

import time

import pytest
from helpers_store import full_record, new_session, record_session, start_writer

from vlmtop.sessions.playback import LiveTail, ReplaySource, SampleSource
from vlmtop.sessions.records import EventRecord
from vlmtop.sessions.store import SessionStore, UnknownSessionError


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    with SessionStore.open(tmp_path / "s.db") as store:
        yield store


def seqs(update) -> list[int]:
    return [r.seq for r in update.rows]


# --- live tail -----------------------------------------------------------------------


def test_live_tail_sees_every_row_of_a_writer_process_exactly_once(tmp_path):
    path = tmp_path / "live.db"
    writer = start_writer(path, count=150, delay_s=0.002)
    session_id = writer.stdout.readline().strip()
    seen, events, polls = [], [], 0
    with SessionStore.open(path, create=False) as store:
        tail = LiveTail(store, session_id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            update = tail.poll()
            polls += 1
            assert update.reset == (polls == 1)
            seen.extend(update.rows)
            events.extend(update.events)
            assert update.position == (seen[-1].seq if seen else -1)
            if update.session.status == "completed" and not tail.poll().rows:
                break
            time.sleep(0.01)
        final = tail.poll()
    writer.wait(timeout=10)
    assert writer.returncode == 0
    assert [r.seq for r in seen] == list(range(150))
    assert seen == [full_record(session_id, seq) for seq in range(150)]
    assert [e.detail for e in events] == [f"after {seq}" for seq in range(0, 150, 10)]
    assert final.rows == [] and final.events == [] and final.total == 150
    assert polls > 2  # it really tailed: rows arrived over several polls


def test_live_tail_attaching_to_a_long_session_starts_from_its_last_window(store):
    session_id = record_session(store, 50)
    tail = LiveTail(store, session_id, window=20)
    first = tail.poll()
    assert first.reset and seqs(first) == list(range(30, 50))
    assert [e.kind for e in first.events] == ["start", "end"]
    assert (first.position, first.total) == (49, 50)
    assert tail.poll().rows == []


def test_live_tail_batches_rows_written_between_polls(store):
    session_id = new_session(store)
    tail = LiveTail(store, session_id)
    empty = tail.poll()
    assert empty.reset and empty.rows == [] and empty.position == -1 and empty.total == 0
    for seq in range(5):
        store.write_sample(full_record(session_id, seq))
    store.write_event(EventRecord(session_id, 5, "pause"))
    update = tail.poll()
    assert not update.reset and seqs(update) == [0, 1, 2, 3, 4]
    assert [e.kind for e in update.events] == ["pause"]
    assert update.session.sample_count == 5 and update.session.status == "running"


def test_sources_reject_unknown_sessions(store):
    with pytest.raises(UnknownSessionError):
        LiveTail(store, "nosuch")
    with pytest.raises(UnknownSessionError):
        ReplaySource(store, "nosuch")


def test_both_sources_satisfy_the_protocol(store):
    session_id = record_session(store, 3)
    for source in (LiveTail(store, session_id), ReplaySource(store, session_id)):
        assert isinstance(source, SampleSource)
        assert source.session_id == session_id
    assert LiveTail.is_live and not ReplaySource.is_live


# --- replay --------------------------------------------------------------------------


@pytest.fixture
def replay(store):
    session_id = record_session(store, 100)
    clock = FakeClock()
    return ReplaySource(store, session_id, window=10, speed=10.0, clock=clock), clock


def test_replay_starts_at_the_first_sample_and_plays_by_elapsed_time(replay):
    source, clock = replay
    first = source.poll()
    assert first.reset and seqs(first) == [0] and first.total == 100
    assert [e.kind for e in first.events] == ["start"]
    clock.now += 0.35  # 3.5 samples at 10/s: 3 now, the half is kept for later
    assert seqs(source.poll()) == [1, 2, 3]
    clock.now += 0.05
    assert seqs(source.poll()) == [4]
    assert source.poll().rows == []  # no time passed


def test_replay_pause_speed_and_end(replay):
    source, clock = replay
    source.poll()
    source.pause()
    clock.now += 5
    assert source.poll().rows == []
    source.play()
    source.faster()
    assert source.speed == 20
    clock.now += 0.1
    assert seqs(source.poll()) == [1, 2]
    source.slower()
    source.slower()
    assert source.speed == 5
    clock.now += 60  # far past the end: clamps at the last sample, one reset window
    update = source.poll()
    assert update.reset and seqs(update) == list(range(90, 100))
    assert source.at_end and update.position == 99
    assert [e.kind for e in update.events] == ["start", "end"]


def test_replay_steps_forward_and_back(replay):
    source, clock = replay
    source.poll()
    source.step(3)
    assert not source.playing
    update = source.poll()
    assert not update.reset and seqs(update) == [1, 2, 3]
    source.step(-1)
    back = source.poll()
    assert back.reset and seqs(back) == [0, 1, 2] and back.position == 2
    source.step(-10)
    assert seqs(source.poll()) == [0]
    clock.now += 10  # paused by stepping: time does not move it
    assert source.poll().rows == []


def test_replay_seek_home_end(replay):
    source, _ = replay
    source.poll()
    source.seek(8)
    near = source.poll()
    assert not near.reset and seqs(near) == list(range(1, 9))
    source.seek(50)  # further than a window ahead: reset to the window ending there
    far = source.poll()
    assert far.reset and seqs(far) == list(range(41, 51))
    assert [e.kind for e in far.events] == ["start"]
    source.end()
    end = source.poll()
    assert end.reset and end.position == 99 and [e.kind for e in end.events] == ["start", "end"]
    source.home()
    home = source.poll()
    assert home.reset and seqs(home) == [0]
    source.seek(10_000)
    assert source.position == 99
    source.seek(-5)
    assert source.position == 0


def test_replay_delivers_events_with_the_sample_before_they_apply(store):
    session_id = new_session(store)
    for seq in range(6):
        store.write_sample(full_record(session_id, seq))
    store.write_event(EventRecord(session_id, 3, "policy", "cache=empty", value="empty", name="cache"))
    source = ReplaySource(store, session_id, window=10, playing=False, clock=FakeClock())
    assert source.poll().events == []
    source.seek(1)
    assert source.poll().events == []
    source.seek(2)  # sample 2 shown: the policy applies from the next one
    assert [e.detail for e in source.poll().events] == ["cache=empty"]
    source.seek(5)
    assert source.poll().events == []


def test_replay_can_start_anywhere_and_handles_an_empty_session(store):
    session_id = record_session(store, 30)
    source = ReplaySource(store, session_id, window=5, position=20, clock=FakeClock())
    assert seqs(source.poll()) == [16, 17, 18, 19, 20]
    empty = ReplaySource(store, new_session(store), clock=FakeClock())
    update = empty.poll()
    assert update.reset and update.rows == [] and update.position == -1 and update.total == 0


def test_replay_window_stays_exact_through_back_and_forth_moves(store):
    session_id = record_session(store, 60)
    records = [full_record(session_id, seq) for seq in range(60)]
    source = ReplaySource(store, session_id, window=10, position=50, clock=FakeClock())
    held = []
    for move, expected_window in (
        (None, range(41, 51)),
        (lambda: source.step(-3), range(38, 48)),
        (lambda: source.step(5), range(43, 53)),
        (lambda: source.step(-20), range(23, 33)),
        (lambda: source.seek(27), range(18, 28)),
        (lambda: source.step(4), range(22, 32)),
        (lambda: source.home(), range(0, 1)),
    ):
        if move:
            move()
        update = source.poll()
        held = update.rows if update.reset else (held + update.rows)[-10:]
        assert held == [records[seq] for seq in expected_window]


# --- capabilities and merging (what the dashboard's poller relies on) -----------------


def test_sources_declare_what_they_can_do(store):
    session_id = record_session(store, 3)
    assert not LiveTail(store, session_id).can_seek
    assert ReplaySource(store, session_id).can_seek


def test_merged_updates_keep_every_row_and_a_reset_wins(store):
    session_id = new_session(store)
    tail = LiveTail(store, session_id)
    first = tail.poll()  # reset, empty
    store.write_sample(full_record(session_id, 0))
    second = tail.poll()
    store.write_sample(full_record(session_id, 1))
    store.write_event(EventRecord(session_id, 2, "pause", "", at=3.0))
    third = tail.poll()
    merged = first.then(second).then(third)
    assert merged.reset and seqs(merged) == [0, 1] and [e.kind for e in merged.events] == ["pause"]
    assert (merged.position, merged.total) == (1, 2)
    assert second.then(third.__class__([], [], True, 1, 2, third.session)).reset  # a newer reset replaces
    quiet = tail.poll()
    assert not quiet.changes_screen and third.changes_screen
