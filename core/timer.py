"""The single-pass stage timer: every stage of ONE ``generate()`` call, from module hooks.

Why one pass: timing vision, prefill and the total in separate runs lets each run see a
different cache, allocator state and kernel schedule, so the stages do not add up and a
decode time derived by subtraction is off. Here every stage is read from the same call, so
``vision + projector + prefill + decode + other == e2e`` holds by construction.

How: a forward pre-hook on each stage's first module and a forward hook on its last append
a mark ``(stage index, is_end, time)`` to a list; nothing else runs in the timed region.
On CUDA the time is a recorded ``torch.cuda.Event`` and all events are resolved after ONE
synchronize once ``generate()`` has returned; on CPU it is ``perf_counter_ns``.
The language model's first call in a ``generate()`` is the prefill (not "sequence length
> 1": with ``use_cache=False`` every call is long); every later call is a decode step.
TTFT is read from the streamer: ``generate()`` calls ``put()`` once with the prompt, then
once per new token, so the second ``put()`` is the first token.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import torch
from torch import nn
from transformers.generation.streamers import BaseStreamer

from vlmtop.core import compiled
from vlmtop.core.device_sync import accelerators, synchronize
from vlmtop.core.errors import VlmtopError
from vlmtop.core.locate import Stage, StageMap
from vlmtop.core.stage_timing import Span, StageTiming

MODES = ("events", "sync")  # sync: synchronize in every hook, the old method (observer effect)

START, END = 0, 1
TTFT = -1  # stage index of the first-token mark
TOKEN = -2  # stage index of a later token's mark (the streamer's put of each new token)
ASSISTANT = "assistant"  # the extra stage an assisted generate()'s assistant model is timed as


class SyncClock:
    """Makes the time marks for the device the model runs on.

    - CPU: ``perf_counter_ns``.
    - CUDA, one device: a ``torch.cuda.Event`` recorded on THAT device's current stream
      (not the process's current device: with ``--device cuda:1`` the events must sit on
      cuda:1, or they measure launch time and the GPU work lands in `other`), resolved
      after one synchronize of that device.
    - CUDA over several devices (``device_map="auto"``), MPS, XPU: events cannot be
      compared across devices (or do not exist), so every mark synchronizes every device
      the model uses, then reads ``perf_counter_ns``: correct, with the sync mode's
      observer effect, and the clock's name says so.
    """

    def __init__(self, devices: list[torch.device], mode: str):
        if mode not in MODES:
            raise VlmtopError(f"unknown timing mode {mode!r}: choose one of {', '.join(MODES)}")
        async_devices = accelerators(devices)
        self.devices = async_devices
        self.cuda = bool(async_devices) and all(d.type == "cuda" for d in async_devices)
        if not async_devices:
            self.name = "perf_counter"
            self.now = time.perf_counter_ns
        elif self.cuda and len(async_devices) == 1 and mode == "events":
            self.name = "cuda_events"
            self._stream = torch.cuda.current_stream(async_devices[0])
            self.now = self._event
        else:
            prefix = "cuda" if self.cuda else async_devices[0].type
            self.name = f"{prefix}_sync" if len(async_devices) == 1 else f"{prefix}_sync_{len(async_devices)}_devices"
            self.now = self._synced

    def _event(self) -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record(self._stream)
        return event

    def _synced(self) -> int:
        self.synchronize()
        return time.perf_counter_ns()

    def synchronize(self) -> None:
        for device in self.devices:
            synchronize(device)

    def ms_since(self, origin, mark) -> float:
        if self.name == "cuda_events":
            return origin.elapsed_time(mark)
        return (mark - origin) / 1e6

    def settle(self) -> None:
        """Called once after generate() returns: events can be read only when done."""
        self.synchronize()


class _TokenStreamer(BaseStreamer):
    """Marks the first new token (the 2nd put, TTFT) and every later one, and passes
    everything on to the user's streamer. put() runs in generate()'s Python loop, outside
    any compiled forward, so these marks exist even where module hooks cannot fire."""

    def __init__(self, mark, inner: BaseStreamer | None):
        self.mark = mark
        self.inner = inner
        self.puts = 0

    def put(self, value):
        self.puts += 1
        if self.puts == 2:
            self.mark(TTFT, START)
        elif self.puts > 2:
            self.mark(TOKEN, START)
        if self.inner is not None:
            self.inner.put(value)

    def end(self):
        if self.inner is not None:
            self.inner.end()


class StageTimer:
    """Times the stages of ``model.generate()`` in one pass.

    >>> with StageTimer(model, locate_stages(model)) as timer:
    ...     timing, output_ids = timer.generate(**inputs, max_new_tokens=16)

    Hooks exist only inside the ``with`` block (removed on exit, also on error); the timer
    can be entered again. Hooks that fire outside ``timer.generate()`` record nothing.
    """

    def __init__(self, model: nn.Module, stages: StageMap, mode: str = "events"):
        self.model = model
        # Stages a compiled region swallows (their hooks cannot mark) are not timed: they
        # read "not located" with the reason in `reasons`, never 0 ms.
        self.reasons: dict[str, str] = _swallowed_stages(model, stages)
        self.stages = [s for s in stages.all() if s.name not in self.reasons]
        self._language = self.stages.index(stages.language)
        # Stages whose times add up to e2e; a standard stage nested in another (Qwen's
        # merger inside the vision tower) is subtracted from the one around it.
        self._additive = {i for i, s in enumerate(self.stages) if s not in stages.extra}
        self.unlocated = stages.unlocated + tuple(self.reasons)
        self._clock = SyncClock(devices_of(model), mode)
        self._marks: list[tuple[int, int, Any]] = []
        self._recording = False
        # Only the thread inside timer.generate() marks: another thread running the same
        # model at the same time fires the same hooks, and its calls are not ours.
        self._thread: int | None = None
        self._handles: list = []

    # -- hooks ---------------------------------------------------------------------------

    def __enter__(self) -> "StageTimer":
        if self._handles:
            raise VlmtopError("this StageTimer is already active; leave its `with` block first")
        for index, stage in enumerate(self.stages):
            self._hook_stage(index, stage, self._handles)
        return self

    def _hook_stage(self, index: int, stage: Stage, handles: list) -> None:
        handles.append(stage.first.register_forward_pre_hook(self._hook(index, START)))
        handles.append(stage.last.register_forward_hook(self._hook(index, END)))

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._recording = False

    def _hook(self, index: int, kind: int):
        mark = self._mark

        def hook(*_):  # (module, args) for pre-hooks, (module, args, output) for hooks
            # Inside a torch.compile'd forward (static cache + compile) a hook would be traced:
            # a clock read there breaks the graph, or the mark silently never happens. So it
            # does nothing there (Dynamo folds this to a no-op: the compiled program is the
            # user's), and the decode steps are read from the streamer's token marks instead.
            if torch.compiler.is_compiling():
                return
            mark(index, kind)

        return hook

    def _mark(self, index: int, kind: int) -> None:
        if self._recording and threading.get_ident() == self._thread:
            self._marks.append((index, kind, self._clock.now()))

    # -- measurement ---------------------------------------------------------------------

    def generate(self, **kwargs) -> tuple[StageTiming, torch.Tensor]:
        """Call ``model.generate(**kwargs)`` (arguments passed unchanged) and time it.

        Returns the timing and the output ids (``sequences`` when the caller asked for a
        dict). A streamer passed in still receives every token.
        """
        if not self._handles:
            raise VlmtopError("StageTimer.generate() needs the hooks: use `with StageTimer(model, stages) as timer:`")
        # the call's own setting, else its generation_config, else the checkpoint's default
        config = kwargs.get("generation_config") or getattr(self.model, "generation_config", None)
        beams = kwargs.get("num_beams") or getattr(config, "num_beams", 1) or 1
        speculative = is_speculative(kwargs, config)
        # An assistant model (assisted decoding) drafts tokens between the language model's
        # calls: timed as the extra stage "assistant" (inside `other`, like any extra stage),
        # so its time is named rather than left unexplained in `other`.
        assistant = kwargs.get("assistant_model")
        assisted = isinstance(assistant, nn.Module) and assistant is not self.model
        assistant_handles: list = []
        streamer = None
        if beams == 1:  # generate() refuses a streamer with beam search; TTFT is then None
            streamer = _TokenStreamer(self._mark, kwargs.pop("streamer", None))
            kwargs["streamer"] = streamer
        prompt_tokens = _prompt_length(kwargs)

        self._marks.clear()
        self._thread = threading.get_ident()
        breaks_before = _graph_breaks()
        self._recording = True
        try:
            if assisted:  # hooked for this call only, removed in `finally` whatever happens
                self._hook_stage(len(self.stages), Stage(ASSISTANT, ASSISTANT, assistant, assistant), assistant_handles)
            origin = self._clock.now()
            output = self.model.generate(**kwargs)
            finish = self._clock.now()
        finally:
            self._recording = False
            for handle in assistant_handles:
                handle.remove()
        self._clock.settle()
        graph_breaks = _graph_breaks() - breaks_before

        sequences = getattr(output, "sequences", output)
        new_tokens = max(0, sequences.shape[-1] - prompt_tokens) if prompt_tokens else 0
        timing = self._resolve(origin, finish, prompt_tokens, new_tokens, assisted=assisted)
        if self._clock.name.startswith("mps"):
            # transformers defers the streamer one step on MPS (DeferredStopCheck), so the
            # second put() comes after the first decode step: no honest TTFT there.
            timing.ttft_ms = None
        timing.speculative = speculative
        timing.unlocated = self.unlocated
        timing.graph_breaks = graph_breaks
        return timing, sequences

    def _resolve(self, origin, finish, prompt_tokens: int, new_tokens: int, assisted: bool = False) -> StageTiming:
        ms = self._clock.ms_since
        names = [s.name for s in self.stages] + ([ASSISTANT] if assisted else [])
        totals = [0.0] * len(names)
        calls = [0] * len(names)
        spans: list[Span] = []
        language_calls: list[float] = []
        token_at: list[float] = []  # the first token's time, then every later token's
        ttft = None
        # stack of [stage index, start ms, ms of nested additive stages]
        stack: list[list] = []
        for index, kind, stamp in self._marks:
            at = ms(origin, stamp)
            if index == TTFT:
                ttft = at
                token_at.append(at)
            elif index == TOKEN:
                token_at.append(at)
            elif kind == START:
                stack.append([index, at, 0.0])
            else:
                if not stack or stack[-1][0] != index:
                    raise VlmtopError(
                        f"stage {names[index]} ended without starting: are its first and last modules "
                        "called in order? Check the --stage paths."
                    )
                _, start, nested = stack.pop()
                own = at - start - nested
                totals[index] += own
                calls[index] += 1
                if index in self._additive:
                    parent = next((frame for frame in reversed(stack) if frame[0] in self._additive), None)
                    if parent is not None:
                        parent[2] += at - start
                if index == self._language:
                    language_calls.append(own)
                    label = "prefill" if len(language_calls) == 1 else "decode"
                else:
                    label = names[index]
                spans.append(Span(label, start, at))

        if not language_calls:
            raise VlmtopError(
                f"the language model ({self.stages[self._language].path}) was not called during generate(): "
                "declare the right module with --stage language=DOTTED.PATH"
            )
        # A located stage that ran no call (vision on a text-only prompt) did not run: None,
        # never 0.0, so no statistic mistakes "not run" for "free".
        by_name = {name: total if count or name in self.unlocated else None
                   for name, total, count in zip(names, totals, calls)}
        vision = by_name.get("vision", 0.0)
        projector = by_name.get("projector", 0.0)
        prefill, decode_steps = language_calls[0], language_calls[1:]
        decode_clock = "hooks"
        if not decode_steps and len(token_at) > 1:
            # The decode steps ran where hooks do not fire (a compiled forward): each step is
            # the interval between two tokens' marks, which also holds the loop's own work.
            decode_steps = [b - a for a, b in zip(token_at, token_at[1:])]
            decode_clock = "streamer"
            spans += [Span("decode", a, b) for a, b in zip(token_at, token_at[1:])]
        decode = sum(decode_steps)
        e2e = ms(origin, finish)
        return StageTiming(
            vision_ms=vision,
            projector_ms=projector,
            prefill_ms=prefill,
            decode_ms=decode,
            decode_steps_ms=decode_steps,
            ttft_ms=ttft,
            e2e_ms=e2e,
            other_ms=e2e - ((vision or 0.0) + (projector or 0.0) + prefill + decode),
            prompt_tokens=prompt_tokens,
            new_tokens=new_tokens,
            vision_calls=calls[names.index("vision")] if "vision" in names else 0,
            clock=self._clock.name,
            decode_clock=decode_clock,
            spans=spans,
            extra_ms={names[i]: totals[i] for i in range(len(names)) if i not in self._additive},
        )


def _swallowed_stages(model: nn.Module, stages: StageMap) -> dict[str, str]:
    """{stage name: why it cannot be timed} for the stages inside a compiled region; raises
    when that is the language model (nothing can be timed) or a stage the user declared."""
    reasons: dict[str, str] = {}
    for stage in stages.all():
        found = compiled.swallowing_ancestor(model, stage.first) or compiled.swallowing_ancestor(model, stage.last)
        if found is None:
            continue
        path, how = found
        if stage is stages.language:
            whole = path == type(model).__name__
            raise VlmtopError(
                f"{'the whole model' if whole else path} is compiled ({how}), so the language model runs inside "
                f"one compiled graph where no stage can be timed: {compiled.WHOLE_MODEL_HINT}"
            )
        if stage in stages.extra:
            raise VlmtopError(
                f"stage {stage.name} ({stage.path}) is {compiled.IN_PLACE} ({how} on {path}), so its hooks "
                f"cannot mark; compile it by assignment instead ({path} = torch.compile({path}))"
            )
        reasons[stage.name] = f"{compiled.IN_PLACE} ({how} on {path}); compile by assignment to time it"
    return reasons


def devices_of(model: nn.Module) -> list[torch.device]:
    """Every device holding a parameter (several with device_map="auto"), in first-use
    order. ``meta`` is left out: an offloaded parameter's placeholder has no clock."""
    seen: dict[torch.device, None] = {}
    for parameter in model.parameters():
        if parameter.device.type != "meta":
            seen.setdefault(parameter.device)
    return list(seen) or [torch.device("cpu")]


def _graph_breaks() -> int:
    """Dynamo's graph-break count so far (0 where nothing was ever compiled)."""
    import sys

    if "torch._dynamo" not in sys.modules:  # never compiled: do not import the compiler
        return 0
    from torch._dynamo.utils import counters  # noqa: PLC2701 (the compiler's own counters)

    return sum(counters["graph_break"].values())


def is_speculative(kwargs: dict, config) -> bool:
    """Assisted decoding in any of its forms (an assistant model, prompt lookup, assistant
    early exit, multi-token prediction): one language-model call may emit several tokens.
    Asked of transformers itself, with the call's own settings over the config's."""
    from transformers import GenerationConfig
    from transformers.generation.configuration_utils import GenerationMode

    merged = copy.deepcopy(config) if isinstance(config, GenerationConfig) else GenerationConfig()
    for key, value in kwargs.items():
        if key != "generation_config" and hasattr(merged, key):
            setattr(merged, key, value)
    try:
        mode = merged.get_generation_mode(kwargs.get("assistant_model"))
    except Exception:  # an inconsistent config: generate() itself will say what is wrong
        return False
    return mode == GenerationMode.ASSISTED_GENERATION


def _prompt_length(kwargs: dict) -> int:
    ids = kwargs.get("input_ids")
    return int(ids.shape[-1]) if ids is not None else 0
