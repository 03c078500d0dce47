"""`vlmtop run --headless`: the worker in this process, a progress bar, then a summary.

For a GPU server, cron or CI: no screen to draw. The progress bar names the sample in
flight and how long it has run, so a runaway sample (a 20 000-word prompt) is visible
instead of a rate silently falling to 0.0 samples/s.
"""

from __future__ import annotations

import json
import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from vlmtop.core.errors import VlmtopError
from vlmtop.core.format import ms
from vlmtop.core.stage_table import IMAGE_STAGES
from vlmtop.core.text import markup_safe, printable, shown

HEADLESS_DEFAULT_COUNT = 50  # an endless source needs an end when nobody can press q
SLOW_FACTOR = 10.0  # a sample in flight this many times the median e2e gets a warning
SHOW_IN_FLIGHT_S = 1.0  # below this a sample in flight is not worth a mention


class InFlight:
    """The sample being measured right now, the finished ones, and the bar's live text.

    The rate is computed when the bar is drawn (Rich redraws several times a second), not
    when a sample ends: a sample that runs for minutes shows the rate falling, not the
    rate as it was before it started."""

    def __init__(self, clock=time.monotonic, lock_wait=lambda: 0.0) -> None:
        self.clock = clock
        self.lock_wait = lock_wait  # seconds the write under way has waited for the lock
        self.seq: int | None = None
        self.sample_id = ""
        self.started = 0.0
        self.e2e_ms: list[float] = []
        self.loaded_at: float | None = None  # the model is loaded: the rate counts from here
        self.done = 0  # rows recorded (warm-up and error rows included): what the rate counts
        self.last = "-"  # the last row's e2e, or "error"

    def loaded(self) -> None:
        self.loaded_at = self.clock()

    def start(self, seq: int, sample_id: str) -> None:
        self.seq, self.sample_id, self.started = seq, sample_id, self.clock()

    def finish(self, e2e_ms: float | None) -> None:
        self.seq = None
        self.done += 1
        self.last = duration(e2e_ms) if e2e_ms is not None else "error"
        if e2e_ms is not None:
            self.e2e_ms.append(e2e_ms)

    def rate(self) -> str:
        if self.loaded_at is None or not self.done:
            return ""
        return f"{self.done / max(1e-9, self.clock() - self.loaded_at):.1f} samples/s"

    def describe(self) -> Text:
        waited = self.lock_wait()
        if waited >= SHOW_IN_FLIGHT_S:  # the sample is done: its row waits to be written
            return Text(f"waiting for the database lock held by another program ({waited:.0f} s)", style="yellow")
        if self.seq is None:
            return Text("")
        elapsed = self.clock() - self.started
        if elapsed < SHOW_IN_FLIGHT_S:
            return Text("")
        text = shown(f"seq {self.seq} ({self.sample_id}) running {elapsed:.0f} s")
        if self.e2e_ms:
            median_s = sorted(self.e2e_ms)[len(self.e2e_ms) // 2] / 1000
            if elapsed > SLOW_FACTOR * median_s:
                text.append(f", {elapsed / median_s:.0f}x the median; --sample-timeout bounds it", style="yellow")
        return text


def duration(value_ms: float) -> str:
    """`153 ms`, `1.16 s`: ms() switches to seconds itself past 1000 ms, with its own unit."""
    text = ms(value_ms)
    return f"{text[:-1]} s" if text.endswith("s") else f"{text} ms"


class InFlightColumn(ProgressColumn):
    """The rate, the last e2e and the sample in flight, from :class:`InFlight` at draw time."""

    def __init__(self, in_flight: InFlight):
        super().__init__()
        self.in_flight = in_flight

    def render(self, task) -> Text:
        in_flight = self.in_flight
        text = Text(" ".join(filter(None, (in_flight.rate(), f"last e2e {in_flight.last}"))))
        now = in_flight.describe()
        if now:
            text.append("  ")
            text.append_text(now)
        return text


def run_headless(settings, db, as_json: bool = False) -> int:
    from vlmtop.sessions.analysis.reliability import reliability
    from vlmtop.sessions.records import SampleStatus, SessionStatus
    from vlmtop.sessions.run.worker import Worker, default_threads
    from vlmtop.sessions.store import SessionStore
    from vlmtop.sessions.summary import summarize_segments, summarize_session

    if settings.count is None and settings.duration_s is None and settings.samples == "synthetic":
        settings.count = HEADLESS_DEFAULT_COUNT
    settings.threads = settings.threads or default_threads(dashboard=False)
    err = Console(stderr=True)
    in_flight = InFlight()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        InFlightColumn(in_flight),
        console=err,
        transient=False,
    )
    from vlmtop.sessions.knobs import make_arms

    total = settings.count * len(make_arms(settings.knobs)) if settings.count else None  # --count is per arm
    task = progress.add_task("loading model", total=total)

    def on_loaded(loaded):
        in_flight.loaded()
        progress.update(task, description=markup_safe(f"{loaded.name} on {loaded.device}"))

    unlocated: set[str] = set()

    def on_sample(record):
        in_flight.finish(record.e2e_ms if record.status == SampleStatus.OK else None)
        unlocated.update(filter(None, (record.unlocated or "").split(",")))
        if record.status == SampleStatus.ERROR:
            # user text (paths, prompts, errors) is data: never let Rich read it as markup
            progress.console.print(Text.assemble(("seq ", "red"), (printable(f"{record.seq} ({record.sample_id}) failed: "), "red"),
                                                 printable(record.error or "")), soft_wrap=True)  # one line per row in a log
        elif not record.is_warmup:
            progress.advance(task)

    worker = Worker(settings, db, on_sample=on_sample, on_loaded=on_loaded, on_start=in_flight.start)
    in_flight.lock_wait = worker.store.lock_wait_s
    with progress:
        status = worker.run()
        with SessionStore.open(db, create=False) as store:
            info = store.session(worker.session_id)
            if info.failed_before_any_sample:
                progress.live.transient = True  # the reason is the whole story: no bar, no empty table
            else:
                segments = summarize_segments(store, worker.session_id)
                pooled = summarize_session(store, worker.session_id)
                repeats = reliability(list(store.iter_samples(worker.session_id)))
    if info.failed_before_any_sample:
        raise VlmtopError(info.failed_before_any_sample)
    if as_json:
        report = {"session": info.to_dict(), "db": str(db), "stages": [s.to_dict() for s in pooled]}
        if len(segments) > 1:
            report["segments"] = [seg.to_dict() for seg in segments]
        if repeats:
            report["reliability"] = repeats
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
    else:
        print_summary(Console(), info, segments, status, db)
        if repeats:  # sample ids measured more than once: how much of prefill's spread is the sample
            Console().print(shown(repeats["line"]), soft_wrap=True)
        for name in sorted(unlocated):
            err.print(shown(f"vlmtop: {name}: not located in {info.model}; its time is in other "
                           f"(declare it with --stage {name}=PATH)", style="yellow"), soft_wrap=True)
    if status == SessionStatus.FAILED:
        err.print(Text.assemble(("vlmtop: ", "red"), (printable(f"session {info.id} failed: "), "red"),
                                printable(info.error or "")),
                  soft_wrap=True)  # the reason on one line, for grep and CI logs
        return 1
    if status == SessionStatus.INTERRUPTED:
        err.print(shown(f"vlmtop: session {info.id} interrupted ({info.error or 'signal'}); "
                       f"{info.measured_count} samples kept"), soft_wrap=True)
        return worker.exit_code or 130
    return 0


def print_summary(out: Console, info, segments, status: str, db) -> None:
    from vlmtop.sessions.store import SessionStore

    if not segments:
        out.print(shown(f"session {info.id}: no measured sample"))
    # Stages the timer could not locate read 0.00 in every row (their time is in other):
    # one GROUP BY over the stored `unlocated` column, so they show as "not located".
    unlocated: set[str] = set()
    try:
        with SessionStore.open(db, create=False) as store:
            for value, _ in store.distinct_raw(info.id, ["unlocated"]):
                unlocated.update(name for name in (value if isinstance(value, str) else "").split(",") if name)
    except VlmtopError:  # the summary still prints; the run's own warning names them
        pass
    arms = {segment.arm for segment in segments}
    for segment in segments:
        title = f"{info.model} on {info.device} ({info.dtype}): ms per sample"
        if len(segments) > 1:  # arms, or policies changed mid-run: one table each, never pooled
            title += f"\n{segment.title}" if len(segments) == len(arms) else \
                f"\n{segment.title}, seq {segment.first_seq}-{segment.last_seq}: {segment.label}"
        if segment.inputs.describe():
            title += f"\n{segment.inputs.describe()}"
        out.print(_summary_table(title, segment.stages, unlocated, segment.inputs.text_only))
    if len(arms) > 1:
        out.print(shown(f"{len(arms)} arms interleaved on the same samples, summarised apart; "
                       f"`vlmtop compare {info.id}` compares each with the first"))
    elif len(segments) > 1:
        out.print(shown(f"{len(segments)} policy segments, summarised apart; "
                       f"`vlmtop compare {info.id}` compares them"))
    out.print(Text.assemble("session ", (printable(info.id), "bold"),
                            printable(f" {status} · {info.measured_count} measured, {info.warmup_count} warm-up, "
                                      f"{info.error_count} errors · database {db}", limit=0)))


def _summary_table(title: str, stages, unlocated: set[str] = frozenset(), text_only: bool = False) -> Table:
    # one line of the title per segment line; what each line quotes is escaped
    table = Table(title="\n".join(markup_safe(line) for line in title.split("\n")), title_justify="left")
    table.add_column("stage")
    for name in ("n", "mean", "p50", "p90", "p99", "share of e2e"):
        table.add_column(name, justify="right")
    for row in stages:
        if row.stage in unlocated:  # not a measured 0: its time is in other
            table.add_row(shown(row.stage), str(row.n), "not located", "", "", "", "")
            continue
        if text_only and row.stage in IMAGE_STAGES:
            table.add_row(shown(row.stage), str(row.n), "not run", "(text-only)", "", "", "")
            continue
        cells = [ms(v) for v in (row.mean, row.p50, row.p90, row.p99)]
        share = f"{row.share:.1%}" if row.share is not None else ""
        table.add_row(shown(row.stage), str(row.n), *cells, share, style="bold" if row.stage == "e2e" else None)
    return table


def run_replicated(settings, db, repeat: int, alternate_model: str | None = None, as_json: bool = False) -> int:
    """`--repeat N`: N fresh worker processes (N per side with --alternate-model), one
    experiment; a bar over all of them, then one row per replicate."""
    from rich.progress import Progress

    from vlmtop.sessions.knobs import make_arms
    from vlmtop.sessions.run.experiment import new_experiment_id, plan, run_experiment
    from vlmtop.sessions.run.worker import default_threads
    from vlmtop.sessions.store import SessionStore

    if settings.count is None and settings.duration_s is None and settings.samples == "synthetic":
        settings.count = HEADLESS_DEFAULT_COUNT
    settings.threads = settings.threads or default_threads(dashboard=False)
    experiment_id = new_experiment_id()
    replicates = plan(experiment_id, repeat, settings.model, alternate_model, seed=settings.seed)
    per_process = settings.count * len(make_arms(settings.knobs)) if settings.count else None
    err = Console(stderr=True)
    SessionStore.open(db, create=True).close()  # refuse a foreign or read-only file before any process
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err)
    task = progress.add_task(f"experiment {experiment_id}", total=per_process * len(replicates) if per_process else None)
    done_before = [0]

    def on_start(rep):
        progress.update(task, description=markup_safe(
            f"{experiment_id}: process {rep.index + 1}/{len(replicates)}" + (f" (side {rep.side}: {rep.model})" if rep.side else "")))

    def on_poll(rep):
        try:
            with SessionStore.open(db, create=False, readonly=True) as store:
                measured = store.session(rep.session_id).measured_count
        except VlmtopError:  # not created yet
            return
        progress.update(task, completed=done_before[0] + measured)

    with progress:
        codes = []
        for rep in replicates:
            rep_codes, interrupted = run_experiment(settings, db, [rep], experiment_id, on_start, on_poll)
            codes += rep_codes
            with SessionStore.open(db, create=False, readonly=True) as store:
                done_before[0] += store.session(rep.session_id).measured_count
            if interrupted:
                break
    return report_experiment(db, experiment_id, alternate_model, interrupted, as_json)


def report_experiment(db, experiment_id: str, alternate_model, interrupted: bool, as_json: bool) -> int:
    """The end of a replicated run (local or on Ray): one row per process, then the exit
    status: 130 interrupted, 1 when a process failed or was lost, else 0."""
    from vlmtop.sessions.analysis.stats import finite_median
    from vlmtop.sessions.records import SessionStatus
    from vlmtop.sessions.store import SessionStore

    with SessionStore.open(db, create=False, readonly=True) as store:
        infos = store.experiment_sessions(experiment_id)
        medians = {info.id: {column: finite_median(store.column(info.id, column, measured_only=True))
                             for column in ("prefill_ms", "e2e_ms")} for info in infos}
        repeats = _experiment_reliability(store, infos)
        arms = {arm for info in infos for arm in store.column(info.id, "arm", measured_only=True) if arm}
    if as_json:
        report = {"experiment_id": experiment_id, "db": str(db),
                  "sessions": [{**info.to_dict(), "medians": medians[info.id]} for info in infos]}
        if repeats:
            report["reliability"] = repeats
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
    else:
        Console().print(_experiment_table(experiment_id, infos, medians, alternate_model))
        if repeats:
            Console().print(shown(repeats["line"]), soft_wrap=True)
        Console().print(shown(_compare_hint(experiment_id, infos, arms)))
    err = Console(stderr=True)
    if interrupted:
        err.print(shown(f"vlmtop: experiment {experiment_id} interrupted after {len(infos)} processes"))
        return 130
    bad = [info for info in infos if info.status in (SessionStatus.FAILED, SessionStatus.INTERRUPTED)]
    if bad:
        err.print(shown(f"vlmtop: {len(bad)} of {len(infos)} processes {bad[0].status}; the first: {bad[0].error}",
                       style="red"))
        return 1
    return 0


def _experiment_reliability(store, infos) -> dict:
    """Test-retest reliability pooled over the experiment's processes: a unit is (side,
    arm, sample id), and its repeats are its measurements in every process. Pooled, not
    per session: a training loop that uses prefill as a reward measures a sample in one
    process and compares it with another measured in another, so the retest spread that
    matters includes the process offsets. The sides of --alternate-model are two models,
    never one unit. {} when no (side, arm, id) was measured twice."""
    from vlmtop.sessions.analysis.reliability import RELIABILITY_STAGES, reliability

    columns: dict[str, list] = {"sample_id": [], "arm": [], **{stage: [] for stage in RELIABILITY_STAGES}}
    for info in infos:
        ids = store.column(info.id, "sample_id", measured_only=True)
        arms = store.column(info.id, "arm", measured_only=True)
        columns["sample_id"] += list(ids)
        columns["arm"] += [f"{info.side or ''}|{arm or ''}" for arm in arms]
        for stage in RELIABILITY_STAGES:
            columns[stage] += list(store.column(info.id, stage, measured_only=True))
    result = reliability(columns)
    if result:
        result["pooled_over"] = "processes"  # units: (side, arm, sample id) across the experiment
        result["processes"] = len(infos)
        result["line"] = f"across {len(infos)} processes, {result['line']}"
    return result


def _compare_hint(experiment_id: str, infos, arms: set[str]) -> str:
    """What to run next, only when it works: `compare EXP` needs two sides (--alternate-
    model) or interleaved arms; one setting alone has nothing to compare within it (exit 2)."""
    if {info.side for info in infos} >= {"A", "B"}:
        return f"`vlmtop compare {experiment_id}` compares side A against side B across these processes"
    if len(arms) > 1:
        return f"`vlmtop compare {experiment_id}` compares the arms across these processes"
    return (f"one setting in every process: `vlmtop compare {experiment_id} OTHER_EXP` (another experiment, "
            "or a session) compares it with another setting across processes")


def _experiment_table(experiment_id, infos, medians, alternate_model) -> Table:
    table = Table(title=markup_safe(f"experiment {experiment_id}: {len(infos)} processes, medians in ms "
                               f"(node ids and more: --json)"), title_justify="left")
    columns = ["#", *(["side"] if alternate_model else []), "session", "host/pid", "device", "status",
               "measured", "prefill p50", "e2e p50"]
    for column in columns:
        numeric = column in ("#", "measured", "prefill p50", "e2e p50")
        # the session id is what a person types next: never cut; a long device name may be
        table.add_column(column, justify="right" if numeric else "left", no_wrap=column in ("session", "status"),
                         overflow="ellipsis" if column == "device" else "fold",
                         max_width=16 if column == "device" else None)
    for info in infos:
        m = medians[info.id]
        table.add_row(str(info.replicate), *([info.side or ""] if alternate_model else []), info.id,
                      markup_safe(f"{info.hostname or '-'}/{info.pid or '-'}"), markup_safe(info.device_name or info.device),
                      shown(info.status), str(info.measured_count),
                      *(ms(m[c]) for c in ("prefill_ms", "e2e_ms")))
    return table
