"""LoRA fine-tuning of the LLM reranker (TALLRec / LlamaRec recipe, sized for 2 CPU cores).

Each training example is built from ``split.train`` only: for a user, a prefix of their
training history is the context and the next training item is the target, shown among K
candidates = the retriever's hardest negatives (top-scored unseen items) plus random ones,
in a random order (which also teaches the model that slot A is not special). The loss is the
cross-entropy over the K label-token logits at the answer position, exactly the vector
:func:`recommender.rerank.label_logits` scores with, so training and inference agree.

Model selection: NDCG@10 of the validation item among the retriever's top-K (retriever fitted
on ``split.train``) on a fixed sample of validation users, every ``eval_every`` steps; the best
adapter is kept. Test items are never read here.

Artifacts in ``out``: ``adapter/`` (peft ``save_pretrained``; best validation step),
``finetune.json`` (config, split hash, base model id and version, steps, validation NDCG@10,
seconds, peak memory), ``checkpoint/`` (latest adapter + optimizer + step + RNG state: a
killed run resumes from it).

CLI: ``python -m recommender.finetune --dataset ml-100k --steps 150 --out var/llm/lora``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from recommender.data import Catalogue
from recommender.llm import DEFAULT_SPEC, LLMHandle, load_llm
from recommender.rerank import (
    RerankConfig,
    build_prompt,
    item_title,
    label_logits,
    label_token_ids,
    ndcg_in_candidates,
    pad_left,
    top_k_candidates,
)
from recommender.split import Split

Progress = Callable[[int, int, float], None]  # (step done, total steps, running loss)


@dataclass(frozen=True)
class FinetuneConfig:
    llm: str = DEFAULT_SPEC  # base model setting (see recommender.llm)
    retriever: str = "ease"  # registry name of the model whose top items are the candidates
    steps: int = 150  # optimiser steps; ~8-12 s each on 2 cores at batch 4 x ~330 tokens
    batch_size: int = 4  # prompts per step (no accumulation: memory is not the limit, time is)
    lr: float = 5e-4  # AdamW learning rate for the LoRA weights, linear warm-up then decay
    warmup: int = 10  # warm-up steps
    weight_decay: float = 0.0
    lora_r: int = 8  # LoRA rank; r=8 on q/k/v/o is 0.9M trainable parameters for SmolLM2
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    k: int = 20  # candidates per prompt, as the reranker at inference
    history: int = 8  # most recent history titles in the prompt
    title_chars: int = 40  # titles cut to this many characters
    hard_negatives: int = 14  # of the k-1 negatives, how many are retriever top items
    min_prefix: int = 3  # shortest history prefix used as a context
    eval_every: int = 50  # steps between validation checks (and checkpoints)
    eval_users: int = 64  # validation users (with their item among the candidates) checked
    eval_at_start: bool = True  # score the zero-shot model first, so a useless adapter loses
    seed: int = 0

    def rerank_config(self) -> RerankConfig:
        """The inference config that matches what the adapter was trained on."""
        return RerankConfig(k=self.k, history=self.history, title_chars=self.title_chars)


@dataclass(frozen=True)
class Example:
    user: int
    history: tuple[int, ...]  # item indices, oldest first (already cut to config.history)
    candidates: tuple[int, ...]  # k item indices in prompt order
    label: int  # slot of the target in ``candidates``


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


def encode_examples(
    tokenizer: Any, catalogue: Catalogue, examples: Sequence[Example], title_chars: int
) -> list[list[int]]:
    def t(i: int) -> str:
        return item_title(catalogue, i, title_chars)

    return [
        build_prompt(tokenizer, [t(i) for i in ex.history], [t(i) for i in ex.candidates])
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

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
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
) -> np.ndarray:
    """(U, K) label log-probabilities for each user's candidates in the given order (P = 1)."""
    label_ids = label_token_ids(tokenizer, candidates.shape[1])
    out = np.zeros(candidates.shape)
    for start in range(0, len(candidates), batch_size):
        rows = range(start, min(start + batch_size, len(candidates)))
        prompts = [
            build_prompt(
                tokenizer,
                [
                    item_title(catalogue, int(i), config.title_chars)
                    for i in histories[r][-config.history :]
                ],
                [item_title(catalogue, int(i), config.title_chars) for i in candidates[r]],
            )
            for r in rows
        ]
        ids, mask = pad_left(prompts, tokenizer.pad_token_id)
        logp = torch.log_softmax(label_logits(model, ids, mask, label_ids), dim=-1)
        out[start : start + len(rows)] = logp.numpy()
    return out


def _rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
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
) -> FinetuneResult:
    """Train a LoRA adapter for the reranker; resumes from ``out/checkpoint`` when present.

    retriever_scores: (n_users, n_items) from a retriever fitted on ``split.train``.
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

    examples = training_examples(split, retriever_scores, config, config.steps * config.batch_size)
    users, cands, pos = validation_candidates(split, retriever_scores, config.k)
    hit = np.flatnonzero(pos >= 0)
    eval_rows = np.random.default_rng(config.seed).choice(
        hit, size=min(config.eval_users, len(hit)), replace=False
    )
    eval_rows.sort()
    train_hist = split.train.histories()
    eval_hist = [train_hist[int(users[r])] for r in eval_rows]

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
    best: dict[str, float] = {"step": -1.0, "valid_ndcg": -1.0}
    if (checkpoint / "state.pt").exists():
        state = torch.load(checkpoint / "state.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, log, best = state["step"], state["log"], state["best"]
        _set_rng_state(state["rng"])

    def evaluate(at: int) -> float:
        model.eval()
        scores = candidate_scores(
            model, tokenizer, catalogue, eval_hist, cands[eval_rows], config.rerank_config()
        )
        model.train()
        ndcg = float(ndcg_in_candidates(scores, pos[eval_rows]).mean())
        log.append({"step": float(at), "valid_ndcg": ndcg})
        if ndcg > best["valid_ndcg"]:
            best.update(step=float(at), valid_ndcg=ndcg)
            model.save_pretrained(str(out / "adapter"))
        return ndcg

    if step == 0 and not log and config.eval_at_start:
        evaluate(0)  # the zero-shot starting point: an adapter that never helps is not kept
    model.train()
    bar = tqdm(total=config.steps, initial=step, desc="lora", disable=not show_progress)
    running = float("nan")
    while step < config.steps:
        batch = examples[step * config.batch_size : (step + 1) * config.batch_size]
        prompts = encode_examples(tokenizer, catalogue, batch, config.title_chars)
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


_TUNED: dict[tuple[str, str], LLMHandle] = {}


def load_tuned(adapter_dir: Path, llm: str | None = None, merge: bool = True) -> LLMHandle:
    """Base model + saved adapter, cached per process. ``merge`` folds LoRA into the weights
    (same outputs, no adapter overhead per forward). The version records both hashes."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    meta_path = adapter_dir / "finetune.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    spec = llm or meta.get("base_model", DEFAULT_SPEC)
    key = (str(adapter_dir.resolve()), spec)
    if key not in _TUNED:
        base = load_llm(spec)  # a private copy: peft injects layers into it
        model = PeftModel.from_pretrained(base.model, str(adapter_dir))
        model = model.merge_and_unload() if merge else model
        model.eval()
        weights = adapter_dir / "adapter_model.safetensors"
        stamp = (
            f"{weights.stat().st_size}-{int(weights.stat().st_mtime)}" if weights.exists() else "?"
        )
        _TUNED[key] = LLMHandle(
            model, base.tokenizer, f"{spec}+lora:{adapter_dir.name}", f"{base.version}+{stamp}"
        )
    return _TUNED[key]


# --------------------------------------------------------------------------- retriever


def retriever_scores(
    name: str, split: Split, catalogue: Catalogue, stage: str, cache_dir: Path, seed: int = 0
) -> np.ndarray:
    """(n_users, n_items) float32 scores of registry model ``name``, cached by split hash.

    stage "valid": tuned on validation, fitted on ``split.train`` (training data, validation);
    stage "test": same hyperparameters refitted on ``split.train_valid`` (final report only).
    """
    from recommender import registry
    from recommender.evaluation import grid_search, score_users

    path = Path(cache_dir) / f"{name}-{split.hash}-{stage}.npy"
    if path.exists():
        return np.load(path)
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
    data = split.train if stage == "valid" else split.train_valid
    model = spec.build(hparams, seed).fit(data, catalogue)
    scores = score_users(model, np.arange(data.n_users)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, scores)
    return scores


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
    parser.add_argument("--no-eval-at-start", action="store_true", help="skip the zero-shot check")
    parser.add_argument("--seed", type=int, default=0)
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
    )
    ds = load_movielens(args.dataset.removeprefix("ml-"))  # type: ignore[arg-type]
    split = leave_last_out(ds.interactions)
    scores = retriever_scores(
        config.retriever, split, ds.catalogue, "valid", args.cache, config.seed
    )
    result = finetune(split, ds.catalogue, scores, args.out, config)
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
