"""The MNIST reader: IDX files (raw and gzipped), Keras-layout npz, and every kind of bad input."""

import gzip

import numpy as np
import pytest

from lab.data import mnist
from lab.data.mnist import Mnist, idx_bytes, load_mnist, read_idx_images, read_idx_labels, write_idx_folder
from lab.errors import DataError


def small(n_train=12, n_test=5, seed=0) -> Mnist:
    rng = np.random.default_rng(seed)
    return Mnist(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train),
                 rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test), "made")


def same(a: Mnist, b: Mnist) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k))
               for k in ("x_train", "y_train", "x_test", "y_test"))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    data = small()
    write_idx_folder(tmp_path, data, gz=gz)
    suffix = ".gz" if gz else ""
    assert (tmp_path / f"train-images-idx3-ubyte{suffix}").is_file()
    loaded = load_mnist(tmp_path)
    assert same(loaded, data)
    assert loaded.x_train.dtype == np.uint8 and loaded.x_train.shape == (12, 28, 28)
    assert loaded.y_test.dtype == np.int64


def test_header_layout_is_lecuns(tmp_path):
    raw = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert int.from_bytes(raw[4:8], "big") == 3 and int.from_bytes(raw[8:12], "big") == 28
    assert len(raw) == 16 + 3 * 784


def test_dotted_names_and_mixed_gzip_are_found(tmp_path):
    data = small()
    write_idx_folder(tmp_path, data)
    (tmp_path / "train-images-idx3-ubyte").rename(tmp_path / "train-images.idx3-ubyte")
    raw = (tmp_path / "t10k-labels-idx1-ubyte").read_bytes()
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw))
    assert same(load_mnist(tmp_path), data)


def test_wrong_magic_names_file_and_offset(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    raw[2] = 0x0D  # float data
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError) as err:
        read_idx_images(path)
    msg = str(err.value)
    assert str(path) in msg and "magic number 0x00000d03 at byte 0" in msg and "0x00000803" in msg


def test_labels_given_as_images_say_swapped(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match="label file's magic: images and labels swapped"):
        read_idx_images(path)


def test_gzip_without_gz_name_is_explained(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8))))
    with pytest.raises(DataError, match="gzip-compressed"):
        read_idx_labels(path)


def test_truncated_data_states_expected_and_actual_sizes(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    raw = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(raw[:-100])
    with pytest.raises(DataError) as err:
        read_idx_images(path)
    msg = str(err.value)
    assert str(path) in msg and "truncated" in msg
    assert (f"promises {len(raw)} bytes" in msg and f"the file has {len(raw) - 100}" in msg and
            "100 bytes missing" in msg)


def test_truncated_gzip_member(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28), np.uint8)))[:-30])
    with pytest.raises(DataError, match=str(path)):
        read_idx_images(path)


def test_truncated_header_and_empty_file(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError,
                       match="truncated header: 3 dimensions need 16 header bytes, the file has 6"):
        read_idx_images(path)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="truncated at byte 0"):
        read_idx_images(path)


def test_trailing_bytes_are_reported(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"\x00\x00")
    with pytest.raises(DataError, match="2 unexpected bytes after byte 12"):
        read_idx_labels(path)


def test_wrong_image_dimensions(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((2, 32, 32), np.uint8)))
    with pytest.raises(DataError, match="images are 32 x 32 .*MNIST digits are 28 x 28"):
        read_idx_images(path)


def test_label_out_of_range_gives_byte_offset(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.array([1, 2, 12, 3], np.uint8)))
    with pytest.raises(DataError, match=r"label 12 at byte 10 \(item 2\)"):
        read_idx_labels(path)


def test_images_and_labels_of_different_lengths(tmp_path):
    data = small()
    write_idx_folder(tmp_path, data)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(data.y_train[:7].astype(np.uint8)))
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path)
    msg = str(err.value)
    assert "holds 12 images" in msg and "holds 7 labels" in msg
    assert "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg


def test_folder_without_known_layout_lists_expected_files(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DataError) as err:
        load_mnist(tmp_path)
    msg = str(err.value)
    for name in ("mnist.npz", "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        assert name in msg
    assert "data.path" in msg


def test_folder_missing_one_idx_file_names_it(tmp_path):
    write_idx_folder(tmp_path, small())
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_mnist(tmp_path / "nowhere.npz")


def test_npz_round_trip_file_and_folder(tmp_path):
    data = small()
    np.savez(tmp_path / "mnist.npz", x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
             y_test=data.y_test)
    assert same(load_mnist(tmp_path / "mnist.npz"), data)
    assert same(load_mnist(tmp_path), data)  # a folder holding mnist.npz


def test_npz_bad_layouts(tmp_path):
    data = small()
    path = tmp_path / "d.npz"
    np.savez(path, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test)
    with pytest.raises(DataError, match="missing key.*y_test"):
        load_mnist(path)
    np.savez(path, x_train=data.x_train.reshape(12, -1), y_train=data.y_train, x_test=data.x_test,
             y_test=data.y_test)
    with pytest.raises(DataError, match=r"x_train has shape \(12, 784\); expected \(N, 28, 28\)"):
        load_mnist(path)
    np.savez(path, x_train=data.x_train, y_train=data.y_train[:3], x_test=data.x_test, y_test=data.y_test)
    with pytest.raises(DataError, match="x_train holds 12 images but y_train holds 3 labels"):
        load_mnist(path)
    np.savez(path, x_train=data.x_train, y_train=data.y_train + 10, x_test=data.x_test, y_test=data.y_test)
    with pytest.raises(DataError, match="digits 0-9"):
        load_mnist(path)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable .npz archive"):
        load_mnist(path)
    other = tmp_path / "digits.bin"
    other.write_bytes(b"\x00" * 50)
    with pytest.raises(DataError, match="not an .npz archive"):
        load_mnist(other)


def test_offline_without_path_says_how_to_set_data_path(monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: [Errno -2] Name or service "
                        "not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError) as err:
        load_mnist(None)
    msg = str(err.value)
    assert "could not be downloaded" in msg and "URL fetch failure" in msg
    assert "--set data.path=" in msg and "idx3-ubyte" in msg


def test_data_section_limits_and_flat_pixels(tmp_path):
    """A scenario's data: section (MnistDataConfig) read by load_digits, and the float pixels the models
    take."""
    data = small(n_train=12, n_test=5)
    np.savez(tmp_path / "digits.npz", x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
             y_test=data.y_test)
    cut = mnist.load_digits(
        mnist.MnistDataConfig(path=str(tmp_path / "digits.npz"), train_limit=7, test_limit=2))
    assert len(cut.x_train) == len(cut.y_train) == 7 and len(cut.x_test) == len(cut.y_test) == 2
    assert same(mnist.load_digits(mnist.MnistDataConfig(path=str(tmp_path / "digits.npz"))), data)
    pixels = mnist.flat(cut.x_train)
    assert pixels.shape == (7, 784) and pixels.dtype == np.float32
    assert np.array_equal(pixels * 255.0, cut.x_train.reshape(7, 784).astype(np.float32))
    with pytest.raises(ValueError, match="train_limit"):
        mnist.MnistDataConfig(train_limit=0)


def test_real_subset(mnist10k):
    data = load_mnist(mnist10k)
    assert data.x_train.shape == (8000, 28, 28) and data.x_test.shape == (2000, 28, 28)
    assert set(np.unique(data.y_train)) == set(range(10))
    cut = data.limit(100, 20)
    assert len(cut.x_train) == 100 and len(cut.y_test) == 20


def test_module_names_the_data_path_hint():
    assert "data.path" in mnist.HINT
