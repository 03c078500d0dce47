"""The separate-pass method, reproduced faithfully so its error can be shown beside
single-pass (docs/benchmarks.md measures both on the same samples).

The method times each stage in runs of its own, outside the real ``generate()`` call, each figure the mean of ``runs`` separate runs with a
``synchronize()`` of the model's device on either side:

1. the vision encoder alone;
2. vision encoder + projector in one run (projector = run 2 - run 1, floored at 0);
3. prefill: one ``model()`` forward under bf16 autocast (on CUDA), timed from a forward
   hook on the FIRST decoder block to a forward hook on the LAST one (both post-hooks,
   each synchronizing). So the span leaves out the embeddings, block 0 itself, the final
   norm and ``lm_head``: this prefill is biased LOW, not high;
4. a full ``generate()`` under the same autocast, after ``torch.cuda.empty_cache()``
   inside the timed region, as the method has it; decode = total - run 2 - run 3.

The runs see other caches and allocator states than one ``generate()`` does, and
``generate()`` computes vision again, so these figures do not add up to a real call. The
inputs of the vision and projector modules are captured from a real forward first, so any
family works without knowing its image-feature signature.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from vlmtop.core.device_sync import accelerators, synchronize
from vlmtop.core.errors import VlmtopError
from vlmtop.core.locate import StageMap

SEPARATE_RUNS = 3  # the method's run count: vision and prefill are means over this many runs


@dataclass
class MultipassTiming:
    vision_ms: float | None  # None: the vision encoder did not run (a text-only prompt)
    projector_ms: float | None
    prefill_ms: float
    decode_ms: float  # derived: e2e - (vision + projector) - prefill, floored at 0
    e2e_ms: float


def measure_multipass(
    model: nn.Module, stages: StageMap, inputs: dict, generate_kwargs: dict, runs: int = SEPARATE_RUNS
) -> MultipassTiming:
    devices = set(accelerators(p.device for p in model.parameters()))

    def sync() -> None:  # every device the model uses, not the process's current one
        for device in devices:
            synchronize(device)

    def autocast():  # the method runs model() and generate() under bf16 autocast on CUDA
        cuda = any(device.type == "cuda" for device in devices)
        return torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()

    vision_args = _capture(model, stages, inputs)

    def timed(run) -> float:
        sync()
        start = time.perf_counter()
        run()
        sync()
        return (time.perf_counter() - start) * 1e3

    def mean_of(run) -> float:
        return statistics.fmean(timed(run) for _ in range(runs))

    if "vision" not in vision_args:  # a text-only prompt: no vision or projector pass to time
        vision_alone, projector, vision_total = None, None, 0.0
    else:
        vision_alone, projector, vision_total = _vision_and_projector(stages, vision_args, mean_of)

    with autocast():
        prefill = statistics.fmean(_seed_prefill_span(model, stages, inputs, sync) for _ in range(runs))

    def full_generate():
        if any(device.type == "cuda" for device in devices):
            torch.cuda.empty_cache()  # inside the timed region, as the method has it
        with autocast():
            model.generate(**inputs, **generate_kwargs)

    total = timed(full_generate)
    return MultipassTiming(
        vision_ms=vision_alone,
        projector_ms=projector,
        prefill_ms=prefill,
        decode_ms=max(0.0, total - vision_total - prefill),
        e2e_ms=total,
    )


def _vision_and_projector(stages: StageMap, vision_args: dict, mean_of) -> tuple[float, float, float]:
    """(vision alone, projector, both together) in ms, each pass timed on its own."""
    vision_module = stages.vision.first
    vision_alone = mean_of(lambda: _call(vision_module, vision_args["vision"]))
    if stages.projector is None:
        return vision_alone, 0.0, vision_alone
    if stages.projector.first in set(vision_module.modules()):
        # Qwen: the merger runs inside the vision tower; time it alone and subtract it
        projector = mean_of(lambda: _call(stages.projector.first, vision_args["projector"]))
        return max(0.0, vision_alone - projector), projector, vision_alone

    def both():
        _call(vision_module, vision_args["vision"])
        _call(stages.projector.first, vision_args["projector"])

    vision_total = mean_of(both)
    return vision_alone, max(0.0, vision_total - vision_alone), vision_total


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
    return captured


def _call(module: nn.Module, args_kwargs) -> None:
    args, kwargs = args_kwargs
    module(*args, **kwargs)


def decoder_blocks(stages: StageMap) -> nn.ModuleList:
    """The language model's decoder blocks (``layers``, or ``blocks`` as in Molmo)."""
    language = stages.language.first
    for path in ("layers", "model.layers", "blocks", "transformer.blocks", "decoder.layers"):
        module = language
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList) and len(module):
            return module
    raise VlmtopError(f"multipass timing: no decoder blocks found in {stages.language.path} "
                      "(looked for layers, model.layers, blocks)")


def _seed_prefill_span(model: nn.Module, stages: StageMap, inputs: dict, sync) -> float:
    """Prefill as the separate-pass method times it: a separate forward, from the forward hook of the first
    decoder block to the forward hook of the last, synchronizing in both."""
    blocks = decoder_blocks(stages)
    times: list[float] = []

    def mark(*_):
        sync()
        times.append(time.perf_counter())

    handles = [blocks[0].register_forward_hook(mark), blocks[-1].register_forward_hook(mark)]
    try:
        model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    if len(times) < 2:
        raise VlmtopError("multipass timing: the decoder blocks were not called by a forward with these inputs")
    return (times[-1] - times[0]) * 1e3
