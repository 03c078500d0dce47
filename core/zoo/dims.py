"""The sizes a preset chooses. Kept apart from the families (which need torch and
transformers to build models) so the preset table can be listed without them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dims:
    """The sizes a preset chooses; the family maps them onto its config fields."""

    text_hidden: int = 128
    text_layers: int = 4
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 256
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    vision_intermediate: int = 128
    image_size: int = 64  # the vision tower's native input size
    patch_size: int = 8
    vocab_size: int | None = None  # None: the tokenizer's, rounded up (shape presets: the real one)
    # Family config fields a shape preset sets to the checkpoint's values, e.g.
    # {"text_config": {"tie_word_embeddings": True}, "scale_factor": 4}.
    overrides: tuple[tuple[str, object], ...] = ()
