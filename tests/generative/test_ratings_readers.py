"""Each ratings reader on small files written here in the dataset's own layout, with its quirks."""

import numpy as np
import pytest

from lab.data import ratings as R
from lab.data.ratings import parse


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------------------------------
# MovieLens 100K


def ml100k(folder):
    write(folder / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n"
          "196\t51\t5\t881250950\n22\t302\t4\t878887117\n")
    flags_a = "|".join(["0"] * 5 + ["1"] + ["0"] * 13)  # Comedy
    flags_b = "|".join(["0"] * 8 + ["1"] + ["0"] * 5 + ["1"] + ["0"] * 4)  # Drama, Romance
    write(folder / "u.item",
          f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|{flags_a}\n"
          f"302|L.A. Confidential (1997)|01-Jan-1997||http://x|{flags_b}\n"
          f"51|Légendes d'automne (1994)|01-Jan-1994||http://x|{flags_b}\n", encoding="latin-1")
    write(folder / "u.genre", "".join(f"{g}|{k}\n" for k, g in enumerate(R.ML100K_GENRES)))
    return folder


def test_movielens_100k(tmp_path):
    r = R.load_ratings(ml100k(tmp_path / "ml-100k"))
    assert r.source.endswith("ml-100k") and len(r) == 5 and r.n_users == 3 and r.n_items == 3
    assert r.user.dtype == np.int32 and r.item.dtype == np.int32 and r.rating.dtype == np.float32
    assert r.time.dtype == np.int64
    assert list(r.user_ids) == [22, 186, 196] and list(r.item_ids) == [51, 242, 302]
    j = np.flatnonzero((r.user_ids[r.user] == 196) & (r.item_ids[r.item] == 51))[0]
    assert r.rating[j] == 5 and r.time[j] == 881250950
    i = r.item_index(51)
    assert r.titles[i] == "Légendes d'automne" and r.years[i] == 1994  # latin-1 decoded, year split off
    assert r.item_genres(i) == ["Drama", "Romance"] and r.item_genres(r.item_index(242)) == ["Comedy"]
    assert r.display_title(r.item_index(302)) == "L.A. Confidential (1997)"
    assert list(r.scale) == [1, 2, 3, 4, 5] and r.own_splits == {}


def test_movielens_100k_own_splits(tmp_path):
    folder = ml100k(tmp_path / "ml")
    write(folder / "u1.base", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n")
    write(folder / "u1.test", "196\t51\t5\t881250950\n22\t302\t4\t878887117\n")
    write(folder / "ua.test", "186\t302\t3\t891717742\n")
    r = R.read_movielens_100k(folder)
    assert set(r.own_splits) == {"u1", "ua"}
    (u1,) = R.own_splits(r, ["u1"])
    test_pairs = {(int(r.user_ids[r.user[j]]), int(r.item_ids[r.item[j]])) for j in u1.test}
    assert test_pairs == {(196, 51), (22, 302)} and len(u1.train) == 3
    splits = R.make_splits(r, "own")
    assert [s.name for s in splits] == ["u1", "ua"] and len(splits[1].test) == 1


# --------------------------------------------------------------------------------------------------
# MovieLens 1M and latest


def test_movielens_1m(tmp_path):
    folder = tmp_path / "ml-1m"
    write(folder / "ratings.dat",
          "1::1193::5::978300760\r\n1::661::3::978302109\r\n2::1193::4::978298413\r\n")
    write(folder / "movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
          "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
          "3::Café au lait (1993)::Comedy\n", encoding="latin-1")
    r = R.load_ratings(folder)
    assert r.name == "MovieLens 1M" and len(r) == 3 and list(r.scale) == [1, 2, 3, 4, 5]
    i = r.item_index(661)
    assert r.titles[i] == "James and the Giant Peach" and r.years[i] == 1996
    assert r.item_genres(i) == ["Animation", "Children's", "Musical"]
    assert r.item_index(3) is None  # a movie nobody rated is not an item
    assert sorted(r.rating.tolist()) == [3, 4, 5]


def test_movielens_latest_with_quoted_titles_and_half_stars(tmp_path):
    folder = tmp_path / "ml-latest-small"
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,50,3.5,964982931\n"
          "2,50,0.5,964982224\n2,1,5.0,964983815\n")
    write(folder / "movies.csv", 'movieId,title,genres\n1,Toy Story '
          '(1995),Adventure|Animation|Children|Comedy|Fantasy\n50,"Usual Suspects, The '
          '(1995)",Crime|Mystery|Thriller\n99,"Heidi Fleiss: Hollywood Madam (1995)",(no genres listed)\n')
    r = R.load_ratings(folder, source="movielens-latest")
    assert len(r) == 4 and r.scale[0] == 0.5 and len(r.scale) == 10
    assert sorted(r.rating.tolist()) == [0.5, 3.5, 4.0, 5.0]
    i = r.item_index(50)
    assert r.titles[i] == "Usual Suspects, The" and r.years[i] == 1995
    assert r.item_genres(i) == ["Crime", "Mystery", "Thriller"]
    assert "Children" in r.genre_names and "(no genres listed)" not in r.genre_names


# --------------------------------------------------------------------------------------------------
# Netflix Prize


def netflix(folder, crlf=False):
    nl = "\r\n" if crlf else "\n"
    write(folder / "combined_data_1.txt", nl.join([
        "1:", "1488844,3,2005-09-06", "822109,5,2005-05-13", "2:", "1488844,4,2004-01-31", ""]))
    write(folder / "combined_data_2.txt", nl.join(["3:", "885013,1,1999-12-31", "1488844,2,2005-12-31", ""]))
    write(folder / "movie_titles.csv", "1,2003,Dinosaur Planet\n2,NULL,Isle of Man TT 2004 Review\n"
          "3,1997,Character, Part 2: The Café\n", encoding="latin-1")
    write(folder / "probe.txt", "2:\n1488844\n3:\n885013\n")
    return folder


@pytest.mark.parametrize("crlf", [False, True])
def test_netflix_layout(tmp_path, crlf):
    r = R.load_ratings(netflix(tmp_path / "nf", crlf))
    assert r.name == "Netflix Prize" and len(r) == 5 and r.n_users == 3 and r.n_items == 3
    assert r.genre_names == () and r.genres.shape == (3, 0)
    i3 = r.item_index(3)
    assert r.titles[i3] == "Character, Part 2: The Café" and r.years[i3] == 1997  # commas and latin-1
    assert r.years[r.item_index(2)] == 0  # NULL year
    j = np.flatnonzero((r.user_ids[r.user] == 885013) & (r.item_ids[r.item] == 3))[0]
    assert r.rating[j] == 1
    assert np.datetime64(int(r.time[j]), "s") == np.datetime64("1999-12-31T00:00:00")
    probe = r.own_splits["probe"]
    pairs = {(int(r.user_ids[r.user[j]]), int(r.item_ids[r.item[j]])) for j in np.flatnonzero(probe)}
    assert pairs == {(1488844, 2), (885013, 3)}


def test_netflix_original_training_set_folder(tmp_path):
    folder = tmp_path / "download"
    write(folder / "training_set" / "mv_0000001.txt", "1:\n6,3,2005-09-06\n7,4,2005-09-07\n")
    write(folder / "training_set" / "mv_0000002.txt", "2:\n6,5,2004-02-29\n")
    r = R.load_ratings(folder, source="netflix")
    assert len(r) == 3 and r.titles[r.item_index(2)] == "Movie 2"


def test_chunked_parsing_matches_whole_file(tmp_path, monkeypatch):
    """A chunk boundary falls in the middle of lines and of MovieID blocks: the result must not change."""
    r = R.synthetic(60, 40, mean_ratings=25, seed=3)
    R.write_netflix(r, tmp_path / "nf", n_files=2)
    R.write_movielens_100k(r, tmp_path / "ml")
    whole_nf, whole_ml = R.read_netflix(tmp_path / "nf"), R.read_movielens_100k(tmp_path / "ml")
    monkeypatch.setattr(parse, "CHUNK_BYTES", 97)
    assert len(list(parse._chunks(tmp_path / "ml" / "u.data"))) > 2  # the patch reaches the tokenizer
    small_nf, small_ml = R.read_netflix(tmp_path / "nf"), R.read_movielens_100k(tmp_path / "ml")
    for a, b in ((whole_nf, small_nf), (whole_ml, small_ml)):
        for name in ("user", "item", "rating", "time", "user_ids", "item_ids"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_writers_round_trip_synthetic_data(tmp_path):
    r = R.synthetic(80, 50, mean_ratings=30, seed=1)
    back = R.load_ratings(R.write_movielens_100k(r, tmp_path / "ml"))
    assert np.array_equal(back.rating, r.rating) and np.array_equal(back.user, r.user)
    assert np.array_equal(back.titles, r.titles) and np.array_equal(back.years, r.years)
    assert all(back.item_genres(i) == r.item_genres(i) for i in range(r.n_items))
    nf = R.load_ratings(R.write_netflix(r, tmp_path / "nf", n_files=3, probe_fraction=0.1))
    a, b = np.lexsort((r.user, r.item)), np.lexsort((nf.user, nf.item))
    assert np.array_equal(nf.rating[b], r.rating[a])
    assert np.array_equal(nf.time[b] // R.SECONDS_PER_DAY, r.time[a] // R.SECONDS_PER_DAY)
    assert nf.own_splits["probe"].sum() == int(len(r) * 0.1)


def test_layout_found_in_a_sub_folder_and_npz_round_trip(tmp_path):
    ml100k(tmp_path / "datasets" / "ml-100k")
    r = R.load_ratings(tmp_path / "datasets")
    assert r.name == "MovieLens 100K"
    r.save_npz(tmp_path / "r.npz")
    back = R.Ratings.load_npz(tmp_path / "r.npz")
    for name in ("user", "item", "rating", "time", "user_ids", "item_ids", "titles", "years", "genres",
                 "scale"):
        assert np.array_equal(getattr(back, name), getattr(r, name)), name
    assert back.genre_names == r.genre_names
