"""An in-memory byte-level tokenizer for the built-in presets: nothing to download.

256 byte tokens (so any prompt encodes) plus the special tokens a family's processor and
model expect. Latency does not depend on which ids a prompt maps to, only on how many.
"""

from __future__ import annotations

from functools import lru_cache

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


def build_tokenizer(special_tokens: tuple[str, ...] = (), **named_tokens: str) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer whose ids 256.. are BOS, EOS, PAD, then `special_tokens`.

    `named_tokens` become attributes the processors look up (``image_token="<image>"``,
    ``boi_token=...``); their values must be among `special_tokens`.
    """
    return _build(tuple(special_tokens), tuple(sorted(named_tokens.items())))


@lru_cache(maxsize=None)
def _byte_vocab() -> dict[str, int]:
    return {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}


def _build(special_tokens: tuple[str, ...], named: tuple[tuple[str, str], ...]) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.BPE(vocab=dict(_byte_vocab()), merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens=dict(named) or None,
    )
    extra = [t for t in special_tokens if t not in tokenizer.get_vocab()]
    if extra:
        tokenizer.add_special_tokens({"additional_special_tokens": extra})
    return tokenizer
