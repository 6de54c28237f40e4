"""LoRA fine-tuning of the LLM reranker (TALLRec / LlamaRec recipe, sized for 2 CPU cores).

Each training example is built from ``split.train`` only. Two recipes (``examples``):

- ``"prefix"`` (default; LlamaRec's): for level m = 1, 2, ... the retriever is refitted on the
  training split with each user's last m training items removed; the item right after that
  cut is the target and the refitted retriever's top-K unseen items are the candidates. Only
  users whose target is among them make an example, so training sees exactly the candidate
  lists inference sees (hard, retriever-shaped), one level deeper into the past each time.
- ``"sampled"``: a random prefix of a user's training history, the next item as target,
  among the (full-train) retriever's hardest negatives plus random items. Cheaper (no
  refits), but the target is not a real retriever candidate, so it teaches an easier task.

Candidate order (``order``): ``"shuffled"`` shows them in a random order, so the model must
judge titles alone and slot A is not special; ``"retriever"`` keeps the retriever's order, as
inference shows it, so the model starts from the retriever's ranking (which zero-shot SmolLM2
already follows through its slot-A habit) and learns when to deviate from it. Measured on
ML-100K (README): shuffled training stayed at chance level (loss ln 20, in-candidate NDCG
0.21 vs 0.23 for a random order after 100 steps), so ``"retriever"`` is the default.

Co-watch hint (``cowatch_top``, on by default): each prompt also names the candidates most
often watched with the shown history (:mod:`recommender.cowatch`), computed from the refitted
data, which ends before the target. Titles-only training did not beat the retriever on test;
with the hint it does (README).

The loss is the cross-entropy over the K label-token logits at the answer position,
exactly the vector :func:`recommender.rerank.label_logits` scores with, so training and
inference agree.

CPU cost: LoRA sits on the top ``lora_layers`` decoder layers only, so the backward pass stops
there (the frozen layers below run forward without building a graph).

Model selection: NDCG@10 of the validation item among the retriever's top-K (retriever fitted
on ``split.train``) on a fixed sample of validation users, every ``eval_every`` steps, of the
score that is served: the LLM's blended with the retriever's, the blend weight chosen on the
same sample (``rerank.choose_blend``). The best adapter is kept; the zero-shot model is step 0.
Test items are never read here.

Artifacts in ``out``: ``adapter/`` (peft ``save_pretrained``; best validation step),
``finetune.json`` (config, split hash, base model id and version, steps, validation NDCG@10,
seconds, peak memory), ``checkpoint/`` (latest adapter + optimizer + step + RNG state: a
killed run resumes from it).

CLI: ``python -m recommender.finetune --dataset ml-100k --steps 150 --out var/llm/lora``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from recommender.artifacts import load_checkpoint, numpy_global_state, set_numpy_global_state
from recommender.cowatch import CoWatch
from recommender.data import Catalogue, Interactions
from recommender.llm import DEFAULT_SPEC, LLMHandle, load_llm
from recommender.metrics import paired_bootstrap_ci
from recommender.rerank import (
    RerankConfig,
    build_prompt,
    choose_blend,
    crossfit_blend_ndcg,
    label_logits,
    label_token_ids,
    ndcg_in_candidates,
    pad_left,
    top_k_candidates,
)
from recommender.split import Split

Progress = Callable[[int, int, float], None]  # (step done, total steps, running loss)
# Fits the retriever on the given interactions; returns (n_users, n_items) scores.
FitScores = Callable[[Interactions], np.ndarray]


@dataclass(frozen=True)
class FinetuneConfig:
    llm: str = DEFAULT_SPEC  # base model setting (see recommender.llm)
    retriever: str = "ease"  # registry name of the model whose top items are the candidates
    steps: int = 150  # optimiser steps; ~2-3 s each on 2 idle cores at batch 4 x ~235 tokens
    batch_size: int = 4  # prompts per step (no accumulation: memory is not the limit, time is)
    lr: float = 5e-4  # AdamW learning rate for the LoRA weights, linear warm-up then decay
    warmup: int = 10  # warm-up steps
    weight_decay: float = 0.0
    lora_r: int = 8  # LoRA rank; r=8 on q/k/v/o is 0.9M trainable parameters for SmolLM2
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    # LoRA on the top N decoder layers only (0 = all). Backward stops at the lowest adapted
    # layer: 10 of SmolLM2's 30 layers roughly halves a step's time.
    lora_layers: int = 10
    k: int = 20  # candidates per prompt, as the reranker at inference
    history: int = RerankConfig.history  # most recent history titles in the prompt
    title_chars: int = RerankConfig.title_chars  # titles cut to this many characters
    years: bool = RerankConfig.years  # release years in titles
    examples: str = "prefix"  # "prefix" (retriever refits, LlamaRec) or "sampled" (see above)
    order: str = "retriever"  # "prefix" candidates in "retriever" order or "shuffled"
    max_levels: int = 40  # "prefix": deepest cut (retriever refits); examples cycle beyond
    hard_negatives: int = 14  # "sampled": of the k-1 negatives, how many are retriever top items
    min_prefix: int = 3  # shortest history prefix used as a context
    eval_every: int = 50  # steps between validation checks (and checkpoints)
    eval_users: int = 64  # validation users (with their item among the candidates) checked
    eval_at_start: bool = True  # score the zero-shot model first, so a useless adapter loses
    seed: int = 0
    # Co-watch hint (recommender.cowatch): name the letters of this many candidates with the
    # highest affinity to the shown history (0 = none). "prefix" examples only: their
    # affinities come from the refitted data, which holds no interaction at or after the
    # target (no leak of the answer). On by default: on ML-100K it is what lets the tuned
    # reranker beat the retriever's order (README, LLM layer); 0 trains on titles alone.
    cowatch_top: int = 3

    def rerank_config(self) -> RerankConfig:
        """The inference config that matches what the adapter was trained on."""
        return RerankConfig(
            k=self.k,
            history=self.history,
            title_chars=self.title_chars,
            years=self.years,
            cowatch_top=self.cowatch_top,
        )

    def __post_init__(self) -> None:
        if self.examples not in {"prefix", "sampled"}:
            raise ValueError(f"examples must be 'prefix' or 'sampled', not {self.examples!r}")
        if self.order not in {"retriever", "shuffled"}:
            raise ValueError(f"order must be 'retriever' or 'shuffled', not {self.order!r}")
        if self.cowatch_top and self.examples != "prefix":
            raise ValueError(
                'co-watch hints need examples="prefix" (sampled contexts see their target): '
                "set cowatch_top=0 for sampled examples"
            )


@dataclass(frozen=True)
class Example:
    user: int
    history: tuple[int, ...]  # item indices, oldest first (already cut to config.history)
    candidates: tuple[int, ...]  # k item indices in prompt order
    label: int  # slot of the target in ``candidates``
    cowatch: tuple[float, ...] = ()  # per candidate (prompt order): affinity with ``history``


@dataclass
class FinetuneResult:
    adapter_dir: Path
    best_step: int
    valid_ndcg: float  # among-candidates NDCG@10 on the validation sample, best step
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


# --------------------------------------------------------------------------- examples


def training_examples(
    split: Split, retriever_scores: np.ndarray, config: FinetuneConfig, n: int
) -> list[Example]:
    """``n`` examples from ``split.train`` only (deterministic in ``config.seed``).

    retriever_scores: (n_users, n_items) scores of a retriever fitted on ``split.train``.
    Every item the user has in train is excluded from negatives: a later training item is a
    true positive, not a negative.
    """
    rng = np.random.default_rng(config.seed)
    histories = split.train.histories()
    users = [u for u, h in enumerate(histories) if len(h) > config.min_prefix]
    n_items = split.train.n_items
    out: list[Example] = []
    while len(out) < n:
        u = int(rng.choice(users))
        h = histories[u]
        j = int(rng.integers(config.min_prefix, len(h)))  # target h[j], context h[:j]
        target = int(h[j])
        scores = retriever_scores[u].astype(np.float64, copy=True)
        scores[h] = -np.inf
        n_hard = min(config.hard_negatives, config.k - 1)
        hard = np.argsort(-scores, kind="stable")[:n_hard]
        pool = np.setdiff1d(np.arange(n_items), np.concatenate([h, hard]))
        easy = rng.choice(pool, size=config.k - 1 - n_hard, replace=False)
        cands = np.concatenate([[target], hard, easy])
        order = rng.permutation(config.k)  # the target lands in a uniformly random slot
        cands = cands[order]
        label = int(np.flatnonzero(order == 0)[0])
        context = h[:j][-config.history :]
        out.append(Example(u, tuple(int(i) for i in context), tuple(int(i) for i in cands), label))
    return out


def drop_last(interactions: Interactions, m: int) -> tuple[Interactions, np.ndarray]:
    """Each user's interactions without their last ``m`` (by time), and (n_users,) the item
    right after the cut (the m-th from the end), -1 for users with fewer than m + 1."""
    order = interactions.chronological_order()
    users = interactions.users[order]
    ends = np.searchsorted(users, np.arange(interactions.n_users), side="right")  # (n_users,)
    starts = np.searchsorted(users, np.arange(interactions.n_users), side="left")
    from_end = ends[users] - 1 - np.arange(len(order))  # 0 = user's last row
    keep = np.empty(len(order), dtype=bool)
    keep[order] = from_end >= m
    next_item = np.full(interactions.n_users, -1, dtype=np.int64)
    has = ends - starts > m
    next_item[has] = interactions.items[order][ends[has] - m]
    return interactions.subset(keep), next_item


def prefix_examples(
    split: Split, fit_scores: FitScores, config: FinetuneConfig, n: int
) -> tuple[list[Example], list[dict[str, int]]]:
    """Up to ``n`` "prefix" examples (module docstring), and per level how many it made.

    Levels go deeper until ``n`` examples exist or ``config.max_levels`` is reached; fewer
    than ``n`` are returned then (the caller cycles through them). Deterministic in the seed.
    """
    rng = np.random.default_rng(config.seed)
    out: list[Example] = []
    levels: list[dict[str, int]] = []
    for m in range(1, config.max_levels + 1):
        data, target = drop_last(split.train, m)
        histories = data.histories()
        users = np.flatnonzero(
            (target >= 0) & (np.array([len(h) for h in histories]) >= config.min_prefix)
        )
        if len(users) == 0:
            break
        scores = fit_scores(data)
        cands, pos = top_k_candidates(scores, histories, users, target[users], config.k)
        cowatch = CoWatch.from_interactions(data) if config.cowatch_top else None
        made = 0
        for row in np.flatnonzero(pos >= 0):
            # slot j shows retriever candidate order[j]
            order = rng.permutation(config.k) if config.order == "shuffled" else np.arange(config.k)
            shown = cands[row][order]
            label = int(np.flatnonzero(order == pos[row])[0])
            context = histories[int(users[row])][-config.history :]
            affinity = cowatch.affinity(context, shown) if cowatch else np.zeros(0)
            out.append(
                Example(
                    int(users[row]),
                    tuple(int(i) for i in context),
                    tuple(int(i) for i in shown),
                    label,
                    tuple(float(a) for a in affinity),
                )
            )
            made += 1
        levels.append({"level": m, "users": len(users), "examples": made})
        if len(out) >= n:
            break
    rng.shuffle(out)  # type: ignore[arg-type]
    return out[:n], levels


def item_prompt(
    tokenizer: Any,
    catalogue: Catalogue,
    history: Sequence[int] | np.ndarray,
    candidates: Sequence[int] | np.ndarray,
    config: RerankConfig,
    cowatch: Sequence[float] | np.ndarray | None = None,
) -> list[int]:
    """The reranker prompt for item indices, titles shown as ``config`` says (history as given);
    ``cowatch`` (per candidate) becomes the hint line when ``config.hinted``."""
    if config.hinted and cowatch is None:
        raise ValueError("a hinted config needs the candidates' co-watch affinities")
    return build_prompt(
        tokenizer,
        [config.title(catalogue, int(i)) for i in history],
        [config.title(catalogue, int(i)) for i in candidates],
        cowatch if config.hinted else None,
        config.cowatch_top,
    )


def encode_examples(
    tokenizer: Any, catalogue: Catalogue, examples: Sequence[Example], config: RerankConfig
) -> list[list[int]]:
    return [
        item_prompt(tokenizer, catalogue, ex.history, ex.candidates, config, ex.cowatch)
        for ex in examples
    ]


def validation_candidates(
    split: Split, retriever_scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, (U, k) candidates in retriever order, (U,) target slot or -1) for validation.

    retriever_scores must come from a retriever fitted on ``split.train``; train items masked.
    """
    histories = split.train.histories()
    cands, pos = top_k_candidates(retriever_scores, histories, split.users, split.valid_items, k)
    return split.users, cands, pos


# --------------------------------------------------------------------------- model


def attach_lora(model: Any, config: FinetuneConfig) -> Any:
    """A peft model with fresh LoRA weights on ``config.target_modules``."""
    from peft import LoraConfig, get_peft_model

    n_layers = int(model.config.num_hidden_layers)
    top = min(config.lora_layers or n_layers, n_layers)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        layers_to_transform=list(range(n_layers - top, n_layers)),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def batch_loss(
    model: Any,
    prompts: Sequence[Sequence[int]],
    labels: Sequence[int],
    label_ids: Sequence[int],
    pad_id: int,
) -> torch.Tensor:
    """Cross-entropy over the K label logits (the reranker's scores) of a batch."""
    ids, mask = pad_left(prompts, pad_id)  # (B, T)
    logits = label_logits(model, ids, mask, label_ids)  # (B, K)
    return torch.nn.functional.cross_entropy(logits, torch.tensor(list(labels)))


@torch.inference_mode()
def candidate_scores(
    model: Any,
    tokenizer: Any,
    catalogue: Catalogue,
    histories: Sequence[np.ndarray],  # each (n_u,) item indices, oldest first
    candidates: np.ndarray,
    config: RerankConfig,
    batch_size: int = 4,
    cowatch: np.ndarray | None = None,
) -> np.ndarray:
    """(U, K) label log-probabilities for each user's candidates in the given order (P = 1).

    cowatch: (U, K) affinities aligned with ``candidates``; needed when ``config.hinted``.
    """
    label_ids = label_token_ids(tokenizer, candidates.shape[1])
    out = np.zeros(candidates.shape)
    for start in range(0, len(candidates), batch_size):
        rows = range(start, min(start + batch_size, len(candidates)))
        prompts = [
            item_prompt(
                tokenizer,
                catalogue,
                histories[r][-config.history :],
                candidates[r],
                config,
                None if cowatch is None else cowatch[r],
            )
            for r in rows
        ]
        ids, mask = pad_left(prompts, tokenizer.pad_token_id)
        logp = torch.log_softmax(label_logits(model, ids, mask, label_ids), dim=-1)
        out[start : start + len(rows)] = logp.numpy()
    return out


def _rng_state() -> dict[str, Any]:
    """Tensors and plain values only, so the checkpoint loads with weights_only=True."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": numpy_global_state(),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    set_numpy_global_state(state["numpy"])
    random.setstate(state["python"])


def _save_checkpoint(
    path: Path,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    step: int,
    log: list[dict[str, float]],
    best: dict[str, float],
) -> None:
    """Adapter + optimizer + scheduler + step + RNG, written to a temp folder then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(tmp / "adapter"))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "rng": _rng_state(),
            "log": log,
            "best": best,
        },
        tmp / "state.pt",
    )
    if path.exists():
        import shutil

        shutil.rmtree(path)
    tmp.rename(path)


def finetune(
    split: Split,
    catalogue: Catalogue,
    retriever_scores: np.ndarray,
    out: Path,
    config: FinetuneConfig | None = None,
    llm: LLMHandle | None = None,
    progress: Progress | None = None,
    show_progress: bool = True,
    fit_scores: FitScores | None = None,
) -> FinetuneResult:
    """Train a LoRA adapter for the reranker; resumes from ``out/checkpoint`` when present.

    retriever_scores: (n_users, n_items) from a retriever fitted on ``split.train``.
    fit_scores: refits that retriever on other interactions; needed by ``examples="prefix"``.
    ``llm``: a base model to train (a private copy: it gets LoRA layers injected); by default
    loaded fresh from ``config.llm``, never the process-wide cached one.
    """
    from peft import PeftModel

    config = config or FinetuneConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    base = llm or load_llm(config.llm)
    tokenizer = base.tokenizer
    label_ids = label_token_ids(tokenizer, config.k)

    wanted = config.steps * config.batch_size
    levels: list[dict[str, int]] = []
    if config.examples == "prefix":
        if fit_scores is None:
            raise ValueError('examples="prefix" needs fit_scores (the retriever to refit)')
        examples, levels = prefix_examples(split, fit_scores, config, wanted)
        if not examples:
            raise ValueError("no training user has their next item among the candidates")
        # Fewer examples than steps need: cycle through them (epochs), same order each time.
        examples = [examples[i % len(examples)] for i in range(wanted)]
    else:
        examples = training_examples(split, retriever_scores, config, wanted)
    users, cands, pos = validation_candidates(split, retriever_scores, config.k)
    hit = np.flatnonzero(pos >= 0)
    eval_rows = np.random.default_rng(config.seed).choice(
        hit, size=min(config.eval_users, len(hit)), replace=False
    )
    eval_rows.sort()
    train_hist = split.train.histories()
    eval_hist = [train_hist[int(users[r])] for r in eval_rows]
    eval_retr = np.take_along_axis(
        retriever_scores[users[eval_rows]], cands[eval_rows], axis=1
    ).astype(np.float64)  # (E, K) the retriever's own scores, for the blend
    eval_cowatch = (
        CoWatch.from_interactions(split.train).affinities(
            [h[-config.history :] for h in eval_hist], cands[eval_rows]
        )
        if config.cowatch_top
        else None
    )

    checkpoint = out / "checkpoint"
    if (checkpoint / "adapter").exists():
        model = PeftModel.from_pretrained(
            base.model, str(checkpoint / "adapter"), is_trainable=True
        )
    else:
        model = attach_lora(base.model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)

    def schedule(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        return max(0.0, (config.steps - step) / max(1, config.steps - config.warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    step, log = 0, []
    best: dict[str, float] = {"step": -1.0, "valid_ndcg": -1.0, "blend": 1.0}
    if (checkpoint / "state.pt").exists():
        state = load_checkpoint(checkpoint / "state.pt")  # never unpickles
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, log, best = state["step"], state["log"], state["best"]
        _set_rng_state(state["rng"])

    def evaluate(at: int) -> float:
        model.eval()
        scores = candidate_scores(
            model,
            tokenizer,
            catalogue,
            eval_hist,
            cands[eval_rows],
            config.rerank_config(),
            cowatch=eval_cowatch,
        )
        model.train()
        alone = float(ndcg_in_candidates(scores, pos[eval_rows]).mean())
        blend, trials = choose_blend(scores, eval_retr, pos[eval_rows])
        ndcg = max(t["valid_ndcg"] for t in trials)
        # the per-user gain over the retriever's own order, with its 95% interval, each
        # user's blend chosen on the other users: serving reranks only when the interval
        # clears zero (recommender.decision)
        gain = paired_bootstrap_ci(
            crossfit_blend_ndcg(scores, eval_retr, pos[eval_rows]),
            ndcg_in_candidates(eval_retr, pos[eval_rows]),
            seed=config.seed,
        )
        log.append(
            {
                "step": float(at),
                "valid_ndcg": ndcg,
                "valid_ndcg_llm_only": alone,
                "blend": blend,
                "gain_low": gain.low,
                "gain_high": gain.high,
            }
        )
        if ndcg > best["valid_ndcg"]:
            best.update(
                step=float(at), valid_ndcg=ndcg, blend=blend, gain_low=gain.low, gain_high=gain.high
            )
            model.save_pretrained(str(out / "adapter"))
        return ndcg

    if step == 0 and not log and config.eval_at_start:
        evaluate(0)  # the zero-shot starting point: an adapter that never helps is not kept
    model.train()
    bar = tqdm(total=config.steps, initial=step, desc="lora", disable=not show_progress)
    running = float("nan")
    while step < config.steps:
        batch = examples[step * config.batch_size : (step + 1) * config.batch_size]
        prompts = encode_examples(tokenizer, catalogue, batch, config.rerank_config())
        loss = batch_loss(
            model, prompts, [e.label for e in batch], label_ids, tokenizer.pad_token_id
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        running = loss.item() if running != running else 0.9 * running + 0.1 * loss.item()
        log.append({"step": float(step), "loss": loss.item()})
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}")
        if progress is not None:
            progress(step, config.steps, running)
        if step % config.eval_every == 0 or step == config.steps:
            bar.set_postfix(loss=f"{running:.3f}", valid=f"{evaluate(step):.4f}")
            _save_checkpoint(checkpoint, model, optimizer, scheduler, step, log, best)
    bar.close()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    result = FinetuneResult(
        out / "adapter", int(best["step"]), float(best["valid_ndcg"]), log, seconds, peak
    )
    meta = {
        "config": asdict(config),
        "split_hash": split.hash,
        "base_model": base.model_id,
        "base_version": base.version,
        "steps": config.steps,
        "best_step": result.best_step,
        "valid_ndcg@10_in_candidates": result.valid_ndcg,
        "valid_blend": best["blend"],
        # 95% paired-bootstrap interval of the best step's gain over the retriever's order
        "valid_gain_ci": [best.get("gain_low"), best.get("gain_high")],
        "retriever_valid_ndcg@10_in_candidates": float(
            ndcg_in_candidates(eval_retr, pos[eval_rows]).mean()
        ),
        "training_examples": len(set(examples)),
        "prefix_levels": levels,
        "valid_users_checked": len(eval_rows),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak, 1),
        "log": log,
    }
    (out / "finetune.json").write_text(json.dumps(meta, indent=1))
    if (out / "adapter").exists():
        (out / "adapter" / "finetune.json").write_text(
            json.dumps({k: v for k, v in meta.items() if k != "log"}, indent=1)
        )
    return result


# Each tuned model is a full private copy of the base LLM (peft injects layers into it): kept
# for every adapter a process is ever handed, a long-lived worker that meets adapter after
# adapter would grow until the OOM killer. Past RECOMMENDER_TUNED_CACHE models the least
# recently used goes.
DEFAULT_TUNED_CACHE = 2
_TUNED: OrderedDict[tuple[str, str, bool], LLMHandle] = OrderedDict()
_TUNED_LOCK = threading.Lock()  # one load at a time: two threads would build two copies


def tuned_cache_size() -> int:
    """How many tuned models a process keeps (``RECOMMENDER_TUNED_CACHE``, read per call)."""
    raw = os.environ.get("RECOMMENDER_TUNED_CACHE", "").strip()
    if not raw:
        return DEFAULT_TUNED_CACHE
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"RECOMMENDER_TUNED_CACHE={raw!r}: a whole number of models, at least 1")
    return int(raw)


def load_tuned(adapter_dir: Path, llm: str | None = None, merge: bool = True) -> LLMHandle:
    """Base model + saved adapter, cached per process (the :func:`tuned_cache_size` most
    recently used). ``merge`` folds LoRA into the weights (same outputs, no adapter overhead
    per forward). The version records both hashes."""
    adapter_dir = Path(adapter_dir)
    meta_path = adapter_dir / "finetune.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    spec = llm or meta.get("base_model", DEFAULT_SPEC)
    key = (str(adapter_dir.resolve()), spec, merge)
    with _TUNED_LOCK:
        if key in _TUNED:
            _TUNED.move_to_end(key)
            return _TUNED[key]
        handle = _load_tuned(adapter_dir, spec, merge)
        _TUNED[key] = handle
        while len(_TUNED) > tuned_cache_size():
            _TUNED.popitem(last=False)
        return handle


def _load_tuned(adapter_dir: Path, spec: str, merge: bool) -> LLMHandle:
    from peft import PeftModel

    base = load_llm(spec)  # a private copy: peft injects layers into it
    model = PeftModel.from_pretrained(base.model, str(adapter_dir))
    model = model.merge_and_unload() if merge else model
    model.eval()
    weights = adapter_dir / "adapter_model.safetensors"
    stamp = f"{weights.stat().st_size}-{int(weights.stat().st_mtime)}" if weights.exists() else "?"
    return LLMHandle(
        model, base.tokenizer, f"{spec}+lora:{adapter_dir.name}", f"{base.version}+{stamp}"
    )


# --------------------------------------------------------------------------- retriever


def retriever_scores(
    name: str, split: Split, catalogue: Catalogue, stage: str, cache_dir: Path, seed: int = 0
) -> np.ndarray:
    """(n_users, n_items) float32 scores of registry model ``name``, cached by split hash.

    stage "valid": tuned on validation, fitted on ``split.train`` (training data, validation);
    stage "test": same hyperparameters refitted on ``split.train_valid`` (final report only).
    """
    path = Path(cache_dir) / f"{name}-{split.hash}-{stage}.npy"
    if path.exists():
        return np.load(path)
    fit = retriever_fitter(name, split, catalogue, cache_dir, seed)
    scores = fit(split.train if stage == "valid" else split.train_valid)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, scores)
    return scores


def retriever_fitter(
    name: str, split: Split, catalogue: Catalogue, cache_dir: Path, seed: int = 0
) -> FitScores:
    """Fits registry model ``name`` (hyperparameters tuned on ``split`` validation once and
    cached by split hash) on given interactions and returns float32 (n_users, n_items) scores."""
    from recommender import registry
    from recommender.harness import grid_search, score_users

    spec = registry.get(name)
    hp_path = Path(cache_dir) / f"{name}-{split.hash}-hparams.json"
    if hp_path.exists():
        hparams = json.loads(hp_path.read_text())
    else:
        result = (
            spec.tune(split, catalogue, seed)
            if spec.tune
            else grid_search(spec, split, catalogue, seed)
        )
        hparams = dict(result.hparams)
        hp_path.parent.mkdir(parents=True, exist_ok=True)
        hp_path.write_text(json.dumps(hparams))

    def fit(data: Interactions) -> np.ndarray:
        model = spec.build(hparams, seed).fit(data, catalogue)
        return score_users(model, np.arange(data.n_users)).astype(np.float32)

    return fit


def main(argv: list[str] | None = None) -> int:
    from recommender.data import load_movielens
    from recommender.split import leave_last_out

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"])
    parser.add_argument("--steps", type=int, default=FinetuneConfig.steps)
    parser.add_argument("--batch-size", type=int, default=FinetuneConfig.batch_size)
    parser.add_argument("--lr", type=float, default=FinetuneConfig.lr)
    parser.add_argument("--eval-every", type=int, default=FinetuneConfig.eval_every)
    parser.add_argument("--eval-users", type=int, default=FinetuneConfig.eval_users)
    parser.add_argument(
        "--retriever", default=FinetuneConfig.retriever, help="registry model name for candidates"
    )
    parser.add_argument("--llm", default=DEFAULT_SPEC)
    parser.add_argument("--warmup", type=int, default=FinetuneConfig.warmup)
    parser.add_argument(
        "--examples", default=FinetuneConfig.examples, choices=["prefix", "sampled"]
    )
    parser.add_argument("--order", default=FinetuneConfig.order, choices=["retriever", "shuffled"])
    parser.add_argument(
        "--lora-layers",
        type=int,
        default=FinetuneConfig.lora_layers,
        help="adapt the top N layers only (0 = all)",
    )
    parser.add_argument("--no-eval-at-start", action="store_true", help="skip the zero-shot check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--years", action="store_true", help="show release years in titles (+~6 tokens each)"
    )
    parser.add_argument(
        "--cowatch-top",
        type=int,
        default=FinetuneConfig.cowatch_top,
        help="name the N candidates most watched with the history in the prompt (0 = off)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--cache", type=Path, default=Path("var/llm/retriever"), help="retriever score cache"
    )
    args = parser.parse_args(argv)
    config = FinetuneConfig(
        llm=args.llm,
        retriever=args.retriever,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_every=args.eval_every,
        eval_users=args.eval_users,
        seed=args.seed,
        warmup=args.warmup,
        eval_at_start=not args.no_eval_at_start,
        examples=args.examples,
        order=args.order,
        years=args.years,
        lora_layers=args.lora_layers,
        cowatch_top=args.cowatch_top,
    )
    ds = load_movielens(args.dataset.removeprefix("ml-"))  # type: ignore[arg-type]
    split = leave_last_out(ds.interactions)
    scores = retriever_scores(
        config.retriever, split, ds.catalogue, "valid", args.cache, config.seed
    )
    fit = retriever_fitter(config.retriever, split, ds.catalogue, args.cache, config.seed)
    result = finetune(split, ds.catalogue, scores, args.out, config, fit_scores=fit)
    print(
        json.dumps(
            {
                "adapter": str(result.adapter_dir),
                "best_step": result.best_step,
                "valid_ndcg": result.valid_ndcg,
                "seconds": round(result.seconds, 1),
                "peak_rss_mb": round(result.peak_rss_mb, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
