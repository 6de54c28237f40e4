"""Each item-add serves a copy of the model (the network again, one row longer): the copies
that nothing serves or reads any more are deleted, rows and files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from webapp.recommendations import selectors, services
from webapp.recommendations.models import ModelVersion, RecommendationList

pytestmark = pytest.mark.django_db


def _copy_of(mv: ModelVersion, n: int) -> ModelVersion:
    """What items_add_to_model leaves: the artifact and ids file again, under a new version
    that names the one it was added to."""
    path = Path(mv.path).with_name(f"{mv.version}-copy{n}.bin")
    shutil.copyfile(mv.path, path)
    shutil.copyfile(selectors.ids_path(mv.path), selectors.ids_path(path))
    return ModelVersion.objects.create(
        name=mv.name,
        version=f"{mv.version[:50]}-copy{n}",
        path=str(path),
        hparams={**mv.hparams, "added_items": n, "added_to": mv.version},
    )


def test_only_the_copies_nothing_serves_or_reads_are_pruned(two_tastes: dict[str, Any]) -> None:
    trained = services.model_train(name="ease")
    services.recommendations_refresh(model_version=trained)
    old, read, serving = (_copy_of(trained, n) for n in (1, 2, 3))
    fan = two_tastes["users"]["comedy"][0]
    RecommendationList.objects.filter(user=fan).update(model_version=read)  # one list reads it
    services.model_activate(mv=serving)

    assert services.model_copies_prune() == 1
    kept = set(ModelVersion.objects.values_list("pk", flat=True))
    assert kept == {trained.pk, read.pk, serving.pk}  # the trained version is never a copy
    assert not Path(old.path).exists() and not selectors.ids_path(old.path).exists()
    assert all(Path(mv.path).exists() for mv in (trained, read, serving))
    assert json.loads(selectors.ids_path(serving.path).read_text())["items"]

    # once no list reads it, the next item-add's prune takes it too
    services.recommendations_refresh(model_version=serving)
    assert services.model_copies_prune() == 1
    assert set(ModelVersion.objects.values_list("pk", flat=True)) == {trained.pk, serving.pk}


def test_a_copy_whose_path_is_outside_the_artifact_folder_keeps_its_file(
    two_tastes: dict[str, Any], tmp_path: Path
) -> None:
    trained = services.model_train(name="ease")
    stray = tmp_path / "elsewhere.bin"
    stray.write_bytes(b"not ours")
    ModelVersion.objects.create(
        name="ease", version="stray", path=str(stray), hparams={"added_to": trained.version}
    )
    assert services.model_copies_prune() == 1
    assert stray.exists()  # the row went; a file the admin pointed elsewhere is left alone
