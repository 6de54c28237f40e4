"""The web app's apps are layered (import-linter keeps it so in CI): the names written out
to avoid an import circle must match what they name, and the signal that replaces the
profiles -> ranking import must still queue the refresh."""

from typing import Any

import pytest

from explanations.profile import Profile, make_statement
from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp.jobs.models import JobRun
from webapp.profiles.services import profile_save
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking import tasks as ranking_tasks
from webapp.recommendations import selectors as rec_selectors
from webapp.recommendations import tasks as rec_tasks


def test_the_written_out_task_names_match_the_tasks() -> None:
    assert rec_tasks.lists_rerank.name == rec_selectors.LISTS_RERANK_TASK
    assert (rec_tasks.model_train.name, rec_tasks.model_train_first.name) == (
        rec_selectors.TRAIN_TASKS
    )
    assert ranking_tasks.explanations_refresh.name == ranking_selectors.EXPLANATIONS_TASK


@pytest.mark.django_db
@pytest.mark.usefixtures("tiny_models")
def test_a_saved_profile_version_queues_an_explanation_refresh(
    django_user_model: Any, settings: Any
) -> None:
    settings.EXPLANATIONS_LLM = True  # the LLM words explanations on a worker
    user = django_user_model.objects.create_user("layers")
    profile = Profile(statements=(make_statement("funny films", "likes", source="user"),))
    profile_save(user=user, profile=profile, reason="edit", by=user)
    job = JobRun.objects.get(task_name=ranking_tasks.explanations_refresh.name)
    assert job.arguments == {"user_id": user.pk}
