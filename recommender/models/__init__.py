"""Rankers behind the one contract in :mod:`recommender.base`.

Classic models live here: :mod:`.popularity` (MostPopular), :mod:`.itemknn` (cosine item-item),
:mod:`.mf` (implicit ALS and BPR), :mod:`.ease` (EASE). Each module also exposes a
``model_spec()`` for :mod:`recommender.registry`. Nothing is imported here eagerly, so loading
one model never pays for another's dependencies.

Besides the contract, a model may implement the optional batch hook
``score_users(users: np.ndarray) -> np.ndarray`` of shape (len(users), n_items), float32; the
evaluation harness uses it instead of one ``score`` call per user when it exists. EASE,
DenseText and SASRec also score any history, ``score_histories(histories, values=None) ->
(len(histories), n_items)``, which equals ``score_users`` on a fitted user's own history: what
:mod:`recommender.attribution` occludes and deletion tests rescore with.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def user_rows(history: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    """(len(users), n_items) rows of a (n_users, n_items) history matrix.

    Users the model has never seen (index >= n_users) get an empty row rather than an error, so
    a model fitted before a user signed up still answers (with popularity-free zeros).
    """
    users = np.asarray(users, dtype=np.int64)
    known = users < history.shape[0]
    if known.all():
        return history[users]
    rows = sp.lil_matrix((len(users), history.shape[1]), dtype=history.dtype)
    rows[np.flatnonzero(known)] = history[users[known]]
    return rows.tocsr()
