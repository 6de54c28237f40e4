"""Generative recommendation over semantic IDs (TIGER-style, decoder-only, trained from scratch).

Items are IDs of ``levels`` codes plus a collision code (:mod:`recommender.semantic_ids`),
quantised from the item's text vector (MiniLM, as the dense model), optionally fused with a
collaborative vector as LETTER does (``cf_weight``; a new item's collaborative part is
predicted from its text by ridge regression, so it can still get an ID).

The network reads the history as items whose input embedding is the sum of their codes'
embeddings (no per-item embedding table: an item the network never saw is made of codes it
did see), runs causal self-attention blocks (SASRec's), and from the last state *generates*
the next item's ID code by code::

    s0 = h;  P(c1 | h) = softmax(s0 . E1);  s1 = step1(s0, c1);  P(c2 | h, c1) = softmax(s1 . E2)

``E_l`` are the code embeddings of level ``l`` (tied with the input side), ``step`` a residual
update (embedding of the chosen code, LayerNorm, MLP). Training is teacher-forced
cross-entropy on every code of every next item at every position. The collision code is not
generated: items that share all content codes split their prefix's probability equally, so a
newly added item (whose collision code the network never saw) is not penalised for it.

- :meth:`SemanticRec.score` is the log-likelihood of each item's ID plus log n_items (the
  log-lift over a uniform pick), computed for all items at once over the trie of prefixes
  (exact, no beam): what the harness, hybrids and the web
  app's stored lists rank by.
- :meth:`SemanticRec.generate` is trie-constrained beam search: at each level only codes that
  lead to an active item outside the user's history survive, so every decoded ID is a real,
  recommendable item. ``constrained=False`` decodes freely and reports how many IDs are valid.
- :meth:`SemanticRec.add_items` gives new items IDs from their text with the fitted
  quantiser and makes them scorable and decodable at once: no retraining.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.models.sasrec import _Block, _left_pad, _length_buckets, ndcg_at_k
from recommender.registry import ModelSpec, config_with, early_stopping_spec
from recommender.semantic_ids import CodeTrie, ResidualQuantizer, code_stats, with_collision_level
from recommender.split import Split

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) float32, rows L2-normalised


@dataclass(frozen=True)
class SemanticConfig:
    # -- the item tokenizer
    levels: int = 3  # content code levels (the ID has one more: the collision code)
    codebook_size: int = 64  # codes per level
    kmeans_iters: int = 30
    # LETTER-style fusion: the quantised vector is [sqrt(1-w) text, sqrt(w) collaborative],
    # the collaborative part from a truncated SVD of the training interactions. 0 = text only.
    cf_weight: float = 0.9  # chosen on ML-100K validation over 0 and 0.5 (docs/accuracy.md)
    cf_dim: int = 32
    model: str = "packaged:all-minilm-l6-v2"  # text encoder (see recommender.encoders)
    cache_dir: str | None = None
    # -- the sequence model
    max_len: int = 50  # history window (items)
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 200  # upper bound; tune() replaces it by the best validation epoch
    patience: int = 5
    eval_k: int = 10
    beam: int = 20  # beam width of generate() / recommend()
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ValueError(f"dim={self.dim} must be divisible by n_heads={self.n_heads}")
        if not 0.0 <= self.cf_weight < 1.0:
            raise ValueError("cf_weight must be in [0, 1)")


class _SemanticNet(nn.Module):
    def __init__(self, cfg: SemanticConfig, n_collision: int) -> None:
        super().__init__()
        d, k = cfg.dim, cfg.codebook_size
        self.levels = cfg.levels
        self.max_len = cfg.max_len
        self.codes = nn.ModuleList(nn.Embedding(k, d) for _ in range(cfg.levels))
        self.collision = nn.Embedding(n_collision, d)
        self.pos_emb = nn.Embedding(cfg.max_len, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            _Block(d, cfg.n_heads, cfg.dropout, 0.0) for _ in range(cfg.n_layers)
        )
        self.ln_f = nn.LayerNorm(d)
        # the decoder's update after emitting a code of level l (l < levels - 1)
        self.step_emb = nn.ModuleList(nn.Embedding(k, d) for _ in range(cfg.levels - 1))
        self.step_ln = nn.ModuleList(nn.LayerNorm(d) for _ in range(cfg.levels - 1))
        self.step_mlp = nn.ModuleList(
            nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
            for _ in range(cfg.levels - 1)
        )
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def item_inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """(..., levels + 1) IDs -> (..., d): the sum of the codes' embeddings."""
        x = sum(self.codes[level](ids[..., level]) for level in range(self.levels))
        limit = self.collision.num_embeddings - 1  # collision codes past the table share its last
        return x + self.collision(ids[..., self.levels].clamp(max=limit))  # type: ignore[return-value]

    def hidden(self, tokens: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """(B, T) left-padded item tokens (item + 1; 0 = padding) -> (B, T, d)."""
        t = tokens.shape[1]
        real = (tokens != 0)[..., None]
        x = self.item_inputs(table[tokens]) * real * math.sqrt(self.pos_emb.embedding_dim)
        pos = torch.arange(self.max_len - t, self.max_len)
        x = self.drop(x + self.pos_emb(pos))
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        mask = (causal & (tokens != 0)[:, None, None, :]) | torch.eye(t, dtype=torch.bool)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)

    def level_logits(self, state: torch.Tensor, level: int) -> torch.Tensor:
        """(..., d) -> (..., K) logits of level ``level``'s code."""
        table = self.codes[level]
        assert isinstance(table, nn.Embedding)
        return state @ table.weight.T

    def advance(self, state: torch.Tensor, level: int, code: torch.Tensor) -> torch.Tensor:
        """The decoder state after emitting ``code`` at ``level``: (..., d), (...) -> (..., d)."""
        state = self.step_ln[level](state + self.step_emb[level](code))
        return state + self.step_mlp[level](state)

    def id_loss(
        self, state: torch.Tensor, target: torch.Tensor, masks: list[torch.Tensor]
    ) -> torch.Tensor:
        """Teacher-forced NLL of the content codes: (N, d) states, (N, levels + 1) IDs and per
        level (N, K) the codes that exist after the target's prefix -> (N,).

        The softmax at each level runs over the codes that exist after the prefix (the
        trie's children), as decoding does: a code never seen after this prefix is not
        pushed down, so a new item whose ID opens a new branch keeps the probability its
        code embedding earns elsewhere.
        """
        loss = torch.zeros(len(state))
        for level in range(self.levels):
            logits = self.level_logits(state, level).masked_fill(~masks[level], -torch.inf)
            loss = loss + F.cross_entropy(logits, target[:, level], reduction="none")
            if level < self.levels - 1:
                state = self.advance(state, level, target[:, level])
        return loss


class _PrefixTree:
    """Index arrays for scoring every item at once: the distinct prefixes of each length."""

    def __init__(self, ids: np.ndarray, levels: int, codebook_size: int) -> None:
        content = ids[:, :levels]
        self.item_prefix: list[np.ndarray] = []  # per level l: (n_items,) row of the l-prefix
        self.parent: list[np.ndarray] = []  # per level l >= 1: (P_l,) row of the (l-1)-prefix
        self.last_code: list[np.ndarray] = []  # per level l >= 1: (P_l,) the prefix's last code
        self.item_prefix.append(np.zeros(len(ids), dtype=np.int64))
        for level in range(1, levels):
            uniq, inverse = np.unique(content[:, :level], axis=0, return_inverse=True)
            first = np.zeros(len(uniq), dtype=np.int64)
            first[inverse.ravel()[::-1]] = np.arange(len(ids))[::-1]  # an item under each
            self.item_prefix.append(inverse.ravel().astype(np.int64))
            self.parent.append(self.item_prefix[level - 1][first])
            self.last_code.append(uniq[:, level - 1].astype(np.int64))
        # items sharing all content codes split their prefix's probability
        _, inverse, counts = np.unique(content, axis=0, return_inverse=True, return_counts=True)
        self.log_share = -np.log(counts[inverse.ravel()]).astype(np.float32)
        # per level (P_l, K): which codes exist after each prefix; and prefix -> row
        self.children: list[torch.Tensor] = []
        self.row_of: list[dict[tuple[int, ...], int]] = []
        for level in range(levels):
            rows = self.item_prefix[level]
            mask = np.zeros((int(rows.max()) + 1 if len(rows) else 1, codebook_size), dtype=bool)
            mask[rows, content[:, level]] = True
            self.children.append(torch.from_numpy(mask))
            self.row_of.append(
                {
                    tuple(p): int(r)
                    for p, r in zip(content[:, :level].tolist(), rows.tolist(), strict=True)
                }
            )

    def masks(self, items: torch.Tensor) -> list[torch.Tensor]:
        """Per level (N, K): the codes that exist after each item's prefix of that level."""
        return [
            self.children[level][torch.from_numpy(self.item_prefix[level])[items]]
            for level in range(len(self.children))
        ]


def _fuse(text: np.ndarray, cf: np.ndarray | None, weight: float) -> np.ndarray:
    """[sqrt(1-w) text, sqrt(w) cf] with unit-norm parts: a unit vector when both are."""
    if cf is None or weight == 0.0:
        return text
    return np.hstack([math.sqrt(1 - weight) * text, math.sqrt(weight) * cf])


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


class SemanticRec(Ranker):
    name = "semantic"
    can_fold_in = True

    def __init__(self, config: SemanticConfig | None = None, embed: Embed | None = None) -> None:
        super().__init__()
        self.config = config or SemanticConfig()
        self._embed = embed
        self.quantizer = ResidualQuantizer(
            self.config.levels,
            self.config.codebook_size,
            self.config.kmeans_iters,
            self.config.seed,
        )
        self.ids = np.zeros((0, self.config.levels + 1), dtype=np.int64)  # (n_items, L + 1)
        self.cf_from_text: np.ndarray | None = None  # (d_text, cf_dim) ridge map for new items
        self.net: _SemanticNet | None = None
        self.trie: CodeTrie | None = None
        self.history_: list[dict[str, float]] = []
        self.best_epoch_ = 0
        self._tree: _PrefixTree | None = None
        self._table = torch.zeros(1, self.config.levels + 1, dtype=torch.long)
        self._user_vectors: np.ndarray | None = None

    @property
    def embed(self) -> Embed:
        if self._embed is None:
            from recommender.models.dense import DenseConfig, default_embed

            self._embed = default_embed(
                DenseConfig(model=self.config.model, cache_dir=self.config.cache_dir)
            )
        return self._embed

    # ------------------------------------------------------------------- the tokenizer
    def _cf_vectors(self, interactions: Interactions) -> np.ndarray:
        """(n_items, cf_dim) unit item factors: the top eigenvectors of the item co-occurrence
        matrix scaled by sqrt(eigenvalue), i.e. a truncated SVD of the binary matrix.

        A dense eigendecomposition (n_items^3: seconds for a few thousand items) rather than
        an iterative one, so two fits give the same IDs; each factor's sign is fixed by its
        largest entry.
        """
        x = interactions.to_csr(binary=True).astype(np.float64)  # (users, items)
        gram = (x.T @ x).toarray()  # (items, items)
        values, vectors = np.linalg.eigh(gram)  # ascending
        k = max(1, min(self.config.cf_dim, len(values)))
        values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
        factors = vectors * np.sqrt(np.maximum(values, 0.0))
        biggest = np.abs(factors).argmax(0)
        factors *= np.where(factors[biggest, np.arange(k)] < 0, -1.0, 1.0)
        return _unit(factors)

    def _fit_tokenizer(self, interactions: Interactions, catalogue: Catalogue) -> None:
        text = _unit(np.asarray(self.embed(catalogue.texts()), dtype=np.float64))
        if len(text) != interactions.n_items:
            raise ValueError(f"catalogue has {len(text)} items, data {interactions.n_items}")
        cf = None
        if self.config.cf_weight > 0:
            cf = self._cf_vectors(interactions)
            rated = np.bincount(interactions.items, minlength=len(text)) > 0
            # ridge text -> cf on the items that have interactions: a new item's cf part
            a, b = text[rated], cf[rated]
            self.cf_from_text = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ b)
            cf[~rated] = _unit(text[~rated] @ self.cf_from_text)
        vectors = _fuse(text, cf, self.config.cf_weight)
        self.quantizer.fit(vectors)
        self._set_ids(with_collision_level(self.quantizer.encode(vectors)))

    def _set_ids(self, ids: np.ndarray) -> None:
        self.ids = ids
        self._tree = _PrefixTree(ids, self.config.levels, self.config.codebook_size)
        pad = np.zeros((1, ids.shape[1]), dtype=np.int64)
        self._table = torch.from_numpy(np.vstack([pad, ids]))  # row 0: padding
        active = self.trie.active if self.trie is not None else np.ones(0, bool)
        self.trie = CodeTrie(ids, np.r_[active, np.ones(len(ids) - len(active), bool)])

    def code_stats(self) -> dict[str, object]:
        return code_stats(self.ids, self.config.codebook_size)

    def add_items(self, texts: Sequence[str]) -> np.ndarray:
        """IDs for new items from their text (the fitted quantiser; nothing retrained).

        Returns their indices (``n_items`` .. ``n_items + len(texts) - 1``): from now on they
        are scored, decoded and recommended like every other item.
        """
        if self.net is None:
            raise RuntimeError("SemanticRec is not fitted")
        if not texts:
            return np.zeros(0, dtype=np.int64)
        text = _unit(np.asarray(self.embed(list(texts)), dtype=np.float64))
        cf = _unit(text @ self.cf_from_text) if self.cf_from_text is not None else None
        codes = self.quantizer.encode(_fuse(text, cf, self.config.cf_weight))
        new = with_collision_level(codes, taken=map(tuple, self.ids.tolist()))
        first = self.n_items
        self._set_ids(np.vstack([self.ids, new]))
        self.n_items = len(self.ids)
        return np.arange(first, self.n_items, dtype=np.int64)

    def retire(self, item: int) -> None:
        """Take ``item`` out of decoding (the trie); its score stays defined."""
        assert self.trie is not None
        self.trie.retire(item)

    def restore(self, item: int) -> None:
        assert self.trie is not None
        self.trie.restore(item)

    def set_active(self, active: np.ndarray) -> None:
        """The trie holds exactly the items where ``active`` (n_items,) is True."""
        assert self.trie is not None
        for item, on in enumerate(np.asarray(active, dtype=bool).tolist()):
            (self.trie.restore if on else self.trie.retire)(item)

    # -------------------------------------------------------------------- training
    @classmethod
    def tune_model(
        cls,
        split: Split,
        catalogue: Catalogue,
        config: SemanticConfig | None = None,
        embed: Embed | None = None,
    ) -> SemanticRec:
        """Fit on ``split.train``, early-stopping on the validation items; the returned
        model's config trains for the best epoch count."""
        model = cls(config, embed).fit(
            split.train, catalogue, validation=(split.users, split.valid_items)
        )
        model.config = replace(model.config, epochs=max(model.best_epoch_, 1))
        return model

    def fit(
        self,
        interactions: Interactions,
        catalogue: Catalogue,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Self:
        cfg = self.config
        torch.set_num_threads(cfg.threads)
        self._remember(interactions)
        self.trie = None
        start = time.perf_counter()
        self._fit_tokenizer(interactions, catalogue)
        log.info("semantic IDs in %.1f s: %s", time.perf_counter() - start, self.code_stats())
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        n_collision = max(int(self.ids[:, -1].max()) + 1, 2)
        self.net = _SemanticNet(cfg, n_collision)
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        histories = [h for h in self._seen if len(h) >= 2]
        best, best_state, stale = -1.0, None, 0
        self.history_ = []
        for epoch in range(1, cfg.epochs + 1):
            began = time.perf_counter()
            loss = self._train_epoch(histories, opt, rng)
            row = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - began}
            if validation is not None:
                row["ndcg"] = ndcg = self._validate(*validation)
                if ndcg > best:
                    best, stale, self.best_epoch_ = ndcg, 0, epoch
                    best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
                else:
                    stale += 1
            self.history_.append(row)
            log.info("semantic epoch %s", row)
            if validation is not None and stale >= cfg.patience:
                break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        else:
            self.best_epoch_ = len(self.history_)
        self._refresh_cache()
        return self

    def _train_epoch(
        self, histories: list[np.ndarray], opt: torch.optim.Optimizer, rng: np.random.Generator
    ) -> float:
        assert self.net is not None
        net, tree, window = self.net, self._tree, self.config.max_len + 1
        assert tree is not None
        net.train()
        crops = []
        for history in histories:  # a random full window of a long history, as SASRec
            end = (
                int(rng.integers(window, len(history) + 1))
                if len(history) > window
                else len(history)
            )
            crops.append(history[max(0, end - window) : end])
        tokens = torch.from_numpy(_left_pad(crops, window))
        lengths = np.array([len(c) for c in crops])
        total, count = 0.0, 0
        for rows in _length_buckets(lengths, self.config.batch_size, rng):
            batch = tokens[torch.from_numpy(rows), -int(lengths[rows].max()) :]
            inputs, targets = batch[:, :-1], batch[:, 1:]
            keep = targets != 0
            state = net.hidden(inputs, self._table)[keep]  # (N, d)
            items = targets[keep] - 1
            loss = net.id_loss(state, self._table[targets[keep]], tree.masks(items)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * int(keep.sum())
            count += int(keep.sum())
        return total / max(count, 1)

    @torch.no_grad()
    def _validate(self, users: np.ndarray, items: np.ndarray) -> float:
        self._refresh_cache()
        scores = torch.from_numpy(self.score_users(users))
        for row, u in enumerate(users):
            scores[row, torch.from_numpy(self.seen(int(u)))] = -torch.inf
        return float(ndcg_at_k(scores, torch.from_numpy(items), self.config.eval_k).mean())

    def fold_in(self, interactions: Interactions) -> Self:
        if self.net is None:
            raise RuntimeError("SemanticRec is not fitted")
        self._remember(interactions)
        self.n_items = len(self.ids)
        self._refresh_cache()
        return self

    @torch.no_grad()
    def encode_histories(self, histories: Sequence[np.ndarray], batch: int = 256) -> np.ndarray:
        """(len(histories), d) the last state of each item sequence (zeros when empty)."""
        assert self.net is not None
        self.net.eval()
        lengths = np.minimum([len(h) for h in histories], self.config.max_len).astype(np.int64)
        order = np.argsort(lengths, kind="stable")
        order = order[lengths[order] > 0]
        out = np.zeros((len(histories), self.config.dim), dtype=np.float32)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            tokens = torch.from_numpy(
                _left_pad([histories[r] for r in rows], int(lengths[rows].max()))
            )
            out[rows] = self.net.hidden(tokens, self._table)[:, -1].numpy()
        return out

    def _refresh_cache(self) -> None:
        self._user_vectors = self.encode_histories(self._seen)

    # ---------------------------------------------------------------------- scoring
    @torch.no_grad()
    def _log_likelihood(self, states: np.ndarray) -> np.ndarray:
        """(B, d) decoder start states -> (B, n_items) log P(item's ID), every item exactly."""
        assert self.net is not None and self._tree is not None
        net, tree, ids = self.net, self._tree, torch.from_numpy(self.ids)
        net.eval()
        state = torch.from_numpy(states)[:, None, :]  # (B, 1, d): the root prefix
        total = torch.zeros(len(states), len(self.ids))
        for level in range(self.config.levels):
            logits = net.level_logits(state, level)  # (B, P_l, K)
            logp = F.log_softmax(logits.masked_fill(~tree.children[level], -torch.inf), dim=-1)
            rows = torch.from_numpy(tree.item_prefix[level])
            total += logp[:, rows, ids[:, level]]
            if level + 1 < self.config.levels:
                parent = torch.from_numpy(tree.parent[level])
                code = torch.from_numpy(tree.last_code[level])
                state = net.advance(state[:, parent], level, code)  # (B, P_{l+1}, d)
        # + log n_items: the log of how much likelier than a uniform pick (a constant, so the
        # ranking is the likelihood's; positive for the films a list leads with, which is how
        # a score part reads as a reason in an explanation)
        return (total + torch.from_numpy(tree.log_share)).numpy() + math.log(len(self.ids))

    def score_users(self, users: np.ndarray, batch: int = 128) -> np.ndarray:
        """(len(users), n_items) float32 log-likelihoods; a user with no history scores 0."""
        if self._user_vectors is None:
            raise RuntimeError("SemanticRec is not fitted")
        users = np.asarray(users, dtype=np.int64)
        out = np.zeros((len(users), len(self.ids)), dtype=np.float32)
        known = np.flatnonzero(
            [u < len(self._user_vectors) and len(self.seen(int(u))) > 0 for u in users]
        )
        for start in range(0, len(known), batch):
            rows = known[start : start + batch]
            out[rows] = self._log_likelihood(self._user_vectors[users[rows]])
        return out

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        return self.score_users(np.array([user]))[0, np.asarray(item_ids, dtype=np.int64)]

    def score_histories(
        self, histories: Sequence[np.ndarray], values: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """(len(histories), n_items) scores of arbitrary sequences (``values`` unused)."""
        states = self.encode_histories(histories)
        out = np.zeros((len(histories), len(self.ids)), dtype=np.float32)
        for start in range(0, len(states), 128):  # (B, prefixes, d) per level: bounded B
            out[start : start + 128] = self._log_likelihood(states[start : start + 128])
        out[[len(h) == 0 for h in histories]] = 0.0
        return out

    # --------------------------------------------------------------------- decoding
    @torch.no_grad()
    def generate(
        self,
        user: int,
        n: int = 10,
        beam: int | None = None,
        exclude: np.ndarray | None = None,
        constrained: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """Beam search over the ID's codes: (items, log-likelihoods, counts), best first.

        Constrained, only codes leading to an active item outside the history and
        ``exclude`` survive each level (the trie), so every beam ends on such items.
        Unconstrained, the beams are free and ``counts`` says how many of the decoded
        content-code IDs name an active item ("valid") and how many of those are also
        recommendable ("new to the user"); only those are returned.
        """
        assert self.net is not None and self.trie is not None and self._user_vectors is not None
        assert self._tree is not None
        net, tree, levels, k = self.net, self._tree, self.config.levels, self.config.codebook_size
        beam = beam or self.config.beam
        blocked_items = {int(i) for i in self.seen(user)}
        if exclude is not None:
            blocked_items |= {int(i) for i in np.asarray(exclude).tolist()}
        blocked = self.trie.prefix_counts(blocked_items) if constrained else None
        net.eval()
        if user < len(self._user_vectors) and len(self.seen(user)):
            start = self._user_vectors[user]
        else:
            start = np.zeros(self.config.dim, np.float32)
        state = torch.from_numpy(start)[None]  # (beams, d)
        prefixes: list[tuple[int, ...]] = [()]
        scores = torch.zeros(1)
        for level in range(levels):
            logits = net.level_logits(state, level)  # (beams, K)
            if constrained:
                # the model's distribution over the codes that exist after each prefix (what
                # score() computes), then only those still leading to an allowed item
                rows = torch.tensor([tree.row_of[level][p] for p in prefixes])
                logp = F.log_softmax(
                    logits.masked_fill(~tree.children[level][rows], -torch.inf), dim=-1
                )
                mask = np.stack([self.trie.children_mask(p, k, blocked) for p in prefixes])
                logp = logp.masked_fill(~torch.from_numpy(mask), -torch.inf)
            else:
                logp = F.log_softmax(logits, dim=-1)
            total = (scores[:, None] + logp).flatten()
            keep = min(beam, int(torch.isfinite(total).sum()))
            best = torch.topk(total, keep).indices
            rows, codes = best // k, best % k
            scores = total[best]
            prefixes = [
                (*prefixes[r], int(c)) for r, c in zip(rows.tolist(), codes.tolist(), strict=True)
            ]
            if level + 1 < levels:
                state = net.advance(state[rows], level, codes)
        assert self._tree is not None
        items, item_scores = [], []
        counts = {"decoded": len(prefixes), "valid": 0, "new_to_user": 0}
        for prefix, score in zip(prefixes, scores.tolist(), strict=True):
            under = self.trie.items_under(prefix)
            counts["valid"] += bool(under)
            fresh = [i for i in under if i not in blocked_items]
            counts["new_to_user"] += bool(fresh)
            for item in fresh:
                items.append(item)
                item_scores.append(score + float(tree.log_share[item]) + math.log(len(self.ids)))
        order = (
            np.lexsort((np.array(items), -np.array(item_scores)))[:n]
            if items
            else np.zeros(0, np.int64)
        )
        return (
            np.array(items, dtype=np.int64)[order],
            np.array(item_scores, dtype=np.float32)[order],
            counts,
        )

    def recommend(
        self, user: int, n: int = 10, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The generative path (trie-constrained beam search) when ``n`` fits in the beam,
        else every item ranked by its exact likelihood, as the base class does."""
        if n <= self.config.beam:
            items, scores, _ = self.generate(user, n, exclude=exclude)
            return items, scores
        return super().recommend(user, n, exclude)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        """One torch file of tensors and JSON (no pickled classes)."""
        if self.net is None or self.trie is None:
            raise RuntimeError("SemanticRec is not fitted")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        flat = np.concatenate(self._seen) if self._seen else np.empty(0, dtype=np.int64)
        payload: dict[str, Any] = {
            "format": "semantic/1",
            "config": json.dumps(asdict(self.config)),
            "n_users": self.n_users,
            "best_epoch": self.best_epoch_,
            "history": json.dumps(self.history_),
            "state_dict": self.net.state_dict(),
            "ids": torch.from_numpy(self.ids),
            "active": torch.from_numpy(self.trie.active.copy()),
            "codebooks": [torch.from_numpy(c) for c in self.quantizer.codebooks],
            "cf_from_text": None
            if self.cf_from_text is None
            else torch.from_numpy(self.cf_from_text),
            "seen_items": torch.from_numpy(flat.astype(np.int64)),
            "seen_lengths": torch.from_numpy(np.array([len(h) for h in self._seen], np.int64)),
        }
        torch.save(payload, path)

    @classmethod
    def load(cls, path: Path, embed: Embed | None = None) -> Self:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        if payload.get("format") != "semantic/1":
            raise TypeError(f"{path} is not a saved SemanticRec model")
        model = cls(SemanticConfig(**json.loads(payload["config"])), embed)
        torch.set_num_threads(model.config.threads)
        model.n_users = int(payload["n_users"])
        model.best_epoch_ = int(payload["best_epoch"])
        model.history_ = json.loads(payload["history"])
        model.quantizer.codebooks = [c.numpy() for c in payload["codebooks"]]
        cf = payload["cf_from_text"]
        model.cf_from_text = None if cf is None else cf.numpy()
        model._set_ids(payload["ids"].numpy())
        assert model.trie is not None
        for item in np.flatnonzero(~payload["active"].numpy()):
            model.trie.retire(int(item))
        model.n_items = len(model.ids)
        bounds = np.r_[0, np.cumsum(payload["seen_lengths"].numpy())]
        flat = payload["seen_items"].numpy()
        model._seen = [flat[bounds[u] : bounds[u + 1]] for u in range(model.n_users)]
        n_collision = payload["state_dict"]["collision.weight"].shape[0]
        model.net = _SemanticNet(model.config, n_collision)
        model.net.load_state_dict(payload["state_dict"])
        model._refresh_cache()
        return model


# What the registry builds and tunes from; tests swap in a tiny config.
DEFAULTS = SemanticConfig()


def config_from(hparams: Mapping[str, Any], seed: int) -> SemanticConfig:
    return config_with(DEFAULTS, hparams, seed)


def model_spec() -> ModelSpec:
    return early_stopping_spec(
        "semantic",
        SemanticRec,
        config_from,
        summary="generative: semantic IDs (residual k-means of text + collaborative vectors), "
        "trie-constrained beam decoding; new items recommendable from their text",
    )
