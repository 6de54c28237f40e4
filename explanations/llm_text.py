"""One small seam to text generation, so every caller can run without a model.

Profile generation and explanations accept ``llm``: a loaded
:class:`recommender.llm.LLMHandle`, any callable ``messages -> text`` (tests pass fakes that
misbehave on purpose), or ``None`` (the deterministic fallback runs). Generation is greedy:
the same evidence must give the same sentence, so a cached explanation can be checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Messages = list[dict[str, str]]
Generate = Callable[[Messages], str]


def chat_generate(handle: Any, messages: Messages, max_new_tokens: int = 64) -> str:
    """Greedy generation through the tokenizer's chat template; returns the new text only."""
    import torch  # deferred: importing explanations must not load torch

    model, tokenizer = handle.model, handle.tokenizer
    from recommender.llm import chat_ids  # deferred with torch: it imports torch

    input_ids = torch.tensor([chat_ids(tokenizer, messages)], dtype=torch.long, device=model.device)
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
    return str(tokenizer.decode(out[0, input_ids.shape[1] :], skip_special_tokens=True)).strip()


def as_generator(llm: Any, max_new_tokens: int = 64) -> Generate | None:
    """``LLMHandle`` -> a greedy generator; a callable passes through; ``None`` stays None."""
    if llm is None:
        return None
    if hasattr(llm, "model") and hasattr(llm, "tokenizer"):
        return lambda messages: chat_generate(llm, messages, max_new_tokens)
    if callable(llm):
        return llm  # type: ignore[no-any-return]
    raise TypeError(f"llm must be an LLMHandle, a callable or None, not {type(llm).__name__}")


def model_version(llm: Any) -> str:
    """What an explanation row records as its producer ("template" when no model ran)."""
    if llm is None:
        return "template"
    version = getattr(llm, "version", None)
    model_id = getattr(llm, "model_id", None)
    if version or model_id:
        return f"{model_id}@{version}"
    return getattr(llm, "__name__", type(llm).__name__)
