"""The measurement worker: loads the model, times each sample, writes it to the database.

It runs in a process of its own (the dashboard starts it as a subprocess; ``--headless``
runs it in the foreground), so a dashboard's rendering never competes with it for the GIL.
Between samples it applies the control rows a dashboard wrote (pause, resume, stop, policy
changes) and answers each with an event saying from which sample it applies: a policy
change never touches a sample in flight. Each finished sample is committed on its own, so
whatever happens to any process, every reported sample is in the file.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from vlmtop.core import StageTimer, locate_stages
from vlmtop.core.errors import VlmtopError, first_line
from vlmtop.core.models import LoadedModel, load_model, quiet_transformers
from vlmtop.core.multipass import measure_multipass
from vlmtop.core.samples import Sample, open_samples
from vlmtop.core.zoo import DEFAULT_PRESET

from vlmtop.core.cache_policy import apply_cache_policy

from .policies import Policies
from .record import MULTIPASS_COLUMNS, EventRecord, SampleRecord
from .store import SessionStore

HEARTBEAT_S = 5.0
MAX_ERRORS_IN_A_ROW = 20  # a model that fails every sample fails the session instead


@dataclass
class RunSettings:
    """Everything a run is configured with; stored as the session's settings."""

    model: str = DEFAULT_PRESET
    random_weights: bool = False
    samples: str = "synthetic"
    prompt: str | None = None
    count: int | None = None  # measured samples; None: until stopped or the source ends
    duration_s: float | None = None
    max_new_tokens: int = 16
    fixed_length: bool = True  # min_new_tokens = max_new_tokens
    device: str | None = None
    dtype: str | None = None
    cache_policy: str = "keep"
    warmup: str = "2"
    timing: str = "events"
    stages: dict[str, str] = field(default_factory=dict)
    threads: int | None = None
    seed: int = 0

    def policies(self) -> Policies:
        return Policies().with_value("cache", self.cache_policy).with_value("warmup", self.warmup).with_value(
            "timing", self.timing
        )


def default_threads(dashboard: bool) -> int:
    """All cores headless; one left for the dashboard's process when it draws beside us."""
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if dashboard and cores > 1 else cores


class Worker:
    """One recording session. ``run()`` returns the session's final status."""

    def __init__(
        self,
        settings: RunSettings,
        db_path: str | Path,
        session_id: str | None = None,
        on_sample: Callable[[SampleRecord], None] | None = None,
        on_loaded: Callable[[LoadedModel], None] | None = None,
    ):
        self.settings = settings
        self.policies = settings.policies()  # validated before anything is written
        self.store = SessionStore.open(db_path, create=True)
        self.session_id = session_id
        self.on_sample = on_sample or (lambda record: None)
        self.on_loaded = on_loaded or (lambda loaded: None)
        self.seq = 0
        self.measured = 0
        self.paused = False
        self.stop_requested = False
        self._signals = 0
        self._warmup_left = 0
        self._errors_in_a_row = 0

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> str:
        settings = self.settings
        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.session_id = self.store.create_session(
            model=settings.model,
            device=settings.device or "auto",
            dtype=settings.dtype or "auto",
            settings={**asdict(settings), "threads": torch.get_num_threads()},
            session_id=self.session_id,
        )
        self._event("start", self.policies.describe())
        previous = self._install_signal_handlers()
        quiet_transformers()
        try:
            loaded = load_model(
                settings.model,
                device=settings.device,
                dtype=settings.dtype,
                random_weights=settings.random_weights,
                seed=settings.seed,
            )
            self.store.update_session(
                self.session_id, device=str(loaded.device), dtype=str(loaded.dtype).replace("torch.", "")
            )
            self.on_loaded(loaded)
            self._loop(loaded)
        except KeyboardInterrupt:  # a second signal: the sample in flight is abandoned
            self._finish("interrupted", "abandoned by a second interrupt")
        except VlmtopError as exc:
            self._finish("failed", str(exc))
        except Exception as exc:  # out of memory, a broken model: the session says why
            self._finish("failed", f"{type(exc).__name__}: {first_line(exc)}")
        else:
            self._finish("completed", None)
        finally:
            self._restore_signal_handlers(previous)
        return self.store.session(self.session_id).status

    def _finish(self, status: str, error: str | None) -> None:
        if error:
            self._event("error", error)
        self._event("end", status if not self.stop_requested else f"{status} (stopped by the user)")
        self.store.finish_session(self.session_id, status, error)

    def _install_signal_handlers(self):
        def handle(signum, frame):
            self._signals += 1
            self.stop_requested = True  # finish the sample in flight, then stop
            if self._signals > 1:
                raise KeyboardInterrupt

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, handle)
            except ValueError:  # not the main thread (a library user): no handlers
                pass
        return previous

    @staticmethod
    def _restore_signal_handlers(previous) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    # -- the sample loop -----------------------------------------------------------------

    def _loop(self, loaded: LoadedModel) -> None:
        settings = self.settings
        stages = locate_stages(loaded.model, settings.stages)
        samples = self._samples(loaded)
        deadline = time.monotonic() + settings.duration_s if settings.duration_s else None
        self._warmup_left = self.policies.warmup_count
        last_beat = time.monotonic()
        timer = StageTimer(loaded.model, stages, mode=_timer_mode(self.policies.timing))
        timer.__enter__()
        try:
            with torch.inference_mode():
                while True:
                    changed = self._apply_controls()
                    if changed & {"timing"}:
                        timer.__exit__(None, None, None)
                        timer = StageTimer(loaded.model, stages, mode=_timer_mode(self.policies.timing))
                        timer.__enter__()
                    if time.monotonic() - last_beat > HEARTBEAT_S:
                        self.store.heartbeat(self.session_id)
                        last_beat = time.monotonic()
                    if self.stop_requested:
                        return
                    if settings.count is not None and self.measured >= settings.count:
                        return
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    if self.paused:
                        time.sleep(0.05)
                        continue
                    sample = next(samples, None)
                    if sample is None:
                        return
                    self._run_sample(loaded, stages, timer, sample)
        finally:
            timer.__exit__(None, None, None)

    def _samples(self, loaded: LoadedModel) -> Iterator[Sample]:
        source, finite = open_samples(
            self.settings.samples, loaded.image_sizes, self.settings.prompt, self.settings.seed
        )
        if finite and self.settings.count is not None:
            # a fixed count over a finite set: go round it again (ids repeat, so pairs match)
            return itertools.cycle(list(source))
        return source

    def _run_sample(self, loaded: LoadedModel, stages, timer: StageTimer, sample: Sample) -> None:
        policies = self.policies
        is_warmup = self._warmup_left > 0
        record = SampleRecord(
            session_id=self.session_id,
            seq=self.seq,
            sample_id=sample.id,
            is_warmup=is_warmup,
            cache_policy=policies.cache,
            warmup_policy=policies.warmup,
            timing_mode=policies.timing,
            started_at=time.time(),
        )
        try:
            image = sample.image()
            record.image_width, record.image_height = image.size
            inputs = loaded.prepare(image, sample.prompt)
            record.image_tokens = loaded.count_image_tokens(inputs)
            kwargs = loaded.generation_kwargs(
                sample.max_new_tokens or self.settings.max_new_tokens, self.settings.fixed_length
            )
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
            self._errors_in_a_row = 0
        except torch.OutOfMemoryError:
            raise  # the worker cannot go on: the session fails with this message
        except (VlmtopError, ValueError, TypeError, RuntimeError, IndexError, OSError) as exc:
            record.status = "error"
            record.error = f"{type(exc).__name__}: {first_line(exc)}" if not isinstance(exc, VlmtopError) else str(exc)
            self._errors_in_a_row += 1
        self.store.write_sample(record)
        self.seq += 1
        if record.status == "ok":
            if is_warmup:
                self._warmup_left -= 1
            else:
                self.measured += 1
        self.on_sample(record)
        if self._errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
            raise VlmtopError(f"{MAX_ERRORS_IN_A_ROW} samples in a row failed; the last: {record.error}")

    # -- controls ------------------------------------------------------------------------

    def _apply_controls(self) -> set[str]:
        """Apply pending requests in order; return the policy kinds that changed."""
        changed: set[str] = set()
        for control in self.store.pending_controls(self.session_id):
            kind, value = control.kind, control.value
            try:
                if kind == "pause":
                    self.paused = True
                    self._event("pause", "")
                elif kind == "resume":
                    self.paused = False
                    self._event("resume", "")
                elif kind == "stop":
                    self.stop_requested = True
                    self._event("stop", "requested from a dashboard")
                else:
                    new = self.policies.with_value(kind, value or "")
                    if new != self.policies:
                        self.policies = new
                        changed.add(kind)
                        self._warmup_left = new.warmup_count  # re-armed after every change
                        self._event("policy", f"{kind}={getattr(new, kind)}")
            except VlmtopError as exc:
                self.store.answer_control(control.id, "rejected", None)
                self._event("rejected", f"{kind}={value}: {exc}")
                continue
            self.store.answer_control(control.id, "applied", self.seq)
        return changed

    def _event(self, kind: str, detail: str) -> None:
        self.store.write_event(EventRecord(self.session_id, self.seq, kind, detail, time.time()))


def _timer_mode(timing: str) -> str:
    return "sync" if timing == "sync" else "events"


def main(argv: list[str]) -> int:
    """``python -m vlmtop.sessions.worker DB SESSION_ID SETTINGS_JSON``: how the dashboard
    starts a worker process. Exit status 1 when the session failed (the row says why)."""
    import json

    db, session_id, settings = argv
    status = Worker(RunSettings(**json.loads(settings)), db, session_id=session_id).run()
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
