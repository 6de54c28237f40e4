"""LLM loading: dtype choice, local folders, the per-process cache, the GGUF conversion cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recommender import llm as llm_module
from recommender.llm import cpu_supports_bf16, default_dtype, get_llm, load_llm, resolve_spec
from tests.recommender.tiny_llm import save_tiny_llm


def test_the_dtype_can_be_forced_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOMMENDER_LLM_DTYPE", "float32")
    assert default_dtype() == torch.float32
    monkeypatch.setenv("RECOMMENDER_LLM_DTYPE", "bf16")
    assert default_dtype() == torch.bfloat16
    monkeypatch.setenv("RECOMMENDER_LLM_DTYPE", "float8")
    with pytest.raises(ValueError):
        default_dtype()
    monkeypatch.delenv("RECOMMENDER_LLM_DTYPE")
    assert default_dtype() == (torch.bfloat16 if cpu_supports_bf16() else torch.float32)


def test_a_local_folder_loads_with_left_padding_and_a_version(tmp_path: Path) -> None:
    folder = save_tiny_llm(tmp_path / "tiny")
    handle = load_llm(str(folder), tmp_path / "cache", dtype=torch.float32)
    model, tokenizer = handle  # unpacks like (model, tokenizer)
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert handle.model_id == str(folder) and handle.version.startswith("local:")
    assert not model.training


def test_the_loader_is_cached_per_process(tmp_path: Path) -> None:
    folder = save_tiny_llm(tmp_path / "tiny")
    first = get_llm(str(folder), tmp_path / "cache", torch.float32)
    assert get_llm(str(folder), tmp_path / "cache", torch.float32) is first
    assert get_llm(str(folder), tmp_path / "cache", torch.bfloat16) is not first


def test_anything_else_is_a_hub_id(tmp_path: Path) -> None:
    assert resolve_spec("someone/some-model", tmp_path) == (
        "someone/some-model",
        "hub:someone/some-model",
    )


def test_importing_the_module_loads_no_weights() -> None:
    assert llm_module._cached.cache_info().currsize >= 0  # the cache exists, filled only on demand
    assert "transformers" not in llm_module.__dict__


@pytest.mark.integration
def test_the_gguf_is_converted_once_and_the_cache_is_reused(tmp_path: Path) -> None:
    before = llm_module.conversions
    first = load_llm(llm_module.PACKAGED_ALIAS, tmp_path)
    assert llm_module.conversions == before + 1
    second = load_llm(llm_module.PACKAGED_ALIAS, tmp_path)
    assert llm_module.conversions == before + 1  # the second load read the safetensors cache
    assert first.version == second.version and first.version.startswith("gguf-sha256:")
    folders = [p for p in (tmp_path / "models").iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "model.safetensors").exists()
