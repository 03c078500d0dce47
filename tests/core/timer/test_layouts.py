"""Locating and the seed's method on layouts beyond the common case: a vision
module under a name vlmtop does not know, Florence-2 (encoder-decoder, refused in one line),
the seed's prefill span, and a model split over GPUs (skipped below two)."""

from __future__ import annotations

import pytest
import torch
import transformers
from tiny_models import tiny
from torch import nn

from vlmtop.core import StageNotFoundError, StageTimer, locate_stages
from vlmtop.core.multipass import SEPARATE_RUNS, decoder_blocks, measure_multipass
from vlmtop.core.samples import synthetic_samples


def _inputs(loaded):
    sample = next(synthetic_samples(loaded.image_sizes))
    return loaded.prepare(sample.image(), sample.prompt)


class _Eyes(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(12, 8)

    def forward(self, pixel_values):
        return self.patch(pixel_values)


class _Homemade(nn.Module):
    """A made-up VLM: its vision under a name no family uses, no config to find it by."""

    def __init__(self):
        super().__init__()
        self.model = nn.Module()
        self.model.eyes = _Eyes()
        self.model.language_model = nn.Linear(8, 8)
        self.lm_head = nn.Linear(8, 16)

    def forward(self, input_ids=None, pixel_values=None):
        return self.lm_head(self.model.language_model(self.model.eyes(pixel_values)))


def test_a_vision_module_under_an_unknown_name_is_found_by_its_pixel_values():
    stages = locate_stages(_Homemade())
    assert stages.vision.path == "model.eyes"  # not the model itself, nor its .model wrapper
    assert stages.language.path == "model.language_model..lm_head"
    assert stages.unlocated == ("projector",)


def test_florence2_an_encoder_decoder_vlm_is_refused_in_one_line():
    text = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=300, max_position_embeddings=64)
    vision = dict(depths=[1, 1, 1, 1], embed_dim=[16, 16, 32, 32], num_heads=[1, 1, 2, 2], num_groups=[1, 1, 2, 2],
                  projection_dim=32, window_size=2)
    config = transformers.Florence2Config(text_config=text, vision_config=vision)
    model = transformers.Florence2ForConditionalGeneration(config)
    with pytest.raises(StageNotFoundError) as caught:
        locate_stages(model)
    message = str(caught.value)
    assert "\n" not in message and "Florence2ForConditionalGeneration is an encoder-decoder model" in message
    assert "decoder-only" in message


def test_the_seeds_prefill_span_hooks_only_the_first_and_last_block_in_seed_runs_forwards():
    loaded = tiny("tiny-llava")
    stages = locate_stages(loaded.model)
    blocks = decoder_blocks(stages)
    assert len(blocks) >= 3  # a middle block to tell "first and last" from "all"
    seen: list[tuple[int, int]] = []  # (block index, forward hooks on it) at each call

    def watch(index):
        def pre_hook(module, _args):
            seen.append((index, len(module._forward_hooks)))
        return pre_hook

    handles = [block.register_forward_pre_hook(watch(i)) for i, block in enumerate(blocks)]
    try:
        with torch.inference_mode():
            measure_multipass(loaded.model, stages, _inputs(loaded), loaded.generation_kwargs(2))
    finally:
        for handle in handles:
            handle.remove()
    hooked = [(index, count) for index, count in seen if count]
    last = len(blocks) - 1
    # the separate-pass marks sit on blocks[0] and blocks[-1] only, for SEPARATE_RUNS separate forwards
    assert hooked == [(0, 1), (last, 1)] * SEPARATE_RUNS


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_a_model_split_over_two_gpus_synchronizes_both():
    import tempfile

    pytest.importorskip("accelerate")  # device_map="auto" places the parts through accelerate
    loaded = tiny("tiny-llava")
    # device_map needs a checkpoint to load: save the tiny model and reload it split, with
    # so little room on cuda:0 that the rest must go to cuda:1
    with tempfile.TemporaryDirectory() as folder:
        loaded.model.save_pretrained(folder)
        split = type(loaded.model).from_pretrained(folder, device_map="auto", max_memory={0: "2MiB", 1: "1GiB"})
    devices = {p.device for p in split.parameters()}
    assert len(devices) == 2
    inputs = {k: v.to("cuda:0") if hasattr(v, "to") else v for k, v in _inputs(loaded).items()}
    with StageTimer(split, locate_stages(split)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**inputs, **loaded.generation_kwargs(3))
    assert timing.clock == "cuda_sync_2_devices" and timing.prefill_ms > 0 and len(timing.decode_steps_ms) == 2
