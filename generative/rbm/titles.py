"""Titles as people type them: forgiving lookup of a movie by title (:class:`TitleIndex`) and the parser of
``"Title=stars, Title=stars"`` (:func:`parse_rate`), for ``lab recommend --rate`` and any service that takes a
person's ratings by title. Every pattern here matches in linear time: a long or hostile text costs no more
than reading it."""

from __future__ import annotations

import difflib
import re
import unicodedata

import numpy as np

from lab.data.ratings import Ratings


class RecommendError(ValueError):
    """A user id, title or rating this run's data cannot take; the message says which and why."""


ARTICLES = frozenset(("the", "a", "an", "les", "la", "le", "il", "das", "der", "die", "el", "l'"))
# Every pattern below matches in linear time (no quantifier next to another that can match the same text), so
# a long or hostile title costs no more than reading it.
_YEAR_AT_END = re.compile(r"\((\d{4})\)$")


def normalise_title(text: str) -> str:
    """Lower case, no accents, no year, ``"Usual Suspects, The"`` -> ``"the usual suspects"``, no
    punctuation."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().strip()
    m = _YEAR_AT_END.search(text)
    if m:
        text = text[: m.start()].rstrip()
    head, comma, tail = text.rpartition(",")
    if comma and tail.lstrip() in ARTICLES:
        text = f"{tail.lstrip()} {head}"
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def _year_of(query: str) -> int | None:
    m = _YEAR_AT_END.search(query.strip())
    return int(m.group(1)) if m else None


class TitleIndex:
    """Forgiving title lookup: exact (ignoring case, accents, punctuation, a trailing article or year), then
    whole-word containment; an ambiguous title lists the candidates, an unknown one suggests the nearest."""

    def __init__(self, r: Ratings):
        self.r = r
        self.norm = [normalise_title(str(t)) for t in r.titles]
        self.popularity = np.bincount(r.item, minlength=r.n_items)

    def _describe(self, items) -> str:
        return "; ".join(self.r.display_title(i) for i in items)

    def find(self, query: str) -> int:
        q = normalise_title(query)
        if not q:
            raise RecommendError(f"empty title in {query!r}")
        year = _year_of(query)
        pool = np.arange(self.r.n_items)
        if year is not None:
            pool = pool[self.r.years[pool] == year]
        exact = [i for i in pool if self.norm[i] == q]
        if not exact:
            pattern = re.compile(rf"(^|\s){re.escape(q)}(\s|$)")
            exact = [i for i in pool if pattern.search(self.norm[i])]
        if len(exact) == 1:
            return int(exact[0])
        if len(exact) > 1:
            labels = {self.r.display_title(i) for i in exact}
            if len(labels) == 1:  # the same title and year under two ids: take the more rated one
                return int(max(exact, key=lambda i: self.popularity[i]))
            exact = sorted(exact, key=lambda i: -self.popularity[i])
            more = f" and {len(exact) - 10} more" if len(exact) > 10 else ""
            raise RecommendError(f"{query!r} matches {len(exact)} movies: "
                             f"{self._describe(exact[:10])}{more}; add the year, e.g. \"Title (1995)=5\"")
        near = difflib.get_close_matches(q, sorted(set(self.norm)), n=3, cutoff=0.6)
        if near:
            idx = [i for n in near for i in sorted((i for i, t in enumerate(self.norm) if t == n),
                                                   key=lambda i: -self.popularity[i])][:5]
            raise RecommendError(f"no movie called {query!r}; did you mean {self._describe(idx)}?")
        raise RecommendError(f"no movie called {query!r} in this run's data ({self.r.name})")


MAX_RATE_CHARS = 10_000
"""``--rate`` is at most 10,000 characters (a few hundred ratings)."""
_SEPARATOR = re.compile(r"[,;]")


def short_text(text: str, n: int = 60) -> str:
    """``text`` quoted, cut to ``n`` characters."""
    return repr(text if len(text) <= n else text[:n] + "...")


def split_rate(text: str) -> list[tuple[str, str]]:
    """``"Toy Story=5, Usual Suspects, The=4"`` -> [("Toy Story", "5"), ("Usual Suspects, The", "4")], in one
    pass.

    A title runs to the next ``=`` (it may hold commas), its rating to the next ``,`` or ``;``. Written by
    hand, not as one regular expression: the lazy title pattern it replaced backtracked for ever on a long
    text without ``=``.
    """
    pairs, pos, n = [], 0, len(text)
    while pos < n:
        eq = text.find("=", pos)
        if eq < 0:
            rest = text[pos:].strip(" \t\r\n,;")
            if rest:
                raise RecommendError(f"{short_text(rest)} has no rating: write Title=rating, e.g. "
                                     "\"Toy Story=5, Heat=4\"")
            break
        sep = _SEPARATOR.search(text, eq + 1)
        end = sep.start() if sep else n
        pairs.append((text[pos:eq].strip(" \t\r\n,;"), text[eq + 1:end].strip()))
        pos = end + 1
    return pairs


def check_rate_length(text: str) -> None:
    """``Title=stars`` text is at most :data:`MAX_RATE_CHARS` characters."""
    if len(text) > MAX_RATE_CHARS:
        raise RecommendError(f"{len(text):,} characters; give at most {MAX_RATE_CHARS:,} (a few hundred "
                             f"ratings)")


def rating_of(title: str, value, scale: np.ndarray) -> float:
    """A person's rating of ``title`` as a number of the rating ``scale`` (``value``: text or a number)."""
    if isinstance(value, bool):
        raise RecommendError(f"the rating of {short_text(title)} is {value!r}, not a number")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RecommendError(f"the rating of {short_text(title)} is {short_text(str(value))}, not a "
                             f"number") from None
    if not np.isclose(scale, v).any():
        raise RecommendError(f"{title!r}={value} is outside the rating scale "
                             f"({', '.join(f'{s:g}' for s in scale)})")
    return v


def parse_rate(text: str, scale: np.ndarray) -> list[tuple[str, float]]:
    """``"Toy Story=5, Usual Suspects, The=4"`` -> [("Toy Story", 5.0), ("Usual Suspects, The", 4.0)]."""
    check_rate_length(text)
    pairs = split_rate(text)
    if not pairs:
        raise RecommendError(f"expected \"Title=rating, Title=rating\" (e.g. \"Toy Story=5, Heat=4\"), not "
                             f"{short_text(text)}")
    out = []
    for title, value in pairs:
        title = title.strip().strip("\"'")
        if not title:
            raise RecommendError(f"a rating without a title (={value}); write Title=rating, e.g. \"Heat=4\"")
        out.append((title, rating_of(title, value, scale)))
    return out
