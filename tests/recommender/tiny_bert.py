"""A tiny BERT with a word-level tokenizer, built in code (no weights), for encoder tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def tiny_bert(words: Iterable[str], max_positions: int = 64) -> tuple[Any, Any]:
    """(network, tokenizer): a 1-layer, 16-dim BERT over ``words`` (lower-cased), seeded."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(dict.fromkeys(words))}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]"
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_positions,
    )
    return BertModel(config).eval(), tokenizer
