"""Hybrid: a weighted sum of per-user normalised scores from several rankers.

Each component has a *role* (the word an explanation cites) and a registered model:

    collaborative -> ease      (who-liked-this-also-liked, from co-occurrence)
    sequential    -> sasrec    (what tends to come next after the user's recent items)
    text          -> dense     (what the item's text says, near the user's taste in text)

Raw scores live on different scales (EASE regression outputs, SASRec logits, cosines), so
each component's scores for a user are z-scored over the items that user has not seen, then
mixed with non-negative weights that sum to one. :meth:`Hybrid.score_components` returns the
weighted parts, which sum to :meth:`Hybrid.score`, so an explanation can say how much of an
item's score came from each source.

Evidence per part (:meth:`Hybrid.attribute`): for each role, the history items whose removal
lowers that role's part of an item the most, with by how much (exact occlusion through the
component that produced the part; :mod:`recommender.attribution`). A part recomputed from any
history, e.g. the user's minus the cited items, is :meth:`Hybrid.components_from_history`.

Tuning (:meth:`Hybrid.tune`) uses validation only: every component is tuned with its own
registry recipe (fit on ``split.train``, chosen on the validation items), then the weights are
searched on a simplex grid for the best validation NDCG@10. The refit on ``train_valid`` uses
those component hyperparameters and weights as they are.

Extension point: a new signal (e.g. the user's natural-language "profile" vector) is one more
entry in ``HybridConfig.components``: (role, registered model name). Nothing else changes;
``score_components`` then reports it under its role.
"""

from __future__ import annotations

import copy
import importlib
import io
import itertools
import json
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from recommender.attribution import NEWEST
from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.metrics import ndcg_at_k
from recommender.registry import ModelSpec, TuneResult
from recommender.split import Split

if TYPE_CHECKING:
    from recommender.attribution import Attribution

Builder = Callable[[Mapping[str, Any], int], Ranker]  # (hparams, seed) -> unfitted ranker

DEFAULT_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("collaborative", "ease"),
    ("sequential", "sasrec"),
    ("text", "dense"),
)


@dataclass(frozen=True)
class HybridConfig:
    # (role, registry model name); roles are what score_components reports
    components: tuple[tuple[str, str], ...] = DEFAULT_COMPONENTS
    # role -> hyperparameters of that component (filled in by tune(); {} = model defaults)
    hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    # role -> weight, non-negative, summing to 1 (filled in by tune(); {} = equal weights)
    weights: dict[str, float] = field(default_factory=dict)
    normalisation: str = "zscore"  # "zscore" or "rank" (percentile rank among unseen items)
    weight_step: float = 0.05  # simplex grid resolution of the weight search
    seed: int = 0

    def roles(self) -> list[str]:
        return [role for role, _ in self.components]

    def weight(self, role: str) -> float:
        return self.weights.get(role, 1.0 / len(self.components))


def zscore_moments(scores: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(b,), (b,): each row's mean and std over its unseen items (the user state keeps them,
    recommender.user_state, to score any item later exactly as :func:`normalise` does)."""
    x = np.asarray(scores, dtype=np.float64)
    free = ~np.asarray(seen, dtype=bool)
    count = np.maximum(free.sum(1, keepdims=True), 1)  # (b, 1)
    mean = np.where(free, x, 0.0).sum(1, keepdims=True) / count
    var = np.where(free, (x - mean) ** 2, 0.0).sum(1, keepdims=True) / count
    return mean[:, 0], np.sqrt(var)[:, 0]


def zscored(x: np.ndarray, mean: np.ndarray | float, std: np.ndarray | float) -> np.ndarray:
    """(x - mean) / std, broadcast; a constant row (std 0: no signal, e.g. a user without
    history) contributes nothing."""
    std = np.asarray(std, dtype=np.float64)
    return np.where(std > 0, (np.asarray(x, np.float64) - mean) / np.where(std > 0, std, 1.0), 0.0)


def seen_rows(model: Ranker, users: np.ndarray) -> np.ndarray:
    """(len(users), n_items) bool: the fitted history of each user."""
    out = np.zeros((len(users), model.n_items), dtype=bool)
    for row, u in enumerate(users):
        out[row, model.seen(int(u))] = True
    return out


def normalise(scores: np.ndarray, seen: np.ndarray, how: str) -> np.ndarray:
    """Per-row normalisation over unseen items. scores, seen: (b, n_items) -> (b, n_items).

    Statistics skip seen items: those are masked at ranking time anyway, and a model that
    scores the user's own history very high (EASE does) would otherwise squash the rest.
    """
    x = np.asarray(scores, dtype=np.float64)
    if how == "zscore":
        mean, std = zscore_moments(x, seen)
        return zscored(x, mean[:, None], std[:, None])
    if how == "rank":
        masked = np.where(seen, -np.inf, x)
        ranks = masked.argsort(1).argsort(1).astype(np.float64)  # 0 = worst
        free = (~seen).sum(1, keepdims=True)
        # percentile among unseen items; seen ones sit below 0 and are masked later
        return (ranks - (x.shape[1] - free)) / np.maximum(free - 1, 1)
    raise ValueError(f"unknown normalisation {how!r}; use 'zscore' or 'rank'")


def simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of n non-negative multiples of ``step`` that sum to 1."""
    units = round(1 / step)
    out = []
    for cut in itertools.combinations(range(units + n - 1), n - 1):  # stars and bars
        parts = np.diff([-1, *cut, units + n - 1]) - 1
        out.append(tuple(float(p) / units for p in parts))
    return out


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(b,) 0-based rank of one target per row; scores (b, n) with seen items at -inf."""
    rows = np.arange(len(targets))
    target = scores[rows, targets][:, None]
    item = np.arange(scores.shape[1])[None, :]
    # ties broken by item index, like Ranker.recommend and the evaluation harness
    return ((scores > target) | ((scores == target) & (item < targets[:, None]))).sum(1)


def _ndcg10(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean NDCG@10 of one target per row; scores (b, n) with seen items at -inf."""
    return float(ndcg_at_k(target_ranks(scores, targets), 10).mean())


def sized_components(
    components: tuple[tuple[str, str], ...], n_items: int
) -> tuple[tuple[str, str], ...]:
    """The components that fit a 24 GB worker at this catalogue size: above
    ``ease.MAX_ITEMS`` items EASE's dense n x n matrices do not, and item kNN (k neighbours
    per item, sparse) takes its collaborative role."""
    from recommender.models import ease

    if n_items <= ease.MAX_ITEMS:
        return components
    return tuple((role, "itemknn" if name == "ease" else name) for role, name in components)


# The weight search holds a few (users x items) float64 arrays at once: at most this many
# cells each (320 MB), so a 100k-item catalogue tunes on a seeded sample of its users rather
# than on all of them (ML-1M, 6,040 x 3,706, is under it: every user, as before).
TUNE_CELLS = 40_000_000
TUNE_MIN_USERS = 2_000  # never fewer, however large the catalogue


def tuning_sample(split: Split, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(users, their validation items): every evaluated user, or a seeded sample of them
    when the catalogue makes all of them too large for the weight search."""
    n_items = max(split.train.n_items, 1)
    cap = max(TUNE_MIN_USERS, TUNE_CELLS // n_items)
    if len(split.users) <= cap:
        return split.users, split.valid_items
    rows = np.sort(np.random.default_rng(seed).choice(len(split.users), cap, replace=False))
    return split.users[rows], split.valid_items[rows]


def registry_builder(name: str) -> Builder:
    from recommender import registry

    return registry.get(name).build


class Hybrid(Ranker):
    name = "hybrid"

    def __init__(
        self, config: HybridConfig | None = None, builders: Mapping[str, Builder] | None = None
    ) -> None:
        """``builders`` (role -> builder) overrides the registry, e.g. a tiny text encoder."""
        super().__init__()
        self.config = config or HybridConfig()
        self.builders = dict(builders or {})
        self.models: dict[str, Ranker] = {}
        self._seen_mask: np.ndarray | None = None

    def _build(self, role: str, model_name: str) -> Ranker:
        build = self.builders.get(role) or registry_builder(model_name)
        return build(self.config.hparams.get(role, {}), self.config.seed)

    # ---------------------------------------------------------------------- fitting
    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        self._remember(interactions)
        sized = sized_components(self.config.components, interactions.n_items)
        if sized != self.config.components:  # saved with the model, so a load builds the same
            self.config = HybridConfig(**{**asdict(self.config), "components": sized})
        self.models = {}
        for role, model_name in self.config.components:
            self.models[role] = self._build(role, model_name).fit(interactions, catalogue)
        return self

    @property
    def can_fold_in(self) -> bool:  # type: ignore[override]  # derived, never set
        """When every component can: the hybrid's user state is theirs."""
        return bool(self.models) and all(m.can_fold_in for m in self.models.values())

    def fold_in(self, interactions: Interactions) -> Self:
        for role, model in self.models.items():
            if not model.can_fold_in:
                raise NotImplementedError(f"the {role} component ({model.name}) cannot fold in")
        self._remember(interactions)
        for model in self.models.values():
            model.fold_in(interactions)
        return self

    def folded(self, interactions: Interactions) -> Self:
        for role, model in self.models.items():
            if not model.can_fold_in:
                raise NotImplementedError(f"the {role} component ({model.name}) cannot fold in")
        clone = copy.copy(self)
        clone.models = {role: model.folded(interactions) for role, model in self.models.items()}
        clone._remember(interactions)
        return clone

    @classmethod
    def tune(
        cls,
        split: Split,
        catalogue: Catalogue,
        config: HybridConfig | None = None,
        builders: Mapping[str, Builder] | None = None,
        tuners: Mapping[str, Callable[[Split, Catalogue, int], TuneResult]] | None = None,
    ) -> tuple[HybridConfig, TuneResult]:
        """Component hyperparameters, then weights, all chosen on validation.

        ``tuners`` (role -> tune function) overrides each component's registry recipe.
        Returns the tuned config and a :class:`TuneResult` whose trials are the weight grid.
        """
        from recommender import registry
        from recommender.harness import grid_search, score_users

        config = config or HybridConfig()
        sized = sized_components(config.components, split.train.n_items)
        config = HybridConfig(**{**asdict(config), "components": sized})
        hparams: dict[str, dict[str, Any]] = {}
        for role, model_name in config.components:
            if tuners and role in tuners:
                result = tuners[role](split, catalogue, config.seed)
            else:
                spec = registry.get(model_name)
                if builders and role in builders:
                    spec = ModelSpec(spec.name, builders[role], spec.grid, spec.tune)
                if spec.tune is not None:
                    result = spec.tune(split, catalogue, config.seed)
                else:
                    result = grid_search(spec, split, catalogue, config.seed)
            hparams[role] = dict(result.hparams)
        config = HybridConfig(**{**asdict(config), "hparams": hparams, "weights": {}})
        # components fitted on train only; scores for the validation users
        model = cls(config, builders).fit(split.train, catalogue)
        users, valid_items = tuning_sample(split, config.seed)
        seen = model._seen_rows(users)  # (U, n) train history
        parts = [
            normalise(score_users(model.models[role], users), seen, config.normalisation)
            for role in config.roles()
        ]  # each (U, n)
        trials = []
        for weights in simplex(len(parts), config.weight_step):
            mix = sum(w * p for w, p in zip(weights, parts, strict=True))
            mix = np.where(seen, -np.inf, mix)
            ndcg = _ndcg10(mix, valid_items)
            trials.append({**dict(zip(config.roles(), weights, strict=True)), "valid_ndcg": ndcg})
        best = max(trials, key=lambda t: t["valid_ndcg"])  # first of equals: grid order
        chosen = HybridConfig(**{**asdict(config), "weights": {r: best[r] for r in config.roles()}})
        result = TuneResult(flat_hparams(chosen), float(best["valid_ndcg"]), trials)
        return chosen, result

    # ---------------------------------------------------------------------- scoring
    def _seen_rows(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) bool: the fitted history of each user."""
        return seen_rows(self, users)

    def components_users(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """role -> (len(users), n_items) float64 weighted, normalised component scores."""
        from recommender.harness import score_users

        users = np.asarray(users, dtype=np.int64)
        seen = self._seen_rows(users)
        return {
            role: self.config.weight(role)
            * normalise(score_users(self.models[role], users), seen, self.config.normalisation)
            for role in self.config.roles()
        }

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32: the evaluation harness's batch hook."""
        parts = self.components_users(users)
        return np.sum(list(parts.values()), axis=0).astype(np.float32)

    def score(self, user: int, item_ids: np.ndarray) -> np.ndarray:
        return self.score_users(np.array([user]))[0, np.asarray(item_ids, dtype=np.int64)]

    def score_components(self, user: int, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """role -> (len(item_ids),) float32 weighted parts; they sum to :meth:`score`."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        parts = self.components_users(np.array([user]))
        return {role: p[0, item_ids].astype(np.float32) for role, p in parts.items()}

    # ------------------------------------------------------------------- attribution
    def attribute(
        self,
        users: np.ndarray,
        items: Sequence[np.ndarray],
        k: int = 3,
        last: int = NEWEST,
        hold_std: bool = False,
    ) -> list[list[Attribution]]:
        """Per user, per item of ``items[row]``: role -> up to ``k`` (history item, share > 0).

        A share is in the units of that role's part in :meth:`score_components`: how much the
        part drops when every occurrence of the history item is removed and the part is
        recomputed as :meth:`components_from_history` does (``hold_std``: with the full
        history's std; see :mod:`recommender.attribution`). Best first, ties by item index; a
        role with weight 0, or whose model cannot be occluded (not EASE, DenseText or SASRec),
        has no shares. ``last``: how many of the newest positions the sequential component
        occludes (EASE and text look at the whole history). An item whose sequential part
        no single film lowers also gets, under ``together(role)``, the 2 or 3 films whose
        removal together lowers it (:func:`recommender.attribution.role_shares`).
        """
        from recommender.attribution import attributable, role_shares, together

        if self.config.normalisation != "zscore":
            raise ValueError("attribution needs zscore normalisation: rank parts have no std")
        users = np.asarray(users, dtype=np.int64)
        out: list[list[Attribution]] = [[{} for _ in row] for row in items]
        for role in self.config.roles():
            weight, model = self.config.weight(role), self.models[role]
            if weight > 0 and attributable(model):
                shares, joint = role_shares(
                    model, users, items, k, last, weight, hold_std=hold_std, with_joint=True
                )
            else:  # a zero part has no evidence (and SASRec's occlusions are not free)
                shares = joint = [[[] for _ in row] for row in items]
            for row, per_item in enumerate(shares):
                for col, pairs in enumerate(per_item):
                    out[row][col][role] = pairs
                    if joint[row][col]:  # films that lower the part only together
                        out[row][col][together(role)] = joint[row][col]
        return out

    def components_from_history(
        self, history: np.ndarray, seen: np.ndarray, values: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """role -> (n_items,) float64 weighted, normalised part, rescored from ``history``.

        ``history``: item indices oldest first (any history, e.g. the user's minus some items);
        ``values``: ratings aligned with it (only the text component weighs by them; None =
        all equal); ``seen``: (n_items,) bool, the items the statistics skip, normally the
        user's full original history. With the fitted history and its seen mask this
        reproduces :meth:`score_components` (up to a user's text vector, which it leaves out).
        """
        seen = np.asarray(seen, dtype=bool)[None, :]  # (1, n_items)
        parts = {}
        for role in self.config.roles():
            scorer = getattr(self.models[role], "score_histories", None)
            if not callable(scorer):
                raise TypeError(f"the {role} component cannot score an arbitrary history")
            raw = scorer([history], None if values is None else [values])  # (1, n_items)
            weight = self.config.weight(role)
            parts[role] = weight * normalise(raw, seen, self.config.normalisation)[0]
        return parts

    # ------------------------------------------------------------------- persistence
    def save(self, path: Path) -> None:
        """One zip: config.json, plus each component saved by its own ``save``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": "hybrid/1",
            "config": asdict(self.config),
            "classes": {
                r: f"{type(m).__module__}:{type(m).__qualname__}" for r, m in self.models.items()
            },
        }
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(manifest))
            for role, model in self.models.items():
                model.save(Path(tmp) / role)
                archive.write(Path(tmp) / role, f"components/{role}")
            seen = np.concatenate(self._seen) if self._seen else np.zeros(0, np.int64)
            buffer = io.BytesIO()
            np.savez(
                buffer,
                seen_items=seen,
                seen_lengths=[len(h) for h in self._seen],
                n=[self.n_users, self.n_items],
            )
            archive.writestr("seen.npz", buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Self:
        with zipfile.ZipFile(Path(path)) as archive, tempfile.TemporaryDirectory() as tmp:
            manifest = json.loads(archive.read("config.json"))
            if manifest.get("format") != "hybrid/1":
                raise TypeError(f"{path} is not a saved Hybrid model")
            raw = manifest["config"]
            raw["components"] = tuple(tuple(c) for c in raw["components"])
            model = cls(HybridConfig(**raw))
            for role, target in manifest["classes"].items():
                module_name, class_name = target.split(":")
                if not module_name.startswith("recommender."):  # never import arbitrary code
                    raise TypeError(f"refusing to load component class {target}")
                component_cls = getattr(importlib.import_module(module_name), class_name)
                archive.extract(f"components/{role}", tmp)
                model.models[role] = component_cls.load(Path(tmp) / "components" / role)
            with np.load(io.BytesIO(archive.read("seen.npz"))) as z:
                model.n_users, model.n_items = (int(x) for x in z["n"])
                bounds = np.r_[0, np.cumsum(z["seen_lengths"])].astype(np.int64)
                flat = z["seen_items"].astype(np.int64)
        model._seen = [flat[bounds[u] : bounds[u + 1]] for u in range(model.n_users)]
        return model


def flat_hparams(config: HybridConfig) -> dict[str, Any]:
    """``w_<role>`` weights and ``<role>.<name>`` component hparams: one flat, readable dict."""
    out: dict[str, Any] = {f"w_{role}": round(config.weight(role), 4) for role in config.roles()}
    for role, hp in config.hparams.items():
        out.update({f"{role}.{k}": v for k, v in hp.items()})
    if config.normalisation != "zscore":
        out["normalisation"] = config.normalisation
    return out


def config_from_flat(hparams: Mapping[str, Any], seed: int) -> HybridConfig:
    weights = {k[2:]: float(v) for k, v in hparams.items() if k.startswith("w_")}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in hparams.items():
        if "." in key:
            role, name = key.split(".", 1)
            nested.setdefault(role, {})[name] = value
    return HybridConfig(
        hparams=nested,
        weights=weights,
        normalisation=str(hparams.get("normalisation", "zscore")),
        seed=seed,
    )


def model_spec() -> ModelSpec:
    def build(hparams: Mapping[str, Any], seed: int) -> Ranker:
        return Hybrid(config_from_flat(hparams, seed))

    def tune(split: Split, catalogue: Catalogue, seed: int) -> TuneResult:
        return Hybrid.tune(split, catalogue, HybridConfig(seed=seed))[1]

    return ModelSpec(
        "hybrid",
        build,
        tune=tune,
        summary="z-scored EASE + SASRec + dense text, weights chosen on validation NDCG@10",
    )
