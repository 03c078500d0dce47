"""locate_stages: found by structure on every family, overrides, spans, and clear errors."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny
from torch import nn

from vlmtop.core import StageNotFoundError, StageTimer, locate_stages
from vlmtop.core.samples import synthetic_samples

EXPECTED = {
    "tiny-llava": ("model.vision_tower", "model.multi_modal_projector", "model.language_model..lm_head"),
    "tiny-llava-next": ("model.vision_tower", "model.multi_modal_projector", "model.language_model..lm_head"),
    "tiny-qwen2-vl": ("model.visual", "model.visual.merger", "model.language_model..lm_head"),
    "tiny-qwen2.5-vl": ("model.visual", "model.visual.merger", "model.language_model..lm_head"),
    "tiny-idefics3": ("model.vision_model", "model.connector", "model.text_model..lm_head"),
    "tiny-smolvlm": ("model.vision_model", "model.connector", "model.text_model..lm_head"),
    "tiny-paligemma": ("model.vision_tower", "model.multi_modal_projector", "model.language_model..lm_head"),
    "tiny-gemma3": ("model.vision_tower", "model.multi_modal_projector", "model.language_model..lm_head"),
    "tiny-molmo2": ("model.vision_tower", "model.multi_modal_projector", "model.language_model..lm_head"),
}


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_stages_found_by_structure(preset):
    described = locate_stages(tiny(preset).model).describe()
    assert (described["vision"], described["projector"], described["language"]) == EXPECTED[preset]


def test_a_renamed_vision_tower_is_found_by_its_config():
    # No conventional name: the module holding config.vision_config is the vision encoder.
    class Renamed(nn.Module):
        def __init__(self, llava):
            super().__init__()
            self.config = llava.config
            self.eyes = llava.model.vision_tower
            self.language_model = llava.model.language_model

    stages = locate_stages(Renamed(tiny("tiny-llava").model))
    assert stages.describe()["vision"] == "eyes"
    assert stages.projector is None


def test_overrides_modulelist_spans_and_extra_stages():
    loaded = tiny("tiny-llava")
    stages = locate_stages(
        loaded.model,
        {"llm": "model.language_model.layers", "attention0": "model.language_model.layers.0.self_attn"},
    )
    assert stages.describe()["language"] == "model.language_model.layers[0]..model.language_model.layers[3]"
    assert stages.language.first is loaded.model.model.language_model.layers[0]
    assert stages.language.last is loaded.model.model.language_model.layers[-1]

    sample = next(synthetic_samples(loaded.image_sizes))
    with StageTimer(loaded.model, stages) as timer, torch.inference_mode():
        timing, _ = timer.generate(**loaded.prepare(sample.image(), sample.prompt), **loaded.generation_kwargs(4))
    # the extra stage is reported inclusive, inside the language stage, and not subtracted
    assert 0 < timing.extra_ms["attention0"] < timing.prefill_ms + timing.decode_ms
    assert timing.other_ms >= 0


def test_missing_module_path_names_what_is_there():
    with pytest.raises(StageNotFoundError) as err:
        locate_stages(tiny("tiny-llava").model, {"vision": "model.vision_backbone"})
    message = str(err.value)
    assert "model.vision_backbone" in message and "vision_tower" in message and "\n" not in message


def test_a_model_without_a_vision_part_says_how_to_declare_it():
    class TextOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.language_model = nn.Linear(2, 2)

    with pytest.raises(StageNotFoundError, match=r"--stage vision=DOTTED.PATH"):
        locate_stages(TextOnly())
