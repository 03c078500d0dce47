"""The config pieces every family shares: text and vision sizes from Dims, token ids,
and a transformers config by model type."""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig

from vlmtop.core.zoo.dims import Dims


def text_config(d: Dims, tok, **extra) -> dict:
    cfg = dict(
        hidden_size=d.text_hidden,
        num_hidden_layers=d.text_layers,
        num_attention_heads=d.text_heads,
        num_key_value_heads=d.text_kv_heads,
        intermediate_size=d.text_intermediate,
        head_dim=d.text_hidden // d.text_heads,
        vocab_size=d.vocab_size or round_vocab(len(tok)),
        max_position_embeddings=32768,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    cfg.update(extra)
    return cfg


def round_vocab(n: int) -> int:
    # Real checkpoints pad the vocabulary to a multiple of 64 for matmul efficiency.
    return (n + 63) // 64 * 64


def vision_config(d: Dims, **extra) -> dict:
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


def token_ids(tok, *tokens: str) -> list[int]:
    return tok.convert_tokens_to_ids(list(tokens))


def auto_config(model_type: str, **kwargs) -> PretrainedConfig:
    return AutoConfig.for_model(model_type, **kwargs)
