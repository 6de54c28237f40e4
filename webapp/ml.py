"""Settings -> the ML core's lazy, per-process model loaders.

Nothing here loads at import time: workers pay for a model on first use, and web processes
(which never run inference) never do.
"""

from __future__ import annotations

import functools

from django.conf import settings

from explanations.understanding import GenreReader
from recommender.encoders import TextEncoder
from recommender.llm import LLMHandle


def llm() -> LLMHandle:
    from recommender.llm import get_llm

    return get_llm(settings.LLM_MODEL, settings.MODEL_CACHE_DIR)


def encoder() -> TextEncoder:
    from recommender.encoders import get_encoder

    return get_encoder(settings.EMBEDDING_MODEL, settings.MODEL_CACHE_DIR)


@functools.lru_cache(maxsize=4)
def genre_reader(vocabulary: tuple[str, ...], *, store: bool = True) -> GenreReader:
    """One reader of words that name no genre per process and genre vocabulary (the chat's
    and the typed statements'): it embeds the genre descriptions once. ``store=False``: one
    that caches no vector of what it reads (the edit preview's words may never be saved)."""
    return GenreReader(functools.partial(encoder().encode, store=store), vocabulary)
