"""The measurement worker: loads the model, times each sample, writes it to the database.

It runs in a process of its own (the dashboard starts it as a subprocess; ``--headless``
runs it in the foreground), so a dashboard's rendering never competes with it for the GIL.
Between samples it applies the control rows a dashboard wrote (pause, resume, stop, policy
changes) and answers each with an event saying from which sample it applies: a policy
change never touches a sample in flight. Each finished sample is committed on its own, so
whatever happens to any process, every reported sample is in the file.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from vlmtop.core import StageTimer, locate_stages
from vlmtop.core.cache_policy import apply_cache_policy
from vlmtop.core.device_info import describe_device
from vlmtop.core.errors import VlmtopError, first_line
from vlmtop.core.model_loading import LoadedModel, load_model, quiet_transformers
from vlmtop.core.multipass import measure_multipass
from vlmtop.core.samples import DEFAULT_PROMPT, Sample, open_samples, synthetic_image
from vlmtop.core.zoo import DEFAULT_PRESET
from vlmtop.sessions.knobs import Arm, knob, make_arms
from vlmtop.sessions.policies import POLICIES, Policies
from vlmtop.sessions.records import MULTIPASS_COLUMNS, EventRecord, SampleRecord, SampleStatus, SessionStatus
from vlmtop.sessions.run.arms import BlockSchedule, ModelTarget
from vlmtop.sessions.run.controls import ControlsMixin
from vlmtop.sessions.run.lifecycle import Lifecycle, timeout_message
from vlmtop.sessions.run.process import FAULT_PREFIX
from vlmtop.sessions.store import SessionStore, StoreLockedError, StoreWriteError
from vlmtop.sessions.store.connection import recording_lock_wait_s

HEARTBEAT_S = 5.0
MAX_ERRORS_IN_A_ROW = 20  # a model that fails every sample fails the session instead


@dataclass
class RunSettings:
    """Everything a run is configured with; stored as the session's settings."""

    model: str = DEFAULT_PRESET
    random_weights: bool = False
    samples: str = "synthetic"
    prompt: str | None = None
    prompt_column: str | None = None  # a parquet dataset's prompt column (core/datasets.py picks by default)
    image_column: str | None = None  # its image column, where it has several
    count: int | None = None  # measured samples; None: until stopped or the source ends
    duration_s: float | None = None
    max_new_tokens: int = 16
    fixed_length: bool = True  # min_new_tokens = max_new_tokens
    device: str | None = None
    dtype: str | None = None
    cache_policy: str = POLICIES["cache"].default
    warmup: str = POLICIES["warmup"].default
    timing: str = POLICIES["timing"].default
    stages: dict[str, str] = field(default_factory=dict)
    threads: int | None = None
    seed: int = 0
    sample_timeout_s: float | None = None  # a sample running longer becomes an error row
    # --knob NAME=V1,V2: knob -> its values in order; several values make arms (sessions/knobs.py)
    knobs: dict[str, list] = field(default_factory=dict)
    trust_remote_code: bool = False  # run a checkpoint's own code (auto_map): only when asked
    # `--repeat`: {"experiment_id", "replicate", "side"} of this replicate process
    experiment: dict | None = None

    def policies(self) -> Policies:
        return Policies().with_value("cache", self.cache_policy).with_value("warmup", self.warmup).with_value(
            "timing", self.timing
        )


def default_threads(dashboard: bool) -> int:
    """All cores headless; one left for the dashboard's process when it draws beside us."""
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if dashboard and cores > 1 else cores


class Worker(ControlsMixin):
    """One recording session. ``run()`` returns the session's final status."""

    def __init__(
        self,
        settings: RunSettings,
        db: str | Path | SessionStore,
        session_id: str | None = None,
        on_sample: Callable[[SampleRecord], None] | None = None,
        on_loaded: Callable[[LoadedModel], None] | None = None,
        on_start: Callable[[int, str], None] | None = None,
        watch_parent: bool = False,
    ):
        self.settings = settings
        self.policies = settings.policies()  # validated before anything is written
        # every knob the run fixes or varies, the policies included, so each row names them all;
        # the --knob options first, in their order: the arm labels follow the command line
        self.arms = make_arms({**settings.knobs, **{name: values for name, values in self.policies.as_knobs().items()
                                                   if name not in settings.knobs}})
        # A path: this process writes the session database. A store-like object: someone
        # else does (a Ray actor streams its records to the driver, the one SQLite writer);
        # it needs the methods used below, and is closed when the run ends.
        self.store = SessionStore.open(db, create=True) if isinstance(db, (str, Path)) else db
        if isinstance(self.store, SessionStore):  # another program's lock: wait (and say so)
            self.store.set_lock_wait(recording_lock_wait_s())
        self.session_id = session_id
        self.on_sample = on_sample or (lambda record: None)
        self.on_loaded = on_loaded or (lambda loaded: None)
        self.on_start = on_start or (lambda seq, sample_id: None)  # a sample begins (progress bars)
        self.lifecycle = Lifecycle(watch_parent)
        self.seq = 0
        self.measured = 0
        self.errors = 0
        self.first_error: str | None = None
        self.paused = False
        self.stop_requested = False  # by a `stop` control: a deliberate end, not an interruption
        self._warmup_left: dict[str, int] = {}  # per arm label
        self._errors_in_a_row = 0
        self._said_unlocated: set[str] = set()
        self._failed_warmups = 0  # error rows among the warm-ups (not counted as samples that failed)

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> str:
        """Record the session; return its final status. The store is closed on return."""
        settings = self.settings
        threads_before = torch.get_num_threads()
        with ExitStack() as cleanup:
            cleanup.callback(self.store.close)
            cleanup.callback(torch.set_num_threads, threads_before)  # a library caller's setting
            if settings.threads:
                torch.set_num_threads(settings.threads)
            self.session_id = self.store.create_session(
                model=settings.model,
                device=settings.device or "auto",
                dtype=settings.dtype or "auto",
                settings={**asdict(settings), "threads": torch.get_num_threads()},
                session_id=self.session_id,
                experiment=settings.experiment,
            )
            self._event("start", self.policies.describe())
            cleanup.enter_context(self.lifecycle)
            quiet_transformers()
            try:
                loaded = load_model(
                    settings.model,
                    device=settings.device,
                    dtype=settings.dtype,
                    random_weights=settings.random_weights,
                    seed=settings.seed,
                    trust_remote_code=settings.trust_remote_code,
                )
                self.store.update_session(
                    self.session_id, device=str(loaded.device), dtype=str(loaded.dtype).replace("torch.", ""),
                    **describe_device(str(loaded.device)),
                )
                self.on_loaded(loaded)
                self._loop(loaded)
                self._check_something_was_measured()
            except (StoreWriteError, StoreLockedError) as exc:
                # The database itself failed (full disk, a lock held elsewhere): every
                # committed sample stays; say so where a write still fits, then one line.
                self.store.record_fault(self.session_id, str(exc))
                raise
            except KeyboardInterrupt:  # a second signal: the sample in flight is abandoned
                self._finish(SessionStatus.INTERRUPTED, f"{self.lifecycle.reason or 'interrupted'}; the sample in flight was abandoned")
            except VlmtopError as exc:
                self._finish(SessionStatus.FAILED, str(exc))
            except Exception as exc:  # out of memory, a broken model: the session says why
                self._finish(SessionStatus.FAILED, f"{type(exc).__name__}: {first_line(exc)}")
            else:
                if self.lifecycle.reason:
                    self._finish(SessionStatus.INTERRUPTED, self.lifecycle.reason)
                else:
                    self._finish(SessionStatus.COMPLETED, None)
            return self.store.session(self.session_id).status

    @property
    def exit_code(self) -> int:
        """128 + signal after a signal, as a shell reports it; otherwise 0."""
        return self.lifecycle.exit_code

    def _check_something_was_measured(self) -> None:
        """A source that ran out with every sample failed is a failed session, not a
        completed one with nothing in it."""
        failed = self.errors - self._failed_warmups or self.errors  # the set's own samples, each tried once
        if self.measured == 0 and self.errors and not self.lifecycle.reason and not self.stop_requested:
            raise VlmtopError(
                f"no sample could be measured: {failed} of {failed} failed; the first: {self.first_error}"
            )

    def _finish(self, status: str, error: str | None) -> None:
        if error:
            self._event("error", error)
        self._event("end", status if not self.stop_requested else f"{status} (stopped by the user)")
        self.store.finish_session(self.session_id, status, error)

    # -- the sample loop -----------------------------------------------------------------

    def _loop(self, loaded: LoadedModel) -> None:
        settings = self.settings
        self.family = loaded.family  # a knob switched from a dashboard must apply to it too
        for arm_knob in settings.knobs:
            knob(arm_knob).check_family(loaded.family)  # a hub model's family is known only now
        self._check_several_images(loaded)
        stages = locate_stages(loaded.model, settings.stages)
        samples, warmup_samples = self._samples(loaded)
        deadline = time.monotonic() + settings.duration_s if settings.duration_s else None
        target = ModelTarget(loaded, self._set_policy)
        schedule = BlockSchedule(len(self.arms), settings.seed)
        self._warmup_left = self._first_warmups()
        last_beat = time.monotonic()
        with ExitStack() as timer_scope, torch.inference_mode():
            timer, timer_timing = None, None
            while True:
                if self._apply_controls():  # a policy or a loading knob changed: every arm warms up again
                    self._warmup_left = self._first_warmups()
                if time.monotonic() - last_beat > HEARTBEAT_S:
                    self.store.heartbeat(self.session_id)
                    last_beat = time.monotonic()
                if self.stop_requested or self.lifecycle.stop_requested:
                    return
                # --count is measured samples per arm: whole blocks, so every arm has as many
                if schedule.at_block_start and settings.count is not None and self.measured >= settings.count * len(self.arms):
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if self.paused:
                    time.sleep(0.05)
                    continue
                step = schedule.next(samples)
                if step is None:
                    return
                arm_index, sample = step
                arm = self.arms[arm_index]
                target.apply(arm)
                if timer_timing != self.policies.timing:  # new hooks for a new clock
                    timer_scope.close()
                    timer = timer_scope.enter_context(StageTimer(loaded.model, stages, mode=_timer_mode(self.policies.timing)))
                    timer_timing = self.policies.timing
                    self._say_unlocated(timer)
                # Warm-up draws from its own pass over the source, so on a finite set every
                # sample is still measured (warm-up rows are extra, flagged rows).
                while self._warmup_left[arm.label] > 0 and not self.lifecycle.stop_requested:
                    errors = self.errors
                    self._run_sample(loaded, stages, timer, target, arm, next(warmup_samples), is_warmup=True)
                    if self.errors > errors:
                        # A failed warm-up counts down too: else a folder of bad files is
                        # warmed up on until MAX_ERRORS_IN_A_ROW, and never reaches the
                        # measured pass that says "no sample could be measured".
                        self._warmup_left[arm.label] -= 1
                        self._failed_warmups += 1
                self._run_sample(loaded, stages, timer, target, arm, sample, is_warmup=False)

    def _say_unlocated(self, timer: StageTimer) -> None:
        """Each stage the timer does not time, said once as an event (every row also names
        it in `unlocated`): not found in the model, or found but swallowed by a compiled
        region (timer.reasons says which)."""
        for name in timer.unlocated:
            if name in self._said_unlocated:
                continue
            self._said_unlocated.add(name)
            reason = timer.reasons.get(name)
            self._event("unlocated", f"{name}: not located ({reason}); its time is in other" if reason else
                        f"{name}: not located; its time is in other (declare it with --stage {name}=PATH)", name=name)

    def _check_several_images(self, loaded: LoadedModel) -> None:
        """An `images` sweep past one image on a model whose processor takes one image per
        prompt: said once, before any sample, rather than as an error row per sample."""
        if max(self.settings.knobs.get("images", [1])) < 2:
            return
        two = [synthetic_image(56, 56, 0), synthetic_image(56, 56, 1)]
        try:
            loaded.prepare(two, DEFAULT_PROMPT)
        except Exception as exc:  # noqa: BLE001 - whatever the processor raises, said in one line
            raise VlmtopError(f"{loaded.name} ({loaded.family}) takes one image per prompt here: its processor "
                              f"refused two ({first_line(exc)}); sweep images=0,1 only") from None

    def _samples(self, loaded: LoadedModel) -> tuple[Iterator[Sample], Iterator[Sample]]:
        """(the measured samples, the warm-up samples): two passes over the same source."""
        settings = self.settings

        def open_source():
            return open_samples(settings.samples, loaded.image_sizes, settings.prompt, settings.seed,
                                settings.prompt_column, settings.image_column)

        def round_and_round():
            # a fixed count over a finite set goes round it again (ids repeat, so pairs
            # match), opened anew each round rather than held: a dataset may be larger
            # than memory
            while True:
                seen = 0
                for seen, sample in enumerate(open_source()[0], start=1):
                    yield sample
                if not seen:
                    return

        source, finite = open_source()
        if finite and settings.count is not None:
            source = round_and_round()
        return source, round_and_round() if finite else open_source()[0]

    def _first_warmups(self) -> dict[str, int]:
        """Each arm warms up before its first timed sample (and again after a policy
        change), as many times as ITS warmup value says (`--knob warmup=1,3` varies it). A
        knob whose first use loads something (an attention kernel, a static cache, a
        compiled graph) is covered by that: later switches between arms reuse what stays
        loaded in the process, so switches need no warm-up rows of their own."""
        return {arm.label: Policies().with_value("warmup", arm.values.get("warmup", self.policies.warmup)).warmup_count
                for arm in self.arms}

    def _set_policy(self, kind: str, value: str) -> None:
        """A policy knob of an arm (the arm's own setting; no event: the row records it)."""
        self.policies = self.policies.with_value(kind, value)

    def _run_sample(self, loaded: LoadedModel, stages, timer: StageTimer, target: ModelTarget, arm: Arm,
                    sample: Sample, is_warmup: bool) -> None:
        record = SampleRecord(
            session_id=self.session_id,
            seq=self.seq,
            sample_id=sample.id,
            is_warmup=is_warmup,
            **self.policies.columns(),
            arm=arm.label or None,
            knobs=dict(arm.values) or None,
            started_at=time.time(),
        )
        self.on_start(self.seq, sample.id)
        try:
            with self.lifecycle.deadline(self.settings.sample_timeout_s):
                self._measure(loaded, stages, timer, target, sample, record)
            self._errors_in_a_row = 0
        except torch.OutOfMemoryError:
            raise  # the worker cannot go on: the session fails with this message
        except Exception as exc:  # noqa: BLE001 - anything one sample raises is that sample's error row
            # (a decompression bomb, a prompt holding the image placeholder, a broken file:
            # the README promises the run goes on; MAX_ERRORS_IN_A_ROW stops a model that
            # fails every sample)
            record.status = SampleStatus.ERROR
            if self.lifecycle.timed_out:  # whatever a library wrapped our timeout in
                record.error = timeout_message(self.settings.sample_timeout_s)
            elif isinstance(exc, VlmtopError):
                record.error = str(exc)
            else:
                record.error = f"{type(exc).__name__}: {first_line(exc)}"
            self._errors_in_a_row += 1
            self.errors += 1
            self.first_error = self.first_error or record.error
        self.store.write_sample(record)
        self.seq += 1
        if record.status == SampleStatus.OK:
            if is_warmup:
                self._warmup_left[arm.label] = max(0, self._warmup_left[arm.label] - 1)
            else:
                self.measured += 1
        self.on_sample(record)
        if self._errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
            raise VlmtopError(f"{MAX_ERRORS_IN_A_ROW} samples in a row failed; the last: {record.error}")

    def _measure(self, loaded: LoadedModel, stages, timer: StageTimer, target: ModelTarget, sample: Sample,
                 record: SampleRecord) -> None:
        """Prepare and time one sample into `record` under the arm in force (raises on a bad sample)."""
        policies = self.policies
        target.before_generate()  # a static cache sized for THIS arm, not the longest before it
        image_count = target.image_count
        if image_count is None and target.frame_count is not None and sample.synthetic:
            image_count = 0  # a synthetic video sweep: the video alone, unless images= says
        images = [target.resize(image) for image in sample.images(image_count)]
        video = [target.resize(frame) for frame in sample.frames(target.frame_count)]
        record.image_count, record.video_frames = len(images), len(video) or None
        if images or video:
            record.image_width, record.image_height = (images or video)[0].size
        inputs = loaded.prepare(images, sample.prompt, target.image_kwargs, video=video or None)
        record.image_tokens = loaded.count_image_tokens(inputs)
        extra = dict(target.generate_kwargs)
        # the arm's decode length wins over a manifest line's, which wins over --max-new-tokens
        max_new_tokens = extra.pop("max_new_tokens", None) or sample.max_new_tokens or self.settings.max_new_tokens
        kwargs = {**loaded.generation_kwargs(max_new_tokens, self.settings.fixed_length), **extra}
        if policies.warmup == "per-sample":  # once untimed, then timed
            loaded.model.generate(**inputs, **kwargs)
        record.cache_action = apply_cache_policy(policies.cache, loaded.device)
        record.started_at = time.time()
        timing, _ = timer.generate(**inputs, **kwargs)
        record.set_timing(timing)
        if policies.timing == "multipass":
            apply_cache_policy(policies.cache, loaded.device)
            old = measure_multipass(loaded.model, stages, inputs, kwargs)
            for column in MULTIPASS_COLUMNS:  # mp_vision_ms <- old.vision_ms, ...
                setattr(record, column, getattr(old, column.removeprefix("mp_")))

    # -- events ------------------------------------------------------------------------

    def _event(self, kind: str, detail: str, value: str | None = None, name: str | None = None) -> None:
        self.store.write_event(EventRecord(self.session_id, self.seq, kind, detail, time.time(), value=value, name=name))


def _timer_mode(timing: str) -> str:
    return "sync" if timing == "sync" else "events"


def main(argv: list[str]) -> int:
    """``python -m vlmtop.sessions.run.worker DB SESSION_ID SETTINGS_JSON``: how the dashboard
    starts a worker process. Exit status 1 when the session failed (the row says why)."""
    import json

    db, session_id, settings = argv
    worker = Worker(RunSettings(**json.loads(settings)), db, session_id=session_id, watch_parent=True)
    try:
        status = worker.run()
    except VlmtopError as exc:  # the database failed (full, locked): one line in the log
        print(f"{FAULT_PREFIX} {exc}", file=sys.stderr)
        return 2
    return 1 if status == SessionStatus.FAILED else worker.exit_code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
