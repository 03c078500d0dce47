"""The LLaVA, LLaVA-NeXT, Qwen2-VL and Qwen2.5-VL families: config and inputs."""

from __future__ import annotations

import torch
from PIL import Image
from transformers import PretrainedConfig

from vlmtop.core.errors import SampleError
from vlmtop.core.inputs import InputBuilder, ProcessorInputs, image_list
from vlmtop.core.zoo.config_parts import auto_config, text_config, token_ids, vision_config
from vlmtop.core.zoo.dims import Dims

# --- LLaVA family -------------------------------------------------------------------------


def llava_config(d: Dims, tok) -> PretrainedConfig:
    (image,) = token_ids(tok, "<image>")
    patches = (d.image_size // d.patch_size) ** 2
    return auto_config(
        "llava",
        text_config=dict(model_type="llama", **text_config(d, tok)),
        vision_config=dict(model_type="clip_vision_model", projection_dim=d.vision_hidden, **vision_config(d)),
        image_token_index=image,
        image_seq_length=patches,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def llava_inputs(config, tok, d: Dims) -> InputBuilder:
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


def llava_next_config(d: Dims, tok) -> PretrainedConfig:
    (image,) = token_ids(tok, "<image>")
    return auto_config(
        "llava_next",
        text_config=dict(model_type="llama", **text_config(d, tok)),
        vision_config=dict(model_type="clip_vision_model", projection_dim=d.vision_hidden, **vision_config(d)),
        image_token_index=image,
        image_grid_pinpoints=_pinpoints(d),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def llava_next_inputs(config, tok, d: Dims) -> InputBuilder:
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
    start, end, image, video = token_ids(tok, *QWEN_TOKENS)
    return dict(vision_start_token_id=start, vision_end_token_id=end, image_token_id=image, video_token_id=video)


def _mrope(d: Dims) -> dict:
    # M-RoPE splits the rotary half-dimension into temporal, height and width sections.
    half = d.text_hidden // d.text_heads // 2
    t = half // 4
    h = (half - t) // 2
    return {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [t, h, half - t - h]}


def qwen2_vl_config(d: Dims, tok) -> PretrainedConfig:
    return auto_config(
        "qwen2_vl",
        text_config=text_config(d, tok, rope_parameters=_mrope(d)),
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


def qwen2_5_vl_config(d: Dims, tok) -> PretrainedConfig:
    return auto_config(
        "qwen2_5_vl",
        text_config=text_config(d, tok, rope_parameters=_mrope(d)),
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

    takes_video = True

    def __call__(self, images: list[Image.Image] | Image.Image, prompt: str, image_kwargs: dict | None = None,
                 video: list[Image.Image] | None = None) -> dict:
        images = image_list(images)
        body, vision = "", {}
        merge = self.image_processor.merge_size
        if images:  # one call for every image: patches concatenated, one grid row per image
            vision = dict(self.image_processor(images=images, return_tensors="pt", **(image_kwargs or {})))
            for grid in vision["image_grid_thw"]:
                body += "<|vision_start|>" + "<|image_pad|>" * (int(grid.prod()) // (merge * merge)) + "<|vision_end|>"
        if video:
            videos = self._video(video, image_kwargs or {})
            vision.update(videos)
            tokens = int(videos["video_grid_thw"].prod()) // (merge * merge)
            body += "<|vision_start|>" + "<|video_pad|>" * tokens + "<|vision_end|>"
        text = f"<|im_start|>user\n{body}{prompt}<|im_end|>\n<|im_start|>assistant\n"
        encoded = dict(self.tok(text, return_tensors="pt"))
        # as the real processor returns: 1 marks image tokens and 2 video tokens, for M-RoPE
        ids = encoded["input_ids"]
        encoded["mm_token_type_ids"] = (ids == self.tok.convert_tokens_to_ids("<|image_pad|>")).long() + \
            2 * (ids == self.tok.convert_tokens_to_ids("<|video_pad|>")).long()
        return {**encoded, **vision}

    def _video(self, frames: list[Image.Image], image_kwargs: dict) -> dict:
        """A video's patches as Qwen's video processor lays them out, from the image
        processor (the video processor needs torchvision): each frame patchified alone,
        then consecutive frames paired into one temporal patch."""
        processor = self.image_processor
        pair, patch = processor.temporal_patch_size, processor.patch_size
        frames = list(frames) + [frames[-1]] * (-len(frames) % pair)  # padded as the video processor pads
        sizes = {frame.size for frame in frames}
        if len(sizes) > 1:
            raise SampleError(f"a video's frames must share one size; these have {len(sizes)}")
        out = processor(images=frames, return_tensors="pt", **image_kwargs)
        _, rows, cols = (int(v) for v in out["image_grid_thw"][0])
        count, patches = len(frames), rows * cols
        # the image processor copies each frame into both temporal slots: keep slot 0
        pixels = out["pixel_values"].view(count, patches, 3, pair, patch, patch)[:, :, :, 0]
        pixels = pixels.reshape(count // pair, pair, patches, 3, patch, patch).permute(0, 2, 3, 1, 4, 5)
        return {"pixel_values_videos": pixels.reshape(count // pair * patches, 3 * pair * patch * patch),
                "video_grid_thw": torch.tensor([[count // pair, rows, cols]])}


def qwen_inputs(config, tok, d: Dims) -> InputBuilder:
    from transformers import Qwen2VLImageProcessor

    # Dynamic resolution, as in the real models: the image keeps its aspect ratio and is
    # resized to a multiple of 28 px between these pixel counts; 28x28 px = one token.
    return QwenInputs(tok, Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=448 * 448))
