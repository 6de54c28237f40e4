"""Fixtures for the profile tests: a two-taste catalogue with real titles, and tiny real
models (a 1-layer BERT encoder and a 2-layer Llama) saved as local folders the settings
point at, so ``ml.encoder()`` / ``ml.llm()`` load them exactly as they would MiniLM/SmolLM2.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from explanations.parsing import GENRE_PHRASE
from tests.recommender.tiny_bert import tiny_bert
from tests.recommender.tiny_llm import save_tiny_llm
from webapp.catalogue.models import Interaction
from webapp.recommendations import services as rec_services

T0 = datetime(2024, 1, 1, tzinfo=UTC)
COMEDIES = ["Airplane!", "Annie Hall", "Toy Story", "Babe", "Grease", "Clueless", "Tootsie",
            "Groundhog Day"]  # fmt: skip
HORRORS = ["Alien", "Shining, The", "Scream", "Halloween", "Psycho", "Exorcist, The",
           "Candyman", "Hellraiser"]  # fmt: skip


def save_tiny_encoder(folder: Path) -> Path:
    """A 1-layer, 16-dim BERT with a word-level tokenizer over our titles and genre words."""
    text = " ".join([*COMEDIES, *HORRORS, *GENRE_PHRASE, *GENRE_PHRASE.values(), "films genres"])
    network, tokenizer = tiny_bert(sorted(set(re.findall(r"\w+", text.lower()))), max_positions=128)
    network.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session", name="tiny_model_folders")
def tiny_model_folders_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "encoder": save_tiny_encoder(root / "encoder"),
        "llm": save_tiny_llm(root / "llm"),
    }


@pytest.fixture(name="tiny_models")
def tiny_models_fixture(settings: Any, tiny_model_folders: dict[str, Path]) -> dict[str, Path]:
    settings.EMBEDDING_MODEL = str(tiny_model_folders["encoder"])
    settings.LLM_MODEL = str(tiny_model_folders["llm"])
    return tiny_model_folders


@pytest.fixture(name="tastes")
def tastes_fixture(make_item: Any) -> dict[str, Any]:
    """Ten comedy fans and ten horror fans, each rating 7 of the 8 films of their genre, plus
    a trained EASE model and stored lists (the known answer: a fan's list leads with the one
    film of their genre they have not rated)."""
    users = get_user_model().objects
    comedies = [
        make_item(title=t, year=1975 + k, genres=("Comedy",)) for k, t in enumerate(COMEDIES)
    ]
    horrors = [make_item(title=t, year=1975 + k, genres=("Horror",)) for k, t in enumerate(HORRORS)]
    rows, fans = [], {"comedy": [], "horror": []}
    for group, block in (("comedy", comedies), ("horror", horrors)):
        for u in range(10):
            user = users.create_user(f"{group}{u}")  # no password: hashing is slow
            fans[group].append(user)
            for k, item in enumerate(block):
                if k != u % len(block):
                    at = T0 + timedelta(minutes=k)
                    rows.append(
                        Interaction(user=user, item=item, kind="rating", value=4, created_at=at)
                    )
    Interaction.objects.bulk_create(rows)
    mv = rec_services.model_train(name="ease")
    rec_services.recommendations_refresh(model_version=mv)
    return {"comedies": comedies, "horrors": horrors, "fans": fans, "model_version": mv}


@pytest.fixture(name="fan")
def fan_fixture(client: Any, tastes: dict[str, Any]) -> Any:
    """A comedy fan with a stored list, signed in; the catalogue is embedded (as the worker
    would have done before the user arrives)."""
    from webapp import ml
    from webapp.catalogue import services

    user = tastes["fans"]["comedy"][0]
    services.item_vectors_compute(encoder=ml.encoder())
    client.force_login(user)
    return user


def winning_adapter(llm_folder: Path, served: str = "ease", k: int = 4) -> Any:
    """A real LoRA adapter (2 steps on the tiny LLM, trained on ``served``'s candidates) whose
    validation record says it beat that retriever: the state in which serving reranks.

    The three numbers are set, not measured: a 2-step run on 20 users decides nothing, and the
    decision itself is tested on its own (tests/recommender/test_decision.py and the
    dashboard test); this is what the reranking that follows it needs.
    """
    from webapp.recommendations.models import Adapter

    adapter = rec_services.adapter_train(
        steps=2,
        retriever=served,
        llm_spec=str(llm_folder),
        overrides={"k": k, "hard_negatives": 2, "history": 3, "eval_every": 2, "eval_users": 8},
    )
    Adapter.objects.filter(pk=adapter.pk).update(
        valid_ndcg=0.5, retriever_valid_ndcg=0.4, valid_gain_low=0.02
    )
    adapter.refresh_from_db()
    return adapter
