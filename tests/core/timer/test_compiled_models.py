"""Models compiled by the user in ways that put the timer's hooks inside the compiled graph:
a stage compiled in place reads "not located", never 0 ms; a whole model
compiled gets one line naming the cause and what works. The eager backend traces exactly
as inductor would without generating code, so this runs on the CPU."""

from __future__ import annotations

import pytest
import torch

from vlmtop.core import StageTimer, VlmtopError, locate_stages
from vlmtop.core.model_loading import load_model
from vlmtop.core.samples import synthetic_samples


@pytest.fixture(scope="module")
def llava():
    torch.manual_seed(0)
    return load_model("tiny-llava", device="cpu")  # its own copy: these tests compile parts of it


def _generate(loaded, tokens: int = 3):
    sample = next(synthetic_samples(loaded.image_sizes))
    inputs = loaded.prepare(sample.image(), sample.prompt)
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**inputs, **loaded.generation_kwargs(tokens))
    return timer, timing


def test_a_vision_tower_compiled_in_place_reads_not_located_with_the_reason(llava):
    tower = llava.model.model.vision_tower
    tower.compile(backend="eager")
    try:
        timer, timing = _generate(llava)
    finally:
        tower._compiled_call_impl = None  # back to eager for the other tests
    assert timing.unlocated == ("vision",)  # shown as "not located", not as 0 ms
    assert "compiled in place" in timer.reasons["vision"] and "model.vision_tower" in timer.reasons["vision"]
    assert timing.vision_calls == 0 and timing.prefill_ms > 0 and len(timing.decode_steps_ms) == 2


def test_a_vision_tower_compiled_by_assignment_is_timed_as_a_whole(llava):
    tower = llava.model.model.vision_tower
    llava.model.model.vision_tower = torch.compile(tower, backend="eager")
    try:
        timer, timing = _generate(llava)
    finally:
        llava.model.model.vision_tower = tower
    assert timing.unlocated == () and timer.reasons == {}
    assert timing.vision_calls == 1 and timing.vision_ms > 0


@pytest.mark.parametrize("how", ["forward", "in place"])
def test_a_whole_model_compiled_is_refused_in_one_line_that_says_what_works(llava, how):
    model = llava.model
    if how == "forward":
        model.forward = torch.compile(model.forward, backend="eager")
    else:
        model.compile(backend="eager")
    try:
        with pytest.raises(VlmtopError) as caught:
            StageTimer(model, locate_stages(model))
    finally:
        model.__dict__.pop("forward", None)
        model._compiled_call_impl = None
    message = str(caught.value)
    assert "\n" not in message and "the whole model is compiled" in message
    assert "compile_config" in message and "torch.compile(model.model.vision_tower)" in message
    assert "--stage" not in message  # the old, misleading advice
