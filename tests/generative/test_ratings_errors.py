"""Bad ratings data gets a DataError that names the file and the line (and says what was expected)."""

import io
import urllib.error

import pytest

from lab.data import ratings as R
from lab.data.ratings import download, parse
from lab.errors import DataError


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("line", ["196\t242\t3", "196\t242\tthree\t881250949", "196\t24.5\t3\t881250949",
                                  "196\t242\t3\t881250949\t7", "-1\t242\t3\t881250949"])
def test_malformed_u_data_line_names_file_and_line(tmp_path, line):
    path = write(tmp_path / "u.data", f"1\t1\t4\t881250949\n2\t1\t5\t881250950\n{line}\n3\t1\t2\t881250951\n")
    with pytest.raises(DataError, match=r"u\.data:3: malformed line") as err:
        R.load_ratings(tmp_path)
    assert line.split("\t")[0] in str(err.value) and "user item rating timestamp" in str(err.value)
    assert path.exists()


def test_malformed_line_found_past_a_chunk_boundary(tmp_path, monkeypatch):
    lines = [f"{u}\t{i}\t4\t88125{u:04d}" for u in range(1, 40) for i in (1, 2)]
    lines[57] = "oops"
    write(tmp_path / "u.data", "\n".join(lines) + "\n")
    monkeypatch.setattr(parse, "CHUNK_BYTES", 128)
    assert len(list(parse._chunks(tmp_path / "u.data"))) > 2  # the patch reaches the tokenizer
    with pytest.raises(DataError, match=r"u\.data:58: malformed line 'oops'"):
        R.load_ratings(tmp_path)


def test_rating_outside_the_scale(tmp_path):
    write(tmp_path / "u.data", "1\t1\t4\t881250949\n2\t1\t6\t881250950\n")
    with pytest.raises(DataError, match=r"u\.data:2: rating 6 is outside the scale \(1, 2, 3, 4, 5\)"):
        R.load_ratings(tmp_path)
    write(tmp_path / "latest" / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,4.25,2\n")
    with pytest.raises(DataError, match=r"ratings\.csv:3: rating 4\.25 is outside the scale"):
        R.load_ratings(tmp_path / "latest")
    write(tmp_path / "nf" / "combined_data_1.txt", "1:\n5,3,2005-01-01\n6,0,2005-01-02\n")
    with pytest.raises(DataError, match=r"combined_data_1\.txt:3: rating 0 is outside the scale"):
        R.load_ratings(tmp_path / "nf")


def test_netflix_file_must_start_with_a_movie_id(tmp_path):
    write(tmp_path / "combined_data_1.txt", "\n1488844,3,2005-09-06\n1:\n")
    with pytest.raises(DataError, match=r"combined_data_1\.txt:2: the first line is '1488844,3,2005-09-06', "
                                        r"not 'MovieID:'"):
        R.load_ratings(tmp_path)


@pytest.mark.parametrize("line, lineno", [("822109,5", 3), ("822109,5,2005/05/13", 3), ("2:3", 3),
                                          ("822109,5,2005-13-13", 3)])
def test_netflix_malformed_lines(tmp_path, line, lineno):
    write(tmp_path / "combined_data_1.txt", f"1:\n1488844,3,2005-09-06\n{line}\n")
    with pytest.raises(DataError, match=rf"combined_data_1\.txt:{lineno}: (malformed line|bad date)"):
        R.load_ratings(tmp_path)


def test_netflix_titles_and_movielens_items_malformed(tmp_path):
    write(tmp_path / "nf" / "combined_data_1.txt", "1:\n5,3,2005-01-01\n")
    write(tmp_path / "nf" / "movie_titles.csv", "1,2003,Dinosaur Planet\nnot a movie line\n",
          encoding="latin-1")
    with pytest.raises(DataError, match=r"movie_titles\.csv:2: malformed line 'not a movie line'"):
        R.load_ratings(tmp_path / "nf")
    write(tmp_path / "ml" / "u.data", "1\t1\t4\t881250949\n")
    write(tmp_path / "ml" / "u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|1\n")
    with pytest.raises(DataError, match=r"u\.item:1: malformed line .*19 genre flags"):
        R.load_ratings(tmp_path / "ml")
    write(tmp_path / "m1" / "ratings.dat", "1::1::5::978300760\n")
    write(tmp_path / "m1" / "movies.dat", "1::Toy Story (1995)\n")
    with pytest.raises(DataError, match=r"movies\.dat:1: malformed line"):
        R.load_ratings(tmp_path / "m1")


def test_missing_path_and_unknown_layout_list_the_expected_files(tmp_path):
    with pytest.raises(DataError, match="no such file or folder") as err:
        R.load_ratings(tmp_path / "nowhere")
    text = str(err.value)
    assert "u.data" in text and "ratings.dat" in text and "combined_data_1.txt" in text
    write(tmp_path / "empty" / "readme.txt", "nothing here\n")
    with pytest.raises(DataError, match="holds no known ratings layout") as err:
        R.load_ratings(tmp_path / "empty")
    assert "u.data" in str(err.value) and "movie_titles.csv" in str(err.value)
    with pytest.raises(DataError, match="expected u.data"):
        R.load_ratings(tmp_path / "empty", source="movielens-100k")


def test_source_must_match_layout(tmp_path):
    write(tmp_path / "u.data", "1\t1\t4\t881250949\n")
    with pytest.raises(DataError, match="data.source is 'netflix'"):
        R.load_ratings(tmp_path, source="netflix")


def test_offline_download_says_how_to_point_at_local_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="could not download") as err:
        R.load_ratings(tmp_path / "ml-100k", source="movielens-100k", download=True, cache=tmp_path / "cache")
    assert "data.path" in str(err.value)
    with pytest.raises(DataError, match="data.path") as err:
        R.load_ratings(tmp_path / "ml-100k", source="movielens-100k", download=False)
    assert "ml-100k.zip" in str(err.value)
    assert not list((tmp_path / "cache").glob("*.part"))


def test_download_with_a_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: Response(b"not the real zip"))
    with pytest.raises(DataError, match="md5 .* is not the published 0e33842e24a9c977be4e0107933c0723"):
        R.download_movielens("movielens-100k", tmp_path / "cache")
    assert (tmp_path / "cache" / "ml-100k.zip.bad").exists()
