"""Model files without pickle: arrays in an ``.npz`` read with ``allow_pickle=False``, the
rest as JSON beside them; torch checkpoints read with ``weights_only=True``.

Unpickling runs whatever code the file names, so anyone who could write the artifact folder
would run theirs in every worker that loads a model. Nothing here unpickles: a file holding a
pickle (a model saved by an older version, or a planted one) is refused with
:class:`UnreadableArtifact`, saying what to do instead.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

FORMAT = "arrays+json/1"
_SPARSE = {"csr_matrix": sp.csr_matrix, "csr_array": sp.csr_array}


class UnreadableArtifact(ValueError):
    """A model file this version does not read: another format, or one holding a pickle."""


def save_arrays(path: Path, *, kind: str, values: Mapping[str, Any]) -> None:
    """Write ``values`` to one ``.npz`` at ``path`` (whatever its suffix): numpy arrays,
    sparse matrices (stored as CSR parts), lists of arrays (stored flat with their lengths),
    and JSON values (numbers, strings, None, lists and dicts of them). ``kind`` names what
    the file holds (a class), checked by :func:`load_arrays`. Anything else is a TypeError:
    a model with such a field needs a ``save`` of its own, not a silent pickle."""
    meta: dict[str, Any] = {"format": FORMAT, "kind": kind, "json": {}, "sparse": {}}
    meta["arrays"], meta["ragged"] = [], []
    arrays: dict[str, np.ndarray] = {}
    for name, value in values.items():
        if isinstance(value, np.ndarray):
            arrays[f"array/{name}"] = _plain(name, value)
            meta["arrays"].append(name)
        elif sp.issparse(value):
            csr = value.tocsr()
            meta["sparse"][name] = "csr_array" if isinstance(value, sp.sparray) else "csr_matrix"
            for part in ("data", "indices", "indptr"):
                arrays[f"sparse/{name}/{part}"] = _plain(name, getattr(csr, part))
            arrays[f"sparse/{name}/shape"] = np.array(csr.shape, dtype=np.int64)
        elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            arrays[f"ragged/{name}/flat"] = _plain(name, np.concatenate(value))
            arrays[f"ragged/{name}/lengths"] = np.array([len(v) for v in value], dtype=np.int64)
            meta["ragged"].append(name)
        else:
            meta["json"][name] = _json_value(name, value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:  # a file object: np.savez would append ".npz" to a name
        # (numpy's stubs type every keyword as its allow_pickle flag)
        np.savez(fh, allow_pickle=False, __meta__=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]


def load_arrays(path: Path, *, kind: str) -> dict[str, Any]:
    """What :func:`save_arrays` wrote, never unpickling: a pickle, or an ``.npz`` with an
    object array inside, is an :class:`UnreadableArtifact`; a file of another ``kind`` a
    TypeError."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            if meta["kind"] != kind:
                raise TypeError(f"{path} holds a {meta['kind']}, not a {kind}")
            values: dict[str, Any] = dict(meta["json"])
            values.update({name: z[f"array/{name}"] for name in meta["arrays"]})
            for name, form in meta["sparse"].items():
                parts = [z[f"sparse/{name}/{p}"] for p in ("data", "indices", "indptr")]
                shape = tuple(int(n) for n in z[f"sparse/{name}/shape"])
                values[name] = _SPARSE[form](tuple(parts), shape=shape)
            for name in meta["ragged"]:
                flat, lengths = z[f"ragged/{name}/flat"], z[f"ragged/{name}/lengths"]
                bounds = np.r_[0, np.cumsum(lengths)]
                values[name] = [flat[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]
    except (ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise UnreadableArtifact(
            f"{path} is not a model file this version reads ({exc}). Model files used to be "
            "pickles, which are never loaded now (loading one runs any code it names): "
            "retrain the model (python manage.py train_recommender) to write it again"
        ) from exc
    return values


def load_checkpoint(path: Path) -> Any:
    """A torch checkpoint of tensors and plain values (numbers, strings, lists, tuples,
    dicts), read with ``weights_only=True``: one holding anything else (numpy arrays, as
    older checkpoints pickled numpy's random state; a planted object) is refused."""
    import pickle

    import torch

    try:
        return torch.load(Path(path), weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnreadableArtifact(
            f"{path} holds more than tensors and plain values, and is not unpickled (that "
            "would run any code it names); an older version wrote numpy state into its "
            "checkpoints: delete this one to train from the start"
        ) from exc


def numpy_global_state() -> dict[str, Any]:
    """numpy's global random state as plain values (a torch checkpoint keeps it without
    pickling an array); :func:`set_numpy_global_state` restores it."""
    state = np.random.get_state(legacy=False)
    assert isinstance(state, dict)  # legacy=False: the dict form
    return {**state, "state": {**state["state"], "key": state["state"]["key"].tolist()}}


def set_numpy_global_state(state: dict[str, Any]) -> None:
    key = np.array(state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**state, "state": {**state["state"], "key": key}})


def _plain(name: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.hasobject:
        raise TypeError(f"{name}: an object array cannot be saved without pickle")
    return array


def _json_value(name: str, value: Any) -> Any:
    def numpy_scalar(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        raise TypeError(f"{name}: a {type(o).__name__} cannot be saved without pickle")

    return json.loads(json.dumps(value, default=numpy_scalar))
