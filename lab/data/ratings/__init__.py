"""Movie ratings in one in-memory form, read from the datasets' own files or generated.

:class:`Ratings` holds every rating as parallel arrays (``user`` and ``item`` dense int32 indices,
``rating`` float32, ``time`` int64 seconds since 1970) plus the maps back to the dataset's ids and the
movies' titles, years and genres. Readers:

- **MovieLens 100K** (:func:`read_movielens_100k`): ``u.data`` (``user item rating timestamp``, tabs),
  ``u.item`` (``|``-separated, latin-1, 19 genre flags), ``u.genre``; the dataset's own splits
  ``u1..u5.base/.test`` and ``ua/ub.base/.test`` when present.
- **MovieLens 1M** (:func:`read_movielens_1m`): ``ratings.dat`` and ``movies.dat`` with ``::`` separators
  (latin-1).
- **MovieLens latest / 20M / 25M** (:func:`read_movielens_latest`): ``ratings.csv`` (half-star ratings,
  header line) and ``movies.csv`` (quoted titles that contain commas, UTF-8).
- **Netflix Prize** (:func:`read_netflix`): ``combined_data_*.txt`` (or the original
  ``training_set/mv_*.txt``): a ``MovieID:`` line, then ``CustomerID,Rating,YYYY-MM-DD`` lines;
  ``movie_titles.csv`` (``MovieID,Year,Title``; latin-1; titles with unquoted commas; year ``NULL``);
  ``probe.txt`` (``MovieID:`` then ``CustomerID`` lines) becomes the split ``probe``.
- **Synthetic Netflix-style data** (:func:`synthetic`): the offline default, seeded; and ratings shaped
  like MovieLens 100K (:func:`movielens_like`), whose shape :func:`statistics` measures for any ratings.

**One reader signature.** Every reader in ``READERS`` (one per layout) is called the same way::

    read_xxx(folder: str | Path, *, max_files: int | None = None) -> Ratings

``folder`` holds the layout's files. ``max_files`` reads only the first N rating files (sorted by name)
of a layout that splits its ratings over several files (Netflix Prize); ``None`` (or 0) reads them all.
A MovieLens layout has a single ratings file, which is always read, so there ``max_files`` changes
nothing. :func:`load_ratings` passes its own ``max_files`` (``data.max_files``) to whichever reader the
layout calls for.

:func:`load_ratings` detects the layout of a folder. Big files are parsed in chunks by a vectorised
NumPy tokenizer (no Python object per line), so 100M Netflix ratings need about 1.1 GB of arrays
plus one chunk. Every problem in a file is a :class:`~lab.errors.DataError` naming the file and line
(an unreadable or damaged file, a titles file that is not in its encoding, an id too large for int32).

**Duplicates.** A (user, item) pair rated on several lines is kept once, with its **latest** rating
(largest timestamp; on a tie the later line); ``Ratings.notes`` says how many were dropped, with an
example pair and its lines, and the ``rbm`` task logs it as a warning and puts it in the report.
A Netflix ``probe.txt`` none of whose pairs is among the ratings read is a DataError (with
``data.max_files`` the message says why that may be).

Splits (:func:`make_splits`): random k-fold, the dataset's own splits, a per-user hold-out of n ratings
(or a fraction: the "stratified" split), and a per-user temporal split (each user's latest ratings).

The modules, by concern (this package re-exports their public names; use them as ``ratings.X``):

- ``model``: :class:`Ratings`, :func:`from_ids`, :class:`Split`, ``SECONDS_PER_DAY``, the genre lists;
- ``parse``: the chunked numeric-table tokenizer (:func:`read_numeric_table`) and its error helpers;
  the chunk size ``CHUNK_BYTES`` is read from that module, so set it there
  (``lab.data.ratings.parse.CHUNK_BYTES``), not here;
- ``movielens``: the MovieLens readers, :func:`write_movielens_100k`, :func:`split_title_year`;
- ``netflix``: :func:`read_netflix`, :func:`write_netflix`, :func:`days_from_civil`;
- ``synthetic_data``: :func:`synthetic`, :func:`movielens_like`, :func:`true_affinity`,
  ``NETFLIX_DISTRIBUTION``, ``ML100K_DISTRIBUTION``;
- ``statistics``: :func:`statistics` (the shape of any ratings set) and ``ML100K`` (MovieLens 100K's figures);
- ``splits``: :func:`kfold`, :func:`own_splits`, :func:`holdout`, :func:`temporal`, :func:`make_splits`;
- ``layout``: ``LAYOUTS``, :func:`detect_layout`, :func:`find_layout`;
- ``download``: ``DOWNLOADS``, :func:`cache_dir`, :func:`download_movielens` (it calls
  ``urllib.request.urlopen`` through that module);
- ``load``: ``READERS`` and :func:`load_ratings`.

Nothing here imports TensorFlow.
"""

from lab.data.ratings.download import DOWNLOADS, cache_dir, download_movielens
from lab.data.ratings.layout import LAYOUTS, detect_layout, find_layout
from lab.data.ratings.load import READERS, load_ratings
from lab.data.ratings.model import (
    CANONICAL_GENRES,
    ML100K_GENRES,
    SECONDS_PER_DAY,
    Ratings,
    Split,
    from_ids,
)
from lab.data.ratings.movielens import (
    read_movielens_1m,
    read_movielens_100k,
    read_movielens_latest,
    split_title_year,
    write_movielens_100k,
)
from lab.data.ratings.netflix import days_from_civil, read_netflix, write_netflix
from lab.data.ratings.parse import read_numeric_table
from lab.data.ratings.splits import holdout, kfold, make_splits, own_splits, temporal
from lab.data.ratings.statistics import ML100K, statistics
from lab.data.ratings.synthetic_data import (
    ML100K_DISTRIBUTION,
    NETFLIX_DISTRIBUTION,
    movielens_like,
    synthetic,
    true_affinity,
)

__all__ = [
    "CANONICAL_GENRES",
    "DOWNLOADS",
    "LAYOUTS",
    "ML100K",
    "ML100K_DISTRIBUTION",
    "ML100K_GENRES",
    "NETFLIX_DISTRIBUTION",
    "READERS",
    "SECONDS_PER_DAY",
    "Ratings",
    "Split",
    "cache_dir",
    "days_from_civil",
    "detect_layout",
    "download_movielens",
    "find_layout",
    "from_ids",
    "holdout",
    "kfold",
    "load_ratings",
    "make_splits",
    "movielens_like",
    "own_splits",
    "read_movielens_100k",
    "read_movielens_1m",
    "read_movielens_latest",
    "read_netflix",
    "read_numeric_table",
    "split_title_year",
    "statistics",
    "synthetic",
    "temporal",
    "true_affinity",
    "write_movielens_100k",
    "write_netflix",
]
