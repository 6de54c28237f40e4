"""Grounded generation: a token trie that lets the LLM write only real, active catalogue titles.

Each title is stored as the exact token ids the model would produce for it at the start of the
assistant turn (after the chat template's newline; no leading space), followed by an end marker
(the tokenizer's end-of-turn token). While generating inside the title slot,
:meth:`TitleTrie.allowed` returns only the tokens that continue some stored title, so the
generation can only end on a complete title: hallucinated films are impossible by construction.

Tokenisation boundaries: a title is tokenised as a whole string, never as concatenated pieces,
because BPE merges across word boundaries differ ("Star" + " Wars" vs "Star Wars"). Titles are
shown as ``Title (year)`` so the remakes in MovieLens stay distinguishable.

The trie follows catalogue edits: :meth:`TitleTrie.remove` retires an item (its path is pruned
once no active item shares it) and :meth:`TitleTrie.add` adds a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from recommender.data import Catalogue
from recommender.llm import LLMHandle, chat_ids
from recommender.rerank import item_title, pad_left

GROUNDING_SYSTEM = "You are a movie recommender. Reply with one movie title and its year."


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    items: set[int] = field(default_factory=set)  # items whose full sequence ends here
    count: int = 0  # active items in this subtree (a node with count 0 is pruned)


class TitleTrie:
    """Token trie over item titles; each stored sequence ends with ``end_id``."""

    def __init__(self, tokenizer: Any, end_id: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.end_id = int(end_id if end_id is not None else tokenizer.eos_token_id)
        self.root = _Node()
        self._paths: dict[int, tuple[int, ...]] = {}  # item -> its token path (for removal)

    @classmethod
    def from_catalogue(
        cls, tokenizer: Any, catalogue: Catalogue, active: Iterable[int] | None = None
    ) -> TitleTrie:
        """A trie over ``active`` items (all items by default), titles as ``Title (year)``."""
        trie = cls(tokenizer)
        for i in active if active is not None else range(len(catalogue)):
            trie.add(int(i), item_title(catalogue, int(i), max_chars=10_000))
        return trie

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, item: object) -> bool:
        return item in self._paths

    def encode(self, title: str) -> tuple[int, ...]:
        """The title's token ids as generated at the start of a line, plus the end marker."""
        ids = self.tokenizer.encode(title.strip(), add_special_tokens=False)
        if not ids:
            raise ValueError("empty title")
        return (*ids, self.end_id)

    def add(self, item: int, title: str) -> None:
        """Insert (or re-title) an item."""
        if item in self._paths:
            self.remove(item)
        path = self.encode(title)
        node = self.root
        node.count += 1
        for token in path:
            node = node.children.setdefault(token, _Node())
            node.count += 1
        node.items.add(item)
        self._paths[item] = path

    def remove(self, item: int) -> None:
        """Retire an item: it can no longer be generated. Unknown items are ignored."""
        path = self._paths.pop(item, None)
        if path is None:
            return
        node = self.root
        node.count -= 1
        for token in path:
            child = node.children[token]
            child.count -= 1
            if child.count == 0:  # nothing active below: drop the whole branch
                del node.children[token]
                return
            node = child
        node.items.discard(item)

    def _walk(self, tokens: Sequence[int]) -> _Node | None:
        node = self.root
        for t in tokens:
            nxt = node.children.get(int(t))
            if nxt is None:
                return None
            node = nxt
        return node

    def allowed(self, generated: Sequence[int]) -> list[int]:
        """Tokens that may follow ``generated`` (the slot's tokens so far).

        After a complete title (end marker emitted) only the end marker is allowed, so the rest
        of a batch can keep padding; an impossible prefix (never produced under the constraint)
        also yields only the end marker.
        """
        node = self._walk(generated)
        if node is None or (generated and int(generated[-1]) == self.end_id):
            return [self.end_id]
        return list(node.children)

    def lookup(self, generated: Sequence[int]) -> int | None:
        """The item whose complete sequence is ``generated`` (end marker optional), else None."""
        tokens = list(generated)
        if not tokens or tokens[-1] != self.end_id:
            tokens.append(self.end_id)
        node = self._walk(tokens)
        return min(node.items) if node is not None and node.items else None


def prefix_allowed_tokens_fn(
    trie: TitleTrie, prompt_length: int
) -> Callable[[int, torch.Tensor], list[int]]:
    """The ``model.generate`` hook: tokens after position ``prompt_length`` are the title slot.

    With left padding every row of a batch shares ``prompt_length`` (the padded width).
    """

    def allowed(batch_id: int, input_ids: torch.Tensor) -> list[int]:
        return trie.allowed(input_ids[prompt_length:].tolist())

    return allowed


def grounding_prompt(tokenizer: Any, history: Sequence[str]) -> list[int]:
    """Chat prompt asking for one title; the assistant turn is the title slot."""
    watched = "\n".join(f"- {t}" for t in history) or "- (nothing yet)"
    messages = [
        {"role": "system", "content": GROUNDING_SYSTEM},
        {"role": "user", "content": f"I watched:\n{watched}\nRecommend one more movie."},
    ]
    return chat_ids(tokenizer, messages)


@torch.inference_mode()
def generate_titles(
    llm: LLMHandle,
    prompts: Sequence[Sequence[int]],
    trie: TitleTrie | None,
    max_new_tokens: int = 32,
    num_beams: int = 1,
) -> list[tuple[list[int], int | None]]:
    """Greedy (or beam) generation for a batch of prompt token ids.

    Greedy constrained decoding follows the model's first-token habit ("You…", which the trie
    completes to the same title for almost every prompt); ``num_beams`` > 1 keeps the title with
    the best whole-sequence likelihood instead: on 50 ML-100K prompts 21 distinct titles
    instead of 3, at 4x the time for 4 beams.

    Returns per prompt (generated token ids up to the end marker, catalogue item or None).
    With ``trie`` the item is None only if ``max_new_tokens`` ran out inside a title; with
    ``trie=None`` (the unconstrained baseline) it is always None: match the text yourself
    (:func:`match_title`).
    """
    tok = llm.tokenizer
    ids, mask = pad_left(prompts, tok.pad_token_id)  # (B, T)
    kwargs: dict[str, Any] = {}
    if trie is not None:
        if len(trie) == 0:
            raise ValueError("the title trie is empty: no active items to generate")
        kwargs["prefix_allowed_tokens_fn"] = prefix_allowed_tokens_fn(trie, ids.shape[1])
        end_id = trie.end_id
    else:
        end_id = tok.eos_token_id
    out = llm.model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=num_beams,
        eos_token_id=end_id,
        pad_token_id=tok.pad_token_id,
        **kwargs,
    )  # (B, T + new)
    results: list[tuple[list[int], int | None]] = []
    for row in out[:, ids.shape[1] :].tolist():
        if end_id in row:
            row = row[: row.index(end_id) + 1]
        results.append((row, trie.lookup(row) if trie is not None else None))
    return results


def generate_title(
    llm: LLMHandle, history: Sequence[str], trie: TitleTrie, max_new_tokens: int = 32
) -> int | None:
    """One grounded recommendation: the catalogue index of the title the model writes.

    None only if the model ran out of ``max_new_tokens`` inside a title longer than that.
    """
    return generate_titles(llm, [grounding_prompt(llm.tokenizer, history)], trie, max_new_tokens)[
        0
    ][1]


def match_title(text: str, titles: dict[str, int]) -> int | None:
    """Exact (case-insensitive, whitespace-trimmed, first line) match of free text to a title.

    ``titles``: normalised ``Title (year)`` and bare ``Title`` -> item. Used for the
    unconstrained baseline's validity rate.
    """
    line = text.strip().splitlines()[0].strip().strip('"').strip() if text.strip() else ""
    return titles.get(line.casefold())
