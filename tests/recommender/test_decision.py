from recommender.decision import serving_decision


def test_the_reranker_serves_only_when_validation_on_the_served_lists_shows_a_gain() -> None:
    wins = serving_decision("hybrid", "hybrid", 0.1210, 0.1180, gain_low=0.0004)
    assert wins.rerank and "0.1210 against the hybrid's 0.1180 (+0.0030)" in wins.reason
    for losing in (0.1180, 0.1100):  # a tie is no gain: the cheaper order is served
        lost = serving_decision("hybrid", "hybrid", losing, 0.1180, gain_low=0.0004)
        assert not lost.rerank and "no gain, so the hybrid order is served" in lost.reason
    # the bench's zero-shot blend on the hybrid's lists: +0.0031 on validation, noise on test
    noisy = serving_decision("hybrid", "hybrid", 0.1313, 0.1282, gain_low=-0.0021)
    assert not noisy.rerank and "does not clear zero (from -0.0021)" in noisy.reason
    assert not serving_decision("hybrid", "hybrid", 0.1313, 0.1282).rerank  # no interval


def test_without_a_comparable_validation_the_served_models_order_stays() -> None:
    other = serving_decision("hybrid", "ease", 0.0994, 0.0878)  # beat EASE, not the hybrid
    assert not other.rerank and "validated on ease candidates" in other.reason
    assert not serving_decision("hybrid", None, None, None).rerank  # no adapter: no zero-shot
    assert not serving_decision("hybrid", "hybrid", 0.2, None).rerank  # no bar recorded
    assert not serving_decision(None, "hybrid", 0.2, 0.1).rerank  # nothing is served yet
