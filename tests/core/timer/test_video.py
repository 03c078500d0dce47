"""A video's frames on the families vlmtop feeds video to (built by hand: transformers'
video processors need torchvision): the stages add up, the visual tokens double with the
frames, and every other family refuses a video in one line."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import tiny

from vlmtop.core import SampleError, StageTimer, locate_stages
from vlmtop.core.samples import synthetic_image

FRAMES = [synthetic_image(64, 64, (7, k)) for k in range(8)]


@pytest.mark.parametrize("preset", ["tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-smolvlm"])
def test_a_video_is_encoded_and_its_tokens_grow_with_its_frames(preset):
    loaded = tiny(preset)
    tokens = {}
    for count in (4, 8):
        inputs = loaded.prepare([], "What happens?", video=FRAMES[:count])
        with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
            timing, _ = timer.generate(**inputs, **loaded.generation_kwargs(2))
        parts = [timing.vision_ms, timing.projector_ms, timing.prefill_ms, timing.decode_ms, timing.other_ms]
        assert math.isclose(sum(parts), timing.e2e_ms, rel_tol=1e-9, abs_tol=1e-9)
        assert timing.vision_ms > 0 and timing.vision_calls >= 1 and timing.new_tokens == 2
        tokens[count] = loaded.count_image_tokens(inputs)
    assert tokens[8] == 2 * tokens[4] > 0


@pytest.mark.parametrize("preset", ["tiny-llava", "tiny-idefics3", "tiny-molmo2"])
def test_a_family_without_video_refuses_one_in_one_line(preset):
    loaded = tiny(preset)
    with pytest.raises(SampleError, match=rf"{loaded.family} models take no video here .*give the frames as images"):
        loaded.prepare([], "What happens?", video=FRAMES[:4])
