from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from recommender.base import Ranker
from recommender.models import sasrec
from recommender.models.sasrec import SASRec, SASRecConfig, model_spec
from recommender.split import leave_last_out
from tests.recommender.contract import Checkerboard, RankerContract, checkerboard

TINY = SASRecConfig(
    max_len=12,
    dim=16,
    n_layers=1,
    n_heads=2,
    dropout=0.1,
    lr=1e-2,
    batch_size=8,
    epochs=25,
    patience=3,
    seed=0,
    threads=1,
)  # fmt: skip  (1 thread: tiny tensors run slower on 2 threads, especially on a busy host)


@pytest.fixture(autouse=True)
def no_fit_memo() -> None:
    # each test trains for real; the memo is tested on its own below
    sasrec._FIT_MEMO.clear()


def shuffled_checkerboard() -> Checkerboard:
    """The checkerboard with each user's items in a random order.

    In the plain checkerboard every user consumes a block in index order, so the first item
    of a block is never anyone's next item and a sequential model rightly never predicts it.
    """
    data = checkerboard()
    rng = np.random.default_rng(0)
    stamps = data.interactions.timestamps.copy()
    for u in range(data.interactions.n_users):
        rows = np.flatnonzero(data.interactions.users == u)
        stamps[rows] = rng.permutation(stamps[rows])
    return replace(data, interactions=replace(data.interactions, timestamps=stamps))


class TestSASRec(RankerContract):
    def make_model(self) -> Ranker:
        return SASRec(TINY)

    def make_data(self) -> Checkerboard:
        return shuffled_checkerboard()


def test_attention_is_causal_and_ignores_padding() -> None:
    torch.manual_seed(0)
    net = sasrec._SASRecNet(20, TINY).eval()
    seq = torch.tensor([[0, 0, 3, 4, 5, 6]])
    h = net.hidden(seq)
    changed_future = net.hidden(torch.tensor([[0, 0, 3, 4, 5, 9]]))
    torch.testing.assert_close(h[:, :5], changed_future[:, :5])  # no peeking ahead
    longer_padding = net.hidden(torch.tensor([[0, 0, 0, 0, 3, 4, 5, 6]]))
    torch.testing.assert_close(h[:, -1], longer_padding[:, -1])  # trimming padding is exact


def test_tune_early_stops_and_a_plain_refit_reproduces_the_best_epoch() -> None:
    data = shuffled_checkerboard()
    split = leave_last_out(data.interactions)
    tuned = SASRec.tune_model(split, data.catalogue, TINY)
    assert 1 <= tuned.best_epoch_ <= len(tuned.history_) <= TINY.epochs
    assert tuned.config.epochs == tuned.best_epoch_
    assert all("ndcg" in row for row in tuned.history_)
    sasrec._FIT_MEMO.clear()  # a genuinely new training run, not a memo hit
    plain = SASRec(tuned.config).fit(split.train, data.catalogue)
    np.testing.assert_array_equal(plain.user_vectors(), tuned.user_vectors())


def test_the_fit_memo_returns_the_same_model_without_training() -> None:
    data = shuffled_checkerboard()
    first = SASRec(TINY).fit(data.interactions, data.catalogue)
    second = SASRec(TINY).fit(data.interactions, data.catalogue)
    assert second.net is not first.net
    np.testing.assert_array_equal(second.user_vectors(), first.user_vectors())


def test_the_spec_tunes_on_validation_and_builds_the_chosen_recipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sasrec, "DEFAULTS", TINY)
    data = shuffled_checkerboard()
    split = leave_last_out(data.interactions)
    spec = model_spec()
    result = spec.tune(split, data.catalogue, 0)  # type: ignore[misc]
    assert result.hparams["epochs"] >= 1
    assert 0.0 <= result.valid_ndcg <= 1.0
    model = spec.build(result.hparams, 0)
    assert isinstance(model, SASRec) and model.config.epochs == result.hparams["epochs"]


def test_a_saved_file_holds_no_pickled_classes(tmp_path: Path) -> None:
    data = shuffled_checkerboard()
    model = SASRec(TINY).fit(data.interactions, data.catalogue)
    model.save(tmp_path / "m.pt")
    torch.load(tmp_path / "m.pt", weights_only=True)  # refuses arbitrary pickles
    loaded = SASRec.load(tmp_path / "m.pt")
    assert loaded.config == model.config
    for u in range(data.interactions.n_users):
        np.testing.assert_array_equal(loaded.seen(u), model.seen(u))


def test_encoding_a_fitted_history_reproduces_the_users_scores() -> None:
    data = shuffled_checkerboard()
    model = SASRec(TINY).fit(data.interactions, data.catalogue)
    users = np.arange(data.interactions.n_users)
    histories = [model.seen(int(u)) for u in users]
    np.testing.assert_allclose(
        model.score_histories(histories), model.score_users(users), rtol=1e-5, atol=1e-5
    )
    # batch size and neighbours in the batch do not matter
    np.testing.assert_allclose(
        model.encode_histories(histories[::-1], batch=5)[::-1], model.user_vectors(), atol=1e-5
    )


def test_a_history_is_read_through_its_last_max_len_items() -> None:
    data = shuffled_checkerboard()
    model = SASRec(TINY).fit(data.interactions, data.catalogue)
    long = np.arange(TINY.max_len + 5) % data.interactions.n_items
    np.testing.assert_allclose(
        model.score_histories([long]), model.score_histories([long[-TINY.max_len :]]), atol=1e-6
    )
    assert not model.score_histories([np.zeros(0, np.int64)]).any()  # no sequence, no signal


def test_the_last_hidden_state_alone_matches_the_full_forward_pass() -> None:
    torch.manual_seed(0)
    net = sasrec._SASRecNet(20, replace(TINY, n_layers=2)).eval()
    seq = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 7]])
    with torch.no_grad():
        torch.testing.assert_close(net.last_hidden(seq), net.hidden(seq)[:, -1])


def successor_task(
    n_items: int = 24, n_users: int = 120, length: int = 8
) -> tuple[Any, Any, np.ndarray]:
    """Sequences that walk one fixed cycle of the items from a random start: the next item
    is determined by the previous one, so a sequence model must learn to name it."""
    from recommender.data import Catalogue, IdMap, Interactions

    rng = np.random.default_rng(7)
    cycle = rng.permutation(n_items)
    successor = np.empty(n_items, dtype=np.int64)
    successor[cycle] = np.roll(cycle, -1)
    users, items = [], []
    for u in range(n_users):
        item = int(rng.integers(n_items))
        for _ in range(length):
            users.append(u)
            items.append(item)
            item = int(successor[item])
    data = Interactions(
        n_users=n_users,
        n_items=n_items,
        users=np.array(users, dtype=np.int64),
        items=np.array(items, dtype=np.int64),
        values=np.ones(len(users), dtype=np.float32),
        timestamps=np.arange(len(users), dtype=np.int64),
    )
    catalogue = Catalogue(
        ids=IdMap.from_iterable(f"i{k}" for k in range(n_items)),
        titles=tuple(f"Item {k}" for k in range(n_items)),
        years=np.full(n_items, 2000, dtype=np.int64),
        genres=tuple(("Drama",) for _ in range(n_items)),
        descriptions=tuple("" for _ in range(n_items)),
    )
    return data, catalogue, successor


def test_it_learns_a_next_item_rule_to_near_perfect_hit_rate() -> None:
    data, catalogue, successor = successor_task()
    model = SASRec(replace(TINY, epochs=40, dropout=0.0, all_windows=True)).fit(data, catalogue)
    hits = [
        int(model.recommend(u, n=1)[0][0]) == successor[int(model.seen(u)[-1])]
        for u in range(data.n_users)
    ]
    assert np.mean(hits) >= 0.95, np.mean(hits)


def test_a_stopped_fit_resumes_from_its_checkpoint_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = shuffled_checkerboard()
    cfg = replace(TINY, epochs=6, max_len=5, all_windows=True)  # histories of 8 > a window
    whole = SASRec(cfg).fit(data.interactions, data.catalogue)
    sasrec._FIT_MEMO.clear()

    resumable = replace(cfg, checkpoint_dir=str(tmp_path))
    real_epoch, calls = SASRec._train_epoch, []

    def dies_in_epoch_4(self: SASRec, *args: Any) -> float:
        # fault injection, not a stand-in: epochs run for real until the 4th is "killed"
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # the run is stopped mid-fit
        return real_epoch(self, *args)

    monkeypatch.setattr(SASRec, "_train_epoch", dies_in_epoch_4)
    with pytest.raises(KeyboardInterrupt):
        SASRec(resumable).fit(data.interactions, data.catalogue)
    monkeypatch.setattr(SASRec, "_train_epoch", real_epoch)
    resumed = SASRec(resumable).fit(data.interactions, data.catalogue)
    assert [row["epoch"] for row in resumed.history_] == list(range(1, 7))
    assert whole.net is not None and resumed.net is not None
    for name, value in whole.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[name]), name


def test_folding_in_the_validation_item_is_what_names_the_test_item() -> None:
    """The successor task, except that each user jumps to a random item at the validation
    position; the test item is that item's successor. Only a model that reads the validation
    item as input (protocol fold-in) can name it; a train-only fit cannot know the jump."""
    from recommender.harness import run_model
    from recommender.registry import ModelSpec

    data, catalogue, successor = successor_task(length=10)
    rng = np.random.default_rng(3)
    items = data.items.copy()
    for u in range(data.n_users):
        rows = np.flatnonzero(data.users == u)  # chronological: timestamps follow the rows
        walked = set(items[rows[:-2]].tolist())
        jump = int(rng.integers(data.n_items))
        while jump in walked or int(successor[jump]) in walked:
            jump = int(rng.integers(data.n_items))
        items[rows[-2]], items[rows[-1]] = jump, successor[jump]
    split = leave_last_out(replace(data, items=items))
    cfg = replace(TINY, epochs=40, dropout=0.0, all_windows=True)
    spec = ModelSpec("sasrec", lambda hp, seed: SASRec(cfg), grid={})
    folded = run_model(spec, split, catalogue, seed=0, protocol="fold-in")
    train_only = run_model(spec, split, catalogue, seed=0, protocol="train-only")
    assert folded.folded_in is True and train_only.folded_in is None
    assert folded.means["mrr@10"] >= 0.95, folded.means
    assert train_only.means["mrr@10"] < 0.3, train_only.means


def test_a_long_tune_stopped_by_hand_ends_at_a_lower_cap_with_its_best_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = shuffled_checkerboard()
    split = leave_last_out(data.interactions)
    cfg = replace(TINY, epochs=6, patience=50, checkpoint_dir=str(tmp_path))
    full = SASRec.tune_model(split, data.catalogue, cfg)  # "stopped by hand" after 6 epochs
    sasrec._FIT_MEMO.clear()

    def no_training(self: SASRec, *args: Any) -> float:
        raise AssertionError("a capped resume must not train")

    monkeypatch.setattr(SASRec, "_train_epoch", no_training)
    capped = SASRec.tune_model(split, data.catalogue, replace(cfg, epochs=3, patience=8))
    assert capped.best_epoch_ == full.best_epoch_ and capped.history_ == full.history_
    assert full.net is not None and capped.net is not None
    for name, value in full.net.state_dict().items():
        assert torch.equal(value, capped.net.state_dict()[name]), name


def test_the_compiled_steps_loss_is_the_plain_loss() -> None:
    """``compile=True`` trains on :func:`_padded_token_loss` (shapes fixed for the compiler):
    the same mean over real next items as the plain loss, padding ignored."""
    torch.manual_seed(0)
    net = sasrec._SASRecNet(20, TINY).eval()  # no dropout: both see the same network
    batch = torch.tensor([[0, 0, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 9], [0, 0, 0, 0, 0, 7, 8]])
    inputs, targets = batch[:, :-1], batch[:, 1:]
    torch.testing.assert_close(
        sasrec._padded_token_loss(net, inputs, targets), sasrec._token_loss(net, inputs, targets)
    )


def test_a_plateau_drops_the_learning_rate_once_and_a_killed_run_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = shuffled_checkerboard()
    split = leave_last_out(data.interactions)
    cfg = replace(TINY, epochs=30, patience=1, lr_drop=0.1)
    whole = SASRec.tune_model(split, data.catalogue, cfg)
    assert whole.lr_dropped_, "patience 1 plateaus within 30 epochs on this data"
    scores = [row["ndcg"] for row in whole.history_]
    first_stop = next(e for e in range(1, len(scores)) if scores[e] <= max(scores[:e]))
    assert len(scores) > first_stop + 1, "training went on after the first plateau"
    sasrec._FIT_MEMO.clear()

    real_epoch, calls = SASRec._train_epoch, []

    def dies_after_the_drop(self: SASRec, *args: Any) -> float:
        calls.append(1)
        if len(calls) == first_stop + 2:  # in the second stage
            raise KeyboardInterrupt
        return real_epoch(self, *args)

    resumable = replace(cfg, checkpoint_dir=str(tmp_path))
    monkeypatch.setattr(SASRec, "_train_epoch", dies_after_the_drop)
    with pytest.raises(KeyboardInterrupt):
        SASRec.tune_model(split, data.catalogue, resumable)
    monkeypatch.setattr(SASRec, "_train_epoch", real_epoch)
    resumed = SASRec.tune_model(split, data.catalogue, resumable)

    def untimed(history: list[dict[str, float]]) -> list[dict[str, float]]:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert untimed(resumed.history_) == untimed(whole.history_)
    assert resumed.best_epoch_ == whole.best_epoch_
    assert whole.net is not None and resumed.net is not None
    for name, value in whole.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[name]), name


def test_a_tune_that_dropped_its_rate_refits_with_the_same_schedule() -> None:
    data = shuffled_checkerboard()
    split = leave_last_out(data.interactions)
    tuned = SASRec.tune_model(
        split, data.catalogue, replace(TINY, epochs=30, patience=1, lr_drop=0.1)
    )
    assert tuned.drop_at_ is not None
    stage1, stopped = tuned.drop_at_
    if tuned.best_epoch_ > stopped:  # the second stage improved: its epochs follow stage 1's
        assert tuned.config.lr_drop_epoch == stage1
        assert tuned.config.epochs == stage1 + tuned.best_epoch_ - stopped
    else:  # it did not: the refit is stage 1 alone
        assert tuned.config.lr_drop_epoch == 0 and tuned.config.epochs == stage1
    sasrec._FIT_MEMO.clear()
    refit = SASRec(tuned.config).fit(split.train, data.catalogue)  # a real plain fit
    assert len(refit.history_) == tuned.config.epochs


# ---------------------------------------------------------------- sampled softmax (#26)
SAMPLED = replace(TINY, loss="sampled", negatives=6)  # 6 of 24 items per batch


def test_the_sampled_loss_falls_and_learns_a_next_item_rule() -> None:
    data, catalogue, successor = successor_task()
    model = SASRec(replace(SAMPLED, epochs=40, dropout=0.0, all_windows=True))
    model.fit(data, catalogue)
    assert model.training_loss() == "sampled"
    losses = [row["loss"] for row in model.history_]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses
    hits = [
        int(model.recommend(u, n=1)[0][0]) == successor[int(model.seen(u)[-1])]
        for u in range(data.n_users)
    ]
    assert np.mean(hits) >= 0.9, np.mean(hits)


def test_logq_correction_lowers_each_logit_by_its_items_log_probability() -> None:
    torch.manual_seed(0)
    h, emb = torch.randn(3, 4), torch.randn(5, 4)  # 3 positions, 5 items, d = 4
    targets, negatives = torch.tensor([0, 2, 4]), torch.tensor([1, 2, 3])
    log_q = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05]).log()
    logits = sasrec.corrected_logits(h, emb, targets, negatives, log_q)  # (3, 1 + 3)
    raw = h @ emb.T  # (3, 5)
    torch.testing.assert_close(logits[:, 0], raw[[0, 1, 2], targets] - log_q[targets])
    torch.testing.assert_close(logits[0, 1:], raw[0, negatives] - log_q[negatives])
    # the rare item 3 (Q = 0.1) gains log 3 against the common item 1 (Q = 0.3): drawn 3x
    # less often, each draw of it must count 3x as much for the estimate to stay unbiased
    gap = (logits[0, 3] - logits[0, 1]) - (raw[0, 3] - raw[0, 1])
    torch.testing.assert_close(gap, torch.tensor(3.0).log())
    assert logits[1, 2] == -torch.inf  # row 1's target drawn as a negative: masked
    assert torch.isfinite(logits[[0, 2]]).all()


def test_sampling_every_item_uniformly_is_the_full_softmax() -> None:
    """With each item drawn once and Q uniform the correction is one constant and the only
    masked negative is the target itself, so the sampled loss is exactly the full one."""
    torch.manual_seed(0)
    net = sasrec._SASRecNet(20, TINY).eval()
    batch = torch.tensor([[0, 0, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 9], [0, 0, 0, 0, 0, 7, 8]])
    inputs, targets = batch[:, :-1], batch[:, 1:]
    log_q = torch.full((20,), 1 / 20).log()
    sampled = sasrec._sampled_token_loss(net, inputs, targets, torch.arange(20), log_q)
    torch.testing.assert_close(sampled, sasrec._token_loss(net, inputs, targets))


def test_auto_samples_only_above_the_catalogue_size_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, catalogue, _ = successor_task()  # 24 items
    monkeypatch.setattr(sasrec, "SAMPLED_SOFTMAX_ABOVE", 24)
    assert SASRec(replace(TINY, epochs=1)).fit(data, catalogue).training_loss() == "full"
    monkeypatch.setattr(sasrec, "SAMPLED_SOFTMAX_ABOVE", 23)
    model = SASRec(replace(TINY, epochs=1)).fit(data, catalogue)
    assert model.training_loss() == "sampled"
    q, log_q = model._negative_sampler([np.array([0, 0, 1])])
    assert float(q.sum()) == pytest.approx(1.0)
    assert q[0] == 3 * q[2]  # item 0 seen twice (+ 1), item 2 never (+ 1)
    torch.testing.assert_close(log_q, q.log())


def test_an_unknown_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="loss="):
        SASRecConfig(loss="bpr")
    with pytest.raises(ValueError, match="negative_sampling="):
        SASRecConfig(negative_sampling="hard")
