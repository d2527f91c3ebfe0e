"""The CIFAR-10 reader: batch folders, the official tarball, downloads, and every kind of bad input."""

import io
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from lab.data import cifar10, download
from lab.data.cifar10 import (
    CLASS_NAMES,
    RECORD,
    Cifar10,
    cifar_bytes,
    load_cifar10,
    parse_meta,
    read_cifar_batch,
    write_cifar10_folder,
)
from lab.errors import DataError

SUBSET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "cifar10-subset"


def small(n_train=12, n_test=5, seed=0) -> Cifar10:
    rng = np.random.default_rng(seed)
    return Cifar10(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n_train),
                   rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n_test),
                   CLASS_NAMES, "made")


def same(a: Cifar10, b: Cifar10) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k))
               for k in ("x_train", "y_train", "x_test", "y_test"))


def make_tar(path: Path, folder: Path, prefix: str = "cifar-10-batches-bin/") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for f in sorted(folder.iterdir()):
            tar.add(f, arcname=prefix + f.name)
    return path


class Response(io.BytesIO):
    """What urlopen returns, as a context manager."""

    headers: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("n_files", [1, 3, 5])
def test_folder_round_trip_over_several_batch_files(tmp_path, n_files):
    data = small(n_train=13)
    write_cifar10_folder(tmp_path, data, n_train_files=n_files)
    written = sorted(p.name for p in tmp_path.glob("data_batch_*.bin"))
    assert written == [f"data_batch_{i}.bin" for i in range(1, n_files + 1)]
    loaded = load_cifar10(tmp_path)
    assert same(loaded, data)
    assert loaded.x_train.dtype == np.uint8 and loaded.x_train.shape == (13, 32, 32, 3)
    assert loaded.y_train.dtype == np.int64 and loaded.y_test.dtype == np.int64
    assert loaded.class_names == CLASS_NAMES and str(tmp_path) in loaded.source
    assert loaded.x_train.flags.writeable and loaded.x_train.flags.c_contiguous
    cut = loaded.limit(4, 2)
    assert len(cut.x_train) == 4 and len(cut.y_test) == 2 and cut.class_names == CLASS_NAMES


def test_a_hand_made_record_decodes_planes_to_hwc(tmp_path):
    """One record written byte by byte as the format says: label, then the R, G and B planes, row-major."""
    red = (np.arange(1024) % 251).astype(np.uint8)  # varies along rows and columns
    green = np.full(1024, 100, np.uint8)
    blue = np.full(1024, 200, np.uint8)
    blue[1 * 32 + 2] = 7  # row 1, column 2
    raw = bytes([3]) + red.tobytes() + green.tobytes() + blue.tobytes()
    assert len(raw) == RECORD == 3073
    path = tmp_path / "test_batch.bin"
    path.write_bytes(raw * 2)
    x, y = read_cifar_batch(path)
    assert x.shape == (2, 32, 32, 3) and list(y) == [3, 3]
    assert np.array_equal(x[0, :, :, 0], red.reshape(32, 32))
    assert np.array_equal(x[0, 0, :, 0], red[:32])  # the first row is the plane's first 32 bytes
    assert list(x[0, 1, 2]) == [red[34], 100, 7] and list(x[0, 1, 3]) == [red[35], 100, 200]
    assert cifar_bytes(x[:1], y[:1]) == raw  # the writer is the exact inverse


def test_official_tarball_is_read_without_extracting(tmp_path):
    data = small()
    write_cifar10_folder(tmp_path / "src", data, n_train_files=2)
    archive = make_tar(tmp_path / "cifar-10-binary.tar.gz", tmp_path / "src")
    assert same(load_cifar10(archive), data)
    assert same(load_cifar10(tmp_path), data)  # a folder holding the tarball
    # nothing extracted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-binary.tar.gz", "src"]
    flat = make_tar(tmp_path / "flat.tgz", tmp_path / "src", prefix="")  # the batch files at the top level
    assert same(load_cifar10(flat), data)


def test_folder_holding_the_extracted_distribution(tmp_path):
    data = small()
    write_cifar10_folder(tmp_path / "cifar-10-batches-bin", data)
    assert same(load_cifar10(tmp_path), data)


def test_truncated_tarball_is_a_data_error(tmp_path):
    write_cifar10_folder(tmp_path / "src", small())
    archive = make_tar(tmp_path / "cifar-10-binary.tar.gz", tmp_path / "src")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_cifar10(archive)


def test_truncated_file_names_the_file_and_the_offset(tmp_path):
    data = small(n_train=4)
    write_cifar10_folder(tmp_path, data)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(path.read_bytes()[:-1000])  # 4 records less 1,000 bytes: record 3 is cut short
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path)
    msg = str(err.value)
    assert str(path) in msg
    assert "11,292 bytes is not a whole number of 3,073-byte records" in msg
    assert "the record at byte offset 9,219 (record 3) is cut short, 2,073 of 3,073 bytes" in msg


def test_cifar100_record_size_is_pointed_out(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(3074 * 3))
    with pytest.raises(DataError, match="CIFAR-100"):
        read_cifar_batch(path)


def test_label_out_of_range_names_file_record_and_offset(tmp_path):
    data = small(n_train=6)
    write_cifar10_folder(tmp_path, data)
    path = tmp_path / "data_batch_1.bin"
    raw = bytearray(path.read_bytes())
    raw[4 * RECORD] = 10
    raw[5 * RECORD] = 200
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path)
    msg = str(err.value)
    assert (str(path) in msg and
            "label 10 in record 4 (byte offset 12,292) is not a class 0-9 (2 such records)" in msg)


def test_empty_file_is_an_error(tmp_path):
    write_cifar10_folder(tmp_path, small())
    (tmp_path / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DataError, match=r"test_batch.bin: empty file \(0 bytes\)"):
        load_cifar10(tmp_path)


def test_missing_test_batch_or_training_batches_names_folder_and_files(tmp_path):
    write_cifar10_folder(tmp_path, small(), n_train_files=2)
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and "missing the test batch test_batch.bin" in msg
    assert "found: batches.meta.txt, data_batch_1.bin, data_batch_2.bin" in msg
    write_cifar10_folder(tmp_path, small())
    for f in tmp_path.glob("data_batch_*.bin"):
        f.unlink()
    with pytest.raises(DataError, match="missing a training batch .*data_batch_1.bin.*data_batch_5.bin"):
        load_cifar10(tmp_path)


def test_a_gap_in_the_batches_is_fine_and_order_is_kept(tmp_path):
    a, b = small(n_train=3, seed=1), small(n_train=2, seed=2)
    (tmp_path / "data_batch_4.bin").write_bytes(cifar_bytes(b.x_train, b.y_train))
    (tmp_path / "data_batch_2.bin").write_bytes(cifar_bytes(a.x_train, a.y_train))
    (tmp_path / "test_batch.bin").write_bytes(cifar_bytes(a.x_test, a.y_test))
    loaded = load_cifar10(tmp_path)  # no meta file: the standard names
    assert np.array_equal(loaded.x_train, np.concatenate([a.x_train, b.x_train]))
    assert loaded.class_names == CLASS_NAMES


def test_meta_file(tmp_path):
    names = [f"class{i}" for i in range(10)]
    # trailing blanks, as official
    assert parse_meta(("\n".join(names) + "\n\n\n").encode(), "m") == tuple(names)
    assert parse_meta(("\r\n".join(names)).encode(), "m") == tuple(names)
    with pytest.raises(DataError, match=r"m, line 11: an 11th class name 'extra'"):
        parse_meta(("\n".join([*names, "extra"])).encode(), "m")
    with pytest.raises(DataError, match=r"m, line 8: the file ends after 7 class names"):
        parse_meta(("\n".join(names[:7]) + "\n").encode(), "m")
    with pytest.raises(DataError, match=r"m, line 3: an empty line among the class names"):
        parse_meta(("\n".join([*names[:2], "", *names[2:]])).encode(), "m")
    write_cifar10_folder(tmp_path, small())
    meta = tmp_path / "batches.meta.txt"
    meta.write_text("cat\ndog\n")
    with pytest.raises(DataError, match=rf"{meta}, line 3: the file ends after 2 class names"):
        load_cifar10(tmp_path)
    meta.write_text("\n".join(names))
    assert load_cifar10(tmp_path).class_names == tuple(names)


def test_paths_that_are_not_cifar(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_cifar10(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DataError, match=r"(?s)no CIFAR-10 files in this folder.*optional.*data.path"):
        load_cifar10(tmp_path)
    with pytest.raises(DataError, match="not a tar archive"):
        load_cifar10(tmp_path / "notes.txt")
    write_cifar10_folder(tmp_path / "d", small())
    with pytest.raises(DataError, match="a single CIFAR-10 file; give the folder"):
        load_cifar10(tmp_path / "d" / "test_batch.bin")


def test_no_path_and_no_download_says_how_to_set_data_path(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as err:
        load_cifar10(None, cache=tmp_path / "cache")
    msg = str(err.value)
    assert ("data.path is not set" in msg and "../shared/datasets/cifar10-subset" in msg and
            "data.download" in msg)
    with pytest.raises(DataError) as err:
        load_cifar10(None, download=True, cache=tmp_path / "cache")
    msg = str(err.value)
    assert "could not download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in msg
    assert "Temporary failure in name resolution" in msg and "may be offline" in msg
    assert "../shared/datasets/cifar10-subset" in msg and "data.download" in msg
    assert not list((tmp_path / "cache").iterdir())  # no partial file left


def test_download_with_a_wrong_checksum_deletes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: Response(b"not the real tarball"))
    with pytest.raises(DataError,
                       match="md5 .* is not the published c32a1d4ab5d03f1284b67883e8d87530; deleted"):
        load_cifar10(None, download=True, cache=tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


def test_download_is_checked_renamed_and_then_read_from_the_cache(tmp_path, monkeypatch):
    data = small()
    write_cifar10_folder(tmp_path / "src", data)
    raw = make_tar(tmp_path / "made.tar.gz", tmp_path / "src").read_bytes()
    monkeypatch.setattr(cifar10, "MD5", download.md5_of(tmp_path / "made.tar.gz"))
    calls = []

    def urlopen(url, timeout):
        calls.append((url, timeout))
        return Response(raw)

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    cache = tmp_path / "cache"
    assert same(load_cifar10(None, download=True, cache=cache), data)
    assert [p.name for p in cache.iterdir()] == ["cifar-10-binary.tar.gz"] and calls[0][0] == cifar10.URL
    assert same(load_cifar10(None, cache=cache), data) and len(calls) == 1  # the cache, without download
    (cache / "cifar-10-binary.tar.gz").write_bytes(raw[:-10])  # a cached file that went bad is moved aside
    with pytest.raises(DataError, match="is not the published .*moved it to cifar-10-binary.tar.gz.bad"):
        load_cifar10(None, cache=cache)


def test_writer_refuses_bad_input():
    with pytest.raises(ValueError, match=r"shape \(N, 32, 32, 3\)"):
        cifar_bytes(np.zeros((2, 3, 32, 32), np.uint8), np.zeros(2, int))
    with pytest.raises(ValueError, match="0-9"):
        cifar_bytes(np.zeros((1, 32, 32, 3), np.uint8), np.array([10]))


def test_module_imports_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys, lab.data.cifar10; sys.exit(int('tensorflow' in sys.modules or 'keras' in "
            "sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.skipif(not SUBSET.is_dir(), reason=f"{SUBSET} is absent (the shared offline CIFAR-10 subset)")
def test_real_subset():
    data = load_cifar10(SUBSET)
    assert data.x_train.shape == (4000, 32, 32, 3) and data.x_test.shape == (1000, 32, 32, 3)
    assert data.y_train.min() >= 0 and data.y_train.max() <= 9
    assert set(np.unique(data.y_train)) == set(range(10)) and set(np.unique(data.y_test)) == set(range(10))
    assert data.class_names == CLASS_NAMES
    assert data.x_test[0].std() > 10  # not blank
    assert list(data.y_test[:10]) == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the official test batch's first labels
