"""Synthetic Netflix-style ratings with planted structure (the offline default), and their titles."""

from __future__ import annotations

import numpy as np

from lab.data.ratings.model import CANONICAL_GENRES, SECONDS_PER_DAY, Ratings
from lab.errors import DataError

NETFLIX_DISTRIBUTION = (0.046, 0.101, 0.287, 0.336, 0.230)  # share of 1..5 stars in the Netflix Prize data

_ADJECTIVES = (
    "Silent", "Last", "Broken", "Golden", "Dark", "Hidden", "Endless", "Crimson", "Lonely", "Wild", "Frozen", "Secret",
    "Burning", "Lost", "Midnight", "Electric", "Savage", "Gentle", "Distant", "Fallen", "Iron", "Scarlet", "Quiet",
    "Restless", "Shattered", "Velvet", "Wicked", "Brave", "Hollow", "Northern", "Paper", "Glass", "Sleeping",
    "Forgotten", "Bitter", "Sweet", "Final", "Little", "Great", "Strange",
)
_NOUNS = (
    "River", "Harbor", "Empire", "Garden", "Kingdom", "Heart", "Shadow", "Road", "Storm", "Dream", "Summer", "City",
    "Island", "Mirror", "Promise", "Frontier", "Machine", "Letter", "Station", "Horizon", "Winter", "Voyage", "Secret",
    "Crown", "Highway", "Stranger", "Ghost", "Sky", "Tide", "Circus", "Mountain", "Desert", "Season", "Signal",
    "Orchard", "Lantern", "Bridge", "Witness", "Engine", "Song",
)
_PLACES = (
    "Paris", "Tokyo", "Brooklyn", "Havana", "Casablanca", "Vienna", "Texas", "Alaska", "Rome", "Bombay", "Berlin",
    "Chicago", "Lisbon", "the Valley", "the North", "Mars",
)
_NAMES = ("Annie", "Jack", "Marlowe", "Sophie", "Max", "Rosa", "Elliot", "Nora", "Frankie", "Otis", "Lola", "Walter")


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def _make_title(rng: np.random.Generator) -> str:
    a, n, n2 = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_NOUNS)
    pattern = int(rng.integers(8))
    return [
        f"The {a} {n}", f"{a} {n}", f"{n} of the {n2}", f"{'An' if n[0] in 'AEIOU' else 'A'} {n} in {rng.choice(_PLACES)}",
        f"{rng.choice(_NAMES)}'s {n}", f"{_plural(n)}, {_plural(n2)} and Other Stories", f"The {n}", f"{a} {n}: Return to {rng.choice(_PLACES)}",
    ][pattern]


def synthetic(n_users: int = 2000, n_items: int = 1000, mean_ratings: float = 60.0, min_ratings: int = 20,
              n_tastes: int = 8, noise: float = 0.5, taste_strength: float = 1.0, popularity_exponent: float = 0.9,
              seed: int = 0, distribution=NETFLIX_DISTRIBUTION, batch_users: int = 2000) -> Ratings:
    """Netflix-style ratings with planted structure, the same for the same arguments.

    Movies get 1-3 of 18 genres, a year (recent years likelier), a quality and a power-law popularity
    (better movies a little more popular). Users belong to one of ``n_tastes`` taste types (a few loved
    and a few disliked genres) with personal variation, and have a rating bias. A user rates
    ``min_ratings`` + a log-normal number of movies, chosen by popularity and by taste (people watch
    what they expect to like). A rating is ``bias + quality + taste . genres + noise``, cut into 1..5
    stars at the quantiles of ``distribution`` (default: the Netflix Prize's shares). Timestamps are
    days between 1999 and 2005, each user active over a window. ``truth`` holds the planted parameters.
    """
    if n_users < 1 or n_items < 1 or min_ratings < 1:
        raise DataError("synthetic data needs at least one user, one item and min_ratings >= 1")
    if min_ratings > n_items:
        raise DataError(f"synthetic data: min_ratings {min_ratings} is more than the {n_items} items")
    rng = np.random.default_rng(seed)
    genre_names = CANONICAL_GENRES
    n_g = len(genre_names)
    # movies
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
    log_pop = -popularity_exponent * np.log(rank)
    # users
    types = np.zeros((n_tastes, n_g))
    for t in range(n_tastes):
        picks = rng.permutation(n_g)
        types[t, picks[:3]] = 1.0
        types[t, picks[3:5]] = -1.0
    user_type = rng.integers(n_tastes, size=n_users)
    taste = taste_strength * types[user_type] + rng.normal(0.0, 0.3, (n_users, n_g))
    user_bias = rng.normal(0.0, 0.35, n_users)
    extra = max(mean_ratings - min_ratings, 0.0)
    sigma = 1.0
    n_each = min_ratings + np.floor(rng.lognormal(np.log(max(extra, 1e-9)) - sigma**2 / 2, sigma, n_users)).astype(np.int64)
    n_each = np.minimum(n_each, max(min_ratings, int(0.6 * n_items)))
    n_each = np.minimum(n_each, n_items)
    genre_norm = genres / np.sqrt(genres.sum(1, keepdims=True))
    # which movies each user rates: Gumbel top-k of popularity + taste, in batches of users
    batch_users = max(1, min(batch_users, 10_000_000 // n_items))  # at most ~80 MB of scores at a time
    users_out, items_out = [], []
    for lo in range(0, n_users, batch_users):
        hi = min(n_users, lo + batch_users)
        aff = taste[lo:hi] @ genre_norm.T
        score = log_pop[None, :] + 0.8 * aff + rng.gumbel(size=(hi - lo, n_items))
        kmax = int(n_each[lo:hi].max())
        top = np.argpartition(-score, kmax - 1, axis=1)[:, :kmax] if kmax < n_items else np.tile(np.arange(n_items), (hi - lo, 1))
        top_scores = np.take_along_axis(score, top, 1)
        top = np.take_along_axis(top, np.argsort(-top_scores, axis=1), 1)
        take = np.arange(kmax)[None, :] < n_each[lo:hi, None]
        users_out.append(np.broadcast_to(np.arange(lo, hi)[:, None], take.shape)[take])
        items_out.append(top[take])
    user = np.concatenate(users_out).astype(np.int32)
    item = np.concatenate(items_out).astype(np.int32)
    affinity = np.concatenate([np.einsum("ng,ng->n", taste[user[lo:lo + 1_000_000]], genre_norm[item[lo:lo + 1_000_000]])
                               for lo in range(0, len(user), 1_000_000)])
    latent = user_bias[user] + quality[item] + affinity + rng.normal(0.0, noise, len(user))
    cuts = np.quantile(latent, np.cumsum(distribution)[:-1])
    stars = (1 + np.searchsorted(cuts, latent)).astype(np.float32)
    # time: each user active from a start day over an exponential window (days since 1970)
    first_day, last_day = 10592, 13149  # 1999-01-01 .. 2005-12-31
    start = rng.integers(first_day, last_day - 30, n_users)
    span = np.minimum(rng.exponential(400.0, n_users) + 1, last_day - start)
    day = start[user] + np.floor(rng.random(len(user)) * span[user]).astype(np.int64)
    time = day * SECONDS_PER_DAY + rng.integers(0, SECONDS_PER_DAY, len(user))
    # titles, unique per (title, year)
    titles, seen = [], set()
    for i in range(n_items):
        t = _make_title(rng)
        base, k = t, 2
        while (t, int(years[i])) in seen:
            t = f"{base} {['II', 'III', 'IV', 'V', 'VI'][k - 2] if k <= 6 else k}"
            k += 1
        seen.add((t, int(years[i])))
        titles.append(t)
    order = np.lexsort((item, user))
    return Ratings(
        user=user[order], item=item[order], rating=stars[order], time=time[order].astype(np.int64),
        user_ids=np.arange(1, n_users + 1, dtype=np.int64), item_ids=np.arange(1, n_items + 1, dtype=np.int64),
        titles=np.asarray(titles, dtype=str), years=years, genres=genres, genre_names=genre_names,
        scale=np.arange(1, 6, dtype=np.float32), name="synthetic Netflix-style", source=f"synthetic(seed={seed})",
        truth={"user_type": user_type, "user_taste": taste, "user_bias": user_bias, "item_quality": quality,
               "item_log_popularity": log_pop, "type_genres": types, "item_genre_weights": genre_norm},
    )


def true_affinity(r: Ratings, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The planted taste . genres term of synthetic data for (user, item) pairs."""
    if not r.truth:
        raise DataError(f"{r.name}: not synthetic data, it has no planted tastes")
    return np.einsum("ng,ng->n", r.truth["user_taste"][users], r.truth["item_genre_weights"][items])
