"""Tiny causal LMs and a word-level tokenizer built in code: LLM tests with no weights.

The tokenizer knows the words of our prompts, the labels A..T and a synthetic catalogue, and
has a ChatML template like SmolLM2's, so prompts, label tokens, tries and LoRA all run for
real on a 2-layer Llama with 32-dimensional hidden states in milliseconds.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from recommender import enrich, grounding, rerank
from recommender.data import Catalogue, IdMap, Interactions
from recommender.llm import LLMHandle

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"]
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "night",
    "day",
    "star",
    "wars",
    "return",
    "king",
    "lion",
    "blue",
    "red",
    "green",
]
N_ITEMS = 30


def tiny_titles() -> list[str]:
    """30 distinct titles; some share a first word so the trie has real branches."""
    firsts = ["Star", "Night", "Red", "Blue", "King", "Lion"]
    return [
        f"{firsts[i % len(firsts)]} {WORDS[i % 26]} {WORDS[(i * 7 + 3) % 26]}".title()
        for i in range(N_ITEMS)
    ]


def tiny_catalogue() -> Catalogue:
    return Catalogue(
        ids=IdMap.from_iterable(range(N_ITEMS)),
        titles=tuple(tiny_titles()),
        years=np.array([1990 + i % 10 for i in range(N_ITEMS)], dtype=np.int64),
        genres=tuple(("Drama",) if i % 2 else ("Comedy", "Action") for i in range(N_ITEMS)),
    )


def tiny_interactions(n_users: int = 12, per_user: int = 9, seed: int = 0) -> Interactions:
    """Each user walks a random path through the catalogue: distinct items, increasing time."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        users += [u] * per_user
        items += list(rng.choice(N_ITEMS, size=per_user, replace=False))
    n = len(users)
    return Interactions(
        n_users,
        N_ITEMS,
        np.array(users),
        np.array(items),
        np.ones(n, np.float32),
        np.arange(n, dtype=np.int64),
    )


def _corpus() -> list[str]:
    cat = tiny_catalogue()
    texts = [
        rerank.SYSTEM_PROMPT,
        enrich.SYSTEM_PROMPT,
        enrich.EXAMPLE_ITEM,
        enrich.EXAMPLE_ANSWER,
        grounding.GROUNDING_SYSTEM,
    ]
    texts += [rerank.item_title(cat, i, 1000) for i in range(N_ITEMS)]
    texts += [
        "Watched , oldest first : Candidates : Which candidate will the user watch next ?",
        "I watched : Recommend one more movie . nothing yet ( ) - Title : Year : Genres : Drama Comedy Action",
        " ".join(rerank.LABELS),
        " ".join(str(y) for y in range(1990, 2000)),
    ]
    return texts


@functools.lru_cache(maxsize=1)
def tiny_tokenizer_files() -> str:
    """Train the word-level tokenizer once per process; returns its JSON."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS)
    tok.train_from_iterator(_corpus(), trainer)
    return tok.to_str()


def tiny_tokenizer() -> object:
    from tokenizers import Tokenizer, decoders
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer.from_str(tiny_tokenizer_files())
    raw.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        bos_token="<|im_start|>",
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def tiny_model(vocab_size: int, seed: int = 0) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab_size,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.eval()
    return model


def tiny_llm(seed: int = 0) -> LLMHandle:
    tok = tiny_tokenizer()
    return LLMHandle(tiny_model(len(tok), seed), tok, "tiny-llama", f"seed-{seed}")  # type: ignore[arg-type]


def save_tiny_llm(folder: Path, seed: int = 0) -> Path:
    """A loadable local model folder (what a user would point the setting at)."""
    handle = tiny_llm(seed)
    handle.model.save_pretrained(str(folder))
    handle.tokenizer.save_pretrained(str(folder))  # type: ignore[attr-defined]
    return folder
