"""Built-in tiny models, one per VLM family, from configs with seeded random weights.

Each family says how to make its config from a few sizes, and how to turn (image, prompt)
into model inputs: the family's real processor where it constructs here, or inputs built
by hand with the same shapes where it does not (Molmo2's image processor needs
torchvision; SmolVLM's and Qwen's processors have a video slot that may not construct).
Dynamic-resolution families keep their behaviour: a larger image gives more image tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image
from transformers import AutoConfig, PretrainedConfig

from .dims import Dims
from .tokenizer import build_tokenizer
from ..inputs import InputBuilder, ProcessorInputs


@dataclass(frozen=True)
class Family:
    model_type: str
    description: str
    # (dims, tokenizer) -> config
    make_config: Callable[[Dims, object], PretrainedConfig]
    # (config, tokenizer, dims) -> InputBuilder
    make_inputs: Callable[[PretrainedConfig, object, Dims], InputBuilder]
    # special tokens the tokenizer must carry, and named ones processors look up
    special_tokens: tuple[str, ...] = ()
    named_tokens: tuple[tuple[str, str], ...] = ()

    def tokenizer(self):
        return build_tokenizer(self.special_tokens, **dict(self.named_tokens))


def _text(d: Dims, tok, **extra) -> dict:
    cfg = dict(
        hidden_size=d.text_hidden,
        num_hidden_layers=d.text_layers,
        num_attention_heads=d.text_heads,
        num_key_value_heads=d.text_kv_heads,
        intermediate_size=d.text_intermediate,
        head_dim=d.text_hidden // d.text_heads,
        vocab_size=d.vocab_size or _round_vocab(len(tok)),
        max_position_embeddings=32768,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    cfg.update(extra)
    return cfg


def _round_vocab(n: int) -> int:
    # Real checkpoints pad the vocabulary to a multiple of 64 for matmul efficiency.
    return (n + 63) // 64 * 64


def _vision(d: Dims, **extra) -> dict:
    cfg = dict(
        hidden_size=d.vision_hidden,
        num_hidden_layers=d.vision_layers,
        num_attention_heads=d.vision_heads,
        intermediate_size=d.vision_intermediate,
        image_size=d.image_size,
        patch_size=d.patch_size,
    )
    cfg.update(extra)
    return cfg


def _ids(tok, *tokens: str) -> list[int]:
    return tok.convert_tokens_to_ids(list(tokens))


def _config(model_type: str, **kwargs) -> PretrainedConfig:
    return AutoConfig.for_model(model_type, **kwargs)


def make_config(family: "Family", d: Dims, tok) -> PretrainedConfig:
    """The family's config at sizes `d`, with the preset's overrides merged in."""
    config = family.make_config(d, tok)
    for key, value in d.overrides:
        if isinstance(value, dict):
            sub = getattr(config, key)
            for sub_key, sub_value in value.items():
                setattr(sub, sub_key, sub_value)
        else:
            setattr(config, key, value)
    return config


# --- LLaVA family -------------------------------------------------------------------------


def _llava_config(d: Dims, tok) -> PretrainedConfig:
    (image,) = _ids(tok, "<image>")
    patches = (d.image_size // d.patch_size) ** 2
    return _config(
        "llava",
        text_config=dict(model_type="llama", **_text(d, tok)),
        vision_config=dict(model_type="clip_vision_model", projection_dim=d.vision_hidden, **_vision(d)),
        image_token_index=image,
        image_seq_length=patches,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def _llava_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import CLIPImageProcessor, LlavaProcessor

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": d.image_size}, crop_size={"height": d.image_size, "width": d.image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=d.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, dropped by the "default" strategy
    )
    return ProcessorInputs(processor, template="USER: <image>\n{prompt} ASSISTANT:")


def _pinpoints(d: Dims) -> list[list[int]]:
    s = d.image_size
    return [[s, 2 * s], [2 * s, s], [2 * s, 2 * s], [3 * s, s], [s, 3 * s]]


def _llava_next_config(d: Dims, tok) -> PretrainedConfig:
    (image,) = _ids(tok, "<image>")
    return _config(
        "llava_next",
        text_config=dict(model_type="llama", **_text(d, tok)),
        vision_config=dict(model_type="clip_vision_model", projection_dim=d.vision_hidden, **_vision(d)),
        image_token_index=image,
        image_grid_pinpoints=_pinpoints(d),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def _llava_next_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import LlavaNextImageProcessor, LlavaNextProcessor

    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": d.image_size},
        crop_size={"height": d.image_size, "width": d.image_size},
        image_grid_pinpoints=_pinpoints(d),
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=d.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    return ProcessorInputs(processor, template="[INST] <image>\n{prompt} [/INST]")


# --- Qwen2-VL / Qwen2.5-VL ----------------------------------------------------------------

QWEN_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def _qwen_ids(tok) -> dict:
    start, end, image, video = _ids(tok, *QWEN_TOKENS)
    return dict(vision_start_token_id=start, vision_end_token_id=end, image_token_id=image, video_token_id=video)


def _mrope(d: Dims) -> dict:
    # M-RoPE splits the rotary half-dimension into temporal, height and width sections.
    half = d.text_hidden // d.text_heads // 2
    t = half // 4
    h = (half - t) // 2
    return {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [t, h, half - t - h]}


def _qwen2_vl_config(d: Dims, tok) -> PretrainedConfig:
    return _config(
        "qwen2_vl",
        text_config=_text(d, tok, rope_parameters=_mrope(d)),
        vision_config=dict(
            depth=d.vision_layers,
            embed_dim=d.vision_hidden,
            hidden_size=d.text_hidden,  # the merger's output width: the LLM's
            num_heads=d.vision_heads,
            mlp_ratio=d.vision_intermediate // d.vision_hidden,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        **_qwen_ids(tok),
    )


def _qwen2_5_vl_config(d: Dims, tok) -> PretrainedConfig:
    return _config(
        "qwen2_5_vl",
        text_config=_text(d, tok, rope_parameters=_mrope(d)),
        vision_config=dict(
            depth=d.vision_layers,
            hidden_size=d.vision_hidden,
            intermediate_size=d.vision_intermediate,
            num_heads=d.vision_heads,
            out_hidden_size=d.text_hidden,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            fullatt_block_indexes=[d.vision_layers - 1],
        ),
        **_qwen_ids(tok),
    )


class QwenInputs(InputBuilder):
    """Qwen2-VL / Qwen2.5-VL inputs: the real image processor, the text expanded by hand.

    Qwen's processor has a video slot and does not construct without a video processor
    here, so we do its one text step ourselves: one ``<|image_pad|>`` per merged patch.
    """

    def __init__(self, tok, image_processor):
        self.tok = tok
        self.image_processor = image_processor

    def __call__(self, image: Image.Image, prompt: str, image_kwargs: dict | None = None) -> dict:
        vision = self.image_processor(images=[image], return_tensors="pt", **(image_kwargs or {}))
        merge = self.image_processor.merge_size
        n_tokens = int(vision["image_grid_thw"].prod()) // (merge * merge)
        text = (
            "<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * n_tokens
            + f"<|vision_end|>{prompt}<|im_end|>\n<|im_start|>assistant\n"
        )
        encoded = dict(self.tok(text, return_tensors="pt"))
        # as the real processor returns: 1 marks image tokens, for M-RoPE position ids
        image_token = self.tok.convert_tokens_to_ids("<|image_pad|>")
        encoded["mm_token_type_ids"] = (encoded["input_ids"] == image_token).long()
        return {**encoded, **vision}


def _qwen_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import Qwen2VLImageProcessor

    # Dynamic resolution, as in the real models: the image keeps its aspect ratio and is
    # resized to a multiple of 28 px between these pixel counts; 28x28 px = one token.
    return QwenInputs(tok, Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=448 * 448))


# --- Idefics3 / SmolVLM -------------------------------------------------------------------

IDEFICS_TOKENS = ("<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>") + tuple(
    f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)
)


def _idefics_config(model_type: str, vision_type: str):
    def make(d: Dims, tok) -> PretrainedConfig:
        (image,) = _ids(tok, "<image>")
        return _config(
            model_type,
            text_config=dict(model_type="llama", **_text(d, tok)),
            vision_config=dict(model_type=vision_type, **_vision(d)),
            image_token_id=image,
            scale_factor=2,
        )

    return make


def _idefics_inputs(processor_name: str, image_processor_name: str):
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
        return ProcessorInputs(processor, template="User:<image>{prompt}<end_of_utterance>\nAssistant:")

    return make


# --- PaliGemma / Gemma3 -------------------------------------------------------------------


def _paligemma_config(d: Dims, tok) -> PretrainedConfig:
    (image,) = _ids(tok, "<image>")
    return _config(
        "paligemma",
        text_config=dict(model_type="gemma", **_text(d, tok)),
        vision_config=dict(model_type="siglip_vision_model", **_vision(d)),
        image_token_index=image,
        projection_dim=d.text_hidden,
        hidden_size=d.text_hidden,
        vocab_size=d.vocab_size or _round_vocab(len(tok)),
    )


def _paligemma_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import PaliGemmaProcessor, SiglipImageProcessor

    image_processor = SiglipImageProcessor(size={"height": d.image_size, "width": d.image_size})
    image_processor.image_seq_length = (d.image_size // d.patch_size) ** 2
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)
    # PaliGemma's processor puts the image tokens and BOS in front of the prompt itself.
    return ProcessorInputs(processor, template="<image>answer en {prompt}\n")


GEMMA3_TOKENS = ("<start_of_image>", "<end_of_image>", "<image_soft_token>")


def _gemma3_config(d: Dims, tok) -> PretrainedConfig:
    boi, eoi, image = _ids(tok, *GEMMA3_TOKENS)
    return _config(
        "gemma3",
        text_config=_text(
            d,
            tok,
            sliding_window=64,
            layer_types=["sliding_attention"] * (d.text_layers - 1) + ["full_attention"],
        ),
        vision_config=dict(model_type="siglip_vision_model", **_vision(d)),
        mm_tokens_per_image=(d.image_size // d.patch_size // 2) ** 2,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
    )


def _gemma3_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import Gemma3ImageProcessor, Gemma3Processor

    image_processor = Gemma3ImageProcessor(size={"height": d.image_size, "width": d.image_size})
    processor = Gemma3Processor(
        image_processor=image_processor, tokenizer=tok, image_seq_length=config.mm_tokens_per_image
    )
    return ProcessorInputs(
        processor, template="<start_of_turn>user\n<start_of_image>{prompt}<end_of_turn>\n<start_of_turn>model\n"
    )


# --- Molmo2 -------------------------------------------------------------------------------

MOLMO2_TOKENS = (
    "<im_start>",
    "<im_end>",
    "<im_patch>",
    "<im_col>",
    "<low_res_im_start>",
    "<frame_start>",
    "<frame_end>",
)


def _molmo2_config(d: Dims, tok) -> PretrainedConfig:
    start, end, patch, col, low_start, f_start, f_end = _ids(tok, *MOLMO2_TOKENS)
    text = _text(d, tok)
    return _config(
        "molmo2",
        text_config=dict(text, additional_vocab_size=128),
        vision_config=dict(
            **_vision(d, image_size=[d.image_size, d.image_size]),
            num_key_value_heads=d.vision_heads,
            head_dim=d.vision_hidden // d.vision_heads,
        ),
        adapter_config=dict(
            hidden_size=d.vision_hidden,
            num_attention_heads=d.vision_heads,
            num_key_value_heads=d.vision_heads,
            head_dim=d.vision_hidden // d.vision_heads,
            intermediate_size=d.vision_intermediate,
            text_hidden_size=d.text_hidden,
            vit_layers=[-1],
        ),
        image_start_token_id=start,
        image_end_token_id=end,
        image_patch_id=patch,
        image_col_id=col,
        low_res_image_start_token_id=low_start,
        frame_start_token_id=f_start,
        frame_end_token_id=f_end,
    )


class Molmo2Inputs(InputBuilder):
    """Molmo2's inputs built by hand (its image processor needs torchvision).

    Same shapes as the real processor: a low-resolution global crop plus high-resolution
    tiles chosen by the image's size, each patch grid pooled 2x2 into image tokens, so a
    larger image gives more tiles and more tokens.
    """

    def __init__(self, config, tok, d: Dims, max_tiles: int = 6):
        self.tok = tok
        self.size = d.image_size
        self.patch = d.patch_size
        self.max_tiles = max_tiles
        self.ids = dict(zip(MOLMO2_TOKENS, _ids(tok, *MOLMO2_TOKENS)))

    def tiling(self, width: int, height: int) -> tuple[int, int]:
        rows = max(1, min(self.max_tiles, round(height / self.size)))
        cols = max(1, min(self.max_tiles // rows, round(width / self.size)))
        return rows, cols

    def __call__(self, image: Image.Image, prompt: str, image_kwargs: dict | None = None) -> dict:
        # (no transformers image processor here: processor knobs do not apply to molmo2)
        rows, cols = self.tiling(*image.size)
        side = self.size // self.patch  # patches per crop edge
        pooled = side // 2  # tokens per crop edge after 2x2 pooling
        crops = [image.resize((self.size, self.size))]
        tiled = image.resize((cols * self.size, rows * self.size))
        for r in range(rows):
            for c in range(cols):
                box = (c * self.size, r * self.size, (c + 1) * self.size, (r + 1) * self.size)
                crops.append(tiled.crop(box))
        pixels = np.stack([np.asarray(c.convert("RGB"), dtype=np.float32) / 127.5 - 1.0 for c in crops])
        n, p = len(crops), self.patch
        # (crops, H, W, C) -> (crops, patches, patch*patch*C), as the real processor lays out
        patches = pixels.reshape(n, side, p, side, p, 3).transpose(0, 1, 3, 2, 4, 5).reshape(n, side * side, -1)
        pooling = [
            [base + (2 * y + dy) * side + 2 * x + dx for dy in (0, 1) for dx in (0, 1)]
            for i in range(n)
            for base in [i * side * side]
            for y in range(pooled)
            for x in range(pooled)
        ]
        low_tokens = pooled * pooled
        high_tokens = (n - 1) * pooled * pooled
        ids = self.ids
        text = self.tok(f"User: {prompt} Assistant:", add_special_tokens=False).input_ids
        image_ids = (
            [ids["<low_res_im_start>"]] + [ids["<im_patch>"]] * low_tokens + [ids["<im_end>"]]
            + [ids["<im_start>"]] + [ids["<im_patch>"]] * high_tokens + [ids["<im_end>"]]
        )
        input_ids = torch.tensor([[self.tok.bos_token_id] + image_ids + text])
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": torch.from_numpy(patches),
            "image_token_pooling": torch.tensor(pooling),
            "image_grids": torch.tensor([[pooled, pooled, rows * pooled, cols * pooled]]),
            "image_num_crops": torch.tensor([n]),
        }


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("llava", "LLaVA-1.5: CLIP tower, MLP projector, Llama", _llava_config, _llava_inputs,
               ("<image>",), (("image_token", "<image>"),)),
        Family("llava_next", "LLaVA-NeXT: any-resolution tiles", _llava_next_config, _llava_next_inputs,
               ("<image>",), (("image_token", "<image>"),)),
        Family("qwen2_vl", "Qwen2-VL: dynamic resolution, merger inside the vision tower", _qwen2_vl_config,
               _qwen_inputs, QWEN_TOKENS + ("<|im_start|>", "<|im_end|>"),
               (("image_token", "<|image_pad|>"), ("video_token", "<|video_pad|>"))),
        Family("qwen2_5_vl", "Qwen2.5-VL: windowed-attention vision tower", _qwen2_5_vl_config, _qwen_inputs,
               QWEN_TOKENS + ("<|im_start|>", "<|im_end|>"),
               (("image_token", "<|image_pad|>"), ("video_token", "<|video_pad|>"))),
        Family("idefics3", "Idefics3: image splitting, pixel-shuffle connector",
               _idefics_config("idefics3", "idefics3_vision"),
               _idefics_inputs("Idefics3Processor", "Idefics3ImageProcessor"), IDEFICS_TOKENS,
               (("image_token", "<image>"),)),
        Family("smolvlm", "SmolVLM: Idefics3 layout, small LLM",
               _idefics_config("smolvlm", "smolvlm_vision"),
               _idefics_inputs("Idefics3Processor", "SmolVLMImageProcessor"), IDEFICS_TOKENS,
               (("image_token", "<image>"),)),
        Family("paligemma", "PaliGemma: SigLIP tower, linear projector, Gemma", _paligemma_config,
               _paligemma_inputs, ("<image>",), (("image_token", "<image>"),)),
        Family("gemma3", "Gemma3: SigLIP tower, pooled projector, Gemma3 text", _gemma3_config, _gemma3_inputs,
               GEMMA3_TOKENS + ("<start_of_turn>", "<end_of_turn>"),
               (("boi_token", "<start_of_image>"), ("eoi_token", "<end_of_image>"),
                ("image_token", "<image_soft_token>"))),
        Family("molmo2", "Molmo2: ViT, attention-pooling adapter, Qwen-style LLM", _molmo2_config,
               lambda config, tok, d: Molmo2Inputs(config, tok, d), MOLMO2_TOKENS),
    )
}
