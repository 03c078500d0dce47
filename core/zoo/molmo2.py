"""The Molmo2 family: config, and inputs built by hand (its image processor needs
torchvision)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from transformers import PretrainedConfig

from vlmtop.core.inputs import InputBuilder, image_list, no_video
from vlmtop.core.zoo.config_parts import auto_config, text_config, token_ids, vision_config
from vlmtop.core.zoo.dims import Dims

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


def molmo2_config(d: Dims, tok) -> PretrainedConfig:
    start, end, patch, col, low_start, f_start, f_end = token_ids(tok, *MOLMO2_TOKENS)
    text = text_config(d, tok)
    return auto_config(
        "molmo2",
        text_config=dict(text, additional_vocab_size=128),
        vision_config=dict(
            **vision_config(d, image_size=[d.image_size, d.image_size]),
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
        self.ids = dict(zip(MOLMO2_TOKENS, token_ids(tok, *MOLMO2_TOKENS)))

    def tiling(self, width: int, height: int) -> tuple[int, int]:
        rows = max(1, min(self.max_tiles, round(height / self.size)))
        cols = max(1, min(self.max_tiles // rows, round(width / self.size)))
        return rows, cols

    def __call__(self, images: list[Image.Image] | Image.Image, prompt: str, image_kwargs: dict | None = None,
                 video: list[Image.Image] | None = None) -> dict:
        # (no transformers image processor here: processor knobs do not apply to molmo2)
        if video:
            raise no_video("molmo2")
        text = self.tok(f"User: {prompt} Assistant:", add_special_tokens=False).input_ids
        parts = [self._image(image) for image in image_list(images)]
        input_ids = torch.tensor([[self.tok.bos_token_id] + [i for part in parts for i in part["ids"]] + text])
        inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        if parts:
            # each image's pooling indices stay local to its crops: the model offsets them
            for key in ("pixel_values", "image_token_pooling", "image_grids", "image_num_crops"):
                inputs[key] = torch.cat([part[key] for part in parts])
        return inputs

    def _image(self, image: Image.Image) -> dict:
        """One image's crops, pooling and grid, and its block of ids in the prompt."""
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
        return {
            "ids": [ids["<low_res_im_start>"]] + [ids["<im_patch>"]] * low_tokens + [ids["<im_end>"]]
            + [ids["<im_start>"]] + [ids["<im_patch>"]] * high_tokens + [ids["<im_end>"]],
            "pixel_values": torch.from_numpy(patches),
            "image_token_pooling": torch.tensor(pooling),
            "image_grids": torch.tensor([[pooled, pooled, rows * pooled, cols * pooled]]),
            "image_num_crops": torch.tensor([n]),
        }
