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

import time
from typing import Any

import torch
from torch import nn
from transformers.generation.streamers import BaseStreamer

from .errors import VlmtopError
from .stages import StageMap
from .timing import Span, StageTiming

MODES = ("events", "sync")  # sync: synchronize in every hook, the old method (observer effect)

START, END = 0, 1
TTFT = -1  # stage index of the first-token mark


class _Clock:
    """Makes the time marks: perf_counter_ns on CPU, CUDA events (or sync + clock) on GPU."""

    def __init__(self, device: torch.device, mode: str):
        if mode not in MODES:
            raise VlmtopError(f"unknown timing mode {mode!r}: choose one of {', '.join(MODES)}")
        self.cuda = device.type == "cuda"
        if not self.cuda:
            self.name = "perf_counter"
            self.now = time.perf_counter_ns
        elif mode == "events":
            self.name = "cuda_events"
            self.now = self._event
        else:
            self.name = "cuda_sync"
            self.now = self._synced

    @staticmethod
    def _event() -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    @staticmethod
    def _synced() -> int:
        torch.cuda.synchronize()
        return time.perf_counter_ns()

    def ms_since(self, origin, mark) -> float:
        if self.name == "cuda_events":
            return origin.elapsed_time(mark)
        return (mark - origin) / 1e6

    def settle(self) -> None:
        """Called once after generate() returns: events can be read only when done."""
        if self.cuda:
            torch.cuda.synchronize()


class _FirstTokenStreamer(BaseStreamer):
    """Marks the first new token (the 2nd put) and passes everything to the user's streamer."""

    def __init__(self, mark, inner: BaseStreamer | None):
        self.mark = mark
        self.inner = inner
        self.puts = 0

    def put(self, value):
        self.puts += 1
        if self.puts == 2:
            self.mark(TTFT, START)
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
        self.stages = stages.all()
        self._language = self.stages.index(stages.language)
        # Stages whose times add up to e2e; a standard stage nested in another (Qwen's
        # merger inside the vision tower) is subtracted from the one around it.
        self._additive = {i for i, s in enumerate(self.stages) if s not in stages.extra}
        self._clock = _Clock(_device_of(model), mode)
        self._marks: list[tuple[int, int, Any]] = []
        self._recording = False
        self._handles: list = []

    # -- hooks ---------------------------------------------------------------------------

    def __enter__(self) -> "StageTimer":
        if self._handles:
            raise VlmtopError("this StageTimer is already active; leave its `with` block first")
        for index, stage in enumerate(self.stages):
            self._handles.append(stage.first.register_forward_pre_hook(self._hook(index, START)))
            self._handles.append(stage.last.register_forward_hook(self._hook(index, END)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._recording = False

    def _hook(self, index: int, kind: int):
        mark = self._mark

        def hook(*_):  # (module, args) for pre-hooks, (module, args, output) for hooks
            mark(index, kind)

        return hook

    def _mark(self, index: int, kind: int) -> None:
        if self._recording:
            self._marks.append((index, kind, self._clock.now()))

    # -- measurement ---------------------------------------------------------------------

    def generate(self, **kwargs) -> tuple[StageTiming, torch.Tensor]:
        """Call ``model.generate(**kwargs)`` (arguments passed unchanged) and time it.

        Returns the timing and the output ids (``sequences`` when the caller asked for a
        dict). A streamer passed in still receives every token.
        """
        if not self._handles:
            raise VlmtopError("StageTimer.generate() needs the hooks: use `with StageTimer(model, stages) as timer:`")
        beams = kwargs.get("num_beams") or getattr(kwargs.get("generation_config"), "num_beams", 1) or 1
        streamer = None
        if beams == 1:  # generate() refuses a streamer with beam search; TTFT is then None
            streamer = _FirstTokenStreamer(self._mark, kwargs.pop("streamer", None))
            kwargs["streamer"] = streamer
        prompt_tokens = _prompt_length(kwargs)

        self._marks.clear()
        self._recording = True
        try:
            origin = self._clock.now()
            output = self.model.generate(**kwargs)
            finish = self._clock.now()
        finally:
            self._recording = False
        self._clock.settle()

        sequences = getattr(output, "sequences", output)
        new_tokens = max(0, sequences.shape[-1] - prompt_tokens) if prompt_tokens else 0
        timing = self._resolve(origin, finish, prompt_tokens, new_tokens)
        return timing, sequences

    def _resolve(self, origin, finish, prompt_tokens: int, new_tokens: int) -> StageTiming:
        ms = self._clock.ms_since
        names = [s.name for s in self.stages]
        totals = [0.0] * len(self.stages)
        calls = [0] * len(self.stages)
        spans: list[Span] = []
        language_calls: list[float] = []
        ttft = None
        # stack of [stage index, start ms, ms of nested additive stages]
        stack: list[list] = []
        for index, kind, stamp in self._marks:
            at = ms(origin, stamp)
            if index == TTFT:
                ttft = at
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
        by_name = dict(zip(names, totals))
        vision = by_name.get("vision", 0.0)
        projector = by_name.get("projector", 0.0)
        prefill, decode_steps = language_calls[0], language_calls[1:]
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
            other_ms=e2e - (vision + projector + prefill + decode),
            prompt_tokens=prompt_tokens,
            new_tokens=new_tokens,
            vision_calls=calls[names.index("vision")] if "vision" in names else 0,
            clock=self._clock.name,
            spans=spans,
            extra_ms={names[i]: totals[i] for i in range(len(names)) if i not in self._additive},
        )


def _device_of(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def _prompt_length(kwargs: dict) -> int:
    ids = kwargs.get("input_ids")
    return int(ids.shape[-1]) if ids is not None else 0
