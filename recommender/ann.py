"""Nearest items by text vector: one small interface over an HNSW index file (usearch).

    build(vectors, path)           # (n, d) unit rows -> an index file beside the vectors
    index = open_index(path, n, d) # memory-mapped: every web process shares the same pages
    ids, cosines = index.search(queries, k)   # (q, d) -> (q, k) item rows, (q, k) cosines

:class:`ExactIndex` answers the same ``search`` with one matrix product: what a catalogue under
:data:`EXACT_BELOW` items uses (a 3.7k x 384 product is well under a millisecond, and exact is
what the evaluations were measured with), and what a larger one uses while its index file is
missing or corrupt and being rebuilt (:func:`open_or_rebuild`).

Keys are the rows of ``vectors``; all-zero rows (items added since the vectors were computed)
are left out of the index, as exact search leaves them out too (their cosine is undefined).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

# Below this many items exact search is the default: it costs a millisecond or two, and it is
# what every evaluation (ML-100K, ML-1M) was measured with.
EXACT_BELOW = 20_000


@dataclass(frozen=True)
class AnnConfig:
    connectivity: int = 16  # HNSW graph degree (M): memory ~ 2 * M * 8 bytes per item
    expansion_add: int = 128  # candidate list while building (efConstruction)
    # candidate list while searching (ef); a search for k items uses max(ef, k + ef // 2)
    expansion_search: int = 128


class NearestItems(Protocol):
    """What the request path needs: the ``k`` items nearest each query, best first."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(q, d) float32 -> ids (q, k') int64 rows, cosines (q, k') float32; k' <= k."""
        ...


class IndexFileError(Exception):
    """The index file is missing, unreadable or not for these vectors."""


def _rows(vectors: np.ndarray) -> np.ndarray:
    """(m,) the rows with a non-zero vector: the ones search may return."""
    return np.flatnonzero(np.any(np.asarray(vectors) != 0, axis=1))


class ExactIndex:
    """Exact cosine search: ``vectors @ q`` over every non-zero row."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.live = _rows(vectors)  # (m,)
        # (m, d): the rows search may return, copied once only if some are empty
        self.vectors = vectors if len(self.live) == len(vectors) else vectors[self.live]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, dtype=self.vectors.dtype))  # (q, d)
        sims = q @ self.vectors.T  # (q, m)
        k = min(k, sims.shape[1])
        if k == 0:
            return np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0), np.float32)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (q, k) unordered
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        ids = self.live[np.take_along_axis(top, order, axis=1)]
        return ids.astype(np.int64), np.take_along_axis(top_sims, order, axis=1).astype(np.float32)


class HnswIndex:
    """An HNSW graph read from its file, memory-mapped (``usearch`` ``view=True``)."""

    def __init__(self, index: object, config: AnnConfig) -> None:
        self.index = index  # usearch.index.Index
        self.config = config
        self._lock = threading.Lock()  # expansion_search is the index's state, not the call's

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        with self._lock:
            self.index.expansion_search = max(  # type: ignore[attr-defined]
                self.config.expansion_search, k + self.config.expansion_search // 2
            )
            found = self.index.search(q, k, threads=1)  # type: ignore[attr-defined]
        keys = np.atleast_2d(np.asarray(found.keys, dtype=np.int64))  # (q, k)
        dist = np.atleast_2d(np.asarray(found.distances, dtype=np.float32))
        # one query gives usearch's Matches (no counts), several its BatchMatches
        counts = np.atleast_1d(np.asarray(getattr(found, "counts", keys.shape[1])))
        kept = int(counts.min()) if len(counts) else 0  # a short answer: cut every row alike
        return keys[:, :kept], 1.0 - dist[:, :kept]  # usearch's cosine distance is 1 - cos


def build(vectors: np.ndarray, path: Path, config: AnnConfig = AnnConfig()) -> Path:
    """Write the HNSW index of ``vectors``' non-zero rows (keys: row numbers) to ``path``,
    written aside and renamed into place so a reader sees the whole file or none of it."""
    from usearch.index import Index  # lazy: only the worker and a rebuild pay the import

    vectors = np.asarray(vectors, dtype=np.float32)  # (n, d)
    index = Index(
        ndim=vectors.shape[1],
        metric="cos",
        dtype="f32",
        connectivity=config.connectivity,
        expansion_add=config.expansion_add,
        expansion_search=config.expansion_search,
    )
    live = _rows(vectors)
    if len(live):
        index.add(live.astype(np.uint64), vectors[live], threads=max(1, (os.cpu_count() or 1)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        index.save(staging)
        os.replace(staging, path)
    finally:
        Path(staging).unlink(missing_ok=True)
    return path


def open_index(path: Path, n: int, d: int, config: AnnConfig = AnnConfig()) -> HnswIndex:
    """The index at ``path``, memory-mapped; :class:`IndexFileError` unless it is a readable
    index of ``n`` rows' worth of ``d``-dimensional vectors."""
    from usearch.index import Index

    path = Path(path)
    if not path.is_file():
        raise IndexFileError(f"{path} is missing")
    try:
        index = Index.restore(str(path), view=True)
    except Exception as error:  # usearch raises RuntimeError or ValueError on a bad file
        raise IndexFileError(f"{path} is unreadable: {error}") from error
    if index is None:
        raise IndexFileError(f"{path} is not a usearch index")
    if index.ndim != d or len(index) > n:
        raise IndexFileError(f"{path} holds {len(index)} x {index.ndim}, not for {n} x {d}")
    return HnswIndex(index, config)


def _probed(index: HnswIndex, vectors: np.ndarray, probes: int = 8) -> HnswIndex:
    """``index`` when a few of its own rows find themselves (cosine ~1): a file whose header
    reads but whose graph or vectors were damaged fails this."""
    live = _rows(vectors)
    rows = live[np.linspace(0, len(live) - 1, min(probes, len(live))).astype(np.int64)]
    if len(rows):
        _, cosines = index.search(np.asarray(vectors[rows], np.float32), 1)
        if cosines.shape[1] == 0 or float(cosines[:, 0].min()) < 0.99:
            raise IndexFileError("does not find its own items")
    return index


STALE_CLAIM_SECONDS = 3600  # a rebuild claim older than this is a dead process's
RETRY_SECONDS = 30.0  # how often a process that is not rebuilding looks for the new file


def _claim(path: Path) -> bool:
    """Whether this process rebuilds ``path``: the first to create ``<path>.building`` does,
    so N web processes that find the file broken build it once, not N times."""
    marker = Path(f"{path}.building")
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        if time.time() - marker.stat().st_mtime > STALE_CLAIM_SECONDS:
            marker.unlink(missing_ok=True)
    except FileNotFoundError:
        pass
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class RebuildingIndex:
    """Exact search until the index file is rebuilt (by this process's thread, or by the one
    that claimed it: looked for every ``RETRY_SECONDS``), then the rebuilt index: what a caller
    that caches its index (one per process and vectors file) holds."""

    def __init__(self, path: Path, vectors: np.ndarray, config: AnnConfig) -> None:
        self.path, self.vectors, self.config = Path(path), vectors, config
        self.current: NearestItems = ExactIndex(vectors)
        self.done = threading.Event()
        self._next_look = time.monotonic() + RETRY_SECONDS

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.done.is_set() and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + RETRY_SECONDS
            self._look()
        return self.current.search(queries, k)

    def _look(self) -> None:
        """Another process's rebuild, once its file is there and sound."""
        if Path(f"{self.path}.building").exists():
            return
        try:
            self.current = _probed(open_index(self.path, *self._shape, self.config), self.vectors)
            self.done.set()
        except IndexFileError:
            pass

    @property
    def _shape(self) -> tuple[int, int]:
        n, d = self.vectors.shape
        return n, d

    def rebuild(self) -> None:
        try:
            build(self.vectors, self.path, self.config)
            self.current = open_index(self.path, *self._shape, self.config)
            log.info("ANN index %s rebuilt (%d items)", self.path, len(self.vectors))
        except Exception:  # a thread's failure must not pass silently; exact search stays
            log.exception("ANN index %s: rebuild failed; exact search goes on", self.path)
        finally:
            Path(f"{self.path}.building").unlink(missing_ok=True)
            self.done.set()


def open_or_rebuild(
    path: Path,
    vectors: np.ndarray,
    config: AnnConfig = AnnConfig(),
    *,
    wait: bool = False,
    exact_below: int | None = None,
) -> NearestItems:
    """The index at ``path``; when it is missing or corrupt, a log line, exact search and a
    rebuild from ``vectors`` in a background thread (``wait``: in this one), after which the
    returned object searches the rebuilt index. One process rebuilds (:func:`_claim`); the
    others search exactly until its file is there. Under ``exact_below`` rows (default
    :data:`EXACT_BELOW`): exact search."""
    n, d = vectors.shape
    if n < (EXACT_BELOW if exact_below is None else exact_below):
        return ExactIndex(vectors)
    try:
        return _probed(open_index(path, n, d, config), vectors)
    except IndexFileError as error:
        log.warning(
            "ANN index %s; rebuilding it from the item vectors, exact search meanwhile", error
        )
    swapping = RebuildingIndex(path, vectors, config)
    if not _claim(Path(path)):
        return swapping  # another process is rebuilding it
    if wait:
        swapping.rebuild()
    else:
        name = f"ann-rebuild-{Path(path).name}"
        threading.Thread(target=swapping.rebuild, name=name, daemon=True).start()
    return swapping
