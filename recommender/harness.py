"""The evaluation protocol as a library (the CLI in :mod:`recommender.evaluate` wraps it).

Protocol (leave-last-out, :func:`recommender.split.leave_last_out`):

1. Choose hyperparameters on VALIDATION only: fit on ``split.train``, rank every item for each
   evaluated user with the user's ``split.train`` history masked, score the validation item.
2. Refit on ``split.train_valid`` with the chosen hyperparameters; rank with the
   ``train_valid`` history masked; score the test item. Nothing about the test items feeds
   back into any choice.

Ranks are exact over the whole catalogue: ties are broken by item index, as
:meth:`recommender.base.Ranker.recommend` does, so a rank here is the position the item would
have in that user's ``recommend`` list. Per-user metric arrays are kept so models can be
compared user by user (paired bootstrap).

Hooks other models (and the hybrid) may use: :func:`validate`, :func:`rank_users`,
:func:`validation_ranking`, :func:`test_ranking`, :func:`score_users`.
"""

from __future__ import annotations

import itertools
import json
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from recommender import metrics
from recommender.base import Ranker
from recommender.data import Catalogue, Interactions
from recommender.registry import ModelSpec, TuneResult
from recommender.split import Split

CUTOFFS = (10, 20)  # NDCG/Recall cut-offs reported; beyond-accuracy metrics use the first
TOP_K = max(CUTOFFS)
BATCH_USERS = 512  # users scored at once: (512, n_items) float32 is 8 MB on ML-1M


@dataclass(frozen=True)
class Ranking:
    """Where each user's held-out item landed, plus the head of each user's list."""

    users: np.ndarray  # (n,) user indices
    targets: np.ndarray  # (n,) held-out item per user
    ranks: np.ndarray  # (n,) 0-based rank of the target; n_items when it was masked
    top: np.ndarray  # (n, k) recommended items, best first (k = 0 when not asked for)


def score_users(model: Ranker, users: np.ndarray) -> np.ndarray:
    """(len(users), n_items) float32 scores, through the model's batch hook when it has one."""
    batch = getattr(model, "score_users", None)
    if callable(batch):
        return np.asarray(batch(users), dtype=np.float32)
    items = np.arange(model.n_items)
    return np.stack([np.asarray(model.score(int(u), items), dtype=np.float32) for u in users])


def rank_users(
    model: Ranker,
    known: Interactions,
    users: np.ndarray,
    targets: np.ndarray,
    k: int = 0,
    progress: bool = False,
    desc: str = "ranking",
) -> Ranking:
    """Rank every item for each user with their ``known`` items masked; locate ``targets``.

    ``k > 0`` also returns each user's top-k list (a full stable sort, so it costs more than
    the ranks alone; validation asks for k = 0).
    """
    users = np.asarray(users, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    history = known.to_csr(binary=True)  # (n_users, n_items)
    n_items = known.n_items
    item_index = np.arange(n_items)
    ranks = np.empty(len(users), dtype=np.int64)
    top = np.empty((len(users), k), dtype=np.int64)
    starts = range(0, len(users), BATCH_USERS)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        stop = min(start + BATCH_USERS, len(users))
        batch, batch_targets = users[start:stop], targets[start:stop]
        scores = score_users(model, batch).astype(np.float64)  # (b, n_items)
        scores[np.isnan(scores)] = -np.inf
        rows = history[batch].tocoo()  # the (b, n_items) mask of known items
        scores[rows.row, rows.col] = -np.inf
        row_ids = np.arange(len(batch))
        target_scores = scores[row_ids, batch_targets][:, None]  # (b, 1)
        # strictly better items, plus equal ones with a smaller index (the recommend tie-break)
        ahead = (scores > target_scores) | (
            (scores == target_scores) & (item_index[None, :] < batch_targets[:, None])
        )
        ranks[start:stop] = np.where(np.isneginf(target_scores[:, 0]), n_items, ahead.sum(axis=1))
        if k:
            top[start:stop] = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return Ranking(users, targets, ranks, top)


def validation_ranking(model: Ranker, split: Split, k: int = 0, progress: bool = False) -> Ranking:
    """Ranking of the validation items; ``model`` must be fitted on ``split.train``."""
    return rank_users(model, split.train, split.users, split.valid_items, k, progress, "valid")


def test_ranking(model: Ranker, split: Split, k: int = 0, progress: bool = False) -> Ranking:
    """Ranking of the test items; ``model`` must be fitted on ``split.train_valid``."""
    return rank_users(model, split.train_valid, split.users, split.test_items, k, progress, "test")


def validate(model: Ranker, split: Split, k: int = 10) -> float:
    """Mean validation NDCG@k over ``split.users`` (the number every search maximises)."""
    return float(metrics.ndcg_at_k(validation_ranking(model, split).ranks, k).mean())


def per_user_metrics(
    ranking: Ranking, known: Interactions, catalogue: Catalogue
) -> dict[str, np.ndarray]:
    """Every per-user metric of one ranking, keyed like ``ndcg@10``; popularity from ``known``."""
    out: dict[str, np.ndarray] = {}
    for cut in CUTOFFS:
        out[f"ndcg@{cut}"] = metrics.ndcg_at_k(ranking.ranks, cut)
        out[f"recall@{cut}"] = metrics.recall_at_k(ranking.ranks, cut)
    out[f"mrr@{CUTOFFS[0]}"] = metrics.mrr_at_k(ranking.ranks, CUTOFFS[0])
    if ranking.top.shape[1]:
        head = ranking.top[:, : CUTOFFS[0]]  # (n, 10)
        x = known.to_csr(binary=True)
        counts = np.asarray(x.sum(axis=0)).ravel()  # (n_items,) distinct users per item
        n_active = int((np.diff(x.indptr) > 0).sum())
        out["novelty"] = metrics.novelty(head, counts, n_active)
        out["ild"] = metrics.intra_list_diversity(head, catalogue.genre_matrix)
        out["pop_pct"] = metrics.mean_popularity_percentile(head, counts)
    return out


def grid_search(
    spec: ModelSpec, split: Split, catalogue: Catalogue, seed: int, progress: bool = False
) -> TuneResult:
    """Fit every grid combination on ``split.train``; keep the best validation NDCG@10."""
    keys = list(spec.grid)
    combos = [dict(zip(keys, v, strict=True)) for v in itertools.product(*spec.grid.values())]
    trials: list[dict[str, Any]] = []
    for params in tqdm(combos, desc=f"{spec.name} grid", disable=not progress, leave=False):
        start = time.perf_counter()
        model = spec.build(params, seed).fit(split.train, catalogue)
        ndcg = validate(model, split)
        trials.append({**params, "valid_ndcg": ndcg, "seconds": time.perf_counter() - start})
    best = max(trials, key=lambda t: t["valid_ndcg"])  # max keeps the first of equal values
    return TuneResult({k: best[k] for k in keys}, float(best["valid_ndcg"]), trials)


@dataclass
class ModelResult:
    name: str
    hparams: dict[str, Any]
    valid_ndcg: float
    trials: list[dict[str, Any]]
    tune_seconds: float
    fit_seconds: float  # the final refit on train_valid
    eval_seconds: float
    means: dict[str, float]  # every metric averaged over users, plus coverage@10
    per_user: dict[str, np.ndarray] = field(repr=False)
    ci: metrics.BootstrapCI | None = None  # NDCG@10 difference vs the reference model
    # protocol "fold-in": whether this model read the validation item (models with per-user
    # factors cannot, and are tested as under "train-only"); None under the other protocols
    folded_in: bool | None = None


@dataclass
class Report:
    dataset: str
    split_hash: str
    n_users: int  # evaluated users
    n_items: int
    seed: int
    users_sample: int | None
    models: list[ModelResult]
    reference: str | None
    seconds: float
    environment: dict[str, str]
    protocol: str = "refit"
    split_index_hash: str = ""  # Split.hash (internal indices), beside the id hash above


PROTOCOLS = {
    "refit": "tune on valid (fit train), then refit on train+valid and test",
    "train-only": "tune on valid (fit train), test the train-only fit (valid item masked, "
    "never learned from): what RecBole and the numpy references do",
    "fold-in": "tune on valid (fit train), test the train-only fit reading the valid item as "
    "input, never learned from: SASRec's paper, RecBole's sequential models, LRURec",
}


def run_model(
    spec: ModelSpec,
    split: Split,
    catalogue: Catalogue,
    seed: int,
    progress: bool = False,
    protocol: str = "refit",
) -> ModelResult:
    """Tune on validation, then (protocol "refit") refit on train_valid and evaluate on
    test, or ("train-only") evaluate the model fitted on train alone. Either way the test
    ranking masks the train and validation items."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    start = time.perf_counter()
    if spec.tune is not None:
        tuned = spec.tune(split, catalogue, seed)
    else:
        tuned = grid_search(spec, split, catalogue, seed, progress)
    tune_seconds = time.perf_counter() - start

    start = time.perf_counter()
    fitted_on = split.train_valid if protocol == "refit" else split.train
    model = spec.build(tuned.hparams, seed).fit(fitted_on, catalogue)
    folded_in = None
    if protocol == "fold-in":
        folded_in = model.can_fold_in
        if folded_in:
            model.fold_in(split.train_valid)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    ranking = test_ranking(model, split, k=TOP_K, progress=progress)
    per_user = per_user_metrics(ranking, split.train_valid, catalogue)
    eval_seconds = time.perf_counter() - start

    means = {name: float(values.mean()) for name, values in per_user.items()}
    means[f"coverage@{CUTOFFS[0]}"] = metrics.catalogue_coverage(
        ranking.top[:, : CUTOFFS[0]], catalogue_size(catalogue, split)
    )
    return ModelResult(
        spec.name,
        dict(tuned.hparams),
        tuned.valid_ndcg,
        tuned.trials,
        tune_seconds,
        fit_seconds,
        eval_seconds,
        means,
        per_user,
        folded_in=folded_in,
    )


def catalogue_size(catalogue: Catalogue, split: Split) -> int:
    """Coverage is a share of every listed item, rated or not (ML-1M lists 177 never rated)."""
    return max(len(catalogue), split.train.n_items)


def sample_users(split: Split, n: int | None, seed: int) -> Split:
    """The same split evaluated on ``n`` random users (all of them when ``n`` is None)."""
    if n is None or n >= len(split.users):
        return split
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(split.users), size=n, replace=False))
    return replace(
        split,
        users=split.users[keep],
        valid_items=split.valid_items[keep],
        test_items=split.test_items[keep],
    )


def choose_reference(results: Sequence[ModelResult], specs: Mapping[str, ModelSpec]) -> str | None:
    """The baseline with the best VALIDATION NDCG@10 (choosing on test would flatter it)."""
    baselines = [r for r in results if specs[r.name].baseline]
    return max(baselines, key=lambda r: r.valid_ndcg).name if baselines else None


def evaluate_models(
    name: str,
    split: Split,
    catalogue: Catalogue,
    specs: Sequence[ModelSpec],
    seed: int = 0,
    users_sample: int | None = None,
    reference: str | None = None,
    progress: bool = False,
    protocol: str = "refit",
    split_hash: str | None = None,
) -> Report:
    """Run the whole protocol for each spec; CIs of NDCG@10 differences vs the reference.

    ``split_hash``: the split's name in the report (``Split.id_hash``, comparable across
    implementations); default the internal ``Split.hash``."""
    started = time.perf_counter()
    split = sample_users(split, users_sample, seed)
    results = []
    for spec in tqdm(specs, desc="models", disable=not progress):
        results.append(run_model(spec, split, catalogue, seed, progress, protocol))
    by_name = {s.name: s for s in specs}
    reference = reference or choose_reference(results, by_name)
    if reference is not None:
        ref = next(r for r in results if r.name == reference)
        for r in results:
            if r is not ref:
                r.ci = metrics.paired_bootstrap_ci(
                    r.per_user["ndcg@10"], ref.per_user["ndcg@10"], seed=seed
                )
    return Report(
        name,
        split_hash or split.hash,
        len(split.users),
        catalogue_size(catalogue, split),
        seed,
        users_sample,
        results,
        reference,
        time.perf_counter() - started,
        environment(),
        protocol,
        split.hash,
    )


def environment() -> dict[str, str]:
    import implicit
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "implicit": implicit.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
    }


# -- output -----------------------------------------------------------------------------------

TABLE_COLUMNS = (
    ("ndcg@10", "NDCG@10", 4),
    ("ndcg@20", "NDCG@20", 4),
    ("recall@10", "R@10", 4),
    ("recall@20", "R@20", 4),
    ("mrr@10", "MRR@10", 4),
    ("coverage@10", "Cov@10", 3),
    ("novelty", "Novelty", 2),
    ("ild", "ILD", 3),
    ("pop_pct", "Pop%", 1),
)


def format_hparams(hparams: Mapping[str, Any]) -> str:
    return ",".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in hparams.items()
    )


def format_table(report: Report) -> str:
    """A plain-text table, one row per model, ready for a terminal or a Markdown code block."""
    header = ["model", "hparams", *[c[1] for c in TABLE_COLUMNS], "fit s", "dNDCG@10 95% CI"]
    rows = [header]
    for r in report.models:
        # a model that could not read the validation item under "fold-in" is marked
        cells = [r.name + ("†" if r.folded_in is False else ""), format_hparams(r.hparams) or "-"]
        cells += [f"{r.means[key]:.{digits}f}" for key, _, digits in TABLE_COLUMNS]
        cells.append(f"{r.fit_seconds:.1f}")
        if r.ci is None:
            cells.append("(reference)" if r.name == report.reference else "-")
        else:
            star = "*" if r.ci.excludes_zero else ""
            cells.append(f"{r.ci.mean:+.4f} [{r.ci.low:+.4f},{r.ci.high:+.4f}]{star}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r.folded_in is False for r in report.models):
        lines.append("† learns per-user factors, cannot fold in: tested as under train-only")
    return "\n".join(lines)


def report_json(report: Report) -> dict[str, Any]:
    return {
        "dataset": report.dataset,
        "split_hash": report.split_hash,
        "n_users_evaluated": report.n_users,
        "n_items": report.n_items,
        "seed": report.seed,
        "users_sample": report.users_sample,
        "split_index_hash": report.split_index_hash,
        "protocol": report.protocol,
        "protocol_text": f"leave-last-out; {PROTOCOLS[report.protocol]};"
        " all items ranked, known history masked, ties by item index",
        "reference": report.reference,
        "seconds": round(report.seconds, 2),
        "environment": report.environment,
        "models": [
            {
                "name": r.name,
                "hparams": r.hparams,
                "valid_ndcg@10": r.valid_ndcg,
                "test": r.means,
                "ndcg@10_diff_vs_reference": None
                if r.ci is None
                else {
                    "mean": r.ci.mean,
                    "low": r.ci.low,
                    "high": r.ci.high,
                    "level": r.ci.level,
                    "resamples": r.ci.resamples,
                },
                "seconds": {"tune": r.tune_seconds, "fit": r.fit_seconds, "eval": r.eval_seconds},
                "trials": r.trials,
                "folded_in": r.folded_in,
            }
            for r in report.models
        ],
    }


def write_report(report: Report, out_dir: Path, split: Split | None = None) -> list[Path]:
    """results.json, per_user.npz, results.png (and split.json) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json", out_dir / "per_user.npz", out_dir / "results.png"]
    written[0].write_text(json.dumps(report_json(report), indent=2, default=_json_default))
    arrays = {f"{r.name}/{m}": v for r in report.models for m, v in r.per_user.items()}
    np.savez_compressed(written[1], **arrays)  # type: ignore[arg-type]
    plot_report(report, written[2])
    if split is not None:
        split.write(out_dir / "split.json")
        written.append(out_dir / "split.json")
    return written


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def plot_report(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    panels = [("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10"), ("coverage@10", "Coverage@10")]
    names = [r.name for r in report.models]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (key, title) in zip(axes, panels, strict=True):
        values = [r.means[key] for r in report.models]
        bars = ax.bar(names, values, color="#4c72b0")
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(
        f"{report.dataset} test, protocol {report.protocol} "
        f"(split {report.split_hash}, n={report.n_users})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = [
    "Ranking",
    "Report",
    "evaluate_models",
    "rank_users",
    "score_users",
    "test_ranking",
    "validate",
    "validation_ranking",
]
