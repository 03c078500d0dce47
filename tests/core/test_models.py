"""Loading models: presets, local folders, random weights, and one-line errors."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny

from vlmtop.core import ModelLoadError, StageTimer, locate_stages
from vlmtop.core.model_loading import load_model
from vlmtop.core.samples import synthetic_samples
from vlmtop.core.zoo import DEFAULT_PRESET, PRESETS


def test_every_tiny_preset_is_small_and_the_default_has_seeded_weights():
    # What makes a tiny preset build and run in seconds on any CPU is its size, so that is
    # what is checked (a wall-clock bound here failed on a busy shared machine): under 2M
    # parameters each (they are 0.78-0.93M), against 100M+ for the real checkpoints.
    for name in (name for name in PRESETS if name.startswith("tiny-")):
        size = sum(p.numel() for p in tiny(name).model.parameters())  # cached for the other tests
        assert 100_000 < size < 2_000_000, (name, size)
    a = load_model(DEFAULT_PRESET, device="cpu", seed=1)
    b = load_model(DEFAULT_PRESET, device="cpu", seed=1)
    for (name, pa), (_, pb) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert torch.equal(pa, pb), name
    assert a.random_weights and a.source == "preset"


@pytest.mark.parametrize("preset", ["tiny-qwen2-vl", "tiny-llava-next", "tiny-molmo2"])
def test_dynamic_resolution_families_give_more_tokens_for_larger_images(preset):
    from PIL import Image

    loaded = tiny(preset)
    small = loaded.prepare(Image.new("RGB", (64, 64)), "hi")["input_ids"].shape[-1]
    large = loaded.prepare(Image.new("RGB", (448, 224)), "hi")["input_ids"].shape[-1]
    assert large > small


def test_idefics3_crop_count_follows_the_aspect_ratio():
    from PIL import Image

    # As in the real model, the image is resized to a fixed longest edge and split into
    # crops: a square image makes more crops than a 2:1 one, whatever its pixel count.
    loaded = tiny("tiny-idefics3")
    square = loaded.prepare(Image.new("RGB", (64, 64)), "hi")["pixel_values"].shape[1]
    wide = loaded.prepare(Image.new("RGB", (448, 224)), "hi")["pixel_values"].shape[1]
    assert square > wide > 1


def test_shape_presets_have_real_dimensions():
    from vlmtop.core.zoo.families import make_config

    preset = PRESETS["llava-1.5-7b-shape"]
    config = make_config(preset.family_spec, preset.dims, preset.family_spec.tokenizer())
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (4096, 32)
    assert (config.vision_config.image_size, config.vision_config.patch_size) == (336, 14)
    assert config.text_config.vocab_size == 32064


def test_a_saved_model_folder_loads_with_its_processor(tmp_path):
    source = tiny("tiny-llava")
    source.model.save_pretrained(tmp_path)
    source.inputs.processor.save_pretrained(tmp_path)

    loaded = load_model(str(tmp_path), device="cpu")
    assert loaded.source == "local" and loaded.family == "llava" and not loaded.random_weights
    for (name, a), (_, b) in zip(source.model.named_parameters(), loaded.model.named_parameters()):
        assert torch.equal(a, b), name
    sample = next(synthetic_samples(loaded.image_sizes))
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**loaded.prepare(sample.image(), sample.prompt), **loaded.generation_kwargs(3))
    assert timing.new_tokens == 3

    random = load_model(str(tmp_path), device="cpu", random_weights=True)
    assert random.random_weights and random.family == "llava"


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("no-such-model", "unknown model 'no-such-model'"),
        ("someorg/not-cached-vlm", "not in the Hugging Face cache"),
    ],
)
def test_unknown_models_fail_with_one_line(spec, expected):
    with pytest.raises(ModelLoadError) as err:
        load_model(spec, device="cpu")
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_bad_device_and_dtype_are_one_line_errors():
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        load_model(DEFAULT_PRESET, device="cpu", dtype="float8")
    with pytest.raises(ModelLoadError, match="unknown device|no CUDA"):
        load_model(DEFAULT_PRESET, device="tpu:9" if torch.cuda.is_available() else "cuda")
