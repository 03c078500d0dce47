"""The Idefics3, SmolVLM, PaliGemma and Gemma3 families: config and inputs."""

from __future__ import annotations

from transformers import PretrainedConfig

from vlmtop.core.inputs import InputBuilder, ProcessorInputs
from vlmtop.core.zoo.config_parts import auto_config, round_vocab, text_config, token_ids, vision_config
from vlmtop.core.zoo.dims import Dims

# --- Idefics3 / SmolVLM -------------------------------------------------------------------

IDEFICS_TOKENS = ("<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>") + tuple(
    f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)
)


def idefics_config(model_type: str, vision_type: str):
    def make(d: Dims, tok) -> PretrainedConfig:
        (image,) = token_ids(tok, "<image>")
        return auto_config(
            model_type,
            text_config=dict(model_type="llama", **text_config(d, tok)),
            vision_config=dict(model_type=vision_type, **vision_config(d)),
            image_token_id=image,
            scale_factor=2,
        )

    return make


# SmolVLM's video prompt (its processor's, with the frame count written as a number so no
# num2words is needed): every frame in an image slot, with its second in the clip.
SMOLVLM_VIDEO = ("User: You are provided the following series of {count} frames from a video.\n{frames}\n\n"
                 "{prompt}<end_of_utterance>\nAssistant:", "\nFrame from 00:{second:02d}:<image>")


def idefics_inputs(processor_name: str, image_processor_name: str, video: bool = False):
    def make(config, tok, d: Dims) -> InputBuilder:
        import transformers

        # The image is split into crops of the vision tower's size (up to 4x its edge),
        # plus a global view: larger images give more crops, hence more image tokens.
        image_processor = getattr(transformers, image_processor_name)(
            size={"longest_edge": 4 * d.image_size},
            max_image_size={"longest_edge": d.image_size},
        )
        tokens_per_crop = (d.image_size // d.patch_size) ** 2 // config.scale_factor**2
        # SmolVLM's own processor has a video slot and needs num2words; Idefics3's does
        # the same image-token expansion, so both families use it for built-in inputs.
        processor = getattr(transformers, processor_name)(
            image_processor=image_processor, tokenizer=tok, image_seq_len=tokens_per_crop
        )
        return ProcessorInputs(processor, template="User:<image>{prompt}<end_of_utterance>\nAssistant:",
                               video_template=SMOLVLM_VIDEO if video else None)

    return make


# --- PaliGemma / Gemma3 -------------------------------------------------------------------


def paligemma_config(d: Dims, tok) -> PretrainedConfig:
    (image,) = token_ids(tok, "<image>")
    return auto_config(
        "paligemma",
        text_config=dict(model_type="gemma", **text_config(d, tok)),
        vision_config=dict(model_type="siglip_vision_model", **vision_config(d)),
        image_token_index=image,
        projection_dim=d.text_hidden,
        hidden_size=d.text_hidden,
        vocab_size=d.vocab_size or round_vocab(len(tok)),
    )


def paligemma_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import PaliGemmaProcessor, SiglipImageProcessor

    image_processor = SiglipImageProcessor(size={"height": d.image_size, "width": d.image_size})
    image_processor.image_seq_length = (d.image_size // d.patch_size) ** 2
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)
    # PaliGemma's processor puts the image tokens and BOS in front of the prompt itself.
    return ProcessorInputs(processor, template="<image>answer en {prompt}\n")


GEMMA3_TOKENS = ("<start_of_image>", "<end_of_image>", "<image_soft_token>")


def gemma3_config(d: Dims, tok) -> PretrainedConfig:
    boi, eoi, image = token_ids(tok, *GEMMA3_TOKENS)
    return auto_config(
        "gemma3",
        text_config=text_config(
            d,
            tok,
            sliding_window=64,
            layer_types=["sliding_attention"] * (d.text_layers - 1) + ["full_attention"],
        ),
        vision_config=dict(model_type="siglip_vision_model", **vision_config(d)),
        mm_tokens_per_image=(d.image_size // d.patch_size // 2) ** 2,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
    )


def gemma3_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import Gemma3ImageProcessor, Gemma3Processor

    image_processor = Gemma3ImageProcessor(size={"height": d.image_size, "width": d.image_size})
    processor = Gemma3Processor(
        image_processor=image_processor, tokenizer=tok, image_seq_length=config.mm_tokens_per_image
    )
    return ProcessorInputs(
        processor, template="<start_of_turn>user\n<start_of_image>{prompt}<end_of_turn>\n<start_of_turn>model\n"
    )
