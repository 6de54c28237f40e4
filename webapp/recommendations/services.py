"""Training and list refreshes. Slow work: only ever called from Celery tasks or commands."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, F, OuterRef, ProtectedError
from django.utils import timezone

from recommender import registry
from recommender.base import Ranker
from recommender.serving import UserList, pack_parts, top_n, train_for_serving
from recommender.user_state import item_side
from webapp.catalogue.models import Interaction, Item
from webapp.catalogue.selectors import POSITIVE, catalogue_from_db, interactions_now
from webapp.jobs.services import Progress, quiet
from webapp.recommendations import selectors
from webapp.recommendations.models import (
    Adapter,
    ModelVersion,
    RecommendationList,
    RefreshChunk,
    RefreshMark,
)

log = logging.getLogger(__name__)
LIST_LENGTH = 100  # candidates kept per user: room for profile re-ranking and LLM reranking
EVIDENCE_PER_ROLE = 3  # history items kept per score component and item, for explanations


def model_train(
    *,
    name: str = "hybrid",
    seed: int = 0,
    activate: bool = True,
    progress: Progress = quiet,
    hparams: dict[str, Any] | None = None,
) -> ModelVersion:
    """Tune on validation, refit on everything, save the artifact and register the version.

    ``hparams`` skips the search (e.g. to retrain with an earlier version's choice)."""
    dataset = selectors.dataset_from_db()
    if len(dataset.interactions) == 0:
        raise ValueError("there are no interactions to learn from; import data first")
    trained = train_for_serving(name, dataset, seed=seed, progress=progress, hparams=hparams)
    # The random part keeps two trainings in the same second apart: the version names the
    # artifact file, and workers cache loaded models by it.
    version = (
        f"{name}-{timezone.now():%Y%m%d-%H%M%S}-{trained.split_hash[:8]}-{uuid.uuid4().hex[:6]}"
    )
    path = Path(settings.ARTIFACT_DIR) / "models" / f"{version}.bin"
    trained.model.save(path)
    ids = {"users": list(dataset.users.ids), "items": list(dataset.catalogue.ids.ids)}
    with transaction.atomic():
        mv = ModelVersion.objects.create(
            name=name,
            version=version,
            path=str(path),
            hparams=trained.hparams,
            valid_ndcg=trained.valid_ndcg if np.isfinite(trained.valid_ndcg) else None,
            split_hash=trained.split_hash,
            n_users=len(dataset.users),
            n_items=len(dataset.catalogue),
            n_interactions=len(dataset.interactions),
            seconds={k: round(v, 2) for k, v in trained.seconds.items()},
        )
        selectors.ids_path(mv.path).write_text(json.dumps(ids))
        if activate:
            model_activate(mv=mv)
    return mv


def newer_serving(
    requested_at: datetime | None, *, lock: bool = False, than: ModelVersion | None = None
) -> ModelVersion | None:
    """The serving version when it was created after ``requested_at`` (when a training was
    asked for), else None: what a late or re-run training must not replace."""
    if requested_at is None:
        return None
    rows = ModelVersion.objects.filter(is_active=True)
    serving = (rows.select_for_update() if lock else rows).first()
    if serving is None or (than is not None and serving.pk == than.pk):
        return None
    return serving if serving.created_at > requested_at else None


def model_activate(*, mv: ModelVersion, requested_at: datetime | None = None) -> bool:
    """Serve ``mv`` from now on (the one place the serving version changes), unless a
    version created after ``requested_at`` is serving: a late or re-run training never
    switches every user's list back to an older request's model. Returns whether ``mv``
    now serves."""
    with transaction.atomic():
        if newer_serving(requested_at, lock=True, than=mv) is not None:
            return False
        ModelVersion.objects.exclude(pk=mv.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=mv.pk).update(is_active=True)
    mv.is_active = True
    return True


@functools.lru_cache(maxsize=2)
def load_model_version(version: str, path: str, name: str) -> tuple[Ranker, list[int], list[int]]:
    """A worker keeps the last two versions in memory; loading is the slow part of a refresh."""
    model_cls = type(registry.get(name).build({}, 0))  # the class whose ``load`` reads it
    ids = selectors.model_ids(path)
    return model_cls.load(Path(path)), ids["users"], ids["items"]


def item_side_write(model: Ranker, artifact: str) -> None:
    """Write the item side of ``model`` beside its artifact once (any worker may; the first
    complete directory wins), so web processes can score any item from a user state."""
    folder = selectors.item_side_path(artifact)
    if (folder / "manifest.json").is_file():
        return
    side = item_side(model)
    if side is not None:
        side.save(folder)


def recommendations_refresh(
    *,
    model_version: ModelVersion,
    user_ids: list[int] | None = None,
    progress: Progress = quiet,
) -> int:
    """Recompute and store top-N lists for ``user_ids`` (default: every user the model knows).

    Returns how many lists were written. Users the model has not seen (new accounts) are
    skipped: cold start is answered from their profile, not from this model.
    """
    model, known_users, item_ids = load_model_version(
        model_version.version, model_version.path, model_version.name
    )
    # what this refresh answers, read before it computes: an edit or a catalogue change
    # meanwhile leaves a newer mark or number, and the next refresh takes the user again
    marks = selectors.refresh_marks(user_ids=user_ids)
    catalogue_version = selectors.catalogue_version_number()
    index_of_user = {pk: i for i, pk in enumerate(known_users)}
    wanted = known_users if user_ids is None else [u for u in user_ids if u in index_of_user]
    # Retired items are left out, and so are items the model's id map knows but the database
    # no longer has. Items added after fitting are unknown until the next training, unless
    # the model can place them from their text (items_add_to_model).
    active = set(Item.objects.filter(is_active=True).values_list("pk", flat=True))
    excluded = np.array([pk not in active for pk in item_ids], dtype=bool)
    follow = getattr(model, "set_active", None)
    if callable(follow):
        follow(~excluded)  # the semantic model's trie of decodable IDs follows retire/restore
    started = time.perf_counter()
    item_side_write(model, model_version.path)
    scorer, users, owner = _scorer_now(model, wanted, index_of_user, known_users, item_ids)
    lists = top_n(
        scorer,
        users,
        LIST_LENGTH,
        excluded_items=excluded,
        attribute_k=EVIDENCE_PER_ROLE,
        keep_state=True,
    )
    rows = (
        RecommendationList(
            user_id=owner[ul.user],
            model_version=model_version,
            entries=_entries(ul, item_ids),
            catalogue_scores=pack_parts(ul.catalogue) if ul.catalogue else None,
            user_state=ul.state.pack() if ul.state is not None else None,
            catalogue_version=catalogue_version,
        )
        for ul in lists
    )
    written = _store_in_batches(rows, len(users), progress)
    # a user the model does not know has no list to refresh until the next training, which
    # refreshes everyone: their mark goes too
    refresh_marks_clear(marks=marks)
    progress(1.0, f"{written:,} lists in {time.perf_counter() - started:.1f} s")
    return written


def _store_in_batches(rows: Iterable[RecommendationList], total: int, progress: Progress) -> int:
    """Upsert ``rows`` 500 at a time, saying how far along it is; returns how many."""
    written, batch = 0, []
    for n, row in enumerate(rows, start=1):
        batch.append(row)
        if len(batch) >= 500:
            written += _store(batch)
            batch = []
            progress(n / max(total, 1), f"{n:,} of {total:,} users")
    return written + _store(batch)


def _scorer_now(
    model: Ranker,
    wanted: list[int],
    index_of_user: dict[int, int],
    known_users: list[int],
    item_ids: list[Any],
) -> tuple[Ranker, np.ndarray, list[int]]:
    """What scores ``wanted``: (model, their rows in it, user pk of each row).

    A model that can fold in scores them on their histories as they are now (a rating or
    like since its training moves their list the moment it is refreshed, not at the next
    training), on a copy holding only these users; one that cannot (it learnt per-user
    factors) scores the histories it was fitted on."""
    if not model.can_fold_in:
        rows = np.array([index_of_user[u] for u in wanted], dtype=np.int64)
        return model, rows, known_users
    now = interactions_now(user_ids=wanted, item_index={pk: i for i, pk in enumerate(item_ids)})
    return model.folded(now), np.arange(len(wanted), dtype=np.int64), wanted


def refresh_marks_clear(*, marks: dict[int, int]) -> int:
    """Delete the marks a refresh answered, each only at the version it read (an edit since
    bumped it, and the user stays marked). One DELETE per distinct version and slice of
    users: versions are small counts, so a few statements per refresh part."""
    by_version: dict[int, list[int]] = {}
    for user, version in marks.items():
        by_version.setdefault(version, []).append(user)
    deleted = 0
    for version, users in by_version.items():
        for start in range(0, len(users), 500):
            rows = RefreshMark.objects.filter(
                version=version, user_id__in=users[start : start + 500]
            )
            deleted += rows.delete()[0]
    return deleted


def refresh_marks_prune() -> int:
    """Drop the marks of deleted users (deleting a user deletes their interactions, whose
    trigger marks them once more): nothing of theirs stays behind. A scan of the marks
    table alone, which holds only changed users."""
    user = get_user_model().objects.filter(pk=OuterRef("user_id"))
    return RefreshMark.objects.exclude(Exists(user)).delete()[0]  # an anti-join on the pk


def lists_refresh_changed(
    *, model_version: ModelVersion, progress: Progress = quiet
) -> dict[str, Any]:
    """Between trainings: recompute only the lists older than their inputs
    (:func:`selectors.users_to_refresh`), in parts of REFRESH_CHUNK_USERS; every other user
    keeps their stored list and user state. Returns the counts and the rate."""
    started = time.perf_counter()
    refresh_marks_prune()
    users = selectors.users_to_refresh(model_version=model_version)
    size, written = settings.REFRESH_CHUNK_USERS, 0
    for start in range(0, len(users), size):
        written += recommendations_refresh(
            model_version=model_version, user_ids=users[start : start + size]
        )
        progress(min(start + size, len(users)) / len(users), f"{written:,} lists refreshed")
    seconds = time.perf_counter() - started
    return refresh_report(model_version=model_version, selected=users, written=written) | {
        "seconds": round(seconds, 3),
        "users_per_s": round(written / seconds, 1) if written else None,
    }


def refresh_report(
    *, model_version: ModelVersion, selected: list[int], written: int
) -> dict[str, Any]:
    """What a changed-only refresh did: lists rewritten, users the version knows that kept
    theirs (``skipped``), and their share."""
    known = model_version.n_users
    skipped = max(known - written, 0)
    return {
        "model_version": model_version.version,
        "selected": len(selected),
        "refreshed": written,
        "skipped": skipped,
        "skipped_share": round(skipped / known, 4) if known else None,
    }


def _entries(ul: UserList, item_ids: list[Any]) -> list[dict[str, Any]]:
    """A stored list's JSON: per item its pk, score, parts and the evidence of each part."""
    return [
        {
            "item": item_ids[i],
            "score": round(float(s), 5),
            "components": {r: round(float(c[j]), 5) for r, c in ul.components.items()},
            # role -> [[history item pk, share of that role's part], ...], best first:
            # what the explanation of this item cites, computed by the model that made it
            "evidence": {
                role: [[item_ids[h], round(float(share), 5)] for h, share in pairs]
                for role, pairs in (ul.attributions[j] if ul.attributions else {}).items()
                if pairs
            },
        }
        for j, (i, s) in enumerate(zip(ul.items, ul.scores, strict=True))
    ]


def refresh_plan(
    *, model_version: ModelVersion, requested_at: datetime | None, activate: bool = True
) -> list[int]:
    """Cut the refresh of every user the version knows into slices of REFRESH_CHUNK_USERS
    (rows of :class:`RefreshChunk`; planning twice changes nothing). Returns the slices'
    numbers, for the caller to queue one :func:`tasks.lists_refresh_chunk` each."""
    users = selectors.model_ids(model_version.path)["users"]
    size = settings.REFRESH_CHUNK_USERS
    chunks = [
        RefreshChunk(
            model_version=model_version,
            number=n,
            user_ids=users[start : start + size],
            requested_at=requested_at,
            activate=activate,
        )
        for n, start in enumerate(range(0, len(users), size))
    ]
    RefreshChunk.objects.bulk_create(chunks, ignore_conflicts=True)
    return [c.number for c in chunks]


def refresh_chunk(*, model_version: ModelVersion, number: int) -> dict[str, Any]:
    """Write one slice's lists (again, if a worker died after writing them: each list is an
    upsert), mark it done, and activate the version when no slice is left."""
    chunk = RefreshChunk.objects.get(model_version=model_version, number=number)
    if chunk.done_at is None and chunk.failed_at is None:
        RefreshChunk.objects.filter(pk=chunk.pk).update(attempts=F("attempts") + 1)
        if chunk.attempts + 1 > settings.JOB_MAX_ATTEMPTS:  # it killed its worker each time
            RefreshChunk.objects.filter(pk=chunk.pk).update(failed_at=timezone.now())
            log.error("refresh part %s of %s given up", number, model_version.version)
            return {"chunk": number, "failed": True, "activated": False}
    if chunk.failed_at is not None:
        return {"chunk": number, "failed": True, "activated": False}
    if chunk.done_at is None:
        written = recommendations_refresh(model_version=model_version, user_ids=chunk.user_ids)
        RefreshChunk.objects.filter(pk=chunk.pk, done_at=None).update(
            done_at=timezone.now(), lists=written
        )
    left = RefreshChunk.objects.filter(model_version=model_version, done_at=None).count()
    activated = False
    if not left and chunk.activate:
        # every slice's last task gets here; activating twice is the same activation
        activated = model_activate(mv=model_version, requested_at=chunk.requested_at)
    return {"chunk": number, "left": left, "activated": activated}


def refresh_progress(*, model_version: ModelVersion) -> tuple[int, int]:
    """(slices done, slices planned) of a version's chunked refresh; (0, 0) when it had none."""
    rows = RefreshChunk.objects.filter(model_version=model_version)
    return rows.exclude(done_at=None).count(), rows.count()


def items_add_to_model(*, progress: Progress = quiet) -> ModelVersion | None:
    """Give active items the serving model has never seen a place in it, without training.

    Only a model that can (``add_items``: the semantic-ID model, which makes an item's ID
    from its text) does anything; None otherwise, or when no item is new. The result is a new
    version (same network, longer ID table and ids file), its lists written from it, then
    activated unless a newer version started serving meanwhile.
    """
    mv = selectors.active_model_version()
    if mv is None:
        return None
    model_cls = type(registry.get(mv.name).build({}, 0))
    if not hasattr(model_cls, "add_items"):
        return None
    requested_at = timezone.now()
    ids = selectors.model_ids(mv.path)
    known = set(ids["items"])
    new = list(
        Item.objects.filter(is_active=True)
        .exclude(pk__in=known)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not new:
        return None
    progress(0.1, f"semantic IDs for {len(new):,} new items")
    from recommender.encoders import get_encoder

    model: Any = model_cls.load(Path(mv.path))
    encoder = get_encoder(model.config.model, settings.MODEL_CACHE_DIR)  # its own encoder
    model._embed = encoder.encode
    catalogue = catalogue_from_db()
    model.add_items([catalogue.text(catalogue.ids.index(pk)) for pk in new])
    version = f"{mv.name}-{timezone.now():%Y%m%d-%H%M%S}-{mv.split_hash[:8]}-{uuid.uuid4().hex[:6]}"
    path = Path(settings.ARTIFACT_DIR) / "models" / f"{version}.bin"
    model.save(path)
    with transaction.atomic():
        added = ModelVersion.objects.create(
            name=mv.name,
            version=version,
            path=str(path),
            hparams={**mv.hparams, "added_items": len(new), "added_to": mv.version},
            valid_ndcg=mv.valid_ndcg,
            split_hash=mv.split_hash,
            n_users=mv.n_users,
            n_items=mv.n_items + len(new),
            n_interactions=mv.n_interactions,
            seconds=mv.seconds,
        )
        selectors.ids_path(path).write_text(
            json.dumps({"users": ids["users"], "items": [*ids["items"], *new]})
        )

    def refreshing(fraction: float, message: str) -> None:
        progress(0.2 + 0.75 * fraction, f"refreshing lists: {message}")

    recommendations_refresh(model_version=added, progress=refreshing)
    model_activate(mv=added, requested_at=requested_at)
    model_copies_prune()
    return added


def model_copies_prune() -> int:
    """Delete the model copies that item-adds left behind, rows and files: each one is the
    whole network again (tens of MB), and the admin adds items one import at a time. Kept:
    the serving version, every version a list still reads, and every trained version (a
    copy is one with ``added_to``; it can be made again from its trained version). Returns
    how many went."""
    copies = ModelVersion.objects.filter(hparams__has_key="added_to", is_active=False)
    pruned = 0
    for mv in copies.exclude(lists__isnull=False).order_by("pk"):
        try:
            with transaction.atomic():
                ModelVersion.objects.filter(pk=mv.pk, is_active=False).delete()
        except ProtectedError:  # a list moved to it meanwhile: it stays
            continue
        if ModelVersion.objects.filter(pk=mv.pk).exists():
            continue  # it became the serving one meanwhile
        artifact = Path(mv.path).resolve()
        if artifact.is_relative_to(Path(settings.ARTIFACT_DIR).resolve()):  # ours to delete
            artifact.unlink(missing_ok=True)
            selectors.ids_path(artifact).unlink(missing_ok=True)
        pruned += 1
    return pruned


def _store(lists: list[RecommendationList]) -> int:
    if lists:
        RecommendationList.objects.bulk_create(
            lists,
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=[
                *("model_version", "entries", "catalogue_scores", "user_state", "computed_at"),
                "catalogue_version",
            ],
        )
    return len(lists)


# --- LLM reranker: LoRA adapters and background reranking -----------------------------------


def adapter_train(
    *,
    steps: int = 150,
    retriever: str = "ease",
    llm_spec: str | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Adapter:
    """Fine-tune a LoRA adapter on the training split (validation picks the checkpoint) and
    register it. Resumable: a rerun with the same data continues from the last checkpoint."""
    from recommender.finetune import (
        FinetuneConfig,
        finetune,
        retriever_fitter,
        retriever_scores,
    )
    from recommender.split import leave_last_out

    dataset = selectors.dataset_from_db()
    if len(dataset.interactions) == 0:
        raise ValueError("there are no interactions to learn from; import data first")
    split = leave_last_out(dataset.interactions)
    root = Path(settings.ARTIFACT_DIR) / "adapters"
    scores = retriever_scores(retriever, split, dataset.catalogue, "valid", root / "retriever")
    config = FinetuneConfig(
        llm=llm_spec or settings.LLM_MODEL, retriever=retriever, steps=steps, **(overrides or {})
    )
    # Same data + recipe -> same folder (so a rerun resumes); another recipe never does.
    recipe = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:6]
    out = root / f"{retriever}-{split.hash[:8]}-{steps}-{recipe}"
    fit = retriever_fitter(retriever, split, dataset.catalogue, root / "retriever")
    result = finetune(
        split,
        dataset.catalogue,
        scores,
        out,
        config,
        progress=on_step,
        show_progress=False,
        fit_scores=fit,
    )
    meta = json.loads((out / "finetune.json").read_text())
    adapter, _ = Adapter.objects.update_or_create(
        version=out.name,
        defaults={
            "base_model": f"{meta['base_model']}@{meta['base_version']}",
            "path": str(result.adapter_dir),
            "split_hash": split.hash,
            "config": meta["config"] | {"blend": meta.get("valid_blend", 0.0)},
            "valid_ndcg": result.valid_ndcg,
            "retriever_valid_ndcg": meta.get("retriever_valid_ndcg@10_in_candidates"),
            "valid_gain_low": (meta.get("valid_gain_ci") or [None])[0],
            "steps": steps,
            "seconds": result.seconds,
        },
    )
    return adapter


def llm_parts(scores: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(K,) the LLM's part of each head item's score, in the head's (stored) order.

    The head's own scores are handed out again in the LLM's order (the best score to the
    LLM's first pick, and so on), so the scale the profile re-ranking is calibrated on is
    unchanged and only the order moves; the change is the visible score component "llm",
    which keeps the components summing to the score.
    """
    parts = np.zeros(len(scores))
    parts[order] = np.sort(scores)[::-1] - scores[order]
    return parts


def lists_rerank(*, user_ids: list[int] | None = None, progress: Progress = quiet) -> int:
    """Reorder the head of stored lists with the best validated adapter, when validation says
    it beats the served model's own order (:func:`recommender.decision.serving_decision`),
    and store that order and each item's LLM part beside the list, with the history item the
    co-watch hint paired it with. Otherwise clear any stored LLM order, so pages show the
    model's. Background work only."""
    from recommender.cowatch import CoWatch
    from recommender.finetune import load_tuned
    from recommender.rerank import rerank_items

    adapter, decision = selectors.reranker_serving()
    lists = RecommendationList.objects.all()
    if user_ids is not None:
        lists = lists.filter(user_id__in=user_ids)
    if not decision.rerank or adapter is None:
        cleared = lists.exclude(reranked=None).update(
            reranked=None, reranked_parts=[], reranked_by="", reranked_at=None
        )
        progress(1.0, f"reranker not serving ({cleared:,} LLM orders cleared): {decision.reason}")
        return 0
    handle = load_tuned(Path(adapter.path), adapter.config.get("llm"))
    # The adapter's prompt form, validation blend and co-watch hint.
    config = adapter.rerank_config
    # The hint needs today's positive interactions (read once for the whole batch of lists);
    # a text-only prompt needs the catalogue alone.
    cowatch = None
    if config.hinted:
        dataset = selectors.dataset_from_db()
        catalogue = dataset.catalogue
        cowatch = CoWatch.from_interactions(dataset.interactions)
    else:
        catalogue = catalogue_from_db()
    ids = catalogue.ids
    done = 0
    total = lists.count()
    for stored in lists.iterator(chunk_size=100):
        head = [e for e in stored.entries if e["item"] in ids][: config.k]
        if len(head) < 2:
            continue
        recent_pks = list(
            Interaction.objects.filter(POSITIVE, user_id=stored.user_id)
            .order_by("-created_at", "-id")
            .values_list("item_id", flat=True)[: config.history]
        )[::-1]  # oldest first, most recent last, as the prompt expects
        recent = ids.indices([pk for pk in recent_pks if pk in ids])  # (H,)
        candidates = ids.indices([e["item"] for e in head])  # (K,)
        base = np.array([e["score"] for e in head], dtype=np.float64)
        result = rerank_items(
            handle, catalogue, recent, candidates, config, base.astype(np.float32), cowatch
        )
        parts = llm_parts(base, result.order)
        partner: list[Any] = [None] * len(head)
        if cowatch is not None and len(recent):
            sims = cowatch.similarity(candidates, recent)  # (K, H)
            partner = [
                ids.external(int(recent[row.argmax()])) if row.max() > 0 else None for row in sims
            ]
        order = [int(i) for i in result.order]
        RecommendationList.objects.filter(pk=stored.pk).update(
            reranked=[head[i]["item"] for i in order],
            reranked_parts=[
                {"item": head[i]["item"], "llm": round(float(parts[i]), 5), "with": partner[i]}
                for i in order
            ],
            reranked_by=f"{handle.model_id}@{handle.version}"[:200],
            reranked_at=timezone.now(),
        )
        done += 1
        progress(done / max(total, 1), f"{done:,} of {total:,} lists reranked")
    return done


# --- offline evaluation of a registered version ---------------------------------------------

EVALUATION_REFERENCE = "pop"  # the cheap baseline every evaluation is compared with


def model_version_evaluate(
    *,
    model_version: ModelVersion,
    users_sample: int | None = 200,
    seed: int = 0,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Run the offline protocol (:mod:`recommender.harness`) on today's interactions for
    one registered version and store the test scores on it.

    Cheap by design: the version's own hyperparameters are reused (no search), so the cost is
    one refit on the leave-last-out ``train_valid`` split plus ranking ``users_sample`` users;
    popularity is fitted beside it as the reference for the NDCG@10 confidence interval.
    """
    import dataclasses

    from recommender.harness import TOP_K, evaluate_models, report_json
    from recommender.registry import TuneResult
    from recommender.split import leave_last_out

    progress(0.05, "reading interactions")
    dataset = selectors.dataset_from_db()
    if len(dataset.interactions) == 0:
        raise ValueError("there are no interactions to evaluate on; import data first")
    if len(dataset.catalogue) < TOP_K:
        raise ValueError(
            f"the evaluation ranks top-{TOP_K} lists; the catalogue has only "
            f"{len(dataset.catalogue)} items"
        )
    split = leave_last_out(dataset.interactions)
    hparams = dict(model_version.hparams)
    valid = model_version.valid_ndcg if model_version.valid_ndcg is not None else float("nan")
    served = dataclasses.replace(
        registry.get(model_version.name), tune=lambda *_: TuneResult(hparams, valid)
    )
    specs = [served]
    if model_version.name != EVALUATION_REFERENCE:
        specs.append(registry.get(EVALUATION_REFERENCE))
    n_users = min(users_sample or len(split.users), len(split.users))
    progress(0.15, f"fitting {model_version.name} and ranking every item for {n_users:,} users")
    report = evaluate_models(
        "site",
        split,
        dataset.catalogue,
        specs,
        seed=seed,
        users_sample=users_sample,
        reference=EVALUATION_REFERENCE,
    )
    full = report_json(report)
    by_name = {m["name"]: m for m in full["models"]}
    mine, reference = by_name[model_version.name], by_name[EVALUATION_REFERENCE]
    evaluation = {
        "evaluated_at": timezone.now().isoformat(),
        "split_hash": full["split_hash"],
        "n_interactions": len(dataset.interactions),
        "n_users_evaluated": full["n_users_evaluated"],
        "users_sample": users_sample,
        "seed": seed,
        "test": mine["test"],
        "reference": EVALUATION_REFERENCE,
        "reference_test": reference["test"],
        "ndcg@10_diff_vs_reference": mine["ndcg@10_diff_vs_reference"],
        "seconds": full["seconds"],
    }
    evaluation = _plain_json(evaluation)
    ModelVersion.objects.filter(pk=model_version.pk).update(evaluation=evaluation)
    model_version.evaluation = evaluation
    progress(1.0, f"NDCG@10 {evaluation['test']['ndcg@10']:.4f} on {n_users:,} users")
    return evaluation


def _plain_json(value: Any) -> Any:
    """numpy scalars -> Python numbers and NaN / inf -> None: PostgreSQL's JSON rejects NaN."""
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
