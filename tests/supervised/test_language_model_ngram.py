"""Interpolated Kneser-Ney and the unigram baseline: probabilities worked out by hand on a toy corpus,
normalisation over many contexts, KN beating the unigram on structured text, and bad input refused."""

import math
from fractions import Fraction as F

import numpy as np
import pytest

from supervised.language_model.ngram import KneserNey, Unigram, fit_and_score

# toy corpus "a b a b c a b c a"; vocabulary 0=<unk>, 1=a, 2=b, 3=c, 4=d (d never seen)
UNK, A, B, C, D = 0, 1, 2, 3, 4
TOY = np.array([A, B, A, B, C, A, B, C, A])
V = 5


def close(model, context, token, fraction):
    assert model.logprob(context, token) == pytest.approx(math.log(fraction), abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Hand computations
#
# Bigrams of TOY: ab x3, ba x1, bc x2, ca x2.
# Level 1 (continuation counts, from the distinct bigrams ab, ba, bc, ca):
#   N1+(.a) = |{b, c}| = 2, N1+(.b) = |{a}| = 1, N1+(.c) = |{b}| = 1; total 4, types 3.
#   count-of-counts n1 = 2 (b, c), n2 = 1 (a) -> D1 = 2 / (2 + 2*1) = 1/2.
#   p1(w) = max(N1+(.w) - 1/2, 0)/4 + (1/2)(3/4)(1/5) = max(N1+(.w) - 1/2, 0)/4 + 3/40
P1 = {
    A: F(3, 2) / 4 + F(3, 40),  # = 18/40 = 9/20
    B: F(1, 2) / 4 + F(3, 40),  # = 8/40 = 1/5
    C: F(1, 2) / 4 + F(3, 40),  # = 1/5
    D: F(3, 40),
    UNK: F(3, 40),
}


def test_hand_level1_is_the_continuation_unigram_mixed_with_uniform():
    assert P1[A] == F(9, 20) and P1[B] == F(1, 5) and sum(P1.values()) == 1
    kn = KneserNey(2, V).fit(TOY)
    for w, p in P1.items():
        close(kn, (), w, p)  # empty context -> level 1


def test_hand_order2():
    kn = KneserNey(2, V).fit(TOY)
    # raw bigram counts ab=3, ba=1, bc=2, ca=2: n1 = 1, n2 = 2 -> D2 = 1 / (1 + 2*2) = 1/5
    assert kn.discounts == pytest.approx([0.5, 0.2], abs=1e-15)
    # context a: c(a.) = 3, one type (b)
    # p(b|a) = (3 - 1/5)/3 + (1/5)(1/3) p1(b) = 14/15 + (1/15)(1/5) = 70/75 + 1/75 = 71/75
    close(kn, (A,), B, F(71, 75))
    # unseen bigram: p(c|a) = 0 + (1/15)(1/5) = 1/75
    close(kn, (A,), C, F(1, 75))
    # context b: c(b.) = 1 + 2 = 3, two types
    # p(c|b) = (2 - 1/5)/3 + (1/5)(2/3)(1/5) = 9/15 + 2/75 = 47/75
    close(kn, (B,), C, F(47, 75))
    # unseen context d: back off to p1(a) = 9/20; unseen token d after d: p1(d) = 3/40
    close(kn, (D,), A, F(9, 20))
    close(kn, (D,), D, F(3, 40))
    # a longer context is cut to the last id
    close(kn, (C, D, A), B, F(71, 75))


def test_hand_order3():
    kn = KneserNey(3, V).fit(TOY)
    # trigrams: aba 1, bab 1, abc 2, bca 2, cab 1: n1 = 3, n2 = 2 -> D3 = 3 / (3 + 4) = 3/7
    # level 2 (continuation counts from the distinct trigrams aba, bab, abc, bca, cab):
    #   suffixes ba, ab, bc, ca, ab -> ab 2, ba 1, bc 1, ca 1: n1 = 3, n2 = 1 -> D2 = 3 / (3 + 2) = 3/5
    assert kn.discounts == pytest.approx([0.5, 0.6, 3 / 7], abs=1e-15)
    # p2(c|b): context b at level 2 has ba 1 + bc 1 = 2, two types
    #   = (1 - 3/5)/2 + (3/5)(2/2) p1(c) = 1/5 + 3/25 = 8/25
    p2_c_b = F(2, 5) / 2 + F(3, 5) * F(1, 5)
    assert p2_c_b == F(8, 25)
    # p3(c|ab): c(ab.) = aba 1 + abc 2 = 3, two types
    #   = (2 - 3/7)/3 + (3/7)(2/3)(8/25) = 11/21 + 16/175 = 275/525 + 48/525 = 323/525
    close(kn, (A, B), C, F(323, 525))
    # unseen trigram in a seen context: p3(b|ab) = (2/7) p2(b|b); bb unseen -> p2(b|b) = (3/5) p1(b) = 3/25
    #   = (2/7)(3/25) = 6/175
    close(kn, (A, B), B, F(6, 175))
    # unseen context cc at level 3 -> p2(a|c): ca 1, one type = (1 - 3/5)/1 + (3/5)(1) 9/20 = 2/5 + 27/100
    close(kn, (C, C), A, F(67, 100))
    # wholly unseen context dd -> p1: p(d|dd) = 3/40
    close(kn, (D, D), D, F(3, 40))
    # short contexts (start of a stream): one id uses level 2, none uses level 1
    close(kn, (B,), C, F(8, 25))
    close(kn, (), A, F(9, 20))


def test_score_of_the_toy_stream_uses_growing_contexts():
    kn = KneserNey(3, V).fit(TOY)
    stream = np.array([A, B, C, D])
    # a from (), b from (a), c from (a, b), d from (b, c)
    expected = -np.mean(
        [kn.logprob((), A), kn.logprob((A,), B), kn.logprob((A, B), C), kn.logprob((B, C), D)]
    )
    assert kn.score(stream) == pytest.approx(expected, abs=1e-12)
    assert kn.logprob((), A) == pytest.approx(math.log(F(9, 20)), abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Properties


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_distributions_sum_to_one_for_many_contexts(order):
    rng = np.random.default_rng(order)
    vocab = 12
    # a small corpus over ids 1..8, so ids 0 and 9..11 are never seen
    corpus = np.concatenate([np.tile([1, 2, 3, 4], 30), rng.integers(1, 9, size=300)])
    kn = KneserNey(order, vocab).fit(corpus)
    contexts = [tuple(corpus[i : i + order - 1]) for i in rng.integers(0, len(corpus) - order, 40)]
    contexts += [tuple(rng.integers(0, vocab, size=order - 1)) for _ in range(40)]
    contexts += [tuple(rng.integers(0, vocab, size=rng.integers(0, order))) for _ in range(20)]
    for ctx in contexts:
        dist = kn.distribution(ctx)
        assert dist.shape == (vocab,)
        assert dist.sum() == pytest.approx(1.0, abs=1e-12)
        assert (dist > 0).all()
        token = int(rng.integers(0, vocab))
        assert kn.logprob(ctx, token) == pytest.approx(math.log(dist[token]), abs=1e-12)


def test_object_code_fallback_normalises_and_matches_int64():
    rng = np.random.default_rng(0)
    corpus, test = rng.integers(0, 40, size=400), rng.integers(0, 40, size=100)
    # V^order >= 2^62 switches to exact Python-int codes in object arrays
    big = KneserNey(5, 20_000).fit(corpus)
    assert big._dtype is object
    assert big.distribution(tuple(corpus[:4])).sum() == pytest.approx(1.0, abs=1e-12)
    # the same vocabulary coded both ways gives the same numbers
    fast = KneserNey(5, 50).fit(corpus)
    slow = KneserNey(5, 50)
    slow._dtype, slow._pow = object, [50**j for j in range(5)]
    slow.fit(corpus)
    assert fast._dtype is np.int64
    assert slow.score(test) == pytest.approx(fast.score(test), abs=1e-12)


def test_score_is_mean_of_token_logprobs():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 7, size=500)
    test = rng.integers(0, 7, size=60)
    for order in (1, 2, 4):
        kn = KneserNey(order, 7).fit(train)
        by_hand = [
            -kn.logprob(tuple(test[max(0, i - order + 1) : i]), int(test[i])) for i in range(len(test))
        ]
        assert kn.score(test) == pytest.approx(np.mean(by_hand), abs=1e-12)
    uni = Unigram(7).fit(train)
    assert uni.score(test) == pytest.approx(np.mean([-uni.logprob((), int(t)) for t in test]), abs=1e-12)


def test_order1_kn_and_unigram_are_sensible():
    train = np.array([1, 1, 1, 2, 2, 3])
    uni = Unigram(5).fit(train)
    # add-one: (c + 1) / (6 + 5)
    assert uni.distribution() == pytest.approx(np.array([1, 4, 3, 2, 1]) / 11, abs=1e-15)
    assert uni.logprob((2, 3), 1) == pytest.approx(math.log(4 / 11), abs=1e-15)
    kn = KneserNey(1, 5).fit(train)
    dist = kn.distribution(())
    # raw counts 3, 2, 1: n1 = n2 = 1 -> D = 1/3; p(w) = max(c - 1/3, 0)/6 + (1/3)(3/6)(1/5)
    expected = np.array([0, 8 / 3, 5 / 3, 2 / 3, 0]) / 6 + 1 / 30
    assert dist == pytest.approx(expected, abs=1e-15)
    assert np.argsort(dist).tolist()[-3:] == [3, 2, 1]  # ordered like the counts
    assert kn.distribution((4, 4)) == pytest.approx(dist, abs=0)  # order 1 ignores any context
    # the unigram and order-1 KN score the same kind of thing: both close to the entropy of the counts
    test = np.array([1, 1, 1, 2, 2, 3])
    h = -(3 * math.log(3 / 6) + 2 * math.log(2 / 6) + math.log(1 / 6)) / 6
    assert abs(kn.score(test) - h) < 0.2 and abs(uni.score(test) - h) < 0.3


def test_kn_beats_unigram_on_structured_text_and_higher_orders_help():
    rng = np.random.default_rng(2)
    vocab = 30
    pattern = rng.integers(1, vocab, size=17)
    stream = np.tile(pattern, 400)
    noise = rng.random(len(stream)) < 0.1
    stream[noise] = rng.integers(0, vocab, size=int(noise.sum()))
    train, test = stream[:6000], stream[6000:]
    results = {n: fit_and_score(train, test, n, vocab) for n in (1, 2, 3)}
    assert set(results[3]) == {"kn_order", "kn_nats", "unigram_nats", "kn_fit_seconds"}
    assert results[3]["kn_order"] == 3
    assert results[3]["kn_nats"] < results[2]["kn_nats"] < results[1]["kn_nats"]
    assert results[3]["kn_nats"] < 0.5 * results[3]["unigram_nats"]
    assert abs(results[1]["kn_nats"] - results[1]["unigram_nats"]) < 0.1


def test_deterministic():
    rng = np.random.default_rng(3)
    train, test = rng.integers(0, 9, size=2000), rng.integers(0, 9, size=200)
    a = KneserNey(4, 9).fit(train)
    b = KneserNey(4, 9).fit(train.copy())
    assert a.score(test) == b.score(test)
    assert np.array_equal(a.distribution((1, 2, 3)), b.distribution((1, 2, 3)))


def test_unseen_ids_and_empty_training_stream():
    kn = KneserNey(3, 4).fit(np.array([], dtype=np.int64))
    assert kn.distribution((1, 2)) == pytest.approx(np.full(4, 0.25), abs=0)
    kn = KneserNey(3, 10).fit(np.array([1, 2]))
    assert kn.distribution((1, 2)).sum() == pytest.approx(1.0, abs=1e-12)
    assert kn.logprob((1,), 9) > -np.inf


# --------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("order", [0, -1, 2.5, True])
def test_invalid_order(order):
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        KneserNey(order, 5)


def test_invalid_vocab_and_ids():
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 1"):
        KneserNey(2, 0)
    with pytest.raises(ValueError, match="vocab_size"):
        Unigram(-3)
    kn = KneserNey(2, 5)
    with pytest.raises(RuntimeError, match="call fit"):
        kn.logprob((), 1)
    with pytest.raises(ValueError, match=r"id 5 at position 2; ids must be in 0\.\.4"):
        kn.fit(np.array([1, 2, 5]))
    with pytest.raises(ValueError, match="id -1 at position 0"):
        Unigram(5).fit(np.array([-1, 2]))
    with pytest.raises(ValueError, match="1-D"):
        kn.fit(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="integer token ids"):
        kn.fit(np.array([1.0, 2.0]))
    kn.fit(TOY)
    with pytest.raises(ValueError, match="token 7 out of range"):
        kn.logprob((1,), 7)
    with pytest.raises(ValueError, match="context out of range"):
        kn.distribution((9,))
    with pytest.raises(ValueError, match="ids out of range"):
        kn.score(np.array([1, 6]))
    with pytest.raises(ValueError, match="empty"):
        kn.score(np.array([], dtype=int))
