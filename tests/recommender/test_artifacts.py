"""Model files are arrays and JSON, never pickles: a round trip keeps every score, and a file
holding a pickle (an old model file, or one planted in the artifact folder) is refused
without running what it names."""

from __future__ import annotations

import io
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from recommender.artifacts import (
    UnreadableArtifact,
    load_arrays,
    load_checkpoint,
    numpy_global_state,
    save_arrays,
    set_numpy_global_state,
)
from recommender.models.ease import EASE, EASEConfig
from recommender.models.itemknn import ItemKNN
from tests.recommender.contract import checkerboard


class _Planted:
    """What an attacker pickles: unpickling calls ``Path.touch(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def test_a_model_saved_and_loaded_scores_the_same_and_holds_no_pickle(tmp_path: Path) -> None:
    board = checkerboard()
    items = np.arange(board.interactions.n_items)
    for model in (EASE(EASEConfig(l2=3.0)), ItemKNN()):
        fitted = model.fit(board.interactions, board.catalogue)
        path = tmp_path / f"{fitted.name}.bin"
        fitted.save(path)
        with np.load(path, allow_pickle=False) as z:  # every entry reads without pickle
            assert all(z[name].dtype != object for name in z.files)
        loaded = type(fitted).load(path)
        assert loaded.config == fitted.config
        for user in range(board.interactions.n_users):
            np.testing.assert_array_equal(loaded.score(user, items), fitted.score(user, items))
            np.testing.assert_array_equal(loaded.seen(user), fitted.seen(user))
        with pytest.raises(TypeError, match="not a"):
            (ItemKNN if isinstance(fitted, EASE) else EASE).load(path)


def test_a_pickled_model_file_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "old.bin"
    path.write_bytes(pickle.dumps(_Planted(marker)))  # what Ranker.save used to write
    with pytest.raises(UnreadableArtifact, match="retrain"):
        EASE.load(path)
    assert not marker.exists()


def test_an_npz_with_a_pickled_array_inside_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    saved, path = tmp_path / "saved.bin", tmp_path / "planted.bin"
    save_arrays(saved, kind="x", values={"weights": np.zeros(2)})
    planted = io.BytesIO()
    np.save(planted, np.array([_Planted(marker)], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__meta__.npy", source.read("__meta__.npy"))
        archive.writestr("array/weights.npy", planted.getvalue())  # the entry it will read
    with pytest.raises(UnreadableArtifact, match="Object arrays"):
        load_arrays(path, kind="x")
    assert not marker.exists()
    with pytest.raises(TypeError, match="without pickle"):  # nor is one ever written
        save_arrays(tmp_path / "no.bin", kind="x", values={"anything": object()})


def test_a_checkpoint_loads_tensors_and_plain_values_and_refuses_a_pickled_object(
    tmp_path: Path,
) -> None:
    np.random.seed(3)
    weights = torch.arange(4.0)
    state = {
        "net": {"w": weights},
        "rng": {"torch": torch.get_rng_state(), "numpy": numpy_global_state()},
        "python": random.getstate(),
        "history": [{"epoch": 1, "loss": 0.5}],
        "pcg": np.random.default_rng(0).bit_generator.state,  # 128-bit ints
    }
    torch.save(state, tmp_path / "ok.pt")
    expected = np.random.random(3)
    np.random.seed(99)
    loaded = load_checkpoint(tmp_path / "ok.pt")
    assert torch.equal(loaded["net"]["w"], weights) and loaded["pcg"] == state["pcg"]
    set_numpy_global_state(loaded["rng"]["numpy"])
    np.testing.assert_array_equal(np.random.random(3), expected)  # the same stream resumes

    marker = tmp_path / "ran"
    torch.save({"net": {}, "payload": _Planted(marker)}, tmp_path / "planted.pt")
    torch.save({"numpy": np.random.get_state()}, tmp_path / "old.pt")  # an older checkpoint
    for name in ("planted.pt", "old.pt"):
        with pytest.raises(UnreadableArtifact, match="delete this one"):
            load_checkpoint(tmp_path / name)
    assert not marker.exists()
