"""SASRec: causal self-attention over a user's item sequence (Kang & McAuley, 2018).

Differences from the paper:

- Full softmax cross-entropy over every item at every position instead of BCE with one
  sampled negative. Catalogues here have a few thousand items, so the (B, T, n_items) logits
  are cheap, and the full loss converges in far fewer epochs. Above
  :data:`SAMPLED_SOFTMAX_ABOVE` items (``loss="auto"``) the softmax runs over the target and
  ``negatives`` items drawn once per batch by popularity, each logit corrected by
  ``-log Q(item)`` (sampled softmax with logQ correction, as in Yi et al. 2019 and
  TensorFlow's ``sampled_softmax_loss``), so a step costs the same at 100k items as at 3k.
- Pre-LayerNorm blocks (as in nanoGPT), GELU feed-forward, AdamW: the usual modern defaults.
- Long histories are cut to a random ``max_len`` window each epoch rather than always the
  latest one (or, with ``all_windows``, into consecutive windows that together cover every
  position), and batches group similar lengths so padding is trimmed (about 2x less work).
- ``checkpoint_dir`` makes a long fit resumable: stopped, it continues from its last epoch
  and ends with the weights an uninterrupted fit would have.
- Item embeddings are tied to the output layer, so the score of item ``i`` for a user is
  ``h_u . e_i`` where ``h_u`` is the last hidden state of the user's sequence. After fitting we
  cache ``h_u`` for every user, which makes :meth:`SASRec.score` a single dot product.

Training tunes its own length: :meth:`SASRec.tune` trains on ``split.train`` with early stopping
on validation NDCG@10 and returns a config whose ``epochs`` is the best epoch; the refit on
``split.train_valid`` then trains exactly that many epochs with no look at validation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from recommender.artifacts import load_checkpoint
from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.registry import ModelSpec, config_with, early_stopping_spec
from recommender.split import Split

log = logging.getLogger(__name__)


LOSSES = ("auto", "full", "sampled")

# Where loss="auto" switches to the sampled softmax. The full loss's (tokens, n_items) logits
# grow with the catalogue while the transformer's work does not. One 128 x 100 training step
# on 2 shared cores (`python bench/train_bench.py --loss-steps`, two runs), full vs sampled:
# about equal at 3.7k items, 2x at 10k, 2-7x at 30k, 14-30x at 100k; a 30k-item SASRec epoch
# 6.5x, at 5.2 GB peak against 1.6 GB (`bench/train_bench.py`), and at 100k one 128 x 200
# batch's logits alone are 10 GB. Up to 10k items the full softmax costs at most 2x and is the
# exact loss (on ML-1M the sampled one scored ~0.02 NDCG@10 lower after as many epochs,
# docs/accuracy.md), so MovieLens (1.7k and 3.7k items) keeps it; above, sampling pays.
SAMPLED_SOFTMAX_ABOVE = 10_000


@dataclass(frozen=True)
class SASRecConfig:
    max_len: int = 200  # sequence window; the last max_len items of a history are used
    dim: int = 64  # embedding and hidden size
    n_layers: int = 2  # transformer blocks
    n_heads: int = 2  # attention heads (dim must divide by it)
    dropout: float = 0.2  # on embeddings and residual branches
    attn_dropout: float = 0.0  # on attention weights; its (B, nh, T, T) mask costs ~15% of a step
    lr: float = 2e-3  # AdamW learning rate (2e-3 peaks in ~half the epochs of 1e-3, as well)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    batch_size: int = 128  # sequences per step
    epochs: int = 200  # upper bound; tune() replaces it by the best validation epoch
    patience: int = 6  # evaluations without a validation NDCG@10 gain before stopping
    eval_every: int = 1  # epochs between validation checks during tune()
    eval_k: int = 10  # cut-off of the validation NDCG used for early stopping
    random_crops: bool = True  # long histories: train on a random max_len window per epoch
    # ... or on every position: a long history is cut into consecutive windows (from its end)
    # and each is a training row every epoch, so no transition waits for a lucky crop
    all_windows: bool = False
    seed: int = 0  # torch / numpy seed: two fits with one config give identical weights
    threads: int = 2  # torch intra-op threads (our machines have 2 cores)
    # torch.compile the training step (inductor, dynamic shapes): ~25% less time per step on
    # ML-1M batches after ~100 s of compiling, so worth it for long runs only; the fused
    # kernels round differently, so it is part of the recipe
    compile: bool = False
    # A second stage (ReduceLROnPlateau's one step, taken once): when validation stops
    # improving for ``patience`` checks, go back to the best weights, multiply the learning
    # rate by this, and early-stop again. 0 = stop at the first plateau.
    lr_drop: float = 0.0
    # Plain fits (no validation): after this many epochs multiply the rate by lr_drop. A tune
    # that dropped sets it, so the refit follows the same schedule. 0 = never.
    lr_drop_epoch: int = 0
    # A folder for a checkpoint after every epoch (weights, optimiser, random states, the
    # best epoch so far): a fit that is stopped resumes there and ends with the same weights
    # as one never stopped. "" keeps none. Not part of the recipe (not in the fingerprint).
    checkpoint_dir: str = ""
    # The training loss: "full" softmax over every item, "sampled" softmax over the target and
    # `negatives` shared items per batch (logQ-corrected), or "auto": full up to
    # SAMPLED_SOFTMAX_ABOVE items, sampled above it.
    loss: str = "auto"
    # items drawn per batch for the sampled loss (with replacement). On ML-1M (16 epochs)
    # 256 / 1,024 / 4,096 scored 0.116 / 0.133 / 0.147 NDCG@10 against the full loss's 0.153:
    # only 4,096 was inside its 95% interval. Its logits cost about a full step at 4k items,
    # whatever the catalogue size (docs/accuracy.md)
    negatives: int = 4096
    # Q, how the sampled loss draws its negatives: "popularity" (an item's training count + 1:
    # popular items are the hard negatives full softmax would push down hardest) or "uniform"
    negative_sampling: str = "popularity"

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ValueError(f"dim={self.dim} must be divisible by n_heads={self.n_heads}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r}: choose from {', '.join(LOSSES)}")
        if self.negative_sampling not in ("popularity", "uniform"):
            raise ValueError(f"negative_sampling={self.negative_sampling!r}: popularity or uniform")


class _Block(nn.Module):
    """Pre-LN transformer block with causal self-attention."""

    def __init__(self, dim: int, n_heads: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim)
        )
        self.attn_dropout = attn_dropout
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape  # (B, T, d)
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        # (B, nh, T, hs)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(b, t, d)
        x = x + self.resid_drop(self.proj(y))
        return x + self.resid_drop(self.mlp(self.ln2(x)))

    def forward_last(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, d) -> (B, 1, d): :meth:`forward` at the last position only, in eval mode.

        Keys and values still come from every position; the query, projection and MLP run
        for one position instead of T, which is most of a block's work.
        """
        b, t, d = x.shape
        h = self.ln1(x)
        weight, bias = self.qkv.weight, self.qkv.bias  # rows: q, then k, then v
        q = F.linear(h[:, -1:], weight[:d], bias[:d])  # (B, 1, d)
        k, v = F.linear(h, weight[d:], bias[d:]).split(d, dim=2)  # (B, T, d) each
        hs = d // self.n_heads
        q = q.view(b, 1, self.n_heads, hs).transpose(1, 2)  # (B, nh, 1, hs)
        k, v = (z.view(b, t, self.n_heads, hs).transpose(1, 2) for z in (k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, :, -1:])  # (B, nh, 1, hs)
        x = x[:, -1:] + self.proj(y.transpose(1, 2).reshape(b, 1, d))
        return x + self.mlp(self.ln2(x))


class _SASRecNet(nn.Module):
    """Item index 0 is padding; catalogue item ``i`` is token ``i + 1``."""

    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.max_len = cfg.max_len
        self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            _Block(cfg.dim, cfg.n_heads, cfg.dropout, cfg.attn_dropout) for _ in range(cfg.n_layers)
        )
        self.ln_f = nn.LayerNorm(cfg.dim)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _inputs(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) tokens -> embedded inputs (B, T, d) and the attention mask (B, 1, T, T)."""
        t = seq.shape[1]
        pos = torch.arange(self.max_len - t, self.max_len, device=seq.device)
        x = self.drop(
            self.item_emb(seq) * math.sqrt(self.item_emb.embedding_dim) + self.pos_emb(pos)
        )
        # Boolean mask, True = may attend: causal and never to padding. Each position may
        # always see itself, so a padding row is never fully masked (that would give NaN).
        causal = torch.ones(t, t, dtype=torch.bool, device=seq.device).tril()  # (T, T)
        keys = (seq != 0)[:, None, None, :]  # (B, 1, 1, T)
        mask = (causal & keys) | torch.eye(t, dtype=torch.bool, device=seq.device)  # (B,1,T,T)
        return x, mask

    def hidden(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, T) left-padded tokens, T <= max_len -> (B, T, d) hidden states.

        Positions count back from the end of the window (the last item always sits at
        ``max_len - 1``), so a batch trimmed to its longest sequence computes exactly what the
        full-width padded batch would: padding is never attended to.
        """
        x, mask = self._inputs(seq)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)  # (B, T, d)

    def last_hidden(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, T) left-padded tokens -> (B, d): ``hidden(seq)[:, -1]`` in eval mode, cheaper.

        Only the last position's output is needed, so the final block runs just that position
        (:meth:`_Block.forward_last`): about a third less time at two layers (ML-100K, CPU).
        """
        x, mask = self._inputs(seq)
        *inner, final = self.blocks
        assert isinstance(final, _Block)
        for block in inner:
            x = block(x, mask)
        return self.ln_f(final.forward_last(x, mask))[:, 0]

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """(..., d) hidden -> (..., n_items) scores over real items (padding dropped)."""
        return h @ self.item_emb.weight[1:].T


def _left_pad(seqs: list[np.ndarray], length: int) -> np.ndarray:
    """Token matrix (len(seqs), length): the last ``length`` items of each, shifted by +1."""
    out = np.zeros((len(seqs), length), dtype=np.int64)
    for row, s in enumerate(seqs):
        s = s[-length:]
        if len(s):
            out[row, length - len(s) :] = s + 1
    return out


def _token_loss(net: _SASRecNet, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every real next item: (B, W) inputs and targets (0 = padding)."""
    keep = targets != 0  # only real next items count (padding has no target)
    h = net.hidden(inputs)  # (B, W, d)
    return F.cross_entropy(net.logits(h[keep]), targets[keep] - 1)  # logits (N, n_items)


def _padded_token_loss(
    net: _SASRecNet, inputs: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """:func:`_token_loss` with fixed shapes for torch.compile: padding rows are scored and
    ignored (little waste, as batches group similar lengths)."""
    logits = net.logits(net.hidden(inputs))  # (B, W, n_items)
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), (targets - 1).reshape(-1), ignore_index=-1
    )


def corrected_logits(
    h: torch.Tensor,
    emb: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor,
) -> torch.Tensor:
    """(N, 1 + K) logits of the sampled softmax: column 0 the target, then the K negatives.

    h (N, d) hidden states, emb (n_items, d) item embeddings, targets (N,) and negatives (K,)
    item indices, log_q (n_items,) log of each item's sampling probability. Every logit is
    ``h . e_i - log Q(i)``: without the correction the softmax would learn popularity twice
    (popular items are both frequent targets and frequent negatives), and its scores would
    not estimate the full softmax's. A negative that is the row's own target (an accidental
    hit) is masked, or the model would be taught to push the right answer down.
    """
    pos = (h * emb[targets]).sum(dim=-1, keepdim=True) - log_q[targets, None]  # (N, 1)
    neg = h @ emb[negatives].T - log_q[negatives]  # (N, K)
    neg = neg.masked_fill(negatives[None, :] == targets[:, None], -torch.inf)
    return torch.cat([pos, neg], dim=1)  # (N, 1 + K)


def _sampled_token_loss(
    net: _SASRecNet,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor,
) -> torch.Tensor:
    """Mean sampled-softmax cross-entropy over every real next item (0 = padding): the
    target's logit against the batch's shared ``negatives``, all logQ-corrected.

    Fixed shapes (padding rows scored, their loss ignored), so it compiles as it is.
    """
    h = net.hidden(inputs).reshape(-1, net.item_emb.embedding_dim)  # (N = B * W, d)
    items = (targets - 1).reshape(-1)  # (N,) item indices, -1 = padding
    logits = corrected_logits(
        h, net.item_emb.weight[1:], items.clamp(min=0), negatives, log_q
    )  # (N, 1 + K)
    labels = torch.where(items >= 0, 0, -1)  # the target sits in column 0
    return F.cross_entropy(logits, labels, ignore_index=-1)


def _length_buckets(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Batches of row indices with similar lengths, in random order.

    Most histories are far shorter than max_len (ML-1M median 94 of 200), so batching similar
    lengths and trimming the padding roughly halves the work per epoch. Shuffling within equal
    lengths and shuffling the batch order keeps the gradient steps random.
    """
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def ndcg_at_k(scores: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """Per-row NDCG@k of one relevant item: scores (B, n_items), targets (B,) -> (B,)."""
    target_scores = scores.gather(1, targets[:, None])  # (B, 1)
    # rank = number of items scored strictly higher; ties resolved in the target's favour,
    # which is harmless here because masked items sit at -inf.
    rank = (scores > target_scores).sum(dim=1)  # (B,)
    return torch.where(rank < k, 1.0 / torch.log2(rank.double() + 2.0), 0.0)


# Training is deterministic (seeded, fixed batch order), so fitting one config on the same data
# twice gives the same weights. The evaluation harness does exactly that (SASRec on its own, and
# again inside the hybrid), and on ML-1M a fit costs minutes, so a process keeps the last few
# fits: key = (config, data fingerprint, validation fingerprint) -> the fitted state.
_FIT_MEMO: OrderedDict[str, dict[str, Any]] = OrderedDict()
_FIT_MEMO_SIZE = 4


# What a tune's checkpoint name leaves out: fields that never change the weights of a given
# epoch. The epoch cap and the stopping rule only decide when to stop (validation draws no
# random numbers), so a long tune stopped by hand can be resumed with a lower cap, and it
# ends at once with the best epoch it has (``--set sasrec.epochs=N``). A plain fit keeps its
# cap in the name: it returns its last epoch, which must be the cap.
_NOT_IN_TUNE_CHECKPOINT_NAME = ("checkpoint_dir", "epochs", "patience", "eval_every")


# Fields added after fits were checkpointed: at their defaults they stay out of the
# fingerprint, so a checkpoint written before them still resumes (the catalogue size, which
# decides what "auto" trains, is hashed with the data).
_HASHED_UNLESS_DEFAULT = ("loss", "negatives", "negative_sampling")


def _fingerprint(
    cfg: SASRecConfig, data: Interactions, validation: Any, checkpoint: bool = False
) -> str:
    tune_checkpoint = checkpoint and validation is not None
    dropped = _NOT_IN_TUNE_CHECKPOINT_NAME if tune_checkpoint else ("checkpoint_dir",)
    recipe = {
        k: v
        for k, v in asdict(cfg).items()
        if k not in dropped and not (k in _HASHED_UNLESS_DEFAULT and v == getattr(SASRecConfig, k))
    }
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    for a in (data.users, data.items, data.timestamps):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(str(data.n_items).encode())
    if validation is not None:
        for a in validation:
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


class SASRec(Ranker):
    name = "sasrec"
    can_fold_in = True

    def __init__(self, config: SASRecConfig | None = None) -> None:
        super().__init__()
        self.config = config or SASRecConfig()
        self.net: _SASRecNet | None = None
        self.history_: list[dict[str, float]] = []  # per evaluated epoch: loss, ndcg, seconds
        self.best_epoch_: int = 0
        # (stage 1's best epoch, the epoch it stopped at) when a tune took its lr_drop stage
        self.drop_at_: tuple[int, int] | None = None
        self._user_vectors: np.ndarray | None = None  # (n_users, d) float32 cache
        self._item_vectors: np.ndarray | None = None  # (n_items, d) float32 cache
        self._compiled: Any = None  # the compiled training loss, made on first use

    @property
    def lr_dropped_(self) -> bool:
        """Whether the tune took its lr_drop second stage."""
        return self.drop_at_ is not None

    # ----------------------------------------------------------------- tuning and fitting
    @classmethod
    def tune(
        cls, split: Split, catalogue: Catalogue, config: SASRecConfig | None = None
    ) -> SASRecConfig:
        """Early-stop on validation; the returned config trains for the best epoch count."""
        return cls.tune_model(split, catalogue, config).config

    @classmethod
    def tune_model(
        cls, split: Split, catalogue: Catalogue, config: SASRecConfig | None = None
    ) -> SASRec:
        """Fit on ``split.train`` with early stopping on the validation items.

        Returns that model (fitted on train, weights of the best epoch) with its config set by
        :meth:`refit_config`, so ``SASRec(model.config)`` refits the same recipe.
        """
        model = cls(config).fit(split.train, catalogue, validation=(split.users, split.valid_items))
        model.config = model.refit_config()
        return model

    def refit_config(self) -> SASRecConfig:
        """The plain-fit recipe of what a tune found: ``epochs`` of updates to its best
        epoch, and with an lr_drop second stage, the epoch of the drop (``lr_drop_epoch``).

        Epochs trained past a plateau and then discarded (the tune went back to the best
        weights) are not counted: stage 1 to its best epoch E1, then the second stage's
        epochs up to its best. A second stage that never improved is no drop at all.
        """
        cfg, best = self.config, max(self.best_epoch_, 1)
        if self.drop_at_ is None or best <= self.drop_at_[1]:
            return replace(cfg, epochs=min(best, self.drop_at_[0]) if self.drop_at_ else best)
        stage1, stopped = self.drop_at_
        return replace(cfg, epochs=stage1 + best - stopped, lr_drop_epoch=stage1)

    def fit(
        self,
        interactions: Interactions,
        catalogue: Catalogue,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Self:
        """Train for ``config.epochs``; with ``validation`` = (users, items), early-stop on it.

        With validation the weights of the best epoch are kept and ``best_epoch_`` records it.
        """
        cfg = self.config
        torch.set_num_threads(cfg.threads)
        self._remember(interactions)
        key = _fingerprint(cfg, interactions, validation)
        if key in _FIT_MEMO:
            memo = _FIT_MEMO[key]
            self.net = _SASRecNet(self.n_items, cfg)
            self.net.load_state_dict(memo["state"])
            self.best_epoch_, self.history_ = memo["best_epoch"], list(memo["history"])
            self.drop_at_ = memo["drop_at"]
            self._refresh_cache()
            return self
        self._train(interactions, validation, _fingerprint(cfg, interactions, validation, True))
        assert self.net is not None
        memo = {
            "state": {k: v.clone() for k, v in self.net.state_dict().items()},
            "best_epoch": self.best_epoch_,
            "history": list(self.history_),
            "drop_at": self.drop_at_,
        }
        _FIT_MEMO[key] = memo
        if validation is not None:
            # Validation draws no random numbers, so these weights are exactly what a plain
            # fit of refit_config() would produce: remember them under that key too. After an
            # lr_drop second stage they are the same schedule but not the same bits (the
            # discarded epochs drew random numbers): the key then stands for "this recipe's
            # tuned fit on this data", which is what the train-only and fold-in protocols test.
            plain = self.refit_config()
            _FIT_MEMO[_fingerprint(plain, interactions, None)] = memo
        while len(_FIT_MEMO) > _FIT_MEMO_SIZE:
            _FIT_MEMO.popitem(last=False)
        return self

    def _train(
        self,
        interactions: Interactions,
        validation: tuple[np.ndarray, np.ndarray] | None,
        key: str = "",
    ) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        histories = [h for h in self._seen if len(h) >= 2]  # need one input and one target
        sampler = self._negative_sampler(histories)
        self.net = _SASRecNet(self.n_items, cfg)
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, best_state, stale = -1.0, None, 0
        self.history_, self.drop_at_ = [], None
        checkpoint = (
            Path(cfg.checkpoint_dir) / f"sasrec-{key[:16]}.pt" if cfg.checkpoint_dir else None
        )
        first = 1

        def plateau() -> bool:
            """At a plateau: drop the learning rate once (from the best weights) or stop."""
            nonlocal stale
            if validation is None or stale < cfg.patience:
                return False
            if cfg.lr_drop and self.drop_at_ is None and best_state is not None:
                assert self.net is not None
                self.net.load_state_dict(best_state)
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * cfg.lr_drop
                stale = 0
                self.drop_at_ = (self.best_epoch_, len(self.history_))
                log.info(
                    "sasrec: plateau, back to epoch %s at lr x %s", self.best_epoch_, cfg.lr_drop
                )
                return False
            return True

        if checkpoint is not None and checkpoint.exists():
            saved = load_checkpoint(checkpoint)  # tensors and plain values only, never a pickle
            self.net.load_state_dict(saved["net"])
            opt.load_state_dict(saved["opt"])
            torch.set_rng_state(saved["torch_rng"])
            rng.bit_generator.state = saved["numpy_rng"]
            best, best_state, stale = saved["best"], saved["best_state"], saved["stale"]
            self.best_epoch_, self.history_ = saved["best_epoch"], saved["history"]
            self.drop_at_ = tuple(saved["drop_at"]) if saved.get("drop_at") else None  # type: ignore[assignment]
            first = len(self.history_) + 1
            log.info("sasrec resumes after epoch %s from %s", first - 1, checkpoint)
            if plateau():
                first = cfg.epochs + 1  # it had stopped early: nothing left to train
            elif first > cfg.epochs:
                log.info("sasrec: %s epochs done, cap %s: the best so far", first - 1, cfg.epochs)
        for epoch in range(first, cfg.epochs + 1):
            if validation is None and cfg.lr_drop and epoch == cfg.lr_drop_epoch + 1 > 1:
                for group in opt.param_groups:  # the schedule a tune found (refit_config)
                    group["lr"] = cfg.lr * cfg.lr_drop
            start = time.perf_counter()
            loss = self._train_epoch(histories, opt, rng, sampler)
            row = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - start}
            if validation is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                ndcg = self._validate(*validation)
                row["ndcg"] = ndcg
                if ndcg > best:
                    best, stale, self.best_epoch_ = ndcg, 0, epoch
                    best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
                else:
                    stale += 1
            self.history_.append(row)
            log.info("sasrec epoch %s", row)
            if checkpoint is not None:
                state = {
                    "net": self.net.state_dict(),
                    "opt": opt.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "numpy_rng": rng.bit_generator.state,
                    "best": best,
                    "best_state": best_state,
                    "stale": stale,
                    "best_epoch": self.best_epoch_,
                    "history": self.history_,
                    "drop_at": self.drop_at_,
                }
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                partial = checkpoint.with_suffix(".partial")
                torch.save(state, partial)
                partial.replace(checkpoint)  # a kill mid-write leaves the previous one whole
            if plateau():
                break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        else:
            self.best_epoch_ = len(self.history_)
        self._refresh_cache()

    def training_loss(self) -> str:
        """The loss a fit trains, "full" or "sampled" (the config's "auto" resolved by size)."""
        if self.config.loss != "auto":
            return self.config.loss
        return "sampled" if self.n_items > SAMPLED_SOFTMAX_ABOVE else "full"

    def _negative_sampler(
        self, histories: list[np.ndarray]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(Q, log Q), each (n_items,), for the sampled loss; None for the full softmax."""
        if self.training_loss() != "sampled":
            return None
        counts: np.ndarray
        if self.config.negative_sampling == "uniform":
            counts = np.ones(self.n_items)
        else:  # + 1: every item can be drawn, so every logQ is finite
            counts = np.bincount(np.concatenate(histories), minlength=self.n_items) + 1.0
        q = torch.from_numpy(counts / counts.sum()).float()  # (n_items,)
        return q, q.log()

    def _train_epoch(
        self,
        histories: list[np.ndarray],
        opt: torch.optim.Optimizer,
        rng: np.random.Generator,
        sampler: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> float:
        """One pass over all users in random order; returns the mean token loss.

        With a ``sampler`` (Q, log Q) each batch draws its shared negatives from Q (torch's
        seeded generator, so a fit stays reproducible) and trains the sampled softmax.
        """
        assert self.net is not None
        cfg, net = self.config, self.net
        net.train()
        window = cfg.max_len + 1  # inputs are window[:-1], targets window[1:]
        crops: list[np.ndarray] = []
        for history in histories:
            if cfg.all_windows and len(history) > window:
                # windows ending at the last item, then max_len earlier, ...: consecutive
                # windows share one item, so every transition is a target exactly once
                ends = range(len(history), 1, -cfg.max_len)
                crops.extend(history[max(0, end - window) : end] for end in ends)
            elif cfg.random_crops and len(history) > window:
                # Pick a window end uniformly among positions that give a full window, so long
                # histories contribute all of their transitions over the epochs, not only the
                # most recent max_len.
                end = int(rng.integers(window, len(history) + 1))
                crops.append(history[end - window : end])
            else:
                crops.append(history[-window:])
        tokens = torch.from_numpy(_left_pad(crops, window))  # (U, T + 1)
        lengths = np.array([len(c) for c in crops])
        total, count = 0.0, 0
        eager: Callable[..., torch.Tensor] = _token_loss if sampler is None else _sampled_token_loss
        step_loss = self._compiled_loss(sampler is not None) if cfg.compile else eager
        for rows in _length_buckets(lengths, cfg.batch_size, rng):
            width = int(lengths[rows].max())  # trim the shared left padding
            batch = tokens[torch.from_numpy(rows), -width:]  # (B, W)
            inputs, targets = batch[:, :-1], batch[:, 1:]  # (B, W - 1) each
            keep = targets != 0  # only real next items count (padding has no target)
            if sampler is None:
                loss = step_loss(net, inputs, targets)
            else:
                negatives = torch.multinomial(sampler[0], cfg.negatives, replacement=True)  # (K,)
                loss = step_loss(net, inputs, targets, negatives, sampler[1])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = int(keep.sum())
            total += float(loss.detach()) * n
            count += n
        return total / max(count, 1)

    def fold_in(self, interactions: Interactions) -> Self:
        if self.net is None:
            raise RuntimeError("SASRec is not fitted")
        self._remember(interactions)
        self._refresh_cache()  # each user's state re-read from the longer sequence
        return self

    def _compiled_loss(self, sampled: bool = False) -> Any:
        if self._compiled is None:
            # padding targets are ignored rather than indexed away: a boolean index has a
            # data-dependent shape, which would break the compiled graph
            loss = _sampled_token_loss if sampled else _padded_token_loss
            self._compiled = torch.compile(loss, dynamic=True)
        return self._compiled

    @torch.no_grad()
    def _validate(self, users: np.ndarray, items: np.ndarray) -> float:
        """Mean NDCG@k of ``items`` for ``users``, ranking all items with history masked."""
        self._refresh_cache()
        assert self._user_vectors is not None and self._item_vectors is not None
        scores = torch.from_numpy(self._user_vectors[users] @ self._item_vectors.T)  # (U, n)
        for row, u in enumerate(users):
            scores[row, torch.from_numpy(self.seen(int(u)))] = -torch.inf
        return float(ndcg_at_k(scores, torch.from_numpy(items), self.config.eval_k).mean())

    @torch.no_grad()
    def _refresh_cache(self) -> None:
        """Cache each user's last hidden state and the item embeddings, in eval mode.

        Batches have a fixed size and order, so a reloaded model reproduces them bit for bit.
        """
        assert self.net is not None
        self._user_vectors = self.encode_histories(self._seen)
        self._item_vectors = self.net.item_emb.weight[1:].detach().numpy().copy()  # (n, d)

    @torch.no_grad()
    def encode_histories(self, histories: Sequence[np.ndarray], batch: int = 256) -> np.ndarray:
        """(len(histories), d) float32: the last hidden state of each item sequence.

        Each history is item indices oldest first; the last ``max_len`` are used, left-padded,
        in eval mode. An empty history gives a zero vector (its score is 0, as in
        :meth:`score`). The rows are sorted by length and cut into batches of ``batch``, so a
        batch carries little padding; a fixed ``batch`` reproduces the fit's cache exactly.
        """
        if self.net is None:
            raise RuntimeError("SASRec is not fitted")
        self.net.eval()
        max_len = self.config.max_len
        lengths = np.minimum([len(h) for h in histories], max_len).astype(np.int64)
        order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
        order = order[lengths[order] > 0]
        vectors = np.zeros((len(histories), self.config.dim), dtype=np.float32)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            width = int(lengths[rows].max())
            tokens = torch.from_numpy(_left_pad([histories[r] for r in rows], width))  # (B, W)
            vectors[rows] = self.net.last_hidden(tokens).numpy()  # state after the last item
        return vectors

    def score_histories(
        self, histories: Sequence[np.ndarray], values: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """(len(histories), n_items) float32 scores of arbitrary sequences (``values`` unused).

        A fitted user's own history gives :meth:`score_users`.
        """
        return self.encode_histories(histories) @ self.item_vectors().T

    # ------------------------------------------------------------------------ scoring
    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        if self._user_vectors is None or self._item_vectors is None:
            raise RuntimeError("SASRec is not fitted")
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if user >= len(self._user_vectors) or not len(self.seen(user)):
            # No sequence: the model has nothing to condition on, so fall back to the empty
            # sequence's state (the position-only representation) via a zero vector score.
            return np.zeros(len(item_ids), dtype=np.float32)
        return (self._item_vectors[item_ids] @ self._user_vectors[user]).astype(np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32: the evaluation harness's batch hook."""
        if self._user_vectors is None or self._item_vectors is None:
            raise RuntimeError("SASRec is not fitted")
        users = np.asarray(users, dtype=np.int64)
        out = np.zeros((len(users), self.n_items), dtype=np.float32)
        known = np.array(
            [u < len(self._user_vectors) and len(self.seen(int(u))) > 0 for u in users]
        )
        if known.any():
            out[known] = self._user_vectors[users[known]] @ self._item_vectors.T
        return out

    def user_vectors(self) -> np.ndarray:
        """(n_users, d) cached sequence representations (for hybrids and ANN indexes)."""
        if self._user_vectors is None:
            raise RuntimeError("SASRec is not fitted")
        return self._user_vectors

    def item_vectors(self) -> np.ndarray:
        """(n_items, d) output item embeddings."""
        if self._item_vectors is None:
            raise RuntimeError("SASRec is not fitted")
        return self._item_vectors

    # ------------------------------------------------------------------- persistence
    def save(self, path: Path) -> None:
        """One torch file: state_dict, config JSON, fitted histories (no pickled classes)."""
        if self.net is None:
            raise RuntimeError("SASRec is not fitted")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lengths = np.array([len(h) for h in self._seen], dtype=np.int64)
        flat = np.concatenate(self._seen) if self._seen else np.empty(0, dtype=np.int64)
        payload: dict[str, Any] = {
            "format": "sasrec/1",
            "config": json.dumps(asdict(self.config)),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "best_epoch": self.best_epoch_,
            "history": json.dumps(self.history_),
            "state_dict": self.net.state_dict(),
            "seen_items": torch.from_numpy(flat.astype(np.int64)),
            "seen_lengths": torch.from_numpy(lengths),
        }
        torch.save(payload, path)

    @classmethod
    def load(cls, path: Path) -> Self:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        if payload.get("format") != "sasrec/1":
            raise TypeError(f"{path} is not a saved SASRec model")
        model = cls(SASRecConfig(**json.loads(payload["config"])))
        model.n_users, model.n_items = int(payload["n_users"]), int(payload["n_items"])
        model.best_epoch_ = int(payload["best_epoch"])
        model.history_ = json.loads(payload["history"])
        bounds = np.r_[0, np.cumsum(payload["seen_lengths"].numpy())]
        flat = payload["seen_items"].numpy()
        model._seen = [flat[bounds[u] : bounds[u + 1]] for u in range(model.n_users)]
        torch.set_num_threads(model.config.threads)
        model.net = _SASRecNet(model.n_items, model.config)
        model.net.load_state_dict(payload["state_dict"])
        model._refresh_cache()
        return model


# What the registry builds and tunes from; tests swap in a tiny config.
DEFAULTS = SASRecConfig()


def config_from(hparams: Mapping[str, Any], seed: int) -> SASRecConfig:
    """A config from registry hparams over :data:`DEFAULTS`; hparams may override the seed."""
    return config_with(DEFAULTS, hparams, seed)


def model_spec() -> ModelSpec:
    return early_stopping_spec(
        "sasrec",
        SASRec,
        config_from,
        baseline=True,  # the field's standard sequential baseline: the hybrid must beat it
        summary="causal self-attention over the item sequence, full-softmax CE (sampled, "
        f"logQ-corrected, above {SAMPLED_SOFTMAX_ABOVE:,} items), early stopping",
    )
