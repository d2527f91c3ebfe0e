"""The shape of a ratings set in numbers: :func:`statistics` for any :class:`Ratings`, and MovieLens 100K's.

Used to check that synthetic data look like real ratings (``tests/generative/test_ratings_synthetic_ml.py``)
and to describe a data set in a benchmark. Nothing here imports TensorFlow.

``ML100K`` holds MovieLens 100K's figures. The size, the 20-ratings-per-user rule and the genre counts are
in the data set's README and ``u.item``; every figure here was measured with :func:`statistics` on the real
``u.data`` / ``u.item`` (2026-11-30: a copy found inside a PyPI wheel, see docs/rbm-real-data.md; never
committed), which agrees with the published ones (the rating shares, the users' mean spread 0.45 and the
spread of movie means over all movies, 0.78, that issue 15 quoted).
"""

from __future__ import annotations

import numpy as np

from lab.data.ratings.model import Ratings

ML100K = {
    "users": 943, "items": 1682, "ratings": 100_000,
    "user_count_min": 20, "user_count_median": 65, "user_count_mean": 106.04, "user_count_max": 737,
    "item_count_median": 27, "item_count_mean": 59.45, "item_count_max": 583, "items_rated_once": 141,
    "shares": (0.0611, 0.1137, 0.2715, 0.3417, 0.2120), "mean_rating": 3.530, "sd_rating": 1.126,
    # items with >= 5 ratings; all items
    "user_mean_sd": 0.445, "item_mean_sd": 0.614, "item_mean_sd_all": 0.781,
    "top10pct_share": 0.427, "item_gini": 0.629, "popularity_mean_corr": 0.517,
    "genres_per_item": 1.72,
    # the strongest genre pairs (phi of their flags over the movies)
    "genre_pairs": (("Animation", "Children's", 0.440), ("Action", "Adventure", 0.337),
                    ("Animation", "Musical", 0.331),
                    ("Children's", "Fantasy", 0.291), ("Action", "Sci-Fi", 0.273)),
    # movies per genre in u.item (2,893 genre flags over 1,682 movies; "unknown" 2 left out)
    "genre_counts": {"Action": 251, "Adventure": 135, "Animation": 42, "Children's": 122, "Comedy": 505,
                     "Crime": 109, "Documentary": 50, "Drama": 725, "Fantasy": 22, "Film-Noir": 24,
                     "Horror": 92, "Musical": 56,
                     "Mystery": 61, "Romance": 247, "Sci-Fi": 101, "Thriller": 251, "War": 71, "Western": 27},
}


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0: all equal; near 1: a few take everything)."""
    x = np.sort(np.asarray(counts, np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def statistics(r: Ratings, min_item_ratings: int = 5) -> dict:
    """What a ratings set looks like: size, counts per user and item, popularity's long tail, the rating
    histogram, the spreads of user and item means, genres and how they go together.

    - ``shares``: the share of each rating value (``r.scale``) among all ratings;
    - ``user_mean_sd``: standard deviation over users of their mean rating; ``item_mean_sd``: the same over
      items with at least ``min_item_ratings`` ratings (an item rated once has a meaningless mean),
      ``item_mean_sd_all`` over every rated item (the figure usually quoted);
    - ``top10pct_share``: the share of ratings that go to the most rated 10% of items; ``item_gini``: the
      Gini coefficient of ratings per item (a long tail: far above 0);
    - ``popularity_mean_corr``: correlation over those items of log(ratings) and mean rating (real data:
      positive, people watch what is good);
    - ``genre_pairs``: the strongest co-occurring genre pairs as (genre, genre, phi correlation of their
      flags over items), ``genre_pair_max_phi`` the largest (0 for independent genres).
    """
    per_user, per_item = r.counts()
    rating = r.rating.astype(np.float64)
    shares = tuple(float(np.mean(np.isclose(rating, v))) for v in r.scale)
    user_sum = np.bincount(r.user, rating, r.n_users)
    item_sum = np.bincount(r.item, rating, r.n_items)
    user_mean = user_sum[per_user > 0] / per_user[per_user > 0]
    enough = per_item >= min_item_ratings
    item_mean = item_sum[enough] / per_item[enough]
    top = np.sort(per_item)[::-1][: max(1, r.n_items // 10)]
    out = {
        "users": r.n_users, "items": r.n_items, "ratings": len(r), "density": r.density,
        "user_count_min": int(per_user.min()), "user_count_median": float(np.median(per_user)),
        "user_count_mean": float(per_user.mean()), "user_count_max": int(per_user.max()),
        "item_count_min": int(per_item.min()), "item_count_median": float(np.median(per_item)),
        "item_count_mean": float(per_item.mean()), "item_count_max": int(per_item.max()),
        "items_rated_once": int((per_item == 1).sum()),
        f"items_with_{min_item_ratings}_or_more": int(enough.sum()),
        "top10pct_share": float(top.sum() / max(1, len(r))), "item_gini": gini(per_item), "shares": shares,
        "mean_rating": float(rating.mean()), "sd_rating": float(rating.std()),
        "user_mean_sd": float(user_mean.std()), "item_mean_sd": float(item_mean.std()),
        "item_mean_sd_all": float((item_sum[per_item > 0] / per_item[per_item > 0]).std()),
        "popularity_mean_corr": float(np.corrcoef(np.log(per_item[enough]), item_mean)[0, 1])
        if enough.sum() > 2 else float("nan"),
    }
    g = np.asarray(r.genres, np.float64)
    out["genres_per_item"] = float(g.sum(1).mean()) if g.size else 0.0
    out["genre_counts"] = ({name: int(c) for name, c in zip(r.genre_names, g.sum(0), strict=True)} if g.size
                           else {})
    pairs = []
    if g.size and g.shape[1] > 1:
        used = g.std(0) > 0
        names = [n for n, u in zip(r.genre_names, used, strict=True) if u]
        phi = np.corrcoef(g[:, used].T)
        iu = np.triu_indices(len(names), 1)
        order = np.argsort(-phi[iu])[:5]
        pairs = [(names[iu[0][k]], names[iu[1][k]], float(phi[iu][k])) for k in order]
    out["genre_pairs"] = pairs
    out["genre_pair_max_phi"] = pairs[0][2] if pairs else 0.0
    return out


def describe_statistics(s: dict, reference: dict | None = None) -> str:
    """A few lines of :func:`statistics`' figures, with a reference's (e.g. ``ML100K``) beside them."""
    ref = reference or {}

    def f(key, fmt="{:.3g}"):
        mine = s[key]
        text = fmt.format(mine) if not isinstance(mine, tuple) else " / ".join(f"{100 * v:.1f}" for v in mine)
        if key in ref:
            theirs = ref[key]
            text += " (" + (fmt.format(theirs) if not isinstance(theirs, tuple)
                            else " / ".join(f"{100 * v:.1f}" for v in theirs)) + ")"
        return f"{key} {text}"

    keys = ("users", "items", "ratings", "user_count_min", "user_count_median", "user_count_mean",
            "user_count_max", "item_count_median", "item_count_mean", "item_count_max", "items_rated_once",
            "top10pct_share", "item_gini", "shares", "mean_rating", "sd_rating", "user_mean_sd",
            "item_mean_sd", "popularity_mean_corr", "genres_per_item", "genre_pair_max_phi")
    return "; ".join(f(k) for k in keys if k in s)
