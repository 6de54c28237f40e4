"""Catalogue enrichment: a short description and a few keywords per item, written by the LLM.

Item text in MovieLens is thin (title, year, genres), and the dense retriever embeds that text,
so a sentence about what a film is *about* gives it more to work with. The model sees a system
prompt and one worked example, then the item; decoding is greedy, so the same item and model
always give the same text (persistence and idempotency live in the web app's task).

Small models drift: they echo the prompt, run on, or forget the keyword line. Every output goes
through :func:`parse_output`, which keeps the first one or two sentences (capped in length),
parses 3-6 keywords, and marks the result ``ok=False`` when nothing usable came out, so the
caller can keep the old text instead of storing junk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from recommender.llm import LLMHandle, chat_ids
from recommender.rerank import pad_left

SYSTEM_PROMPT = (
    "You write short entries for a movie catalogue. Given a movie's title, year and genres, "
    "reply with exactly two lines:\n"
    "Description: one or two sentences about what the movie is about.\n"
    "Keywords: three to six comma-separated keywords."
)
EXAMPLE_ITEM = "Title: Toy Story\nYear: 1995\nGenres: Animation, Children's, Comedy"
EXAMPLE_ANSWER = (
    "Description: A cowboy doll feels threatened when a flashy space ranger toy becomes his "
    "owner's favourite, and the two rivals must work together to get home.\n"
    "Keywords: toys, friendship, rivalry, adventure, animation"
)
MAX_DESCRIPTION_CHARS = 300
MIN_KEYWORDS, MAX_KEYWORDS = 3, 6


@dataclass(frozen=True)
class ItemText:
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()

    def prompt_text(self) -> str:
        lines = [f"Title: {self.title}"]
        if self.year and self.year > 0:
            lines.append(f"Year: {self.year}")
        if self.genres:
            lines.append("Genres: " + ", ".join(self.genres))
        return "\n".join(lines)


@dataclass(frozen=True)
class Generated:
    description: str
    keywords: tuple[str, ...] = ()
    ok: bool = True  # False: nothing usable was generated (keep the existing text)
    raw: str = field(default="", repr=False)  # the model's text before cleaning, for audits


def build_messages(item: ItemText) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": EXAMPLE_ITEM},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": item.prompt_text()},
    ]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_STOPWORDS = frozenset({"the", "a", "an", "and", "of", "movie", "film"})
_ECHO = re.compile(r"^(title|year|genres|description|keywords)\s*:", re.IGNORECASE)


def clean_description(text: str, item: ItemText | None = None) -> str:
    """First one or two sentences, whitespace collapsed, capped at MAX_DESCRIPTION_CHARS.

    Returns "" for an echo of the prompt (a ``Title:``/``Genres:`` line, or the bare title).
    """
    text = re.sub(r"\s+", " ", text).strip().strip('"').strip()
    if not text or _ECHO.match(text):
        return ""
    if item is not None and text.rstrip(".").casefold() == item.title.casefold():
        return ""
    if item is not None and text == EXAMPLE_ANSWER.splitlines()[0].removeprefix("Description: "):
        return ""  # copied the worked example
    words = text.casefold().split()
    if len(words) >= 8 and len(set(words)) / len(words) < 0.5:
        return ""  # a degenerate loop ("a cleric is a cleric is a ..."), not a description
    sentences = _SENTENCE_END.split(text)
    text = " ".join(sentences[:2])
    if len(text) > MAX_DESCRIPTION_CHARS:
        cut = text[:MAX_DESCRIPTION_CHARS].rsplit(" ", 1)[0].rstrip(",;:")
        text = cut + "…"
    return text


def parse_keywords(text: str) -> tuple[str, ...]:
    """Comma/semicolon-separated keywords: lower-cased, de-duplicated, at most 3 words each,
    at most MAX_KEYWORDS."""
    out: list[str] = []
    for part in re.split(r"[,;]", text):
        kw = re.sub(r"[^\w\s'-]", "", part).strip().lower()
        if kw in _STOPWORDS or len(kw) < 3:
            continue
        if len(kw.split()) <= 3 and len(kw) <= 30 and kw not in out:
            out.append(kw)
    return tuple(out[:MAX_KEYWORDS])


def parse_output(raw: str, item: ItemText | None = None) -> Generated:
    """Split the model's text into a cleaned description and keywords; ``ok`` says if usable.

    Accepts the requested two-line form, and falls back to "first line = description" when the
    model dropped the ``Description:`` label.
    """
    description, keywords = "", ""
    lines = [ln.strip() for ln in raw.strip().splitlines() if ln.strip()]
    for ln in lines:
        low = ln.lower()
        if low.startswith("description:") and not description:
            description = ln.split(":", 1)[1]
        elif low.startswith("keywords:") and not keywords:
            keywords = ln.split(":", 1)[1]
    if not description and lines and not _ECHO.match(lines[0]):
        description = lines[0]
    desc = clean_description(description, item)
    kws = parse_keywords(keywords)
    ok = bool(desc) and len(kws) >= MIN_KEYWORDS
    if desc and not ok and len(kws) < MIN_KEYWORDS:
        ok = True  # a good description without keywords is still worth keeping
    return Generated(desc, kws, ok, raw)


@torch.inference_mode()
def describe_items(
    llm: LLMHandle,
    items: Sequence[ItemText],
    batch_size: int = 8,
    max_new_tokens: int = 72,
) -> list[Generated]:
    """One :class:`Generated` per item, same order. Greedy, batched, left-padded: deterministic.

    ``max_new_tokens`` bounds cost: two lines of this form fit in ~60 tokens; a longer ramble is
    cut and then cleaned.
    """
    tok = llm.tokenizer
    out: list[Generated] = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        prompts = [chat_ids(tok, build_messages(item)) for item in batch]
        input_ids, mask = pad_left(prompts, tok.pad_token_id)  # (B, T)
        generated = llm.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )  # (B, T + new)
        texts = tok.batch_decode(generated[:, input_ids.shape[1] :], skip_special_tokens=True)
        out.extend(parse_output(text, item) for text, item in zip(texts, batch, strict=True))
    return out
