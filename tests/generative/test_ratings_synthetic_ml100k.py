"""The MovieLens-100K-shaped generator (``data.synthetic.preset: movielens100k``) against MovieLens 100K's
published shape, within the tolerances docs/rbm-real-data.md states, and :func:`statistics` itself."""

import numpy as np
import pytest

from lab.data import ratings as R
from lab.data.ratings.statistics import ML100K, gini, statistics
from lab.errors import DataError
from lab.seeding import stream_seed

PRESET_SEED = stream_seed(0, "ratings")  # the rbm task's stream of its synthetic ratings, scenario seed 0

# What the preset is held to: (statistic, MovieLens 100K's figure, tolerance). The figures the preset does
# not match (see docs/rbm-real-data.md) are not here.
MATCHED = [
    ("users", 943, 0), ("items", 1682, 0), ("ratings", 100_000, 0), ("user_count_min", 20, 0),
    ("user_count_median", 65, 5), ("user_count_max", 737, 40),
    ("item_count_median", 27, 4), ("item_count_max", 583, 60), ("items_rated_once", 141, 25),
    ("mean_rating", 3.530, 0.01), ("sd_rating", 1.126, 0.01),
    ("user_mean_sd", 0.445, 0.06), ("item_mean_sd", 0.614, 0.05), ("item_mean_sd_all", 0.781, 0.05),
    ("top10pct_share", 0.427, 0.05), ("item_gini", 0.629, 0.03), ("genres_per_item", 1.72, 0.03),
]


def test_the_targets_are_movielens_100k_figures():
    for key, target, _ in MATCHED:
        assert target == pytest.approx(ML100K[key], abs=1e-9), key


@pytest.fixture(scope="module")
def ml():
    return R.movielens_like(seed=0)


@pytest.fixture(scope="module")
def stats(ml):
    return statistics(ml)


def test_statistics_of_a_small_set_by_hand():
    r = R.from_ids([1, 1, 1, 2, 2, 3], [10, 20, 30, 10, 20, 10], [5, 4, 3, 1, 2, 3], np.arange(6),
                   range(1, 6),
                   meta={10: ("A", 1990, [1, 1, 0]), 20: ("B", 1991, [1, 1, 0]), 30: ("C", 1992, [0, 0, 1])},
                   genre_names=("x", "y", "z"))
    s = statistics(r, min_item_ratings=2)
    assert (s["users"], s["items"], s["ratings"]) == (3, 3, 6)
    assert ((s["user_count_min"], s["user_count_max"], s["item_count_max"], s["items_rated_once"]) ==
            (1, 3, 3, 1))
    assert (np.allclose(s["shares"], [1 / 6, 1 / 6, 2 / 6, 1 / 6, 1 / 6]) and
            s["mean_rating"] == pytest.approx(3.0))
    assert s["user_mean_sd"] == pytest.approx(np.std([4.0, 1.5, 3.0]))
    assert s["item_mean_sd"] == pytest.approx(np.std([3.0, 3.0]))  # items 10 and 20 have >= 2 ratings
    assert s["genre_pairs"][0][:2] == ("x", "y") and s["genre_pair_max_phi"] == pytest.approx(1.0)
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0) and gini([0, 0, 0, 10]) == pytest.approx(0.75)


@pytest.mark.parametrize(("key", "target", "tolerance"), MATCHED)
def test_preset_matches_movielens_100k(stats, key, target, tolerance):
    assert abs(stats[key] - target) <= tolerance, (key, stats[key], target)


def test_star_shares_are_movielens_100k(stats):
    assert np.allclose(stats["shares"], ML100K["shares"], atol=0.002)


def test_long_tailed_popularity(stats):
    assert stats["item_count_mean"] == pytest.approx(100_000 / 1682)
    # the top 10% of movies: > 30% of ratings
    assert stats["item_gini"] > 0.55 and stats["top10pct_share"] > 0.3
    assert stats["popularity_mean_corr"] > 0.2  # people watch what is good: popular movies are rated higher


def test_genres_match_and_go_together(ml, stats):
    for name, count in ML100K["genre_counts"].items():
        assert abs(stats["genre_counts"][name] - count) <= max(4, 0.06 * count), name
    assert ml.genres.sum(1).min() >= 1
    g = ml.genres.astype(float)
    names = list(ml.genre_names)

    def phi(a, b):
        return np.corrcoef(g[:, names.index(a)], g[:, names.index(b)])[0, 1]

    assert phi("Animation", "Children's") > 0.1 and phi("Action", "Adventure") > 0.15
    assert phi("Crime", "Thriller") > 0.05 and phi("Drama", "Comedy") < -0.1


def test_baselines_explain_as_much_as_on_the_real_data(ml):
    """The biases' RMSE over the global mean's, on a 5-fold split: MovieLens 100K's is 0.944 / 1.126 = 0.838
    (Surprise's BaselineOnly over the ratings' standard deviation)."""
    from generative.rbm.model import Biases, rmse

    split = R.kfold(ml, 5, seed=0)[0]
    tr, te = split.train, split.test
    b = Biases.fit(ml.user[tr], ml.item[tr], ml.rating[tr].astype(float), ml.n_users, ml.n_items)
    ratio = rmse(np.clip(b.predict(ml.user[te], ml.item[te]), 1, 5), ml.rating[te]) / rmse(
        np.full(len(te), ml.rating[tr].mean()), ml.rating[te])
    assert abs(ratio - 0.838) < 0.015, ratio


def test_same_seed_same_data_and_smaller_sets(ml):
    again = R.movielens_like(seed=0)
    assert np.array_equal(again.rating, ml.rating) and np.array_equal(again.item, ml.item)
    small = R.movielens_like(n_users=200, n_items=300, mean_ratings=40, seed=1)
    s = statistics(small)
    assert (s["users"], s["items"], s["ratings"]) == (200, 300, 8000) and s["user_count_min"] >= 20
    assert np.allclose(s["shares"], ML100K["shares"], atol=0.003)
    with pytest.raises(DataError, match="min_ratings 50 is more than the 10 items"):
        R.movielens_like(5, 10, min_ratings=50)


def test_preset_is_the_generator_tested_here():
    """The scenario's preset is this generator, drawn from the task's named stream of its ratings."""
    from generative.rbm.config import RBMScenario
    from generative.rbm.train import load_data

    cfg = RBMScenario.model_validate(
        {"name": "x", "task": "rbm", "data": {"synthetic": {"preset": "movielens100k"}}})
    r = load_data(cfg)
    want = R.movielens_like(seed=PRESET_SEED)
    assert np.array_equal(r.rating, want.rating) and np.array_equal(r.item, want.item)
    assert np.array_equal(r.user, want.user)


def test_preset_in_a_scenario():
    from generative.rbm.config import RBMScenario
    from generative.rbm.train import load_data

    cfg = RBMScenario.model_validate({"name": "x", "task": "rbm", "data": {"synthetic": {
        "preset": "movielens100k", "users": 120, "items": 200, "mean_ratings": 30}}})
    assert cfg.data.synthetic.min_ratings == 20 and cfg.data.synthetic.factors is not None
    r = load_data(cfg)
    assert (r.n_users, r.n_items, len(r)) == (120, 200, 3600) and "MovieLens-100K-like" in r.name
    with pytest.raises(ValueError, match="tastes: not a setting of preset 'movielens100k'"):
        RBMScenario.model_validate({"name": "x", "task": "rbm", "data": {"synthetic": {
            "preset": "movielens100k", "tastes": 3}}})
    netflix = RBMScenario.model_validate({"name": "x", "task": "rbm"})
    assert netflix.data.synthetic.users == 2000 and netflix.data.synthetic.tastes == 8
