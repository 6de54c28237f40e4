"""Occlusion evidence: which history items drive each component's part of a score, and by how much.

A hybrid component with raw scores ``r`` (n_items,), computed from the user's history H, adds
the part ``p_i = w (r_i - mean_U r) / std_U r`` to item i's score, U being the items the user
has not seen (:func:`recommender.models.hybrid.normalise`). The *share* of a history item h is
what removing h (every occurrence of it) from H does to that part::

    share(h, i) = p_i(H) - p_i(H without h)

with the occluded scores normalised like the served ones: same weight, mean and std over the
same U (h stays masked as seen). That is exactly what :meth:`Hybrid.components_from_history`
recomputes, so removing one cited item lowers its role's part by exactly its share; removing
several at once is what the deletion tests measure (ML-100K, 200 users x top 10, k = 3: the
part dropped for 100% of collaborative, 98.3% of sequential and 100% of text citations;
``bench/attribution_bench.py``).

``hold_std=True`` gives the variant that keeps the full history's std,
``w ((r_i - r^{-h}_i) - mean_U(r - r^{-h})) / std_U r``: additive for EASE, but it credits
evidence whose removal shrinks the spread of the scores as much as the item's lead, which
leaves the z-score where it was. Removing such citations then often fails to lower the part:
86.7% for sequential on ML-100K, 72% for text on the tiny test hybrid.

A model served on its own reports raw scores (:func:`recommender.serving.component_scores`), so
there a share is ``r_i - r^{-h}_i``. Every share comes from the model that produced the score,
by exact occlusion, never a linear approximation:

- collaborative (EASE, ``r = x B`` with x binary): ``r^{-h} = r - B[h]``, free.
- text (DenseText, ``r = V u(H)``, u the normalised recency/rating-weighted mean of the history
  item vectors): every ``u^{-h}`` of a user from one (m, L) @ (L, d) product
  (:meth:`DenseText.encode_without`). A user's written text vector (``user_text_vectors``) is
  not history and is left out (no user has one in the app today).
- sequential (SASRec, ``r = E s(H)``, s the last hidden state): one forward pass per occluded
  sequence, all users' sequences batched. Only the distinct items among the newest ``last``
  positions are occluded: each costs a pass, and recent items carry the sequential signal.
  Where no single film lowers an item's part, a few groups of 2 or 3 films are occluded
  together (:func:`role_shares`), and the fewest that lower it are its evidence, under
  :func:`together` of the role: removing them all lowers the part by their joint share.

For the two vector models the mean and std over U need no (n_items,) score rows: with
``G = V^T V``, ``mean_U(V s) = mean_U(V) . s`` and ``mean_U((V s)^2) = (s G s - |V_S s|^2) / |U|``
(S the seen items), so each occluded state costs O(d^2), not O(n_items d).

- generative (the semantic-ID model, ``r`` = each item's ID log-likelihood after H): the same
  occluded sequences as SASRec, each scored exactly over the prefix tree.

Only EASE, DenseText, SASRec and the semantic-ID model (alone or inside a :class:`Hybrid`)
are attributable; other models (popularity, item kNN, ALS, BPR) get empty dictionaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, TypeGuard

import numpy as np
from threadpoolctl import threadpool_limits

from recommender.base import Ranker
from recommender.harness import score_users

if TYPE_CHECKING:
    from recommender.models.sasrec import SASRec
    from recommender.models.semantic import SemanticRec

# role -> up to k (history item index, share > 0), largest share first; and, under
# together(role), the films whose removal only together lowers a part no single one lowers,
# each paired with that joint drop
Attribution = dict[str, list[tuple[int, float]]]
TOGETHER = ":together"


def together(role: str) -> str:
    """The key of ``role``'s joint evidence in an :data:`Attribution` ("sequential:together")."""
    return role + TOGETHER


# How many of the newest positions the sequence models occlude: each costs one pass per user.
# At 20, 300 of 9,430 ML-100K cards had a sequential part no single film lowered (the part
# came from films further back), so their sentence could name no film for it; at 50, 116
# (`python -m explanations.evaluate`, the served hybrid; 1.6x the attribution time).
NEWEST = 50
Shares = list[list[tuple[int, float]]]  # one user: per candidate item, its (item, share) pairs


@dataclass(frozen=True)
class Occlusion:
    """One user's raw scores with nothing removed (row 0) and each removable item removed.

    Statistics are over the items the user has not seen (the full history), as in serving.
    """

    removed: np.ndarray  # (m,) history item indices, sorted
    at_items: np.ndarray  # (1 + m, c) float64 raw scores of the candidate items
    mean: np.ndarray  # (1 + m,) mean raw score over the unseen items
    std: np.ndarray  # (1 + m,) std of the raw scores over the unseen items


def attribute(
    model: Ranker,
    users: np.ndarray,
    items: Sequence[np.ndarray],
    k: int = 3,
    last: int = NEWEST,
) -> list[list[Attribution]]:
    """Per user, per item of ``items[row]``: role -> up to ``k`` (history item, share > 0).

    A :class:`Hybrid` answers per role (:meth:`Hybrid.attribute`); EASE, DenseText, SASRec or
    the semantic-ID model served alone answer under their own name, in raw score units; any
    other model returns ``{}`` for every item. ``last``: how many of the newest positions the
    sequence models occlude.
    """
    from recommender.models.hybrid import Hybrid

    if isinstance(model, Hybrid):
        return model.attribute(users, items, k=k, last=last)
    if not attributable(model):
        return [[{} for _ in row] for row in items]
    shares, joint = role_shares(model, users, items, k=k, last=last, zscore=False, with_joint=True)
    name = model.name
    return [
        [{name: p, **({together(name): g} if g else {})} for p, g in zip(r, j, strict=True)]
        for r, j in zip(shares, joint, strict=True)
    ]


def attributable(model: Ranker) -> bool:
    """Whether :func:`component_shares` can read ``model`` (EASE, DenseText, SASRec or the
    semantic-ID model)."""
    from recommender.models.dense import DenseText
    from recommender.models.ease import EASE

    if isinstance(model, EASE | DenseText):
        return True
    # these import torch: only once the cheap checks fail
    from recommender.models.sasrec import SASRec
    from recommender.models.semantic import SemanticRec

    return isinstance(model, SASRec | SemanticRec)


def parts_from_history(
    model: Ranker, history: np.ndarray, seen: np.ndarray, values: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """role -> (n_items,) float64 part of each component, rescored from an arbitrary history.

    The same units as :func:`recommender.serving.component_scores`: a Hybrid's weighted,
    normalised parts (statistics over the items ``seen`` leaves out, an (n_items,) bool mask,
    normally the user's full original history), or a lone model's raw scores (``seen``
    unused). ``values``: ratings aligned with ``history`` (only DenseText uses them).
    """
    from recommender.models.hybrid import Hybrid

    if isinstance(model, Hybrid):
        return model.components_from_history(history, seen, values)
    if not attributable(model):
        raise TypeError(f"{type(model).__name__} cannot score an arbitrary history")
    scorer = model.score_histories  # type: ignore[attr-defined]
    raw = scorer([history], None if values is None else [values])  # (1, n_items)
    return {model.name: np.asarray(raw[0], dtype=np.float64)}


def component_shares(
    model: Ranker,
    users: np.ndarray,
    items: Sequence[np.ndarray],
    k: int = 3,
    last: int = NEWEST,
    weight: float = 1.0,
    zscore: bool = True,
    hold_std: bool = False,
) -> list[Shares]:
    """Per user, per item of ``items[row]``: up to ``k`` (history item, share > 0), best first.

    With ``zscore`` (a hybrid component) shares are in units of the part ``weight *
    zscore(raw)``, the occluded scores renormalised (or with the full history's std, when
    ``hold_std``); without (a model served alone), in raw score units. Ties go to the lower
    item index. A user whose raw scores are constant over their unseen items has a part of 0
    everywhere, which nothing explains: no shares.
    """
    return role_shares(model, users, items, k, last, weight, zscore, hold_std)[0]


def role_shares(
    model: Ranker,
    users: np.ndarray,
    items: Sequence[np.ndarray],
    k: int = 3,
    last: int = NEWEST,
    weight: float = 1.0,
    zscore: bool = True,
    hold_std: bool = False,
    with_joint: bool = False,
) -> tuple[list[Shares], list[Shares]]:
    """(single shares as :func:`component_shares`, joint shares). With ``with_joint`` and a
    SASRec model, an item that no single film's removal lowers gets the fewest films (2 or 3)
    whose removal together does, each paired with that joint drop (:func:`_joint_shares`);
    every other item, and every other model, gets ``[]`` there."""
    users = np.asarray(users, dtype=np.int64)
    unseen = np.ones((len(users), model.n_items), dtype=bool)  # (b, n_items)
    for row, user in enumerate(users):
        unseen[row, model.seen(int(user))] = False
    out: list[Shares] = []
    lone: list[tuple[int, int, np.ndarray]] = []  # (row, column, single shares (m,))
    for row, occ in enumerate(_occlusions(model, users, items, unseen, last)):
        parts = _parts(occ, weight, zscore, hold_std)  # (1 + m, c)
        if parts is None:
            out.append([[] for _ in items[row]])
            continue
        shares = parts[0][None, :] - parts[1:]  # (m, c)
        out.append(_top_pairs(occ.removed, shares, k))
        # a part at or below 0 is no reason for the item, so nothing is sought to explain it
        lone += [
            (row, col, shares[:, col])
            for col, p in enumerate(out[-1])
            if not p and (parts[0, col] > 0 or not zscore)
        ]
    joint: list[Shares] = [[[] for _ in row] for row in items]
    if with_joint and lone and _is_sasrec(model):
        units = (weight, zscore, hold_std)
        groups = _joint_shares(model, users, items, unseen, lone, last, units)
        for (row, col), pairs in groups.items():
            joint[row][col] = pairs
    return out, joint


def _parts(occ: Occlusion, weight: float, zscore: bool, hold_std: bool) -> np.ndarray | None:
    """(1 + m, c) the part of each candidate with nothing / each item removed, in the units
    of :func:`component_shares`; None when the full history's scores are constant (a z-score
    of 0 everywhere, which nothing explains)."""
    if not zscore:
        return weight * occ.at_items
    if not occ.std[0] > 0:
        return None
    std = np.full_like(occ.std, occ.std[0]) if hold_std else occ.std  # (1 + m,)
    z = (occ.at_items - occ.mean[:, None]) / np.where(std > 0, std, 1.0)[:, None]
    return weight * np.where(std[:, None] > 0, z, 0.0)  # constant rows: 0, as served


# Films no single one of which lowers a sequential part can still lower it together (the
# model reads a sequence: with two similar films, either carries the signal when the other
# goes). On ML-100K 60 of 9,430 cards had such a part as their largest; trying pairs and
# triples of the JOINT_FROM films with the largest single shares and the newest 2 and 3
# films (12 passes per item at most) found a group for 54 (python -m explanations.evaluate).
# At most 3: a sentence names them all.
JOINT_FROM = 4
JOINT_SIZES = (2, 3)


def _is_sasrec(model: Ranker) -> TypeGuard[SASRec]:
    from recommender.models.sasrec import SASRec

    return isinstance(model, SASRec)


def _groups(
    removed: np.ndarray, single: np.ndarray, history: np.ndarray, last: int
) -> list[tuple[int, ...]]:
    """Candidate groups for one item, each a tuple of history items: pairs and triples of
    the films with the largest single shares, and the newest films (distinct, newest first)."""
    best = removed[np.argsort(-single, kind="stable")[:JOINT_FROM]].tolist()
    recent = list(dict.fromkeys(history[-last:][::-1].tolist()))
    found = [g for n in JOINT_SIZES for g in combinations(best, n)]
    found += [tuple(recent[:n]) for n in JOINT_SIZES if len(recent) >= n]
    return list(dict.fromkeys(tuple(sorted(g)) for g in found))


def _joint_shares(
    model: SASRec,
    users: np.ndarray,
    items: Sequence[np.ndarray],
    unseen: np.ndarray,
    lone: list[tuple[int, int, np.ndarray]],
    last: int,
    units: tuple[float, bool, bool],
) -> dict[tuple[int, int], list[tuple[int, float]]]:
    """(row, column) -> the chosen group's (item, joint drop) pairs, for the items in
    ``lone`` (no single film lowers their part): the fewest films whose removal together
    lowers it, then the largest drop. One batched pass over every tried sequence."""
    wanted: dict[int, dict[int, list[tuple[int, ...]]]] = {}  # row -> column -> its groups
    for row, col, single in lone:
        history = model.seen(int(users[row]))
        removed = np.unique(history[-last:])
        wanted.setdefault(row, {})[col] = _groups(removed, single, history, last)
    rows = list(wanted)
    tried = [list(dict.fromkeys(g for gs in wanted[r].values() for g in gs)) for r in rows]
    sequences = []
    for row, groups in zip(rows, tried, strict=True):
        history = model.seen(int(users[row]))
        sequences += [history, *(history[~np.isin(history, g)] for g in groups)]
    flat = model.encode_histories(sequences, batch=512)  # (sum of 1 + groups, d)
    bounds = np.r_[0, np.cumsum([1 + len(g) for g in tried])]
    states = [flat[bounds[i] : bounds[i + 1]] for i in range(len(rows))]
    cand = [np.asarray(items[row], dtype=np.int64) for row in rows]
    # the occlusions' rows are the groups here, not single items (``removed`` is not read)
    groups_as_removed = [np.arange(len(g)) for g in tried]
    occs = _vector_occlusions(model.item_vectors(), groups_as_removed, states, cand, unseen[rows])
    chosen: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for row, groups, occ in zip(rows, tried, occs, strict=True):
        parts = _parts(occ, *units)
        if parts is None:
            continue
        at = {g: j for j, g in enumerate(groups)}
        for col, mine in wanted[row].items():
            drops = [(parts[0, col] - parts[1 + at[g], col], g) for g in mine]
            lowered = [(len(g), -drop, g) for drop, g in drops if drop > 0]
            if lowered:
                _, drop, group = min(lowered)
                chosen[(row, col)] = [(int(h), float(-drop)) for h in group]
    return chosen


def _top_pairs(removed: np.ndarray, shares: np.ndarray, k: int) -> Shares:
    """Per column of ``shares`` (m, c): up to k (removed item, share > 0), largest first.

    ``removed`` is sorted, so a stable sort breaks ties by item index.
    """
    top = np.argsort(-shares, axis=0, kind="stable")[:k]  # (min(k, m), c)
    return [
        [(int(removed[j]), float(shares[j, col])) for j in top[:, col] if shares[j, col] > 0]
        for col in range(shares.shape[1])
    ]


def _occlusions(
    model: Ranker,
    users: np.ndarray,
    items: Sequence[np.ndarray],
    unseen: np.ndarray,
    last: int,
) -> list[Occlusion]:
    """Per user, the :class:`Occlusion` of each removable history item. unseen: (b, n_items)."""
    from recommender.models.dense import DenseText
    from recommender.models.ease import EASE

    cand = [np.asarray(row, dtype=np.int64) for row in items]
    if isinstance(model, EASE):
        raw = score_users(model, users).astype(np.float64)  # (b, n_items)
        out = []
        for row, user in enumerate(users):
            removed = np.unique(model.seen(int(user)))  # x is binary: each item once
            scores = raw[row] - np.vstack([np.zeros(model.n_items), model.weights[removed]])
            free = scores[:, unseen[row]]  # (1 + m, |U|)
            out.append(Occlusion(removed, scores[:, cand[row]], free.mean(1), free.std(1)))
        return out
    if isinstance(model, DenseText):
        every: list[np.ndarray] = []  # per user: all distinct history items
        states = []
        with _one_blas_thread():
            for user in users:
                history, values = model.seen(int(user)), model.seen_values(int(user))
                every.append(np.unique(history))
                full = model.encode_histories([history], [values])  # (1, d)
                without = model.encode_without(history, every[-1], values)  # (m, d)
                states.append(np.vstack([full, without]))
        return _vector_occlusions(model.item_vectors, every, states, cand, unseen)
    from recommender.models.sasrec import SASRec
    from recommender.models.semantic import SemanticRec

    if isinstance(model, SASRec):
        return _sequence_occlusions(model, users, cand, unseen, last)
    if isinstance(model, SemanticRec):
        return _likelihood_occlusions(model, users, cand, unseen, last)
    raise TypeError(f"{type(model).__name__} is not attributable")


def _occluded_sequences(
    model: Ranker, users: np.ndarray, last: int
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(removed items per user, every user's full sequence then one per removed item,
    row bounds per user). Only the distinct items among the newest ``last`` positions are
    occluded: each costs a pass, and recent items carry the sequential signal."""
    histories = [model.seen(int(u)) for u in users]
    removed = [np.unique(h[-last:]) if last > 0 else h[:0] for h in histories]
    sequences = [
        seq
        for h, r in zip(histories, removed, strict=True)
        for seq in [h, *(h[h != item] for item in r)]  # every occurrence of the item goes
    ]
    return removed, sequences, np.r_[0, np.cumsum([1 + len(r) for r in removed])]


def _sequence_occlusions(
    model: SASRec, users: np.ndarray, cand: list[np.ndarray], unseen: np.ndarray, last: int
) -> list[Occlusion]:
    """SASRec: every user's full and occluded sequences through the net in one batched call."""
    removed, sequences, bounds = _occluded_sequences(model, users, last)
    flat = model.encode_histories(sequences, batch=512)  # (b + sum m, d)
    states = [flat[bounds[i] : bounds[i + 1]] for i in range(len(users))]
    return _vector_occlusions(model.item_vectors(), removed, states, cand, unseen)


def _likelihood_occlusions(
    model: SemanticRec, users: np.ndarray, cand: list[np.ndarray], unseen: np.ndarray, last: int
) -> list[Occlusion]:
    """The semantic-ID model: each occluded sequence's exact ID log-likelihoods of every item
    (its score is not linear in a state, so the statistics over U come from the rows)."""
    removed, sequences, bounds = _occluded_sequences(model, users, last)
    out = []
    for row in range(len(users)):
        scores = model.score_histories(sequences[bounds[row] : bounds[row + 1]])
        scores = np.asarray(scores, dtype=np.float64)  # (1 + m, n_items)
        free = scores[:, unseen[row]]
        out.append(Occlusion(removed[row], scores[:, cand[row]], free.mean(1), free.std(1)))
    return out


def _vector_occlusions(
    vectors: np.ndarray,
    removed: list[np.ndarray],
    states: list[np.ndarray],
    cand: list[np.ndarray],
    unseen: np.ndarray,
) -> list[Occlusion]:
    """Occlusions of a model scoring ``vectors @ s``; states[row]: (1 + m, d), full state first."""
    v = np.asarray(vectors, dtype=np.float64)  # (n_items, d)
    gram, total = v.T @ v, v.sum(0)  # (d, d), (d,)
    out = []
    with _one_blas_thread():
        for row, s in enumerate(states):
            s = np.asarray(s, dtype=np.float64)  # (1 + m, d)
            seen_v = v[~unseen[row]]  # (|S|, d)
            count = max(int(unseen[row].sum()), 1)
            mean = s @ ((total - seen_v.sum(0)) / count)  # (1 + m,)
            # mean_U((v . s)^2): all items' second moment minus the seen items'
            square = (np.einsum("md,md->m", s @ gram, s) - ((seen_v @ s.T) ** 2).sum(0)) / count
            std = np.sqrt(np.maximum(square - mean**2, 0.0))
            out.append(Occlusion(removed[row], s @ v[cand[row]].T, mean, std))
    return out


def _one_blas_thread() -> threadpool_limits:
    """numpy's BLAS on one thread for the many small per-user products.

    With two, OpenBLAS's threads busy-wait on each other between products, and on 2 cores
    (torch's threads spinning too, after SASRec) the text occlusions of ML-100K took 49 s
    instead of 4.4 s.
    """
    return threadpool_limits(limits=1, user_api="blas")
