"""The single-pass timer on every built-in family: real tiny models, real generate()."""

from __future__ import annotations

import itertools

import pytest
import torch
from tiny_models import tiny
from transformers.generation.streamers import BaseStreamer

from vlmtop.core import StageTimer, VlmtopError, locate_stages
from vlmtop.core.samples import synthetic_samples
from vlmtop.core.zoo import PRESETS

TINY = sorted(name for name in PRESETS if name.startswith("tiny-"))
NEW_TOKENS = 6


def _inputs(loaded, index=2):
    sample = next(itertools.islice(synthetic_samples(loaded.image_sizes), index, None))
    return loaded.prepare(sample.image(), sample.prompt)


def _timed(loaded, stages=None, **kwargs):
    stages = stages or locate_stages(loaded.model)
    with StageTimer(loaded.model, stages) as timer, torch.inference_mode():
        return timer.generate(**_inputs(loaded), **loaded.generation_kwargs(NEW_TOKENS), **kwargs)


def _hook_count(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("preset", TINY)
def test_every_family_splits_one_generate_into_stages(preset):
    loaded = tiny(preset)
    timing, output = _timed(loaded)

    assert timing.new_tokens == NEW_TOKENS == output.shape[-1] - timing.prompt_tokens
    assert len(timing.decode_steps_ms) == NEW_TOKENS - 1
    assert timing.vision_calls >= 1
    for value in (timing.vision_ms, timing.projector_ms, timing.prefill_ms, timing.decode_ms):
        assert value > 0
    # Stages are disjoint parts of the call: what is left over is never negative.
    parts = timing.vision_ms + timing.projector_ms + timing.prefill_ms + timing.decode_ms
    assert timing.other_ms >= 0
    assert parts + timing.other_ms == pytest.approx(timing.e2e_ms)
    # The first token comes after vision, projector and prefill, and before the end.
    assert timing.vision_ms + timing.projector_ms + timing.prefill_ms <= timing.ttft_ms <= timing.e2e_ms
    assert sum(timing.decode_steps_ms) == pytest.approx(timing.decode_ms)


@pytest.mark.parametrize("preset", TINY)
def test_spans_lie_on_the_timeline_in_pipeline_order(preset):
    timing, _ = _timed(tiny(preset))
    labels = [s.stage for s in timing.spans]
    assert labels.count("prefill") == 1 and labels.count("decode") == NEW_TOKENS - 1
    first_language = labels.index("prefill")
    assert "vision" in labels[:first_language]  # generate() encodes images before the first forward
    for span in timing.spans:
        assert 0 <= span.start_ms <= span.end_ms <= timing.e2e_ms
    language = [s for s in timing.spans if s.stage in ("prefill", "decode")]
    assert all(a.end_ms <= b.start_ms for a, b in zip(language, language[1:]))


def test_qwen_vision_excludes_its_nested_merger():
    loaded = tiny("tiny-qwen2-vl")
    stages = locate_stages(loaded.model)
    assert stages.describe()["projector"] == "model.visual.merger"
    timing, _ = _timed(loaded, stages)
    (vision,) = [s for s in timing.spans if s.stage == "vision"]
    (merger,) = [s for s in timing.spans if s.stage == "projector"]
    assert vision.start_ms <= merger.start_ms <= merger.end_ms <= vision.end_ms
    # vision_ms is the tower alone: its span minus the merger inside it
    assert timing.vision_ms == pytest.approx(vision.ms - merger.ms)


def test_hooks_are_removed_on_exit_and_on_error_and_the_timer_reenters():
    loaded = tiny("tiny-llava")
    before = _hook_count(loaded.model)
    timer = StageTimer(loaded.model, locate_stages(loaded.model))
    with timer:
        assert _hook_count(loaded.model) == before + 2 * 3
    assert _hook_count(loaded.model) == before

    with pytest.raises(TypeError), timer:  # generate() itself raises on a bad argument
        timer.generate(**_inputs(loaded), max_new_tokens="many")
    assert _hook_count(loaded.model) == before

    with timer, torch.inference_mode():  # entered again after an error: still measures
        timing, _ = timer.generate(**_inputs(loaded), **loaded.generation_kwargs(3))
    assert len(timing.decode_steps_ms) == 2
    assert _hook_count(loaded.model) == before


def test_generate_outside_the_with_block_is_refused():
    loaded = tiny("tiny-llava")
    with pytest.raises(VlmtopError, match="with StageTimer"):
        StageTimer(loaded.model, locate_stages(loaded.model)).generate(**_inputs(loaded), max_new_tokens=2)


def test_hooks_record_nothing_outside_generate():
    loaded = tiny("tiny-llava")
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        loaded.model(**_inputs(loaded))  # a plain forward while the timer is active
        assert timer._marks == []
        timing, _ = timer.generate(**_inputs(loaded), **loaded.generation_kwargs(4))
    assert len(timing.decode_steps_ms) == 3


def test_a_users_streamer_still_receives_every_token():
    class Collect(BaseStreamer):
        def __init__(self):
            self.puts, self.ended = [], False

        def put(self, value):
            self.puts.append(value)

        def end(self):
            self.ended = True

    streamer = Collect()
    timing, output = _timed(tiny("tiny-paligemma"), streamer=streamer)
    assert len(streamer.puts) == 1 + NEW_TOKENS and streamer.ended
    assert torch.equal(torch.cat([p.view(-1) for p in streamer.puts[1:]]), output[0, -NEW_TOKENS:])


def test_prefill_is_the_first_language_call_even_without_cache():
    # use_cache=False makes every call see the whole sequence: length cannot tell prefill
    timing, _ = _timed(tiny("tiny-llava"), use_cache=False)
    assert len(timing.decode_steps_ms) == NEW_TOKENS - 1
    assert [s.stage for s in timing.spans].count("prefill") == 1


def test_repeated_calls_of_a_stage_are_summed():
    # Declare "vision" on a module that runs once per generated token: its calls add up.
    loaded = tiny("tiny-llava")
    stages = locate_stages(loaded.model, {"vision": "model.language_model.layers.0"})
    timing, _ = _timed(loaded, stages)
    spans = [s for s in timing.spans if s.stage == "vision"]
    assert timing.vision_calls == len(spans) == NEW_TOKENS
    assert timing.vision_ms == pytest.approx(sum(s.ms for s in spans))


def test_beam_search_times_stages_without_a_streamer():
    timing, _ = _timed(tiny("tiny-llava"), num_beams=2)
    assert timing.ttft_ms is None and timing.prefill_ms > 0 and len(timing.decode_steps_ms) == NEW_TOKENS - 1
