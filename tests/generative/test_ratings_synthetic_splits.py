"""The synthetic Netflix-style generator (determinism, statistics) and the four kinds of split."""

import numpy as np
import pytest

from lab.data import ratings as R
from lab.errors import DataError


@pytest.fixture(scope="module")
def data():
    return R.synthetic(600, 400, mean_ratings=50, seed=4)


def test_same_seed_same_data_other_seed_other_data(data):
    again = R.synthetic(600, 400, mean_ratings=50, seed=4)
    for name in ("user", "item", "rating", "time", "titles", "years", "genres"):
        assert np.array_equal(getattr(again, name), getattr(data, name)), name
    other = R.synthetic(600, 400, mean_ratings=50, seed=5)
    assert len(other) != len(data) or not np.array_equal(other.rating, data.rating)


def test_statistics_look_like_netflix(data):
    shares = np.bincount(data.rating.astype(int), minlength=6)[1:] / len(data)
    assert np.allclose(shares, R.NETFLIX_DISTRIBUTION, atol=0.01)
    per_user, per_item = data.counts()
    assert per_user.min() >= 20 and 40 <= per_user.mean() <= 60
    top_tenth = np.sort(per_item)[::-1][: data.n_items // 10].sum() / len(data)
    assert top_tenth > 0.3  # power-law popularity: the top 10% of movies get far more than 10% of ratings
    assert data.genres.sum(1).min() >= 1 and data.genres.sum(1).max() <= 3
    assert 1925 <= data.years.min() and data.years.max() <= 2005 and np.median(data.years) > 1990
    # unique titles per year
    assert len({(t, y) for t, y in zip(data.titles, data.years, strict=True)}) == data.n_items
    days = data.time // R.SECONDS_PER_DAY
    assert days.min() >= 10592 and days.max() <= 13149  # 1999 .. 2005
    pairs = data.user.astype(np.int64) * data.n_items + data.item
    assert len(np.unique(pairs)) == len(data)  # nobody rates a movie twice


def test_planted_tastes_show_in_the_ratings(data):
    """Users rate movies of their loved genres higher than movies of their disliked genres."""
    aff = R.true_affinity(data, data.user, data.item)
    hi, lo = data.rating[aff > 0.5].mean(), data.rating[aff < -0.5].mean()
    assert hi - lo > 0.8
    assert np.corrcoef(aff, data.rating)[0, 1] > 0.3


def test_kfold_partitions_the_ratings(data):
    folds = R.kfold(data, 5, seed=0)
    tests = np.concatenate([f.test for f in folds])
    assert len(tests) == len(data) and len(np.unique(tests)) == len(data)
    for f in folds:
        assert len(np.intersect1d(f.train, f.test)) == 0 and len(f.train) + len(f.test) == len(data)
    assert abs(len(folds[0].test) - len(data) / 5) <= 1
    assert [f.name for f in R.kfold(data, 3, seed=0)] == ["fold1", "fold2", "fold3"]
    assert np.array_equal(R.kfold(data, 5, seed=0)[2].test, folds[2].test)


def test_holdout_per_user(data):
    split = R.holdout(data, n=5, seed=1)
    per_user = np.bincount(data.user[split.test], minlength=data.n_users)
    assert (per_user == 5).all()  # every user has >= 20 ratings
    assert (np.bincount(data.user[split.train], minlength=data.n_users) >= 15).all()
    frac = R.holdout(data, fraction=0.25, seed=1)
    counts = np.bincount(data.user, minlength=data.n_users)
    held = np.bincount(data.user[frac.test], minlength=data.n_users)
    assert np.array_equal(held, np.round(counts * 0.25).astype(int))


def test_temporal_holds_out_each_users_latest(data):
    split = R.temporal(data, n=3)
    for u in range(0, data.n_users, 37):
        train_t = data.time[split.train][data.user[split.train] == u]
        test_t = data.time[split.test][data.user[split.test] == u]
        assert len(test_t) == 3 and test_t.min() >= train_t.max()


def test_split_arguments_are_checked(data):
    with pytest.raises(DataError, match="exactly one of n"):
        R.holdout(data, n=2, fraction=0.1)
    with pytest.raises(DataError, match="no splits of its own"):
        R.make_splits(data, "own")
    with pytest.raises(DataError, match="k >= 2"):
        R.kfold(data, 1)
    with pytest.raises(DataError, match="min_ratings 50 is more than the 10 items"):
        R.synthetic(5, 10, min_ratings=50)
