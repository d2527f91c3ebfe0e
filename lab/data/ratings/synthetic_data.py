"""Synthetic Netflix-style ratings with planted structure (the offline default), and their titles."""

from __future__ import annotations

from math import erf, log, sqrt

import numpy as np

from lab.data.ratings.model import CANONICAL_GENRES, SECONDS_PER_DAY, Ratings
from lab.errors import DataError

NETFLIX_DISTRIBUTION = (0.046, 0.101, 0.287, 0.336, 0.230)  # share of 1..5 stars in the Netflix Prize data

_ADJECTIVES = (
    "Silent", "Last", "Broken", "Golden", "Dark", "Hidden", "Endless", "Crimson", "Lonely", "Wild", "Frozen",
    "Secret", "Burning", "Lost", "Midnight", "Electric", "Savage", "Gentle", "Distant", "Fallen", "Iron",
    "Scarlet", "Quiet", "Restless", "Shattered", "Velvet", "Wicked", "Brave", "Hollow", "Northern", "Paper",
    "Glass", "Sleeping", "Forgotten", "Bitter", "Sweet", "Final", "Little", "Great", "Strange",
)
_NOUNS = (
    "River", "Harbor", "Empire", "Garden", "Kingdom", "Heart", "Shadow", "Road", "Storm", "Dream", "Summer",
    "City", "Island", "Mirror", "Promise", "Frontier", "Machine", "Letter", "Station", "Horizon", "Winter",
    "Voyage", "Secret", "Crown", "Highway", "Stranger", "Ghost", "Sky", "Tide", "Circus", "Mountain",
    "Desert", "Season", "Signal", "Orchard", "Lantern", "Bridge", "Witness", "Engine", "Song",
)
_PLACES = (
    "Paris", "Tokyo", "Brooklyn", "Havana", "Casablanca", "Vienna", "Texas", "Alaska", "Rome", "Bombay",
    "Berlin", "Chicago", "Lisbon", "the Valley", "the North", "Mars",
)
_NAMES = ("Annie", "Jack", "Marlowe", "Sophie", "Max", "Rosa", "Elliot", "Nora", "Frankie", "Otis", "Lola",
          "Walter")


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _make_title(rng: np.random.Generator) -> str:
    a, n, n2 = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_NOUNS)
    pattern = int(rng.integers(8))
    return [
        f"The {a} {n}", f"{a} {n}", f"{n} of the {n2}",
        f"{'An' if n[0] in 'AEIOU' else 'A'} {n} in {rng.choice(_PLACES)}", f"{rng.choice(_NAMES)}'s {n}",
        f"{_plural(n)}, {_plural(n2)} and Other Stories", f"The {n}",
        f"{a} {n}: Return to {rng.choice(_PLACES)}",
    ][pattern]


Seed = int | np.random.Generator
"""What the generators draw from: a whole-number seed, or a NumPy generator the caller names (the lab's
tasks pass a named stream of :mod:`lab.seeding`)."""


def _source(kind: str, seed: Seed) -> str:
    return f"{kind}(seed={seed})" if isinstance(seed, (int, np.integer)) else kind


def synthetic(n_users: int = 2000, n_items: int = 1000, mean_ratings: float = 60.0, min_ratings: int = 20,
              n_tastes: int = 8, noise: float = 0.5, taste_strength: float = 1.0,
              popularity_exponent: float = 0.9,
              seed: Seed = 0, distribution=NETFLIX_DISTRIBUTION, batch_users: int = 2000) -> Ratings:
    """Netflix-style ratings with planted structure, the same for the same arguments (``seed``: a whole
    number, or a generator whose state decides the draws).

    Movies get 1-3 of 18 genres, a year (recent years likelier), a quality and a power-law popularity
    (better movies a little more popular). Users belong to one of ``n_tastes`` taste types (a few loved
    and a few disliked genres) with personal variation, and have a rating bias. A user rates
    ``min_ratings`` + a log-normal number of movies, chosen by popularity and by taste (people watch
    what they expect to like). A rating is ``bias + quality + taste . genres + noise``, cut into 1..5
    stars at the quantiles of ``distribution`` (default: the Netflix Prize's shares). Timestamps are
    days between 1999 and 2005, each user active over a window. ``truth`` holds the planted parameters.
    """
    _check_sizes(n_users, n_items, min_ratings)
    rng = np.random.default_rng(seed)
    genres, years, quality, log_pop = _netflix_movies(rng, n_items, popularity_exponent)
    types, user_type, taste = _netflix_tastes(rng, n_users, n_tastes, taste_strength)
    user_bias = rng.normal(0.0, 0.35, n_users)
    extra = max(mean_ratings - min_ratings, 0.0)
    sigma = 1.0
    n_each = min_ratings + np.floor(
        rng.lognormal(np.log(max(extra, 1e-9)) - sigma**2 / 2, sigma, n_users)).astype(np.int64)
    n_each = np.minimum(np.minimum(n_each, max(min_ratings, int(0.6 * n_items))), n_items)
    genre_norm = genres / np.sqrt(genres.sum(1, keepdims=True))
    # which movies each user rates: Gumbel top-k of popularity + taste, at most ~80 MB of scores at a time
    batch = max(1, min(batch_users, 10_000_000 // n_items))
    user, item = _choose_movies(rng, log_pop, taste, genre_norm, 0.8, n_each, batch)
    user, item = user.astype(np.int32), item.astype(np.int32)
    affinity = np.concatenate([np.einsum("ng,ng->n", taste[user[lo:lo + 1_000_000]],
                                         genre_norm[item[lo:lo + 1_000_000]])
                               for lo in range(0, len(user), 1_000_000)])
    latent = user_bias[user] + quality[item] + affinity + rng.normal(0.0, noise, len(user))
    cuts = np.quantile(latent, np.cumsum(distribution)[:-1])
    stars = (1 + np.searchsorted(cuts, latent)).astype(np.float32)
    # time: each user active from a start day over an exponential window (days since 1970)
    # 1999-01-01 .. 2005-12-31
    time = _rating_times(rng, user, n_users, 10592, 13149, margin=30, mean_window=400.0)
    titles = _unique_titles(rng, years)
    order = np.lexsort((item, user))
    return Ratings(
        user=user[order], item=item[order], rating=stars[order], time=time[order].astype(np.int64),
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=np.arange(1, n_items + 1, dtype=np.int64), titles=np.asarray(titles, dtype=str), years=years,
        genres=genres, genre_names=CANONICAL_GENRES, scale=np.arange(1, 6, dtype=np.float32),
        name="synthetic Netflix-style", source=_source("synthetic", seed),
        truth={"user_type": user_type, "user_taste": taste, "user_bias": user_bias, "item_quality": quality,
               "item_log_popularity": log_pop, "type_genres": types, "item_genre_weights": genre_norm},
    )


def _check_sizes(n_users: int, n_items: int, min_ratings: int) -> None:
    if n_users < 1 or n_items < 1 or min_ratings < 1:
        raise DataError("synthetic data needs at least one user, one item and min_ratings >= 1")
    if min_ratings > n_items:
        raise DataError(f"synthetic data: min_ratings {min_ratings} is more than the {n_items} items")


def _netflix_movies(rng: np.random.Generator, n_items: int, popularity_exponent: float):
    """(genre flags, years, quality, log popularity) of the Netflix-style movies."""
    n_g = len(CANONICAL_GENRES)
    genre_weight = np.array([8, 5, 2, 3, 12, 5, 1.5, 16, 2, 1, 4, 2, 2.5, 6, 4, 7, 2, 1.2])
    n_genres_each = 1 + rng.binomial(2, 0.35, n_items)
    keys = np.log(genre_weight)[None, :] + rng.gumbel(size=(n_items, n_g))
    order = np.argsort(-keys, axis=1)
    genres = np.zeros((n_items, n_g), bool)
    rows = np.repeat(np.arange(n_items), n_genres_each)
    cols = order[rows, np.concatenate([np.arange(k) for k in n_genres_each])]
    genres[rows, cols] = True
    years = np.clip(2005 - np.floor(rng.exponential(11.0, n_items)), 1925, 2005).astype(np.int32)
    quality = rng.normal(0.0, 0.4, n_items)
    rank = np.empty(n_items, np.int64)
    rank[np.argsort(-(quality + rng.normal(0.0, 0.8, n_items)))] = np.arange(1, n_items + 1)
    return genres, years, quality, -popularity_exponent * np.log(rank)


def _netflix_tastes(rng: np.random.Generator, n_users: int, n_tastes: int, taste_strength: float):
    """(taste types over the genres: 3 loved, 2 disliked; each user's type; each user's tastes)."""
    n_g = len(CANONICAL_GENRES)
    types = np.zeros((n_tastes, n_g))
    for t in range(n_tastes):
        picks = rng.permutation(n_g)
        types[t, picks[:3]] = 1.0
        types[t, picks[3:5]] = -1.0
    user_type = rng.integers(n_tastes, size=n_users)
    return types, user_type, taste_strength * types[user_type] + rng.normal(0.0, 0.3, (n_users, n_g))


def _choose_movies(rng: np.random.Generator, log_pop: np.ndarray, taste: np.ndarray, item_vectors: np.ndarray,
                   weight: float, n_each: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) of every rating: each user's ``n_each`` movies by Gumbel top-k of popularity plus
    ``weight`` x expected liking (``taste . item_vectors``), in the order chosen, ``batch`` users at a
    time."""
    n_users, n_items = len(taste), len(log_pop)
    users_out, items_out = [], []
    for lo in range(0, n_users, batch):
        hi = min(n_users, lo + batch)
        score = (log_pop[None, :] + weight * (taste[lo:hi] @ item_vectors.T) +
                 rng.gumbel(size=(hi - lo, n_items)))
        kmax = int(n_each[lo:hi].max())
        top = (np.argpartition(-score, kmax - 1, axis=1)[:, :kmax] if kmax < n_items
               else np.tile(np.arange(n_items), (hi - lo, 1)))
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(score, top, 1), axis=1), 1)
        take = np.arange(kmax)[None, :] < n_each[lo:hi, None]
        users_out.append(np.broadcast_to(np.arange(lo, hi)[:, None], take.shape)[take])
        items_out.append(top[take])
    return np.concatenate(users_out).astype(np.int64), np.concatenate(items_out).astype(np.int64)


def true_affinity(r: Ratings, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The planted taste . genres term of synthetic data for (user, item) pairs."""
    if not r.truth:
        raise DataError(f"{r.name}: not synthetic data, it has no planted tastes")
    return np.einsum("ng,ng->n", r.truth["user_taste"][users], r.truth["item_genre_weights"][items])


# --------------------------------------------------------------------------------------------------
# MovieLens-100K-like ratings

ML100K_DISTRIBUTION = (0.0611, 0.1137, 0.2715, 0.3417, 0.2120)  # share of 1..5 stars in MovieLens 100K
# movies per genre in MovieLens 100K's u.item, in CANONICAL_GENRES order (Action ... Western)
ML100K_GENRE_COUNTS = (251, 135, 42, 122, 505, 109, 50, 725, 22, 24, 92, 56, 61, 247, 101, 251, 71, 27)
# Genres that go together (a movie drawn towards one of a group is likelier to have the others), with the
# sign of each member: drama and comedy rarely meet.
GENRE_GROUPS = (
    {"Action": 1, "Adventure": 1, "Sci-Fi": 1, "Thriller": 0.6, "War": 0.5, "Western": 0.4},
    {"Animation": 1, "Children's": 1, "Musical": 0.7, "Fantasy": 0.7, "Adventure": 0.5, "Comedy": 0.4},
    {"Crime": 1, "Film-Noir": 0.9, "Mystery": 1, "Thriller": 0.8},
    {"Drama": 1, "Romance": 0.6, "War": 0.6, "Comedy": -0.8},
    {"Romance": 0.8, "Comedy": 0.6, "Musical": 0.4},
    {"Horror": 1, "Thriller": 0.5, "Sci-Fi": 0.4},
)


def _normal_quantile(p: np.ndarray) -> np.ndarray:
    """Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1 - 1e-12)
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549671010050393e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    out = np.empty_like(p)
    lo, hi = p < 0.02425, p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
                (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1))
    for mask, sign, pp in ((lo, 1.0, p[lo]), (hi, -1.0, 1 - p[hi])):
        q = np.sqrt(-2 * np.log(pp))
        out[mask] = sign * ((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1))
    return out


def correlated_genres(n_items: int, rng: np.random.Generator, counts=ML100K_GENRE_COUNTS,
                      per_items: int = 1682, groups=GENRE_GROUPS, strength: float = 0.75) -> np.ndarray:
    """Genre flags (items x 18) whose shares match ``counts`` / ``per_items`` (MovieLens 100K's by default),
    every movie at least one genre, and genres of a group (``GENRE_GROUPS``) going together.

    A Gaussian copula: each movie draws one normal per group and per genre; a genre's score mixes its own
    normal with its groups' (weight ``strength``); the genre is on where the score passes a threshold, set
    (a few fixed-point steps) so that each genre's share matches after a movie without any genre has been
    given its nearest one.
    """
    names = CANONICAL_GENRES
    target = np.asarray(counts, np.float64) / per_items
    load = np.zeros((len(names), len(groups)))
    for j, group in enumerate(groups):
        for name, w in group.items():
            load[names.index(name), j] = w
    norm = np.sqrt((load**2).sum(1, keepdims=True))
    load = strength * load / np.maximum(norm, 1e-12)
    own = np.sqrt(1 - (load**2).sum(1))
    z = rng.normal(size=(n_items, len(groups))) @ load.T + own * rng.normal(size=(n_items, len(names)))
    p = target.copy()
    for _ in range(30):
        margin = z - _normal_quantile(1 - p)
        flags = margin > 0
        none = ~flags.any(1)
        flags[none, margin[none].argmax(1)] = True
        p = np.clip(p * target / np.maximum(flags.mean(0), 1e-6), 1e-5, 0.9)
    return flags


def _ratings_per_user(n_users: int, mean_ratings: float, min_ratings: int, cap: int, sigma: float,
                      rng: np.random.Generator) -> np.ndarray:
    """How many movies each user rates: a log-normal (sd ``sigma`` of the log) cut below at ``min_ratings``
    (MovieLens dropped the users with fewer) and above at ``cap``, its median chosen so that the total is
    ``n_users x mean_ratings`` (to the rating, when the cap allows)."""
    u = rng.random(n_users)
    total = int(round(n_users * mean_ratings))

    def draw(log_median: float) -> np.ndarray:
        a = (log(min_ratings) - log_median) / sigma
        below = 0.5 * (1 + erf(a / sqrt(2)))
        z = _normal_quantile(below + u * (1 - below))
        return np.clip(np.floor(np.exp(log_median + sigma * z)), min_ratings, cap).astype(np.int64)

    lo, hi = log(1e-3), log(10.0 * cap)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if draw(mid).sum() < total else (lo, mid)
    n = draw(hi)
    gap = total - int(n.sum())  # floor rounding: a few users get one more (or fewer) until the total is exact
    room = np.flatnonzero(n < cap) if gap > 0 else np.flatnonzero(n > min_ratings)
    if len(room):
        n[rng.choice(room, min(abs(gap), len(room)), replace=False)] += int(np.sign(gap))
    return n


def movielens_like(n_users: int = 943, n_items: int = 1682, mean_ratings: float = 100_000 / 943,
                   min_ratings: int = 20, factors: int = 5, noise: float = 1.4, taste_strength: float = 0.7,
                   popularity_sd: float = 2.0, popularity_sd_top: float = 1.7, popularity_cap: float = 2.5,
                   user_count_sigma: float = 1.2, max_user_share: float = 0.44, user_bias_sd: float = 0.3,
                   item_bias_sd: float = 1.3, popularity_bias: float = 0.85, obscure_spread: float = 0.3,
                   user_scale_sd: float = 0.8, user_cut_sd: float = 1.4, selection: float = 1.0,
                   seed: Seed = 0, distribution=ML100K_DISTRIBUTION) -> Ratings:
    """Ratings shaped like MovieLens 100K, the same for the same arguments (see docs/rbm-real-data.md).

    - **Who rates how much**: every user ``min_ratings`` plus a log-normal number (sigma
      ``user_count_sigma``), at most ``max_user_share`` of the movies, scaled so that the total is
      ``n_users x mean_ratings`` (MovieLens 100K: 100,000; median 65 a user, at most 737).
    - **Which movies**: a log-normal popularity (sd ``popularity_sd`` of the log: a long tail, a few movies
      rated by half the users and many by one or two), shifted by how much the user expects to like the
      movie (``selection``): Gumbel top-k, so nobody rates a movie twice. A movie nobody chose is given to
      one user who rated much, so every movie has a rating.
    - **How they rate**: ``user bias + user scale x (item bias + taste . movie factors + noise)``, cut into
      1..5 stars at the quantiles of ``distribution`` (MovieLens 100K's 6.1/11.4/27.1/34.2/21.2%).
      Item biases go with popularity (weight ``popularity_bias``: obscure movies are rated lower, as in the
      real data); the user scale (log-normal, sd ``user_scale_sd``) is how widely a person uses the stars.
      Tastes are ``factors`` normal dimensions (sd ``taste_strength``); a movie's factors come from its
      genres (which go together, :func:`correlated_genres`) plus its own part, so tastes for related genres
      correlate, rescaled along their principal directions to variances proportional to 1, 1/2 ... 1/f
      (1.1 in all), so that every seed has tastes of the same strength. ``noise`` is the rating noise.

    ``truth`` holds the planted parameters (``user_taste`` . ``item_genre_weights`` is the taste term:
    :func:`true_affinity` works as for :func:`synthetic`).
    """
    _check_sizes(n_users, n_items, min_ratings)
    rng = np.random.default_rng(seed)
    genres, years, log_pop, item_bias, item_factors = _ml_movies(
        rng, n_items, factors, (popularity_sd, popularity_sd_top, popularity_cap),
        (item_bias_sd, popularity_bias, obscure_spread))
    taste = taste_strength * rng.normal(size=(n_users, item_factors.shape[1]))
    user_bias = user_bias_sd * rng.normal(size=n_users)
    user_scale = np.exp(user_scale_sd * rng.normal(size=n_users) - user_scale_sd**2 / 2)
    cap = max(min_ratings, min(n_items, int(round(max_user_share * n_items))))
    n_each = _ratings_per_user(n_users, mean_ratings, min_ratings, cap, user_count_sigma, rng)
    user, item = _choose_movies(rng, log_pop, taste, item_factors, selection, n_each, max(1, 4_000_000 // n_items))  # noqa: E501
    _give_unrated_movies(user, item, n_each, n_items)
    aff = np.einsum("nf,nf->n", taste[user], item_factors[item])
    latent = user_bias[user] + user_scale[user] * (item_bias[item] + aff + rng.normal(0.0, noise, len(user)))
    if user_cut_sd > 0:
        latent = _personal_thresholds(rng, latent, user, n_users, distribution, user_cut_sd)
    cuts = np.quantile(latent, np.cumsum(distribution)[:-1])
    stars = (1 + np.searchsorted(cuts, latent)).astype(np.float32)
    # time: MovieLens 100K was collected from 1997-09-20 to 1998-04-22 (days since 1970); a user rates
    # over a short window
    time = _rating_times(rng, user, n_users, 10124, 10338, margin=1, mean_window=20.0)
    titles = _unique_titles(rng, years)
    order = np.lexsort((item, user))
    return Ratings(
        user=user[order].astype(np.int32), item=item[order].astype(np.int32), rating=stars[order],
        time=time[order].astype(np.int64), user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=np.arange(1, n_items + 1, dtype=np.int64), titles=np.asarray(titles, dtype=str), years=years,
        genres=genres, genre_names=CANONICAL_GENRES, scale=np.arange(1, 6, dtype=np.float32),
        name="synthetic MovieLens-100K-like", source=_source("synthetic-movielens100k", seed),
        truth={"user_taste": taste, "user_bias": user_bias, "user_scale": user_scale, "item_bias": item_bias,
               "item_log_popularity": log_pop, "item_genre_weights": item_factors, "user_type": np.zeros(n_users, int)},  # noqa: E501
    )


def _ml_movies(rng: np.random.Generator, n_items: int, factors: int, popularity: tuple[float, float, float],
               bias: tuple[float, float, float]):
    """(genre flags, years, log popularity, item biases, item factors) of MovieLens-100K-like movies.
    ``popularity``: (sd of the log below the median, above it, the cap in sds); ``bias``: (sd of the item
    biases, their weight on popularity, how much wider the spread of obscure movies is)."""
    popularity_sd, popularity_sd_top, popularity_cap = popularity
    item_bias_sd, popularity_bias, obscure_spread = bias
    genres = correlated_genres(n_items, rng)
    years = np.clip(1998 - np.floor(rng.exponential(6.0, n_items)), 1922, 1998).astype(np.int32)
    z_pop = rng.normal(size=n_items)
    log_pop = np.where(z_pop < 0, popularity_sd * z_pop,
                       popularity_sd_top * np.minimum(z_pop, popularity_cap))
    item_bias = item_bias_sd * (popularity_bias * z_pop + np.sqrt(max(0.0, 1 - popularity_bias**2))
                                * np.exp(-obscure_spread * z_pop) * rng.normal(size=n_items))
    genre_load = rng.normal(0.0, 1.0, (len(CANONICAL_GENRES), factors))
    raw = ((genres / np.sqrt(genres.sum(1, keepdims=True))) @ genre_load +
           rng.normal(0.0, 1.0, (n_items, factors)))
    # the same strength of tastes for every seed: the factors' principal directions get a fixed spectrum,
    # variances 1/1, 1/2, ... 1/f of the first, 1.1 in all (a dominant first factor, as in real ratings)
    u, _, _ = np.linalg.svd(raw - raw.mean(0), full_matrices=False)
    spectrum = 1.0 / np.arange(1, factors + 1)
    return genres, years, log_pop, item_bias, u * np.sqrt(n_items * 1.1 * spectrum / spectrum.sum())


def _give_unrated_movies(user: np.ndarray, item: np.ndarray, n_each: np.ndarray, n_items: int) -> None:
    """Every movie gets a rating: each movie nobody chose replaces, in ``item``, the last-chosen movie of a
    user who rated many whose movie keeps another rating."""
    per_item = np.bincount(item, minlength=n_items)
    heavy = np.argsort(-n_each, kind="stable")
    for k, i in enumerate(np.flatnonzero(per_item == 0)):
        mine = np.flatnonzero(user == heavy[k % len(heavy)])
        for j in mine[::-1]:
            if per_item[item[j]] > 1:
                per_item[item[j]] -= 1
                item[j] = i
                per_item[i] += 1
                break


def _personal_thresholds(rng: np.random.Generator, latent: np.ndarray, user: np.ndarray, n_users: int,
                         distribution, user_cut_sd: float) -> np.ndarray:
    """``latent`` warped per person: each person's own thresholds between the stars (a monotone warp of the
    latent scale, piecewise linear between the common thresholds moved by ``user_cut_sd``)."""
    knots = np.quantile(latent, np.cumsum(distribution)[:-1])
    shift = rng.normal(0.0, user_cut_sd, (n_users, len(knots)))
    moved = np.sort(knots[None, :] + shift - shift.mean(1, keepdims=True), axis=1)  # shape, not place
    seg = np.searchsorted(knots, latent)  # 0 .. len(knots)
    lo_k, hi_k = np.maximum(seg - 1, 0), np.minimum(seg, len(knots) - 1)
    x0, x1 = knots[lo_k], knots[hi_k]
    y0, y1 = moved[user, lo_k], moved[user, hi_k]
    inner = (seg > 0) & (seg < len(knots))
    frac = np.where(inner, (latent - x0) / np.where(inner, x1 - x0, 1.0), 0.0)
    return np.where(inner, y0 + frac * (y1 - y0), latent + np.where(seg == 0, y0 - x0, y1 - x1))


def _rating_times(rng, user: np.ndarray, n_users: int, first_day: int, last_day: int, margin: int,
                  mean_window: float) -> np.ndarray:
    """Seconds since 1970 of each rating: each user active from a start day over an exponential window
    (days since 1970 in ``first_day .. last_day``)."""
    start = rng.integers(first_day, last_day - margin, n_users)
    span = np.minimum(rng.exponential(mean_window, n_users) + 1, last_day - start)
    day = start[user] + np.floor(rng.random(len(user)) * span[user]).astype(np.int64)
    return day * SECONDS_PER_DAY + rng.integers(0, SECONDS_PER_DAY, len(user))


def _unique_titles(rng, years: np.ndarray) -> list[str]:
    """Invented titles, unique per (title, year): a repeat gets a sequel number."""
    titles, seen = [], set()
    for i in range(len(years)):
        t = _make_title(rng)
        base, k = t, 2
        while (t, int(years[i])) in seen:
            t = f"{base} {['II', 'III', 'IV', 'V', 'VI'][k - 2] if k <= 6 else k}"
            k += 1
        seen.add((t, int(years[i])))
        titles.append(t)
    return titles
