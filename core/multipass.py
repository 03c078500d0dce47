"""The old separate-run method, reproduced so its error can be shown beside single-pass.

This is what the seed code did (the prototype vlmtop replaces): each stage timed in a run of its own with a
``synchronize()`` on either side, and decode derived by subtraction:

1. the vision encoder alone;
2. vision encoder + projector in one run (projector = run 2 - run 1);
3. one ``model()`` forward with hooks on the language model for prefill;
4. a full ``generate()`` for the total, after ``torch.cuda.empty_cache()``, inside the
   timed region as the seed had it; decode = total - run 2 - run 3.

The runs see different caches and allocator states than one ``generate()`` does, and
``generate()`` computes vision again, so these figures do not add up to a real call. The
inputs of the vision and projector modules are captured from a real forward first, so any
family works without knowing its image-feature signature.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from .errors import VlmtopError
from .stages import StageMap


@dataclass
class MultipassTiming:
    vision_ms: float
    projector_ms: float
    prefill_ms: float
    decode_ms: float  # derived: e2e - (vision + projector) - prefill, floored at 0
    e2e_ms: float


def measure_multipass(model: nn.Module, stages: StageMap, inputs: dict, generate_kwargs: dict) -> MultipassTiming:
    devices = {p.device for p in model.parameters() if p.device.type != "cpu"}

    def sync() -> None:  # every device the model uses, not the process's current one
        for device in devices:
            getattr(torch, device.type).synchronize(device)

    vision_args = _capture(model, stages, inputs)

    def timed(run) -> float:
        sync()
        start = time.perf_counter()
        run()
        sync()
        return (time.perf_counter() - start) * 1e3

    vision_module = stages.vision.first
    vision_alone = timed(lambda: _call(vision_module, vision_args["vision"]))
    nested = stages.projector is not None and stages.projector.first in set(vision_module.modules())
    if stages.projector is None:
        projector = 0.0
        vision_total = vision_alone
    elif nested:
        # Qwen: the merger runs inside the vision tower; time it alone and subtract it
        projector = timed(lambda: _call(stages.projector.first, vision_args["projector"]))
        vision_total = vision_alone
        vision_alone = max(0.0, vision_total - projector)
    else:

        def both():
            _call(vision_module, vision_args["vision"])
            _call(stages.projector.first, vision_args["projector"])

        vision_total = timed(both)
        projector = max(0.0, vision_total - vision_alone)

    prefill = _time_language_forward(model, stages, inputs, sync)

    def full_generate():
        if any(device.type == "cuda" for device in devices):
            torch.cuda.empty_cache()
        model.generate(**inputs, **generate_kwargs)

    total = timed(full_generate)
    return MultipassTiming(
        vision_ms=vision_alone,
        projector_ms=projector,
        prefill_ms=prefill,
        decode_ms=max(0.0, total - vision_total - prefill),
        e2e_ms=total,
    )


def _capture(model: nn.Module, stages: StageMap, inputs: dict) -> dict:
    """The (args, kwargs) the vision and projector modules get in a real forward."""
    if stages.vision is None or stages.vision.first is not stages.vision.last:
        raise VlmtopError("multipass timing needs the vision stage to be one module, not a span")
    captured: dict = {}
    handles = []
    for name in ("vision", "projector"):
        stage = getattr(stages, name)
        if stage is None:
            continue

        def keep(module, args, kwargs, name=name):
            captured.setdefault(name, (args, kwargs))

        handles.append(stage.first.register_forward_pre_hook(keep, with_kwargs=True))
    try:
        model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    if "vision" not in captured:
        raise VlmtopError("multipass timing: the vision module was not called by a forward with these inputs")
    return captured


def _call(module: nn.Module, args_kwargs) -> None:
    args, kwargs = args_kwargs
    module(*args, **kwargs)


def _time_language_forward(model: nn.Module, stages: StageMap, inputs: dict, sync) -> float:
    """Prefill as the seed timed it: a separate forward, synchronize in the hooks."""
    times: list[float] = []

    def start(*_):
        sync()
        times.append(time.perf_counter())

    def end(*_):
        sync()
        times.append(time.perf_counter())

    handles = [
        stages.language.first.register_forward_pre_hook(start),
        stages.language.last.register_forward_hook(end),
    ]
    try:
        model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return (times[1] - times[0]) * 1e3
