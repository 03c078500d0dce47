"""The built-in presets: nothing is ever downloaded for them.

``tiny-*`` presets are small models of each family (a few MB, built in well under a second
after the first import) for trying the tool and for tests. ``*-shape`` presets have the
real dimensions of popular checkpoints with random weights, for latency studies on a GPU
without downloading weights: latency does not depend on weight values when the decode
length is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmtop.core.zoo.dims import Dims

if TYPE_CHECKING:
    from vlmtop.core.zoo.families import FAMILIES, Family


@dataclass(frozen=True)
class Preset:
    name: str
    family: str
    dims: Dims
    description: str
    # Synthetic image sizes (width, height) to cycle through: varied, so dynamic-resolution
    # families show how image size moves the vision and prefill times.
    image_sizes: tuple[tuple[int, int], ...] = ((96, 96), (160, 120), (224, 224), (320, 200), (448, 336))
    default_dtype: str = "float32"

    @property
    def summary(self) -> str:
        """One line on what the preset is; tiny presets are described by their family."""
        return self.description or f"tiny {self.family_spec.description}"

    @property
    def family_spec(self) -> Family:
        from vlmtop.core.zoo.families import FAMILIES

        return FAMILIES[self.family]


DEFAULT_PRESET = "tiny-qwen2-vl"

_TINY_NAMES = {
    "llava": "tiny-llava",
    "llava_next": "tiny-llava-next",
    "qwen2_vl": "tiny-qwen2-vl",
    "qwen2_5_vl": "tiny-qwen2.5-vl",
    "idefics3": "tiny-idefics3",
    "smolvlm": "tiny-smolvlm",
    "paligemma": "tiny-paligemma",
    "gemma3": "tiny-gemma3",
    "molmo2": "tiny-molmo2",
}

_REAL_SIZES = ((448, 448), (640, 480), (1024, 768), (336, 336), (800, 600))

_SHAPES = (
    Preset(
        "llava-1.5-7b-shape",
        "llava",
        Dims(
            text_hidden=4096, text_layers=32, text_heads=32, text_kv_heads=32, text_intermediate=11008,
            vision_hidden=1024, vision_layers=24, vision_heads=16, vision_intermediate=4096,
            image_size=336, patch_size=14, vocab_size=32064,
        ),
        "LLaVA-1.5-7B: CLIP ViT-L/14-336 + Llama-2-7B, 576 image tokens",
        _REAL_SIZES,
        "bfloat16",
    ),
    Preset(
        "qwen2-vl-2b-shape",
        "qwen2_vl",
        Dims(
            text_hidden=1536, text_layers=28, text_heads=12, text_kv_heads=2, text_intermediate=8960,
            vision_hidden=1280, vision_layers=32, vision_heads=16, vision_intermediate=5120,
            vocab_size=151936, overrides=(("text_config", {"tie_word_embeddings": True}),),
        ),
        "Qwen2-VL-2B: 675M ViT with 2x2 merger + Qwen2-1.5B, dynamic resolution",
        _REAL_SIZES,
        "bfloat16",
    ),
    Preset(
        "smolvlm-256m-shape",
        "smolvlm",
        Dims(
            text_hidden=576, text_layers=30, text_heads=9, text_kv_heads=3, text_intermediate=1536,
            vision_hidden=768, vision_layers=12, vision_heads=12, vision_intermediate=3072,
            image_size=512, patch_size=16, vocab_size=49280, overrides=(("scale_factor", 4),),
        ),
        "SmolVLM-256M: SigLIP-B/16-512 + SmolLM2-135M, image splitting",
        _REAL_SIZES,
    ),
    Preset(
        "paligemma-3b-shape",
        "paligemma",
        Dims(
            text_hidden=2048, text_layers=18, text_heads=8, text_kv_heads=1, text_intermediate=16384,
            vision_hidden=1152, vision_layers=27, vision_heads=16, vision_intermediate=4304,
            image_size=224, patch_size=14, vocab_size=257216,
            overrides=(("text_config", {"head_dim": 256}),),
        ),
        "PaliGemma-3B-224: SigLIP So400m/14 + Gemma-2B, 256 image tokens",
        _REAL_SIZES,
        "bfloat16",
    ),
    Preset(
        "gemma3-4b-shape",
        "gemma3",
        Dims(
            text_hidden=2560, text_layers=34, text_heads=8, text_kv_heads=4, text_intermediate=10240,
            vision_hidden=1152, vision_layers=27, vision_heads=16, vision_intermediate=4304,
            image_size=896, patch_size=14, vocab_size=262208,
            overrides=(("mm_tokens_per_image", 256), ("text_config", {"head_dim": 256, "sliding_window": 1024})),
        ),
        "Gemma3-4B: SigLIP So400m/14-896 pooled to 256 tokens + Gemma3 text",
        _REAL_SIZES,
        "bfloat16",
    ),
    Preset(
        "molmo2-8b-shape",
        "molmo2",
        Dims(
            text_hidden=4096, text_layers=36, text_heads=32, text_kv_heads=8, text_intermediate=12288,
            vision_hidden=1152, vision_layers=25, vision_heads=16, vision_intermediate=4304,
            image_size=378, patch_size=14, vocab_size=151936,
            overrides=(("adapter_config", {"intermediate_size": 18944}),),
        ),
        "Molmo2-8B: SigLIP2 ViT + attention-pooling adapter + Qwen3-8B",
        _REAL_SIZES,
        "bfloat16",
    ),
)

PRESETS: dict[str, Preset] = {
    **{
        name: Preset(name, family, Dims(), "")  # described by its family, on demand
        for family, name in _TINY_NAMES.items()
    },
    **{p.name: p for p in _SHAPES},
}

__all__ = ["DEFAULT_PRESET", "FAMILIES", "PRESETS", "Dims", "Family", "Preset"]


def __getattr__(name: str):
    # FAMILIES and Family build on torch and transformers: load them only when asked, so
    # `vlmtop --help` and the preset list stay light (PEP 562).
    if name in ("FAMILIES", "Family"):
        from vlmtop.core.zoo import families

        return getattr(families, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
