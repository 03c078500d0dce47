"""Benchmark of the session database: write cost, tail cost, replay open time, file size.

    python bench/store.py           # the full run: a 1M-sample session (about a minute)
    python bench/store.py --quick   # a smoke run for CI (a few seconds)

Figures are medians. The big session is built with one bulk insert (not write_sample, which
fsyncs per sample) from realistic rows: 16 new tokens, so 15 decode steps and 18 spans.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import print_json

from vlmtop.sessions.playback import LiveTail, ReplaySource
from vlmtop.sessions.records import SampleRecord
from vlmtop.sessions.store import SAMPLE_COLUMNS, SessionStore, encode_sample

NEW_TOKENS = 16


def realistic_record(session_id: str, seq: int) -> SampleRecord:
    """A sample as the tiny default model produces it, its numbers varied by seq."""
    jitter = (seq * 7919 % 1000) / 1000  # deterministic, different for nearby seqs
    steps = [11.0 + jitter + (i % 5) * 0.173 for i in range(NEW_TOKENS - 1)]
    vision, projector, prefill = 21.3 + jitter, 1.27 + jitter / 10, 48.9 + jitter
    spans, t = [], 0.41
    for stage, ms in (("vision", vision), ("projector", projector), ("prefill", prefill)):
        spans.append((stage, t, t + ms))
        t += ms + 0.05
    for ms in steps:
        t += 0.9  # the generate loop's own work between steps
        spans.append(("decode", t, t + ms))
        t += ms
    return SampleRecord(
        session_id=session_id,
        seq=seq,
        sample_id=f"synthetic-{seq}",
        started_at=1.7e9 + seq * 0.25,
        image_width=384,
        image_height=384,
        prompt_tokens=87,
        image_tokens=64,
        new_tokens=NEW_TOKENS,
        vision_ms=vision,
        projector_ms=projector,
        prefill_ms=prefill,
        decode_ms=sum(steps),
        ttft_ms=vision + projector + prefill + 1.9,
        e2e_ms=t + 0.6,
        other_ms=t + 0.6 - vision - projector - prefill - sum(steps),
        decode_steps_ms=steps,
        spans=spans,
    )


def median_us(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def bench_writes(folder: Path, count: int) -> dict[str, float]:
    """write_sample as the worker calls it: one transaction per sample."""
    out = {}
    for sync in ("NORMAL", "FULL"):
        with SessionStore.open(folder / f"writes-{sync}.db") as store:
            store.connection.execute(f"PRAGMA synchronous = {sync}")
            session_id = store.create_session("bench", "cpu", "float32", {})
            records = [realistic_record(session_id, seq) for seq in range(count)]
            times = []
            for rec in records:
                start = time.perf_counter()
                store.write_sample(rec)
                times.append(time.perf_counter() - start)
            out[sync] = statistics.median(times) * 1e6
    return out


def build_big_session(path: Path, rows: int) -> str:
    """A session of ``rows`` realistic samples, inserted in bulk."""
    with SessionStore.open(path) as store:
        session_id = store.create_session("bench", "cpu", "float32", {"rows": rows})
        # Encoding is the slow part: encode 1000 distinct rows and vary only their keys.
        templates = [encode_sample(realistic_record(session_id, seq)) for seq in range(1000)]
        seq_at, started_at = SAMPLE_COLUMNS.index("seq"), SAMPLE_COLUMNS.index("started_at")

        def rows_iter():
            for seq in range(rows):
                row = list(templates[seq % 1000])
                row[seq_at], row[started_at] = seq, 1.7e9 + seq * 0.25
                yield row

        conn = store.connection  # the bench bulk-loads past the one-sample API on purpose
        marks = ", ".join("?" * len(SAMPLE_COLUMNS))
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) VALUES ({marks})", rows_iter()
        )
        conn.execute(
            "UPDATE sessions SET sample_count = ?, measured_count = ? WHERE id = ?",
            (rows, rows, session_id),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.finish_session(session_id, "completed")
    return session_id


def bench_replay_open(path: Path, session_id: str, repeat: int) -> dict[str, float]:
    """Open the file and show the first window, as `vlmtop replay` does; plus moves."""

    def open_and_show() -> None:
        with SessionStore.open(path, create=False) as store:
            ReplaySource(store, session_id).poll()

    def open_at_end() -> None:
        with SessionStore.open(path, create=False) as store:
            ReplaySource(store, session_id, position=2**62).poll()  # clamped to the last

    out = {
        "open_s": median_us(open_and_show, repeat) / 1e6,
        "open_end_s": median_us(open_at_end, repeat) / 1e6,
    }
    with SessionStore.open(path, create=False) as store:
        source = ReplaySource(store, session_id, playing=False)
        source.poll()
        total = source.total

        def jump() -> None:
            source.seek(total // 2 if source.position != total // 2 else total - 1)
            source.poll()

        def step_back() -> None:
            source.step(-1)
            source.poll()

        def step_forward() -> None:
            source.step(1)
            source.poll()

        out["seek_ms"] = median_us(jump, repeat) / 1e3
        out["step_back_ms"] = median_us(step_back, repeat) / 1e3
        out["step_forward_us"] = median_us(step_forward, repeat * 10)
        out["list_sessions_ms"] = median_us(store.sessions, repeat) / 1e3
        out["column_s"] = median_us(lambda: store.column(session_id, "prefill_ms"), 3) / 1e6
    return out


def bench_tail(path: Path, repeat: int) -> dict[str, float]:
    """LiveTail.poll on the big file while a session there is being written."""
    with SessionStore.open(path) as store:
        session_id = store.create_session("bench", "cpu", "float32", {})
        for seq in range(100):
            store.write_sample(realistic_record(session_id, seq))
        tail = LiveTail(store, session_id)
        tail.poll()
        empty = median_us(tail.poll, repeat)
        times, seq = [], 100
        for _ in range(max(10, repeat // 10)):
            for _ in range(10):
                store.write_sample(realistic_record(session_id, seq))
                seq += 1
            start = time.perf_counter()
            update = tail.poll()
            times.append(time.perf_counter() - start)
            assert len(update.rows) == 10
        return {"poll0_us": empty, "poll10_us": statistics.median(times) * 1e6}


def measure(rows: int, writes: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="vlmtop-bench-") as tmp:
        folder = Path(tmp)
        write = bench_writes(folder, writes)
        big = folder / "big.db"
        start = time.perf_counter()
        session_id = build_big_session(big, rows)
        built_s = time.perf_counter() - start
        size = big.stat().st_size
        return {
            "writes": writes,
            "write_us": write,
            "rows": rows,
            "built_s": built_s,
            "bytes_per_sample": size / rows,
            "file_mib": size / 2**20,
            "replay": bench_replay_open(big, session_id, repeat),
            "tail": bench_tail(big, repeat * 10),
        }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--rows", type=int, help="samples in the big session (default 1M)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # quick: a session just past the replay window (2000), so seek and step still move it
    args.rows = args.rows or (3_000 if args.quick else 1_000_000)
    return args


def figures(args: argparse.Namespace) -> dict:
    """What `--json` prints (run_all calls this in its own process for --quick)."""
    return measure(args.rows, writes=20 if args.quick else 2000, repeat=3 if args.quick else 21)


def main() -> None:
    args = parse()
    result = figures(args)
    rows = args.rows
    if args.json:
        print_json(result)
        return
    write, replay, tail = result["write_us"], result["replay"], result["tail"]
    print(f"write_sample, 1 transaction per sample ({result['writes']} samples, median):")
    print(f"  synchronous=NORMAL (vlmtop) {write['NORMAL']:9.0f} us")
    print(f"  synchronous=FULL (fsync)    {write['FULL']:9.0f} us")
    print(f"big session: {rows:,} samples built in {result['built_s']:.1f} s")
    print(f"  file size per sample        {result['bytes_per_sample']:9.0f} bytes ({result['file_mib']:,.0f} MiB)")
    print(f"replay of the {rows:,}-sample session (window 2000, median):")
    print(f"  open + show sample 0        {replay['open_s']:9.3f} s   (goal < 2 s)")
    print(f"  open + show last 2000       {replay['open_end_s']:9.3f} s   (goal < 2 s)")
    print(f"  seek far (reset window)     {replay['seek_ms']:9.1f} ms")
    print(f"  step back (reset, 1 read)   {replay['step_back_ms']:9.1f} ms")
    print(f"  step forward (1 row)        {replay['step_forward_us']:9.0f} us")
    print(f"  list sessions               {replay['list_sessions_ms']:9.2f} ms")
    print(f"  column('prefill_ms'), all   {replay['column_s']:9.3f} s")
    print(f"live tail poll in the {rows:,}-sample file (median):")
    print(f"  returning 0 rows            {tail['poll0_us']:9.0f} us")
    print(f"  returning 10 rows           {tail['poll10_us']:9.0f} us")


if __name__ == "__main__":
    main()
