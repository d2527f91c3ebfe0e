"""Issue 14, data side: corrupt data files are DataErrors naming the file (and the member or byte), damaged
run files of the generative tasks are RunErrors naming the file, and data that would silently give wrong
figures (duplicate ratings, float pixels, too few ratings, an unknown probe, NaN figures) is refused or
said. Every file is a tiny one written here."""

import gzip
import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lab.data import mnist as M
from lab.data import ratings as R
from lab.data.safe import read_gzip
from lab.errors import DataError, RunError


def digits(n_train=12, n_test=4, seed=0) -> M.Mnist:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n_train + n_test, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n_train + n_test)
    return M.Mnist(x[:n_train], y[:n_train], x[n_train:], y[n_train:], "test")


def member_data_offset(path: Path, name: str) -> int:
    """Where the compressed bytes of archive member ``name`` start."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    raw = path.read_bytes()
    at = info.header_offset
    name_len, extra_len = (int.from_bytes(raw[at + 26:at + 28], "little"),
                           int.from_bytes(raw[at + 28:at + 30], "little"))
    return at + 30 + name_len + extra_len


# --------------------------------------------------------------------------------------------------
# Corrupt data files


def test_npz_whose_compressed_member_is_corrupt_names_the_file_and_member(tmp_path):
    d = digits()
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, x_train=d.x_train, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    raw = bytearray(path.read_bytes())
    raw[member_data_offset(path, "x_test.npy")] = 0xFF  # a deflate block of the reserved type: zlib.error
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"mnist\.npz: corrupt member x_test\.npy of the archive "
                                        r"\(zlib\.error: .*invalid block"):
        M.load_mnist(path)
    path.write_bytes(bytes(raw[: len(raw) // 2]))  # truncated: no central directory
    with pytest.raises(DataError, match=r"mnist\.npz: not a readable \.npz archive \(BadZipFile"):
        M.load_mnist(path)


def test_idx_gz_with_a_corrupt_or_truncated_stream_names_the_compressed_byte(tmp_path):
    M.write_idx_folder(tmp_path, digits(), gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    bad = bytearray(raw)
    bad[10] = 0xFF  # the first deflate byte after the 10-byte gzip header
    path.write_bytes(bytes(bad))
    with pytest.raises(DataError,
                       match=r"train-images-idx3-ubyte\.gz: corrupt gzip stream at compressed byte 10 "):
        M.load_mnist(tmp_path)
    path.write_bytes(bytes(raw[:300]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: truncated gzip stream: it ends at "
                                        r"compressed byte 300 before its end marker"):
        M.load_mnist(tmp_path)
    path.write_bytes(gzip.compress(b"\0" * 5000))
    with pytest.raises(DataError, match="decompresses to more than the limit of 1,000 bytes"):
        read_gzip(path, "an IDX file", 1000)


def test_read_gzip_reads_several_members_and_zero_padding(tmp_path):
    path = tmp_path / "two.gz"
    path.write_bytes(gzip.compress(b"abc" * 30000) + gzip.compress(b"xyz") + b"\0\0\0")
    assert read_gzip(path, "test data", 10**6) == b"abc" * 30000 + b"xyz"


def test_truncated_idx_and_cifar_batch_of_the_wrong_length(tmp_path):
    M.write_idx_folder(tmp_path, digits())
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: truncated: .* 2 bytes missing"):
        M.load_mnist(tmp_path)
    from lab.data import cifar10 as C

    x = np.zeros((3, 32, 32, 3), np.uint8)
    folder = C.write_cifar10_folder(tmp_path / "cifar", C.Cifar10(x, np.arange(3), x[:1], np.arange(1),
                                                                  C.CLASS_NAMES, "t"))
    (folder / "test_batch.bin").write_bytes((folder / "test_batch.bin").read_bytes()[:-5])
    with pytest.raises(DataError, match=r"test_batch\.bin: 3,068 bytes .* byte offset 0"):
        C.load_cifar10(folder)


def test_text_corpus_that_is_not_utf8(tmp_path):
    from lab.data.text import load_corpus

    path = tmp_path / "t.txt"
    path.write_bytes(b"hello\nw\xffrld\n")
    with pytest.raises(DataError, match=r"t\.txt, line 2: not UTF-8"):
        load_corpus(path, level="chars")


def test_mnist_without_training_digits_or_with_blank_ones(tmp_path):
    d = digits()
    path = tmp_path / "m.npz"
    np.savez(path, x_train=d.x_train[:0], y_train=d.y_train[:0], x_test=d.x_test, y_test=d.y_test)
    with pytest.raises(DataError, match=r"m\.npz: 0 training and 4 test digits: no training digits"):
        M.load_mnist(path)
    M.write_idx_folder(tmp_path / "idx", M.Mnist(d.x_train, d.y_train, d.x_test[:0], d.y_test[:0], "t"))
    with pytest.raises(DataError, match="12 training and 0 test digits: no test digits"):
        M.load_mnist(tmp_path / "idx")
    np.savez(path, x_train=np.zeros_like(d.x_train), y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    with pytest.raises(DataError, match=r"all 12 training digits are blank \(every pixel is 0\)"):
        M.load_mnist(path)


def test_mnist_float_pixels_in_0_1_are_scaled_with_a_note_other_ranges_refused(tmp_path):
    d = digits()
    path = tmp_path / "f.npz"
    np.savez(path, x_train=d.x_train / 255.0, y_train=d.y_train, x_test=(d.x_test / 255.0).astype(np.float32),
             y_test=d.y_test)
    got = M.load_mnist(path)
    assert got.x_train.dtype == np.uint8 and np.array_equal(got.x_train, d.x_train)
    assert np.array_equal(got.x_test, d.x_test)
    assert (len(got.notes) == 2 and "x_train: float pixels in [0, 1]" in got.notes[0] and
            "scaled to 0-255" in got.notes[0])
    assert got.limit(3, 2).notes == got.notes
    np.savez(path, x_train=d.x_train * 2.0, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    with pytest.raises(DataError, match=r"x_train must hold pixel values 0-255 .*found values from 0 to 510"):
        M.load_mnist(path)
    np.savez(path, x_train=d.x_train.astype(np.int16) - 1, y_train=d.y_train, x_test=d.x_test,
             y_test=d.y_test)
    with pytest.raises(DataError, match="found values from -1 to 254"):
        M.load_mnist(path)
    x = d.x_train / 255.0
    x[3, 4, 5] = np.nan
    np.savez(path, x_train=x, y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    with pytest.raises(DataError, match=r"1 pixel value\(s\) that are NaN or infinite \(the first at image "
                                        r"3, row 4, "
                                        "column 5"):
        M.load_mnist(path)
    np.savez(path, x_train=d.x_train.astype(np.float64), y_train=d.y_train, x_test=d.x_test, y_test=d.y_test)
    assert np.array_equal(M.load_mnist(path).x_train, d.x_train) and not M.load_mnist(path).notes


# --------------------------------------------------------------------------------------------------
# Ratings


def write(path: Path, text: str, encoding="utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def test_duplicate_ratings_keep_the_latest_with_a_note(tmp_path):
    write(tmp_path / "u.data",
          "1\t1\t4\t100\n1\t2\t3\t100\n2\t1\t5\t100\n1\t1\t2\t300\n2\t1\t1\t50\n2\t2\t4\t100\n")
    r = R.load_ratings(tmp_path)
    assert len(r) == 4 and (r.n_users, r.n_items) == (2, 2)
    got = {(int(r.user_ids[u]), int(r.item_ids[i])): float(v)
           for u, i, v in zip(r.user, r.item, r.rating, strict=True)}
    assert got == {(1, 1): 2.0, (1, 2): 3.0, (2, 1): 5.0, (2, 2): 4.0}  # (1,1): t=300 wins; (2,1): t=100 wins
    [note] = r.notes
    assert "u.data: 2 duplicate rating(s)" in note and "user 1, item 1 at lines 1, 4" in note
    assert "kept each pair's latest rating" in note
    assert r.subset(np.ones(len(r), bool)).notes == r.notes
    write(tmp_path / "tie" / "u.data", "1\t1\t4\t100\n1\t1\t2\t100\n")
    tie = R.load_ratings(tmp_path / "tie")
    assert tie.rating.tolist() == [2.0] and tie.notes  # a tie: the later line
    write(tmp_path / "clean" / "u.data", "1\t1\t4\t100\n1\t2\t2\t100\n")
    assert not R.load_ratings(tmp_path / "clean").notes


def test_bad_lines_of_metadata_files_are_named(tmp_path):
    write(tmp_path / "latest" / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n")
    (tmp_path / "latest" / "movies.csv").write_bytes(b"movieId,title,genres\n1,Heat "
                                                     b"(1995),Action\n2,Caf\xe9,Drama\n")
    with pytest.raises(DataError, match=r"movies\.csv:3: not UTF-8 text \(byte offset 47 holds 0xe9\)"):
        R.load_ratings(tmp_path / "latest")
    write(tmp_path / "ml" / "u.data", "1\t1\t4\t100\n")
    write(tmp_path / "ml" / "u.item", "\u00b2|Heat (1995)|01-Jan-1995||x|" + "|".join("0" * 19) + "\n",
          "latin-1")
    with pytest.raises(DataError, match=r"u\.item:1: malformed line"):
        R.load_ratings(tmp_path / "ml")
    write(tmp_path / "nf" / "combined_data_1.txt", "1:\n5,3,2005-01-01\n")
    write(tmp_path / "nf" / "movie_titles.csv", "1,99999999999,Heat\n")
    with pytest.raises(DataError, match=r"movie_titles\.csv:1: malformed line"):
        R.load_ratings(tmp_path / "nf")
    write(tmp_path / "nf" / "combined_data_1.txt", "1:\n3000000000,3,2005-01-01\n")
    with pytest.raises(DataError, match=r"combined_data_1\.txt:2: customer id 3000000000 is larger than"):
        R.load_ratings(tmp_path / "nf")


def test_netflix_probe_with_no_known_pair_is_refused(tmp_path):
    write(tmp_path / "combined_data_1.txt", "1:\n5,3,2005-01-01\n6,4,2005-01-02\n2:\n5,1,2005-01-03\n")
    write(tmp_path / "probe.txt", "1:\n7\n3:\n5\n")
    with pytest.raises(DataError, match=r"probe\.txt: none of the probe's 2 \(customer, movie\) pairs is "
                                        r"among the 3 "
                                        "ratings read"):
        R.load_ratings(tmp_path)
    write(tmp_path / "probe.txt", "1:\n7\n2:\n5\n")  # one of two known: the split is the known one
    assert R.load_ratings(tmp_path).own_splits["probe"].sum() == 1


def test_saved_ratings_with_a_corrupt_member(tmp_path):
    path = tmp_path / "ratings.npz"
    R.synthetic(20, 15, 6, 3, seed=0).save_npz(path)
    raw = bytearray(path.read_bytes())
    raw[member_data_offset(path, "rating.npy")] = 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"ratings\.npz: corrupt saved ratings file \(member rating\.npy\)"):
        R.Ratings.load_npz(path)
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match=r"ratings\.npz: corrupt saved ratings file \(BadZipFile"):
        R.Ratings.load_npz(path)


def test_a_split_without_held_out_or_training_ratings_is_a_data_error(tmp_path):
    from generative.rbm.train import check_split

    write(tmp_path / "u.data", "1\t1\t5\t881250949\n")
    r = R.load_ratings(tmp_path)
    with pytest.raises(DataError, match=r"split holdout0\.2 leaves 1 training and 0 held-out ratings: too "
                                        r"few ratings \(1 by 1 user\(s\) of 1 item\(s\)\)"):
        check_split(r, R.holdout(r, fraction=0.2), "holdout")
    with pytest.raises(DataError, match="fold1 leaves 0 training and 1 held-out"):
        check_split(r, R.kfold(r, 5)[0], "kfold")


def test_ranking_over_no_user_is_not_measurable_not_a_figure():
    from generative.rbm.model import ranking_figures
    from generative.rbm.train import ranking_note

    assert (ranking_figures(np.zeros(3), 0, 10) ==
            {"precision_at_10": None, "recall_at_10": None, "ndcg_at_10": None})
    assert ranking_figures(np.array([1.0, 2.0, 0.5]), 2, 5)["recall_at_5"] == 1.0
    assert "not measurable: top 10 of 3 item(s)" in ranking_note(5, 3, 10, 4.0)
    assert "no user has a held-out rating >= 4" in ranking_note(0, 50, 10, 4.0)
    assert ranking_note(5, 50, 10, 4.0) == ""


RBM_SCENARIO = """name: rbm_h
task: rbm
seed: 1
strategy: cpu
data: {data}
split: {{method: holdout, n: 1}}
rbm: {{hidden: 4}}
training: {{epochs: 2, batch_size: 10}}
evaluation: {{top_k: 3}}
"""


def test_rbm_run_with_one_rating_stops_with_the_counts(tmp_path):
    from lab.execute import execute

    write(tmp_path / "one" / "u.data", "1\t1\t5\t881250949\n")
    path = write(tmp_path / "s.yaml", RBM_SCENARIO.format(data=f"{{source: auto, path: {tmp_path / 'one'}}}"))
    with pytest.raises(DataError,
                       match=r"leaves 1 training and 0 held-out ratings: too few ratings \(1 by 1 user"):
        execute(str(path), out=str(tmp_path / "runs"), quiet=True)


def test_rbm_that_diverges_is_a_training_error_naming_the_epoch(tmp_path, monkeypatch):
    from generative.rbm import train
    from lab.errors import TrainingError
    from lab.execute import execute

    data = "{source: synthetic, synthetic: {users: 30, items: 12, mean_ratings: 6, min_ratings: 4}}"
    path = write(tmp_path / "s.yaml", RBM_SCENARIO.format(data=data))
    monkeypatch.setattr(train, "schedule", lambda cfg, epoch: (float("inf"), 0.5, 1))
    with pytest.raises(TrainingError, match=r"= nan at epoch 1"):
        execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    [run] = (tmp_path / "runs").iterdir()
    assert not (run / "summary.json").exists()
    with pytest.raises(TrainingError, match=r"rbm f: rmse = nan after training"):
        train.check_finite({"rmse": float("nan"), "mae": 0.5, "precision_at_10": None, "split": "f"}, "rbm f",
                         ["rmse", "mae", "precision_at_10", "split"])


# --------------------------------------------------------------------------------------------------
# Run files and figures of the generative tasks


class FakeCtx:
    def __init__(self, run_path: Path, state=None):
        self.run = SimpleNamespace(checkpoints=run_path / "checkpoints")
        self._state = state
        self.lines = []

    def load_state(self, name):
        return self._state

    def log(self, text):
        self.lines.append(text)


def test_rbm_fold_figures_that_are_not_what_the_task_writes(tmp_path):
    from generative.rbm.train import finished_folds

    cfg = SimpleNamespace(evaluation=SimpleNamespace(top_k=10))
    for state in ({"done": 5}, {"done": [{"rmse": 1.0}]}, ["done"]):
        with pytest.raises(RunError, match=r"rbm_folds\.json: corrupt fold figures"):
            finished_folds(FakeCtx(tmp_path, state), cfg)
    assert finished_folds(FakeCtx(tmp_path, None), cfg) == []


def test_truncated_or_foreign_vae_model_is_a_run_error(tmp_path):
    import keras

    from generative.vae.model import load_vae

    path = tmp_path / "vae.keras"
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(RunError, match=r"vae\.keras: corrupt VAE model \(not a \.keras zip archive: "
                                       r"truncated or "
                                       "damaged\\); this run cannot"):
        load_vae(path, hint="this run cannot be resumed")
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(RunError, match=r"other\.keras: a Sequential, not the VAE"):
        load_vae(tmp_path / "other.keras")


def test_vae_checkpoint_whose_extra_is_not_a_mapping(tmp_path):
    from generative.vae.serve import run_model
    from lab.checkpoints import CheckpointStore

    run = SimpleNamespace(checkpoints=tmp_path / "checkpoints", artifacts=tmp_path / "artifacts")
    CheckpointStore(run.checkpoints, "vae").save({"epoch": 1, "extra": [1, 2]},
                                                 {"model.keras": lambda p: p.write_bytes(b"")})
    with pytest.raises(RunError, match=r"vae\.json: corrupt checkpoint manifest"):
        run_model(run)


def test_vae_evaluation_that_is_not_finite_is_a_training_error(monkeypatch):
    from generative.vae import train
    from generative.vae.model import build_vae
    from lab.errors import TrainingError

    model = build_vae(
        SimpleNamespace(kind="dense", latent_size=2, hidden=[8], filters=[4, 4], activation="relu"))
    nan = np.full(6, np.nan)
    monkeypatch.setattr(train, "importance_weighted",
                        lambda *a, **k: {"elbo": nan, "iw": nan, "kl": np.zeros(6)})
    cfg = SimpleNamespace(seed=0, evaluation=SimpleNamespace(iw_digits=6, iw_samples=2, batch_digits=6))
    with pytest.raises(TrainingError,
                       match=r"test_elbo = nan.*test_log_likelihood_iw = nan on the 6 test digits"):
        train.evaluate(model, np.zeros((6, 784), np.float32), cfg, FakeCtx(Path(".")))


def test_autoencoder_strips_checkpoint_damaged(tmp_path):
    from generative.autoencoder.model import pca_fit
    from generative.autoencoder.train import load_strips

    path = tmp_path / "strips.npz"
    buf = io.BytesIO()
    np.savez_compressed(buf, strips=np.zeros((2, 4, 28, 28), np.uint8))
    path.write_bytes(buf.getvalue()[:100])
    with pytest.raises(RunError,
                       match=r"strips\.npz: corrupt checkpoint of the training strips \(BadZipFile"):
        load_strips(path, 2, 4)
    path.write_bytes(buf.getvalue())
    assert len(load_strips(path, 2, 4)) == 2
    with pytest.raises(RunError, match=r"expected at least 3 strips of 4 digits"):
        load_strips(path, 3, 4)
    _, _, explained = pca_fit(np.ones((5, 6)), 2)  # no variance at all: nothing is lost, not NaN
    assert explained == 1.0

