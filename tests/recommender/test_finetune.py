"""LoRA fine-tuning: examples from train only, a step moves the adapter, save/reload is exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recommender import finetune as finetune_module
from recommender.finetune import (
    FinetuneConfig,
    attach_lora,
    drop_last,
    finetune,
    load_tuned,
    prefix_examples,
    training_examples,
    validation_candidates,
)
from recommender.rerank import build_prompt, label_logits, label_token_ids, pad_left
from recommender.split import leave_last_out
from tests.recommender.tiny_llm import (
    N_ITEMS,
    save_tiny_llm,
    tiny_catalogue,
    tiny_interactions,
    tiny_llm,
    tiny_titles,
)

CONFIG = FinetuneConfig(
    steps=2,
    batch_size=2,
    k=6,
    hard_negatives=3,
    history=3,
    eval_every=1,
    eval_users=3,
    warmup=1,
    lr=1e-2,
    examples="sampled",
    cowatch_top=0,
)


def _popularity_fit(data: object) -> np.ndarray:
    """A real retriever for the prefix recipe: item popularity in ``data``, for every user."""
    from recommender import registry

    model = registry.get("pop").build({}, 0).fit(data, tiny_catalogue())  # type: ignore[arg-type]
    return np.stack([model.score(u, np.arange(N_ITEMS)) for u in range(data.n_users)])  # type: ignore[attr-defined]


def _split_and_scores() -> tuple:
    split = leave_last_out(tiny_interactions())
    scores = np.random.default_rng(0).normal(size=(split.train.n_users, N_ITEMS)).astype(np.float32)
    return split, scores


def test_examples_come_from_train_and_label_their_target() -> None:
    split, scores = _split_and_scores()
    histories = split.train.histories()
    held_out = set(zip(split.users.tolist(), split.valid_items.tolist(), strict=True))
    for ex in training_examples(split, scores, CONFIG, 40):
        assert len(set(ex.candidates)) == CONFIG.k
        target = ex.candidates[ex.label]
        user = ex.user
        assert ex.history == tuple(
            histories[user][: list(histories[user]).index(target)][-CONFIG.history :]
        )
        assert target in histories[user]
        assert (user, target) not in held_out
        others = set(ex.candidates) - {target}
        assert not others & set(histories[user].tolist())  # no training positive is a negative


def test_validation_candidates_are_in_retriever_order() -> None:
    split, scores = _split_and_scores()
    users, cands, pos = validation_candidates(split, scores, 6)
    for row, u in enumerate(users):
        assert (np.diff(scores[u, cands[row]]) <= 0).all()
        assert pos[row] == -1 or cands[row, pos[row]] == split.valid_items[row]


def _logits(model: torch.nn.Module, tokenizer: object) -> torch.Tensor:
    prompt = build_prompt(tokenizer, tiny_titles()[:3], tiny_titles()[3:9])
    ids, mask = pad_left([prompt], tokenizer.pad_token_id)  # type: ignore[attr-defined]
    with torch.no_grad():
        return label_logits(model, ids, mask, label_token_ids(tokenizer, 6))


def test_one_lora_step_moves_the_adapter_and_the_saved_adapter_reloads_exactly(
    tmp_path: Path,
) -> None:
    from peft import PeftModel

    split, scores = _split_and_scores()
    base_dir = save_tiny_llm(tmp_path / "base")
    cfg = FinetuneConfig(**{**CONFIG.__dict__, "steps": 1, "llm": str(base_dir)})
    progress: list[tuple[int, int, float]] = []
    result = finetune(
        split,
        tiny_catalogue(),
        scores,
        tmp_path / "run",
        cfg,
        progress=lambda *a: progress.append(a),
        show_progress=False,
    )
    assert progress and progress[-1][:2] == (1, 1)
    meta = (tmp_path / "run" / "finetune.json").read_text()
    assert split.hash in meta and "valid_ndcg" in meta

    tuned = PeftModel.from_pretrained(
        tiny_llm().model, str(tmp_path / "run" / "checkpoint" / "adapter")
    )
    lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: the step moved it

    tok = tiny_llm().tokenizer
    reloaded = PeftModel.from_pretrained(tiny_llm().model, str(result.adapter_dir))
    again = PeftModel.from_pretrained(tiny_llm().model, str(result.adapter_dir))
    torch.testing.assert_close(_logits(reloaded, tok), _logits(again, tok))
    merged = load_tuned(result.adapter_dir, llm=str(base_dir))
    torch.testing.assert_close(
        _logits(merged.model.float(), tok), _logits(reloaded, tok), rtol=2e-2, atol=2e-2
    )


def test_a_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    split, scores = _split_and_scores()
    base_dir = save_tiny_llm(tmp_path / "base")
    out = tmp_path / "run"
    cfg = FinetuneConfig(**{**CONFIG.__dict__, "llm": str(base_dir), "steps": 1})
    finetune(split, tiny_catalogue(), scores, out, cfg, show_progress=False)
    seen: list[int] = []
    cfg2 = FinetuneConfig(**{**CONFIG.__dict__, "llm": str(base_dir), "steps": 2})
    finetune(
        split,
        tiny_catalogue(),
        scores,
        out,
        cfg2,
        progress=lambda s, t, loss: seen.append(s),
        show_progress=False,
    )
    assert seen == [2]  # step 1 was not repeated


def test_drop_last_cuts_each_users_last_items_and_names_the_next_one() -> None:
    split, _ = _split_and_scores()
    histories = split.train.histories()
    cut, nxt = drop_last(split.train, 2)
    for u, (full, kept) in enumerate(zip(histories, cut.histories(), strict=True)):
        if len(full) > 2:
            assert list(kept) == list(full[:-2])
            assert nxt[u] == full[-2]
        else:
            assert len(kept) == 0 and nxt[u] == -1


def test_prefix_examples_are_real_retriever_candidate_lists_from_train() -> None:
    split, _ = _split_and_scores()
    cfg = FinetuneConfig(
        **{**CONFIG.__dict__, "examples": "prefix", "max_levels": 4, "order": "shuffled"}
    )
    examples, levels = prefix_examples(split, _popularity_fit, cfg, 1000)
    assert examples and [lv["level"] for lv in levels] == [1, 2, 3, 4]
    assert sum(lv["examples"] for lv in levels) == len(examples)
    histories = split.train.histories()
    held_out = set(zip(split.users.tolist(), split.valid_items.tolist(), strict=True))
    for ex in examples:
        target = ex.candidates[ex.label]
        assert len(set(ex.candidates)) == cfg.k
        assert target in histories[ex.user] and (ex.user, target) not in held_out
        # the context is the history right before the target, cut to the configured length
        before = list(histories[ex.user][: list(histories[ex.user]).index(target)])
        assert list(ex.history) == before[-cfg.history :]
        assert not set(ex.candidates) & set(ex.history)
    # shown in shuffled order: the target is not always in the first slot
    assert len({ex.label for ex in examples}) > 1


def test_lora_on_the_top_layers_only_leaves_the_lower_ones_untouched(tmp_path: Path) -> None:
    from recommender.finetune import attach_lora

    cfg = FinetuneConfig(**{**CONFIG.__dict__, "lora_layers": 1})
    model = attach_lora(tiny_llm().model, cfg)
    adapted = {
        n.split(".layers.")[1].split(".")[0] for n, _ in model.named_parameters() if "lora_" in n
    }
    n_layers = model.config.num_hidden_layers
    assert adapted == {str(n_layers - 1)}


def _prefix_run(tmp_path: Path, **overrides: object) -> dict:
    """A one-step "prefix" run on the tiny model; its finetune.json."""
    import json

    split, scores = _split_and_scores()
    base_dir = save_tiny_llm(tmp_path / "base")
    changes = {"llm": str(base_dir), "steps": 1, "examples": "prefix", "max_levels": 2}
    cfg = FinetuneConfig(**{**CONFIG.__dict__, **changes, **overrides})  # type: ignore[arg-type]
    out = tmp_path / "run"
    finetune(
        split, tiny_catalogue(), scores, out, cfg, show_progress=False, fit_scores=_popularity_fit
    )
    return json.loads((out / "finetune.json").read_text())


def test_a_prefix_run_trains_and_records_its_levels(tmp_path: Path) -> None:
    meta = _prefix_run(tmp_path)
    assert [lv["level"] for lv in meta["prefix_levels"]] == [
        1
    ]  # 2 examples wanted, level 1 had them
    assert 0.0 <= meta["valid_blend"] <= 1.0
    assert meta["valid_ndcg@10_in_candidates"] >= meta["retriever_valid_ndcg@10_in_candidates"]


def test_prefix_examples_in_retriever_order_show_the_retrievers_ranking() -> None:
    split, _ = _split_and_scores()
    cfg = FinetuneConfig(**{**CONFIG.__dict__, "examples": "prefix", "max_levels": 1})
    assert cfg.order == "retriever"
    examples, _ = prefix_examples(split, _popularity_fit, cfg, 1000)
    cut, _ = drop_last(split.train, 1)  # level 1's retriever was fitted on exactly this
    pop = _popularity_fit(cut)
    assert examples
    for ex in examples:
        shown = pop[ex.user, list(ex.candidates)]
        assert (np.diff(shown) <= 0).all()


def test_hinted_examples_read_co_watch_from_the_refitted_data_only() -> None:
    from recommender.cowatch import CoWatch

    split, _ = _split_and_scores()
    cfg = FinetuneConfig(
        **{**CONFIG.__dict__, "examples": "prefix", "max_levels": 1, "cowatch_top": 3}
    )
    examples, _ = prefix_examples(split, _popularity_fit, cfg, 1000)
    cut, _ = drop_last(split.train, 1)  # the target and later rows are not in it: no leak
    cw = CoWatch.from_interactions(cut)
    assert examples
    for ex in examples:
        np.testing.assert_allclose(
            ex.cowatch, cw.affinity(np.array(ex.history), np.array(ex.candidates))
        )


def test_hints_need_prefix_examples() -> None:
    import pytest

    with pytest.raises(ValueError, match="prefix"):
        FinetuneConfig(**{**CONFIG.__dict__, "cowatch_top": 3})  # CONFIG uses "sampled"


def test_a_hinted_run_saves_its_prompt_form_with_the_adapter(tmp_path: Path) -> None:
    _prefix_run(tmp_path, cowatch_top=3)
    import json

    meta = json.loads((tmp_path / "run" / "adapter" / "finetune.json").read_text())
    restored = FinetuneConfig(**meta["config"])
    assert restored.rerank_config().cowatch_top == 3


def _adapter(folder: Path, seed: int) -> Path:
    """A saved LoRA adapter on the tiny LLM (fresh weights: what matters is its path)."""
    attach_lora(tiny_llm(seed).model, CONFIG).save_pretrained(str(folder))
    return folder


def test_the_tuned_model_cache_keeps_only_the_most_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOMMENDER_TUNED_CACHE", "2")
    monkeypatch.setattr(finetune_module, "_TUNED", type(finetune_module._TUNED)())
    base = str(save_tiny_llm(tmp_path / "base"))
    a, b, c = (_adapter(tmp_path / name, i) for i, name in enumerate("abc"))
    first_a = load_tuned(a, llm=base)
    load_tuned(b, llm=base)
    assert load_tuned(a, llm=base) is first_a  # a hit, and now the most recent
    load_tuned(c, llm=base)  # over the size: b, the least recently used, goes
    assert [Path(key[0]).name for key in finetune_module._TUNED] == ["a", "c"]
    assert load_tuned(a, llm=base) is first_a
    assert load_tuned(b, llm=base) is not None and len(finetune_module._TUNED) == 2


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_tuned_cache_size_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("RECOMMENDER_TUNED_CACHE", value)
    with pytest.raises(ValueError, match="RECOMMENDER_TUNED_CACHE"):
        finetune_module.tuned_cache_size()
