"""Built-in tiny models, one per VLM family, from configs with seeded random weights.

Each family says how to make its config from a few sizes, and how to turn (image, prompt)
into model inputs: the family's real processor where it constructs here, or inputs built
by hand with the same shapes where it does not (Molmo2's image processor needs
torchvision; SmolVLM's and Qwen's processors have a video slot that may not construct).
Dynamic-resolution families keep their behaviour: a larger image gives more image tokens.

This module is the registry; each family's config and inputs are in llava_qwen.py,
idefics_gemma.py and molmo2.py, the pieces they share in config_parts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from transformers import PretrainedConfig

from vlmtop.core.inputs import InputBuilder
from vlmtop.core.zoo.dims import Dims
from vlmtop.core.zoo.idefics_gemma import (
    GEMMA3_TOKENS,
    IDEFICS_TOKENS,
    gemma3_config,
    gemma3_inputs,
    idefics_config,
    idefics_inputs,
    paligemma_config,
    paligemma_inputs,
)
from vlmtop.core.zoo.llava_qwen import (
    QWEN_TOKENS,
    llava_config,
    llava_inputs,
    llava_next_config,
    llava_next_inputs,
    qwen2_5_vl_config,
    qwen2_vl_config,
    qwen_inputs,
)
from vlmtop.core.zoo.molmo2 import MOLMO2_TOKENS, Molmo2Inputs, molmo2_config
from vlmtop.core.zoo.tokenizer import build_tokenizer


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


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("llava", "LLaVA-1.5: CLIP tower, MLP projector, Llama", llava_config, llava_inputs,
               ("<image>",), (("image_token", "<image>"),)),
        Family("llava_next", "LLaVA-NeXT: any-resolution tiles", llava_next_config, llava_next_inputs,
               ("<image>",), (("image_token", "<image>"),)),
        Family("qwen2_vl", "Qwen2-VL: dynamic resolution, merger inside the vision tower", qwen2_vl_config,
               qwen_inputs, QWEN_TOKENS + ("<|im_start|>", "<|im_end|>"),
               (("image_token", "<|image_pad|>"), ("video_token", "<|video_pad|>"))),
        Family("qwen2_5_vl", "Qwen2.5-VL: windowed-attention vision tower", qwen2_5_vl_config, qwen_inputs,
               QWEN_TOKENS + ("<|im_start|>", "<|im_end|>"),
               (("image_token", "<|image_pad|>"), ("video_token", "<|video_pad|>"))),
        Family("idefics3", "Idefics3: image splitting, pixel-shuffle connector",
               idefics_config("idefics3", "idefics3_vision"),
               idefics_inputs("Idefics3Processor", "Idefics3ImageProcessor"), IDEFICS_TOKENS,
               (("image_token", "<image>"),)),
        Family("smolvlm", "SmolVLM: Idefics3 layout, small LLM",
               idefics_config("smolvlm", "smolvlm_vision"),
               idefics_inputs("Idefics3Processor", "SmolVLMImageProcessor", video=True), IDEFICS_TOKENS,
               (("image_token", "<image>"),)),
        Family("paligemma", "PaliGemma: SigLIP tower, linear projector, Gemma", paligemma_config,
               paligemma_inputs, ("<image>",), (("image_token", "<image>"),)),
        Family("gemma3", "Gemma3: SigLIP tower, pooled projector, Gemma3 text", gemma3_config, gemma3_inputs,
               GEMMA3_TOKENS + ("<start_of_turn>", "<end_of_turn>"),
               (("boi_token", "<start_of_image>"), ("eoi_token", "<end_of_image>"),
                ("image_token", "<image_soft_token>"))),
        Family("molmo2", "Molmo2: ViT, attention-pooling adapter, Qwen-style LLM", molmo2_config,
               lambda config, tok, d: Molmo2Inputs(config, tok, d), MOLMO2_TOKENS),
    )
}
