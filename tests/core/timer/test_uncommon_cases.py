"""The timer beyond the common case: beam search from the checkpoint's config,
another thread on the same model, speculative decoding, encoder-decoder models, and
families whose parts have other names. Real tiny models throughout; CUDA-only cases are
skipped without a GPU."""

from __future__ import annotations

import threading

import pytest
import torch
import transformers
from tiny_models import tiny

from vlmtop.core import StageNotFoundError, StageTimer, locate_stages
from vlmtop.core.samples import synthetic_samples
from vlmtop.sessions.records import SampleRecord


def _inputs(loaded):
    sample = next(synthetic_samples(loaded.image_sizes))
    return loaded.prepare(sample.image(), sample.prompt)


def test_beam_search_set_in_the_checkpoints_generation_config_times_without_a_streamer():
    loaded = tiny("tiny-llava")
    config = loaded.model.generation_config
    before = config.num_beams
    config.num_beams = 2  # a checkpoint shipped with beam search on
    try:
        with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
            timing, _ = timer.generate(**_inputs(loaded), **loaded.generation_kwargs(3))
    finally:
        config.num_beams = before
    assert timing.ttft_ms is None  # generate() refuses a streamer with beams: no TTFT, no crash
    assert len(timing.decode_steps_ms) == 2 and timing.prefill_ms > 0


def test_another_thread_on_the_same_model_does_not_leak_into_the_timing():
    loaded = tiny("tiny-qwen2-vl")
    inputs, kwargs = _inputs(loaded), loaded.generation_kwargs(4)
    stop = threading.Event()

    def other_user():
        with torch.inference_mode():
            while not stop.is_set():
                loaded.model.generate(**inputs, **kwargs)

    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        thread = threading.Thread(target=other_user)
        thread.start()
        try:
            timings = [timer.generate(**inputs, **kwargs)[0] for _ in range(4)]
        finally:
            stop.set()
            thread.join()
    # exactly our own calls: one prefill and 3 decode steps for 4 tokens, every time
    assert [len(t.decode_steps_ms) for t in timings] == [3, 3, 3, 3]
    assert all(t.vision_calls == 1 for t in timings)


def test_speculative_decoding_is_flagged_and_per_token_divides_by_tokens():
    # (prompt lookup proposes image placeholder ids on LLaVA/Qwen/Idefics and transformers
    # then refuses the features; PaliGemma's prompt layout does not have that problem)
    loaded = tiny("tiny-paligemma")
    kwargs = {**loaded.generation_kwargs(12), "prompt_lookup_num_tokens": 3}
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**_inputs(loaded), **kwargs)
    assert timing.speculative and timing.new_tokens == 12
    assert timing.decode_per_token_ms == pytest.approx(timing.decode_ms / 11)
    assert timing.tokens_per_step == pytest.approx(11 / len(timing.decode_steps_ms))
    record = SampleRecord("s", 0)
    record.set_timing(timing)
    assert record.speculative and record.decode_per_token_ms == pytest.approx(timing.decode_per_token_ms)


def test_an_encoder_decoder_model_is_refused_in_one_line():
    config = transformers.T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8, vocab_size=64)
    model = transformers.T5ForConditionalGeneration(config)
    with pytest.raises(StageNotFoundError, match="encoder-decoder.*decoder-only"):
        locate_stages(model)


def _tiny_text() -> dict:
    return dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                intermediate_size=64, vocab_size=300)


def test_fuyu_vision_is_found_and_its_missing_projector_is_named():
    config = transformers.FuyuConfig(text_config=dict(model_type="persimmon", **_tiny_text()), hidden_size=32,
                                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                     vocab_size=300, patch_size=4, num_channels=3, image_token_id=299)
    stages = locate_stages(transformers.FuyuForCausalLM(config))
    assert stages.vision.path == "model.vision_embed_tokens"
    assert stages.unlocated == ("projector",)  # never silently booked as `other`


def test_janus_aligner_is_its_projector():
    config = transformers.JanusConfig(
        text_config=dict(model_type="llama", **_tiny_text()),
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                           image_size=32, patch_size=8, projection_dim=32),
        vq_config=dict(embed_dim=8, num_embeddings=16, base_channels=32, channel_multiplier=[1, 1], num_res_blocks=1,
                       projection_dim=32, image_token_embed_dim=32, num_patches=16),
        image_token_id=299,
    )
    stages = locate_stages(transformers.JanusForConditionalGeneration(config))
    assert (stages.vision.path, stages.projector.path) == ("model.vision_model", "model.aligner")
    assert stages.unlocated == ()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_events_sit_on_the_models_device_not_the_current_one():
    from vlmtop.core.model_loading import load_model

    loaded = load_model("tiny-llava", device="cuda:1")
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**_inputs(loaded), **loaded.generation_kwargs(4))
    assert timing.clock == "cuda_events" and timing.vision_ms > 0
    assert timing.other_ms < timing.e2e_ms / 2


@pytest.mark.parametrize("preset", ["tiny-llava", "tiny-qwen2-vl", "tiny-idefics3", "tiny-gemma3", "tiny-molmo2"])
def test_the_seeds_prefill_span_runs_between_the_first_and_last_decoder_block(preset):
    from vlmtop.core.multipass import decoder_blocks
    from vlmtop.core.zoo import PRESETS

    loaded = tiny(preset)
    blocks = decoder_blocks(locate_stages(loaded.model))
    assert isinstance(blocks, torch.nn.ModuleList) and len(blocks) == PRESETS[preset].dims.text_layers


@pytest.mark.parametrize("fullgraph", [True, False])
def test_a_compiled_decode_is_timed_from_the_tokens_without_breaking_its_graph(fullgraph):
    # transformers compiles the decode forward with a static cache; the eager backend traces
    # exactly as inductor would (graph breaks, fullgraph errors) without generating code.
    from transformers import CompileConfig

    loaded = tiny("tiny-llava")
    config = CompileConfig(fullgraph=fullgraph, backend="eager")
    config._compile_all_devices = True  # transformers compiles on CUDA only by default
    kwargs = {**loaded.generation_kwargs(4), "cache_implementation": "static", "compile_config": config}
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**_inputs(loaded), **kwargs)
    assert timing.decode_clock == "streamer" and len(timing.decode_steps_ms) == 3
    assert timing.graph_breaks == 0  # the hooks fold away: the compiled program is the user's
    assert timing.prefill_ms > 0 and timing.vision_ms > 0  # the uncompiled prefill keeps its hooks
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        plain, _ = timer.generate(**_inputs(loaded), **loaded.generation_kwargs(4))
    assert plain.decode_clock == "hooks" and len(plain.decode_steps_ms) == 3


def test_an_assistant_models_time_is_named_not_left_in_other():
    from vlmtop.core.model_loading import load_model

    loaded = tiny("tiny-paligemma")
    torch.manual_seed(1)  # a second tiny PaliGemma, other weights: it drafts, the main model verifies
    assistant = load_model("tiny-paligemma", device="cpu").model
    kwargs = {**loaded.generation_kwargs(8), "assistant_model": assistant}
    with StageTimer(loaded.model, locate_stages(loaded.model)) as timer, torch.inference_mode():
        timing, _ = timer.generate(**_inputs(loaded), **kwargs)
    assert timing.speculative and timing.new_tokens == 8
    # the assistant's calls sit between the main model's, so its time is inside `other`, named
    assert 0 < timing.extra_ms["assistant"] <= timing.other_ms
    assert not assistant._forward_hooks and not assistant._forward_pre_hooks  # hooked for that call only
    record = SampleRecord("s", 0)
    record.set_timing(timing)
    assert record.speculative


@pytest.mark.parametrize("setting", [{"assistant_early_exit": 1}, {"prompt_lookup_num_tokens": 3}, {}])
def test_every_assisted_mode_transformers_knows_is_speculative(setting):
    from vlmtop.core.timer import is_speculative

    config = tiny("tiny-llava").model.generation_config
    assert is_speculative(setting, config) is bool(setting)
    assert config.assistant_early_exit is None  # the model's own config is not changed
