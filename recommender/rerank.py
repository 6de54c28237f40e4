"""LLM reranking of a retriever's top-K candidates, LlamaRec-style.

The prompt (through the tokenizer's chat template) lists the user's recent history (titles,
most recent last) and K candidates labelled with single-token letters ``A``..``T``. One forward
pass reads the logits of those K letter tokens at the answer position (the first token of the
assistant turn): that vector *is* the score. No text is generated, so the output is always a
permutation of the candidates and can never name an item outside the catalogue.

Position bias: small LLMs favour whatever sits in slot ``A`` (MODELS.md: SmolLM2 zero-shot picks
A). :func:`position_bias` measures it; LLMRank's remedy is to score several candidate orders and
average each candidate's log-probability over them (``RerankConfig.permutations``). The orders
are cyclic shifts spaced K/P apart, so every candidate visits evenly spread slots; they run as
one batch.

The final score may blend in the retriever's score (``RerankConfig.blend``, chosen on
validation with :func:`choose_blend`): both are z-scored within the K candidates first, because
letter logits and retriever scores live on unrelated scales.

Co-watch hint (``RerankConfig.cowatch_top``; :mod:`recommender.cowatch`): a line after the
candidates names the letters of those most often watched with the shown history. Titles alone
carry no collaborative signal a 135M model can learn on CPU; with the hint, the tuned reranker
beats its retriever (README, LLM layer), and an adapter trained on it is always served with it.

Shapes: B = prompts in a batch (permutations), T = tokens, K = candidates, V = vocabulary.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import torch

from recommender.base import Ranker
from recommender.cowatch import CoWatch
from recommender.data import Catalogue, Interactions
from recommender.llm import LLMHandle, chat_ids

LABELS: tuple[str, ...] = tuple("ABCDEFGHIJKLMNOPQRST")  # K <= 20; each one token in SmolLM2

# Short on purpose: every prompt token costs CPU time in every forward pass.
SYSTEM_PROMPT = "You are a movie recommender. Answer with one letter."
# With co-watch hints (recommender.cowatch) the system prompt says what the hint line means. It
# is part of the cached fixed prefix, so the explanation costs no time per user.
HINT_NOTE = (
    " 'Often watched together' names the candidates that people who watched the same films"
    " watched most, best first."
)


@dataclass(frozen=True)
class RerankConfig:
    k: int = 20  # candidates taken from the retriever and reranked (at most len(LABELS))
    history: int = 6  # most recent history titles shown; older ones only cost tokens
    title_chars: int = 32  # long titles are cut: the head identifies a film, the tail costs time
    # SmolLM2 spells every digit as its own token, so " (1997)" costs 6 tokens: years on all 26
    # titles were ~40% of the prompt and of the latency (415 -> 235 tokens without them).
    years: bool = False
    # Candidate orders averaged (LLMRank de-biasing). 1 = retriever order only (fastest).
    permutations: int = 1
    # Weight of the retriever's (z-scored) score in the final score; 0 = LLM only, 1 = retriever
    # only. Choose it on validation (choose_blend), never on test.
    blend: float = 0.0
    # Co-watch hint (recommender.cowatch): a line naming the letters of the candidates with the
    # highest affinity to the shown history, this many (0 = no hint). Saved with an adapter
    # trained on hinted prompts, which then needs the affinities at serving too.
    cowatch_top: int = 0

    @property
    def hinted(self) -> bool:
        return self.cowatch_top > 0

    @property
    def prompt_form(self) -> str:
        """What the model is shown, in words (the dashboard's and admin's adapter tables)."""
        return f"titles + co-watch hint (top {self.cowatch_top})" if self.hinted else "titles only"

    @classmethod
    def served(cls, saved: Mapping[str, Any]) -> RerankConfig:
        """The config an adapter is served with, from the fine-tuning config saved with it
        (plus ``blend`` when the caller stored the validation blend beside it). Adapters saved
        before ``years`` existed saw years in every title; missing fields take the defaults."""
        fields = ("k", "history", "title_chars", "blend", "cowatch_top")
        return cls(
            **{f: saved[f] for f in fields if saved.get(f) is not None},
            years=bool(saved.get("years", True)),
        )

    def title(self, catalogue: Catalogue, index: int) -> str:
        """How this config shows an item in a prompt."""
        return item_title(catalogue, index, self.title_chars, year=self.years)

    def __post_init__(self) -> None:
        if not 1 <= self.k <= len(LABELS):
            raise ValueError(f"k must be in 1..{len(LABELS)}")
        if not 1 <= self.permutations <= self.k:
            raise ValueError("permutations must be in 1..k")
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError("blend must be in [0, 1]")
        if not 0 <= self.cowatch_top <= self.k:
            raise ValueError("cowatch_top must be in 0..k")


def item_title(catalogue: Catalogue, index: int, max_chars: int = 48, year: bool = True) -> str:
    """``Title (year)`` (or the bare title), cut at ``max_chars``: how a prompt shows an item."""
    return prompt_title(catalogue.titles[index], int(catalogue.years[index]), max_chars, year)


def prompt_title(title: str, released: int | None, max_chars: int, year: bool) -> str:
    """:func:`item_title` for callers that hold a title and year rather than a Catalogue."""
    if len(title) > max_chars:
        title = title[: max_chars - 1].rstrip() + "…"
    return f"{title} ({released})" if year and released and released > 0 else title


def label_token_ids(tokenizer: Any, k: int) -> list[int]:
    """Token id of each of the first ``k`` labels as the model would answer it.

    The answer is the first token of the assistant turn, which starts a line, so the bare letter
    is tried first and a space-prefixed one second. Raises if a label needs two tokens: the
    score would then no longer be one logit.
    """
    ids = []
    for label in LABELS[:k]:
        for form in (label, " " + label):
            tokens = tokenizer.encode(form, add_special_tokens=False)
            if len(tokens) == 1:
                ids.append(tokens[0])
                break
        else:
            raise ValueError(f"label {label!r} is not a single token in this tokenizer")
    if len(set(ids)) != len(ids):
        raise ValueError("labels map to repeated token ids")
    return ids


def cowatch_letters(cowatch: Sequence[float] | np.ndarray, top: int) -> list[str]:
    """Letters of the ``top`` candidates with the highest affinity, best first (ties: earlier
    slot first); a candidate nobody watched with the history (affinity 0) is never named."""
    values = np.asarray(cowatch, dtype=np.float64)
    order = np.lexsort((np.arange(len(values)), -values))[:top]
    return [LABELS[int(j)] for j in order if values[j] > 0]


def prompt_messages(
    history: Sequence[str],
    candidates: Sequence[str],
    cowatch: Sequence[float] | np.ndarray | None = None,
    cowatch_top: int = 3,
) -> list[dict[str, str]]:
    """The reranker's chat messages (see :func:`build_prompt`)."""
    watched = "\n".join(f"- {t}" for t in history) or "- (nothing yet)"
    listed = "\n".join(f"{LABELS[j]}. {t}" for j, t in enumerate(candidates))
    hint = ""
    if cowatch is not None:
        if len(cowatch) != len(candidates):
            raise ValueError(f"{len(cowatch)} co-watch affinities for {len(candidates)} candidates")
        # "\nD,F,A": each letter is then the same bare token as in "\nD. Title" and as the
        # answer, so the model can copy it exactly (" D" would be another token).
        hint = "\n\nOften watched together:\n" + (
            ",".join(cowatch_letters(cowatch, cowatch_top)) or "-"
        )
    system = SYSTEM_PROMPT + (HINT_NOTE if cowatch is not None else "")
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": f"Watched, oldest first:\n{watched}\n\nCandidates:\n{listed}{hint}\n\n"
            "Which candidate will the user watch next?",
        },
    ]


def build_prompt(
    tokenizer: Any,
    history: Sequence[str],
    candidates: Sequence[str],
    cowatch: Sequence[float] | np.ndarray | None = None,
    cowatch_top: int = 3,
) -> list[int]:
    """Token ids of the chat prompt; the model's next token is the answer letter.

    cowatch: per candidate, its affinity with the history (:mod:`recommender.cowatch`); with
    it, a line after the candidates names the ``cowatch_top`` best letters ("Often watched
    together:\nD,F,A"). A pointer the model can copy, where a per-line score would need it to
    find a maximum (a LoRA on 2 CPU cores did not learn that in 80 steps; this costs ~12 tokens).
    """
    return chat_ids(tokenizer, prompt_messages(history, candidates, cowatch, cowatch_top))


def top_k_candidates(
    scores: np.ndarray,
    histories: Sequence[np.ndarray],
    users: np.ndarray,
    targets: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's top-``k`` unseen items in retriever order, and where their target landed.

    scores: (n_users, n_items) retriever scores; histories: items masked per user.
    Returns (U, k) candidates (ties by lower item index, as ``Ranker.recommend``) and (U,)
    the target's slot among them, or -1 when the retriever did not surface it.
    """
    cands = np.empty((len(users), k), dtype=np.int64)
    for row, u in enumerate(users):
        s = scores[u].astype(np.float64, copy=True)
        s[histories[u]] = -np.inf
        top = np.argpartition(-s, k)[:k]
        cands[row] = top[np.lexsort((top, -s[top]))]
    pos = np.array(
        [
            int(np.flatnonzero(c == t)[0]) if t in c else -1
            for c, t in zip(cands, targets, strict=True)
        ],
        dtype=np.int64,
    )
    return cands, pos


def pad_left(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, T), padded on the left so position -1 is real."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return ids, mask


def _label_head(model: Any, hidden: torch.Tensor, label_ids: Sequence[int]) -> torch.Tensor:
    """(B, K) logits of the K label tokens from (B, H) final hidden states.

    Only the K label rows of the output projection are multiplied: the same numbers as the
    full (V = 49k) vocabulary projection at those columns, without computing the rest. That
    projection was 6 to 90 ms of a ~300 ms rerank on the CPU (slow on the merged tuned model).
    """
    head = model.get_output_embeddings()
    rows = list(label_ids)
    out = hidden @ head.weight[rows].T  # (B, H) @ (H, K)
    if getattr(head, "bias", None) is not None:
        out = out + head.bias[rows]
    return out.float()


def _decoder(model: Any) -> Any:
    """The transformer body (embeddings, layers, final norm) of a causal LM, peft or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder()


def label_logits(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, label_ids: Sequence[int]
) -> torch.Tensor:
    """(B, K) logits of the label tokens at the last position. Differentiable (fine-tuning).

    Position ids come from the mask, so a left-padded row is computed exactly as unpadded; the
    body runs once and only the label rows of the output projection are applied to the last
    position (:func:`_label_head`).
    """
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
    out = _decoder(model)(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
    )
    return _label_head(model, out.last_hidden_state[:, -1], label_ids)  # (B, K)


def permutations(k: int, n: int) -> np.ndarray:
    """(n, k) candidate orders: cyclic shifts spaced k/n apart; row 0 is the identity."""
    shifts = [round(p * k / n) for p in range(n)]
    return np.stack([np.roll(np.arange(k), -s) for s in shifts])


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise the last axis; a constant row becomes zeros."""
    x = np.asarray(x, dtype=np.float64)
    std = x.std(axis=-1, keepdims=True)
    return np.where(std > 0, (x - x.mean(axis=-1, keepdims=True)) / np.where(std > 0, std, 1), 0)


@dataclass(frozen=True)
class RerankResult:
    order: np.ndarray  # (K,) positions into the candidate list, best first: a permutation
    scores: np.ndarray  # (K,) final score per candidate, in the candidates' original order
    llm_scores: np.ndarray  # (K,) mean log-probability over permutations, original order


@torch.inference_mode()
def llm_scores(
    llm: LLMHandle,
    history: Sequence[str],
    candidates: Sequence[str],
    n_permutations: int = 1,
    cowatch: Sequence[float] | np.ndarray | None = None,
    cowatch_top: int = 3,
) -> np.ndarray:
    """(K,) mean log-softmax over the K labels per candidate, averaged over candidate orders.

    Log-softmax rather than raw logits so each order's scores are on one scale before averaging.
    cowatch: (K,) affinities in the candidates' order (they move with their candidate).
    """
    k = len(candidates)
    if not 1 <= k <= len(LABELS):
        raise ValueError(f"between 1 and {len(LABELS)} candidates, got {k}")
    label_ids = label_token_ids(llm.tokenizer, k)
    orders = permutations(k, n_permutations)  # (P, K): slot j shows candidate orders[p, j]
    prompts = [
        build_prompt(
            llm.tokenizer,
            history,
            [candidates[c] for c in o],
            None if cowatch is None else [cowatch[c] for c in o],
            cowatch_top,
        )
        for o in orders
    ]
    logits = _label_logits_with_prefix(llm, prompts, label_ids, hinted=cowatch is not None)
    if logits is None:  # prompts that do not start with the cached prefix, or unequal lengths
        ids, mask = pad_left(prompts, llm.tokenizer.pad_token_id)  # (P, T)
        logits = label_logits(llm.model, ids, mask, label_ids)
    logp = torch.log_softmax(logits, dim=-1)  # (P, K)
    by_candidate = np.zeros((len(orders), k))
    for p, o in enumerate(orders):
        by_candidate[p, o] = logp[p].numpy()  # slot j's score belongs to candidate o[j]
    return by_candidate.mean(axis=0)


# model -> {hinted: (prefix token ids, its KV cache)}: the system prompt and the "Watched" header
# are the same in every prompt, so their keys/values are computed once per loaded model (and
# prompt kind: hinted prompts have a longer system prompt), not per user.
_PREFIX: weakref.WeakKeyDictionary[Any, dict[bool, tuple[list[int], Any]]] = (
    weakref.WeakKeyDictionary()
)


def _static_prefix(llm: LLMHandle, hinted: bool = False) -> tuple[list[int], Any]:
    kinds = _PREFIX.setdefault(llm.model, {})
    hit = kinds.get(hinted)
    if hit is None:
        # The longest token prefix two unrelated prompts share is the fixed part.
        cowatch = [1.0] if hinted else None
        a = build_prompt(llm.tokenizer, ["Alpha"], ["Beta"], cowatch)
        b = build_prompt(llm.tokenizer, ["9 Zeta"], ["Omega"], cowatch)
        n = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
        out = llm.model(input_ids=torch.tensor([a[:n]]), use_cache=True)
        hit = (a[:n], out.past_key_values)
        kinds[hinted] = hit
    return hit


def _label_logits_with_prefix(
    llm: LLMHandle, prompts: Sequence[Sequence[int]], label_ids: Sequence[int], hinted: bool = False
) -> torch.Tensor | None:
    """(P, K) label logits reusing the cached fixed prefix; None when it does not apply.

    Same numbers as :func:`label_logits` on the full prompts (tested), ~10% fewer tokens for
    one permutation. Needs every prompt to start with the prefix and (no padding in the middle
    of a cached sequence) all prompts to have one length.
    """
    prefix, cache = _static_prefix(llm, hinted)
    n = len(prefix)
    if len({len(p) for p in prompts}) != 1 or any(list(p[:n]) != prefix for p in prompts):
        return None
    rest = torch.tensor([list(p[n:]) for p in prompts])  # (P, T - n)
    past = copy.deepcopy(cache)  # the forward pass appends to it
    if len(prompts) > 1:
        past.batch_repeat_interleave(len(prompts))
    width = n + rest.shape[1]
    out = _decoder(llm.model)(
        input_ids=rest,
        attention_mask=torch.ones((len(prompts), width), dtype=torch.long),
        position_ids=torch.arange(n, width).expand(len(prompts), -1),
        past_key_values=past,
        use_cache=True,
    )
    return _label_head(llm.model, out.last_hidden_state[:, -1], label_ids)


def combine(llm: np.ndarray, retriever: np.ndarray | None, blend: float) -> np.ndarray:
    """Final scores: (1 - blend) * z(llm) + blend * z(retriever), along the last axis."""
    if retriever is None or blend == 0.0:
        return zscore(llm)
    return (1.0 - blend) * zscore(llm) + blend * zscore(retriever)


def llm_rerank(
    llm: LLMHandle,
    history: Sequence[str],
    candidates: Sequence[str],
    config: RerankConfig | None = None,
    retriever_scores: np.ndarray | None = None,
    cowatch: np.ndarray | None = None,
) -> RerankResult:
    """Rerank ``candidates`` (titles, retriever order) for a user with ``history`` (titles).

    Callers that hold a catalogue use :func:`rerank_items`, which builds the titles and hints.
    cowatch: (K,) each candidate's affinity with the shown history (:mod:`recommender.cowatch`);
    required when ``config.hinted`` (the adapter was trained on hinted prompts).
    """
    config = config or RerankConfig()
    history = list(history)[-config.history :] if config.history else []
    if config.hinted and (cowatch is None or len(cowatch) != len(candidates)):
        raise ValueError("this reranker reads co-watch hints: pass one affinity per candidate")
    raw = llm_scores(
        llm,
        history,
        candidates,
        config.permutations,
        cowatch if config.hinted else None,
        config.cowatch_top,
    )
    scores = combine(raw, retriever_scores, config.blend)
    order = np.lexsort((np.arange(len(scores)), -scores))  # ties keep retriever order
    return RerankResult(order.astype(np.int64), scores, raw)


def rerank_items(
    llm: LLMHandle,
    catalogue: Catalogue,
    recent: np.ndarray,
    candidates: np.ndarray,
    config: RerankConfig,
    retriever_scores: np.ndarray | None = None,
    cowatch: CoWatch | None = None,
) -> RerankResult:
    """The one LLM rerank of a user's candidates: the evaluation's :class:`RerankedRanker`
    and the web app's background list rerank both call it, so they prompt identically.

    recent: (H,) history indices the prompt shows, oldest first; candidates: (K,) indices in
    retriever order; cowatch: the co-watch index, required when ``config.hinted``.
    """
    recent = np.asarray(recent, dtype=np.int64)
    candidates = np.asarray(candidates, dtype=np.int64)
    titles = [config.title(catalogue, int(i)) for i in candidates]
    history = [config.title(catalogue, int(i)) for i in recent]
    affinity = cowatch.affinity(recent, candidates) if cowatch is not None else None
    return llm_rerank(llm, history, titles, config, retriever_scores, affinity)


def choose_blend(
    llm: np.ndarray, retriever: np.ndarray, target_pos: np.ndarray, grid: Sequence[float] = ()
) -> tuple[float, list[dict[str, float]]]:
    """Blend weight maximising mean NDCG@10 over validation users.

    llm, retriever: (U, K) scores of each user's candidates; target_pos: (U,) the held-out item's
    position among them, or -1 when the retriever missed it (those users count as 0 whatever the
    weight, which keeps the mean comparable with full-ranking metrics).
    """
    grid = tuple(grid) or tuple(np.round(np.linspace(0, 1, 21), 2))
    trials = []
    for w in grid:
        final = combine(llm, retriever, float(w))  # (U, K)
        trials.append(
            {"blend": float(w), "valid_ndcg": float(ndcg_in_candidates(final, target_pos).mean())}
        )
    best = max(trials, key=lambda t: t["valid_ndcg"])  # first of equals: smaller LLM share
    return best["blend"], trials


def crossfit_blend_ndcg(
    llm: np.ndarray, retriever: np.ndarray, target_pos: np.ndarray
) -> np.ndarray:
    """(U,) per-user NDCG@10 of the blended reranker, each user's blend chosen on the others.

    Two-fold cross-fitting (even and odd rows): the blend weight for one half is chosen on
    the other, so comparing these values with the retriever's measures the gain without the
    optimism of choosing the weight on the same users (the served blend is still chosen on
    all of them). On the hybrid's ML-100K lists the zero-shot LLM's blend cleared zero on
    validation only when it was chosen and scored on the same users, and lost on test.
    """
    rows = np.arange(len(target_pos))
    out = np.zeros(len(target_pos))
    for fit, held in ((rows % 2 == 0, rows % 2 == 1), (rows % 2 == 1, rows % 2 == 0)):
        if not held.any():
            continue
        w, _ = choose_blend(llm[fit], retriever[fit], target_pos[fit])
        out[held] = ndcg_in_candidates(combine(llm[held], retriever[held], w), target_pos[held])
    return out


def ndcg_in_candidates(scores: np.ndarray, target_pos: np.ndarray, k: int = 10) -> np.ndarray:
    """(U,) NDCG@k of the target when the list is the candidates sorted by ``scores`` (U, K)."""
    return _metric_in_candidates(scores, target_pos, k, ndcg=True)


def rank_in_candidates(scores: np.ndarray, target_pos: np.ndarray) -> np.ndarray:
    """(U,) 0-based rank of the target among its candidates (ties: earlier position first);
    -1 where the target is not a candidate."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(scores))
    safe = np.maximum(target_pos, 0)
    t = scores[rows, safe][:, None]  # (U, 1)
    pos = np.arange(scores.shape[1])[None, :]
    ahead = (scores > t) | ((scores == t) & (pos < safe[:, None]))
    return np.where(target_pos >= 0, ahead.sum(1), -1)


def _metric_in_candidates(
    scores: np.ndarray, target_pos: np.ndarray, k: int, ndcg: bool
) -> np.ndarray:
    rank = rank_in_candidates(scores, target_pos)
    hit = (rank >= 0) & (rank < k)
    if ndcg:
        return np.where(hit, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0)
    return hit.astype(np.float64)


def position_bias(
    llm: LLMHandle,
    prompts: Sequence[tuple[Sequence[str], Sequence[str]]],
    seed: int = 0,
    cowatch: Sequence[np.ndarray] | None = None,
    cowatch_top: int = 3,
) -> dict[str, float]:
    """How often the top-scored slot is slot A when each candidate list is shuffled.

    An unbiased model picks slot A about 1/K of the time; SmolLM2 zero-shot far more often.
    ``prompts``: (history titles, candidate titles) pairs; ``cowatch``: per prompt (K,)
    affinities, shuffled with their candidates. Returns the rate and 1/K.
    """
    rng = np.random.default_rng(seed)
    first = 0
    label_ids: list[int] | None = None
    k = 0
    with torch.inference_mode():
        for n, (history, candidates) in enumerate(prompts):
            k = len(candidates)
            label_ids = label_ids or label_token_ids(llm.tokenizer, k)
            order = rng.permutation(k)
            shuffled = [candidates[i] for i in order]
            affinity = None if cowatch is None else [cowatch[n][i] for i in order]
            ids, mask = pad_left(
                [build_prompt(llm.tokenizer, history, shuffled, affinity, cowatch_top)],
                llm.tokenizer.pad_token_id,
            )
            first += int(label_logits(llm.model, ids, mask, label_ids)[0].argmax() == 0)
    return {"top_is_slot_A": first / max(len(prompts), 1), "uniform": 1.0 / max(k, 1)}


class RerankedRanker(Ranker):
    """A retriever's top-K reranked by the LLM; every other item keeps the retriever's order.

    ``score`` puts the K reranked items above all others (offset by the retriever's range), so
    :meth:`Ranker.recommend` and the evaluation harness see the pipeline as one ranker.
    """

    name = "llm-rerank"

    def __init__(
        self, retriever: Ranker, llm: LLMHandle, config: RerankConfig | None = None
    ) -> None:
        super().__init__()
        self.retriever = retriever
        self.llm = llm
        self.config = config or RerankConfig()
        self.catalogue: Catalogue | None = None
        self._histories: list[np.ndarray] = []
        self._cowatch: CoWatch | None = None

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        """Fits the retriever; remembers ordered histories for the prompts."""
        self._remember(interactions)
        self.retriever.fit(interactions, catalogue)
        self.catalogue = catalogue
        self._histories = interactions.histories()
        self._cowatch = CoWatch.from_interactions(interactions) if self.config.hinted else None
        return self

    def candidates(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(top-K item indices, their retriever scores), retriever order, seen items excluded."""
        return self.retriever.recommend(user, self.config.k)

    def recent(self, user: int) -> np.ndarray:
        """The history items the prompt shows, oldest first."""
        history = self._histories[user]
        return history[-self.config.history :] if self.config.history else history[:0]

    def rerank_user(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(item indices best first, final scores in that order) for the user's top-K."""
        assert self.catalogue is not None, "fit() first"
        items, retr = self.candidates(user)
        if len(items) == 0:
            return items, retr
        result = rerank_items(
            self.llm, self.catalogue, self.recent(user), items, self.config, retr, self._cowatch
        )
        return items[result.order], result.scores[result.order].astype(np.float32)

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        item_ids = np.asarray(item_ids, dtype=np.int64)
        base = self.retriever.score(user, np.arange(self.n_items)).astype(np.float64)
        base = np.nan_to_num(base, nan=-1e9, posinf=1e9, neginf=-1e9)
        top, _ = self.rerank_user(user)
        out = base.copy()
        lift = base.max() - base.min() + 1.0  # reranked items land above every other item
        out[top] = base.max() + lift * (len(top) - np.arange(len(top)))
        return out[item_ids].astype(np.float32)
