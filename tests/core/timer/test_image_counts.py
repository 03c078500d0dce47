"""Prompts with 0, 1, 2 and 3 images on every built-in family: the inputs place one image
slot per image, the timer's stages still add up to e2e, image tokens grow with the images,
and a text-only prompt records vision and projector as not run (None, never 0.0)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from tiny_models import tiny

from vlmtop.core import StageTimer, locate_stages
from vlmtop.core.inputs import ProcessorInputs, image_list
from vlmtop.core.samples import synthetic_image

PRESETS = ("tiny-llava", "tiny-llava-next", "tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-idefics3", "tiny-smolvlm",
           "tiny-paligemma", "tiny-gemma3", "tiny-molmo2")
IMAGES = [synthetic_image(96, 96, 1), synthetic_image(160, 120, 2), synthetic_image(224, 224, 3)]


def _timed(loaded, images):
    inputs = loaded.prepare(images, "Compare these pictures.")
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**inputs, **loaded.generation_kwargs(2))
    return timing, loaded.count_image_tokens(inputs)


def _adds_up(timing) -> bool:
    parts = [timing.vision_ms or 0.0, timing.projector_ms or 0.0, timing.prefill_ms, timing.decode_ms, timing.other_ms]
    return math.isclose(sum(parts), timing.e2e_ms, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("preset", PRESETS)
def test_several_images_in_one_prompt_are_encoded_and_their_tokens_add_up(preset):
    loaded = tiny(preset)
    alone = [_timed(loaded, [image])[1] for image in IMAGES]
    for count in (2, 3):
        timing, tokens = _timed(loaded, IMAGES[:count])
        assert _adds_up(timing), timing
        assert timing.vision_ms is not None and timing.vision_ms > 0 and timing.new_tokens == 2
        assert timing.vision_calls >= 1  # one batched call, or one per image or crop
        assert tokens == sum(alone[:count])  # each image brings the tokens it brings alone


@pytest.mark.parametrize("preset", PRESETS)
def test_a_text_only_prompt_runs_with_vision_and_projector_not_run(preset):
    loaded = tiny(preset)
    timing, tokens = _timed(loaded, [])
    assert timing.vision_ms is None and timing.projector_ms is None and timing.vision_calls == 0
    assert tokens == 0 and timing.prefill_ms > 0 and timing.new_tokens == 2
    assert _adds_up(timing)


def test_one_image_gives_the_inputs_it_always_gave():
    loaded = tiny("tiny-llava")
    as_list, as_image = loaded.prepare([IMAGES[0]], "Hi."), loaded.prepare(IMAGES[0], "Hi.")
    assert as_list.keys() == as_image.keys()
    assert all(torch.equal(as_list[key], as_image[key]) for key in as_list)


@pytest.mark.parametrize("preset", ["tiny-llava", "tiny-qwen2-vl"])
def test_the_separate_pass_method_times_a_text_only_prompt_without_vision(preset):
    from vlmtop.core.multipass import measure_multipass

    loaded = tiny(preset)
    with torch.inference_mode():
        timing = measure_multipass(loaded.model, locate_stages(loaded.model), loaded.prepare([], "Hello?"),
                                   loaded.generation_kwargs(2), runs=1)
    assert timing.vision_ms is None and timing.projector_ms is None and timing.prefill_ms > 0


class OneImagePerPrompt(ProcessorInputs):
    """A processor of the kind older checkpoints ship: one image per prompt, refused beyond."""

    def __call__(self, images, prompt, image_kwargs=None, video=None):
        if len(image_list(images)) > 1:
            raise ValueError("Received 2 images for 1 prompts. Each prompt should be associated with an image.")
        return super().__call__(images, prompt, image_kwargs, video)


def test_an_images_sweep_on_a_one_image_processor_is_refused_before_any_sample(tmp_path):
    from vlmtop.core import VlmtopError
    from vlmtop.sessions.run.worker import RunSettings, Worker

    loaded = tiny("tiny-llava")
    one_image = dataclasses.replace(loaded, inputs=OneImagePerPrompt(loaded.inputs.processor, loaded.inputs.template))
    sweep = Worker(RunSettings(model="tiny-llava", knobs={"images": [1, 2]}), tmp_path / "s.db", session_id="0ne1ma9e00")
    with pytest.raises(VlmtopError, match=r"tiny-llava \(llava\) takes one image per prompt here: .*Received 2 images"):
        sweep._check_several_images(one_image)
    Worker(RunSettings(model="tiny-llava", knobs={"images": [0, 1]}), tmp_path / "t.db",
           session_id="0ne1ma9e01")._check_several_images(one_image)  # one image at most: nothing to refuse
    sweep._check_several_images(loaded)  # the built-in processor takes several
