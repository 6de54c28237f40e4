import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import numpy as np
import pytest

from recommender import harness, registry
from recommender.data import Catalogue, Interactions, load_movielens
from recommender.evaluate import main
from recommender.models.ease import EASE, EASEConfig
from recommender.models.mf import BPR, BPRConfig, mf_tune
from recommender.models.popularity import MostPopular
from recommender.registry import ModelSpec
from recommender.split import leave_last_out
from tests.recommender.contract import checkerboard


def small_split() -> tuple[Any, Catalogue]:
    data = checkerboard(users_per_group=15, items_per_block=12)
    return leave_last_out(data.interactions), data.catalogue


def test_ranks_are_the_positions_recommend_would_give() -> None:
    # MostPopular on a checkerboard has many tied scores: the tie-break must match recommend's
    data = checkerboard()
    for model in (MostPopular(), EASE(EASEConfig(l2=5.0))):
        model.fit(data.interactions, data.catalogue)
        users = np.arange(data.interactions.n_users)
        ranking = harness.rank_users(model, data.interactions, users, data.held_out, k=5)
        for u in users:
            items, _ = model.recommend(int(u), n=data.interactions.n_items)
            assert ranking.ranks[u] == items.tolist().index(data.held_out[u])
            np.testing.assert_array_equal(ranking.top[u], items[:5])


def test_a_masked_target_counts_as_a_miss() -> None:
    data = checkerboard()
    model = MostPopular().fit(data.interactions, data.catalogue)
    seen_item = data.interactions.histories()[0][:1]
    ranking = harness.rank_users(model, data.interactions, np.array([0]), seen_item)
    assert ranking.ranks[0] == data.interactions.n_items


def test_validate_is_the_mean_validation_ndcg_at_10() -> None:
    split, catalogue = small_split()
    model = EASE(EASEConfig(l2=5.0)).fit(split.train, catalogue)
    ranks = harness.validation_ranking(model, split).ranks
    expected = np.where(ranks < 10, 1 / np.log2(ranks + 2), 0).mean()
    assert harness.validate(model, split) == pytest.approx(expected)


class SpyModel(MostPopular):
    """Records what it was fitted on, to prove test rows never reach tuning."""

    fitted_on: list[Interactions] = []  # class-level on purpose: shared by every instance

    def fit(self, interactions: Interactions, catalogue: Catalogue) -> Self:
        SpyModel.fitted_on.append(interactions)
        return super().fit(interactions, catalogue)


def test_tuning_fits_on_train_and_only_the_final_refit_sees_validation_rows() -> None:
    split, catalogue = small_split()
    SpyModel.fitted_on = []
    spec = ModelSpec("spy", lambda hp, seed: SpyModel(), grid={"distinct_users": [True, False]})
    harness.run_model(spec, split, catalogue, seed=0)
    *tuning, final = SpyModel.fitted_on
    assert len(tuning) == 2 and all(len(f) == len(split.train) for f in tuning)
    assert len(final) == len(split.train) + len(split.valid)
    test_pairs = set(zip(split.test.users.tolist(), split.test.items.tolist(), strict=True))
    for fitted in SpyModel.fitted_on:
        assert not test_pairs & set(zip(fitted.users.tolist(), fitted.items.tolist(), strict=True))


def test_the_train_only_protocol_tests_the_train_fit_with_validation_masked() -> None:
    split, catalogue = small_split()
    SpyModel.fitted_on = []
    spec = ModelSpec("spy", lambda hp, seed: SpyModel(), grid={"distinct_users": [True, False]})
    result = harness.run_model(spec, split, catalogue, seed=0, protocol="train-only")
    assert all(len(f) == len(split.train) for f in SpyModel.fitted_on)  # never train+valid
    refit = harness.run_model(spec, split, catalogue, seed=0)
    assert result.means.keys() == refit.means.keys()
    with pytest.raises(ValueError, match="unknown protocol"):
        harness.run_model(spec, split, catalogue, seed=0, protocol="peek")
    report = harness.evaluate_models("toy", split, catalogue, [spec], protocol="train-only")
    assert harness.report_json(report)["protocol"] == "train-only"


def tiny_specs() -> list[ModelSpec]:
    def build_bpr(hp: Mapping[str, Any], seed: int) -> BPR:
        return BPR(BPRConfig(**{**hp, "random_state": seed}))

    bpr = ModelSpec(
        "bpr",
        build_bpr,
        tune=mf_tune(build_bpr, {"factors": [4, 8], "eval_every": [5]}, 20, patience=2),
        baseline=True,
    )
    return [registry.get("pop"), registry.get("itemknn"), registry.get("ease"), bpr]


def strip_timings(report: harness.Report) -> dict[str, Any]:
    payload = harness.report_json(report)
    payload.pop("seconds")
    for m in payload["models"]:
        m.pop("seconds")
        for t in m["trials"]:
            t.pop("seconds", None)
    return payload


def test_the_same_seed_gives_the_same_numbers() -> None:
    split, catalogue = small_split()
    first = harness.evaluate_models("toy", split, catalogue, tiny_specs(), seed=3)
    second = harness.evaluate_models("toy", split, catalogue, tiny_specs(), seed=3)
    assert strip_timings(first) == strip_timings(second)
    assert first.reference is not None
    assert all(r.ci is not None for r in first.models if r.name != first.reference)
    for a, b in zip(first.models, second.models, strict=True):
        for name in a.per_user:
            np.testing.assert_array_equal(a.per_user[name], b.per_user[name])


def test_the_report_has_a_row_per_model_and_every_metric(tmp_path: Path) -> None:
    split, catalogue = small_split()
    report = harness.evaluate_models("toy", split, catalogue, tiny_specs()[:2], seed=0)
    table = harness.format_table(report)
    assert "pop" in table and "itemknn" in table and "(reference)" in table
    paths = harness.write_report(report, tmp_path, split)
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["split_hash"] == split.hash
    assert set(payload["models"][0]["test"]) >= {
        "ndcg@10", "ndcg@20", "recall@10", "recall@20", "mrr@10",
        "coverage@10", "novelty", "ild", "pop_pct",
    }  # fmt: skip
    assert all(p.exists() for p in paths)
    assert np.load(tmp_path / "per_user.npz")["pop/ndcg@10"].shape == (len(split.users),)


def test_sampling_users_keeps_held_out_items_aligned() -> None:
    split, _ = small_split()
    sample = harness.sample_users(split, 7, seed=1)
    assert len(sample.users) == 7
    index = np.searchsorted(split.users, sample.users)
    np.testing.assert_array_equal(sample.test_items, split.test_items[index])
    np.testing.assert_array_equal(sample.valid_items, split.valid_items[index])


def test_the_cli_names_an_unavailable_model_before_doing_any_work(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--models", "pop,nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_a_registered_model_whose_module_is_missing_is_reported_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(registry._SPECS, "ghost", "recommender.models.ghost:model_spec")
    with pytest.raises(registry.ModelUnavailable, match="cannot be imported"):
        registry.get("ghost")


@pytest.mark.integration
def test_most_popular_reproduces_the_reference_numbers_on_ml100k() -> None:
    dataset = load_movielens("100k")
    split = leave_last_out(dataset.interactions)
    result = harness.run_model(registry.get("pop"), split, dataset.catalogue, seed=0)
    assert result.means["ndcg@10"] == pytest.approx(0.0449, abs=5e-4)
    assert result.means["recall@10"] == pytest.approx(0.086, abs=1e-3)


@pytest.mark.integration
def test_the_cli_writes_a_report_for_a_user_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--dataset", "ml-100k", "--models", "pop,itemknn", "--users", "100",
                 "--out", str(tmp_path), "--no-progress"])  # fmt: skip
    assert code == 0
    payload = json.loads((tmp_path / "ml-100k" / "results.json").read_text())
    assert payload["n_users_evaluated"] == 100 and payload["split_hash"] == "879689025bb7ced0"
    assert payload["split_index_hash"] == "bc5286d2e7feee9f" and payload["protocol"] == "refit"
    assert "itemknn" in capsys.readouterr().out


def test_configs_are_plain_dataclasses_that_serialise() -> None:
    assert asdict(EASEConfig()) == {"l2": 200.0}
    assert json.dumps(asdict(BPRConfig()))


def test_under_fold_in_a_model_with_user_factors_is_marked_and_tested_train_only() -> None:
    split, catalogue = small_split()
    bpr, ease = tiny_specs()[3], registry.get("ease")
    report = harness.evaluate_models("toy", split, catalogue, [bpr, ease], protocol="fold-in")
    marks = {r.name: r.folded_in for r in report.models}
    assert marks == {"bpr": False, "ease": True}
    table = harness.format_table(report)
    assert "bpr†" in table and "cannot fold in" in table
    assert harness.report_json(report)["models"][1]["folded_in"] is True
