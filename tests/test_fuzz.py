"""Property-based fuzzing (Hypothesis): whatever a user or a damaged disk feeds the lab, the answer is a
clear error (a LabError, printed as `error: ...` with exit 2) or a result — never a traceback, never a
hang.

Two kinds of input:

* **scenario mutations**: a shipped scenario with keys deleted, replaced by values of any type (huge
  integers, NaN, infinities, strings, lists, nested mappings) or added, validated as `lab validate` does;
* **byte corruptions** (bytes flipped, inserted, deleted; the file cut short) of every kind of file the
  lab reads: scenario YAML, maze layouts, MovieLens and Netflix ratings, MNIST as IDX (plain and gzip)
  and as npz, CIFAR-10 binary batches, text corpora, the run folder's JSON files, `.keras` models.

Each property runs ``LAB_FUZZ_EXAMPLES`` examples (default 25, so the file stays within the suite's
time budget; set it higher to hunt), derandomised so CI is repeatable (``LAB_FUZZ_RANDOM=1``: new
examples every run), and every example runs under an
alarm: an example that takes longer than ``HANG_SECONDS`` fails as a hang.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lab.errors import LabError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("LAB_FUZZ_EXAMPLES", "25"))
HANG_SECONDS = 20
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("LAB_FUZZ_RANDOM"),
                database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


class Hang(Exception):
    pass


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    def ring(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def answers(fn, *args, allowed: tuple[type[BaseException], ...] = (), **kwargs):
    """Call ``fn``: a result or a LabError (or a domain error in ``allowed``) is an answer; anything else
    (a traceback) or no answer in time fails the example."""
    with no_hang():
        try:
            return fn(*args, **kwargs)
        except LabError as exc:
            assert str(exc), "an error without a message"
            return exc
        except allowed as exc:
            return exc


# --------------------------------------------------------------------------------------------------
# Corruptions

any_value = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.lists(st.integers(-10, 10**6), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(-5, 5), max_size=3), st.just(""), st.just("../../etc"),
)

edit = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**31), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 2**31), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 2**31), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 2**31), st.integers(1, 64)),
)


def corrupt(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, where, arg in edits:
        at = where % (len(out) + 1)
        if kind == "flip" and out:
            out[min(at, len(out) - 1)] ^= arg
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = arg
        elif kind == "delete":
            del out[at:at + arg]
    return bytes(out)


edits = st.lists(edit, min_size=1, max_size=4)


# --------------------------------------------------------------------------------------------------
# Scenarios

SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.yaml"))


def paths(tree, prefix=()):
    """Every key path of a YAML mapping (lists by index)."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield (*prefix, i)
            yield from paths(v, (*prefix, i))


def mutate(tree, ops):
    for kind, pick, value in ops:
        keys = list(paths(tree))
        if not keys:
            return tree
        path = keys[pick % len(keys)]
        parent = tree
        for k in path[:-1]:
            parent = parent[k]
        last = path[-1]
        if kind == "delete" and isinstance(parent, dict):
            del parent[last]
        elif kind == "add" and isinstance(parent, dict):
            parent[f"{last}_x" if isinstance(last, str) else "extra"] = value
        else:
            parent[last] = value
    return tree


mutation = st.tuples(st.sampled_from(["delete", "replace", "replace", "add"]), st.integers(0, 10**6),
                     any_value)


@FUZZ
@given(scenario=st.sampled_from(SCENARIOS), ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_scenarios_validate_or_say_why(tmp_path_factory, scenario, ops):
    from lab.scenario import load_scenario

    tree = mutate(yaml.safe_load(scenario.read_text()), ops)
    path = tmp_path_factory.mktemp("scenario") / "s.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    answers(load_scenario, path)


@FUZZ
@given(scenario=st.sampled_from(SCENARIOS), changes=edits)
def test_damaged_scenario_files_validate_or_say_why(tmp_path_factory, scenario, changes):
    from lab.scenario import load_scenario

    path = tmp_path_factory.mktemp("scenario") / "s.yaml"
    path.write_bytes(corrupt(scenario.read_bytes(), changes))
    answers(load_scenario, path)


# --------------------------------------------------------------------------------------------------
# Data files


@FUZZ
@given(changes=edits)
def test_damaged_maze_layouts(tmp_path_factory, changes):
    from envs.maze.generate import MazeError
    from envs.maze.layout import read_layout_file

    layout = "#######\n#S..#.#\n#.#...#\n#...#G#\n#######\n"
    path = tmp_path_factory.mktemp("layout") / "maze.txt"
    path.write_bytes(corrupt(layout.encode(), changes))
    answers(read_layout_file, path, allowed=(MazeError,))


def _movielens(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(u, i, 1 + (u * 7 + i) % 5, 881250949 + u * i) for u in range(1, 9)
            for i in range(1, 7) if (u + i) % 3]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    flags = "|".join(["0"] * 18 + ["1"])
    (folder / "u.item").write_bytes("".join(f"{i}|Film {i} (199{i})|01-Jan-199{i}||http://x|{flags}\n"
                                            for i in range(1, 7)).encode("latin-1"))


def _netflix(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "combined_data_1.txt").write_text("1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n"
                                                "1488844,4,2004-01-31\n885013,2,2005-01-01\n")
    (folder / "movie_titles.csv").write_bytes("1,2003,Dinosaur Planet\n2,NULL,Isle of "
                                              "Man\n".encode("latin-1"))
    (folder / "probe.txt").write_text("2:\n1488844\n")


@FUZZ
@given(which=st.sampled_from(["u.data", "u.item"]), changes=edits)
def test_damaged_movielens_files(tmp_path_factory, which, changes):
    from lab.data.ratings import load_ratings

    folder = tmp_path_factory.mktemp("ml") / "ml-100k"
    _movielens(folder)
    (folder / which).write_bytes(corrupt((folder / which).read_bytes(), changes))
    answers(load_ratings, folder)


@FUZZ
@given(which=st.sampled_from(["combined_data_1.txt", "movie_titles.csv", "probe.txt"]), changes=edits)
def test_damaged_netflix_files(tmp_path_factory, which, changes):
    from lab.data.ratings import load_ratings

    folder = tmp_path_factory.mktemp("nf") / "netflix"
    _netflix(folder)
    (folder / which).write_bytes(corrupt((folder / which).read_bytes(), changes))
    answers(load_ratings, folder)


def _mnist(n_train=20, n_test=10):
    from lab.data.mnist import Mnist

    rng = np.random.default_rng(0)
    return Mnist(rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                 rng.integers(0, 10, n_train, dtype=np.uint8),
                 rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                 rng.integers(0, 10, n_test, dtype=np.uint8), "fuzz")


@FUZZ
@given(gz=st.booleans(), which=st.integers(0, 3), changes=edits)
def test_damaged_mnist_idx_files(tmp_path_factory, gz, which, changes):
    from lab.data.mnist import load_mnist, write_idx_folder

    folder = tmp_path_factory.mktemp("idx")
    write_idx_folder(folder, _mnist(), gz=gz)
    target = sorted(p for p in folder.iterdir() if p.is_file())[which]
    target.write_bytes(corrupt(target.read_bytes(), changes))
    answers(load_mnist, folder)


@FUZZ
@given(compressed=st.booleans(), changes=edits)
@example(compressed=True, changes=[("flip", 162, 1)])  # found: a damaged .npy header (tokenize.TokenError)
def test_damaged_mnist_npz(tmp_path_factory, compressed, changes):
    from lab.data.mnist import load_mnist

    d = _mnist()
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, x_train=d.x_train, y_train=d.y_train,
                                                      x_test=d.x_test, y_test=d.y_test)
    path = tmp_path_factory.mktemp("npz") / "mnist.npz"
    path.write_bytes(corrupt(buffer.getvalue(), changes))
    answers(load_mnist, path)


@FUZZ
@given(which=st.sampled_from(["data_batch_1.bin", "test_batch.bin", "batches.meta.txt"]), changes=edits)
def test_damaged_cifar_batches(tmp_path_factory, which, changes):
    from lab.data.cifar10 import Cifar10, load_cifar10, write_cifar10_folder

    rng = np.random.default_rng(0)
    data = Cifar10(rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, 12, dtype=np.uint8),
                   rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, 6, dtype=np.uint8), tuple("abcdefghij"), "fuzz")
    folder = write_cifar10_folder(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-bin", data)
    target = folder / which
    if target.exists():
        target.write_bytes(corrupt(target.read_bytes(), changes))
    answers(load_cifar10, folder)


@FUZZ
@given(level=st.sampled_from(["chars", "words"]), changes=edits)
def test_damaged_text_corpora(tmp_path_factory, level, changes):
    from lab.data.text import load_corpus

    text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, "
            "speak.\n" * 40).encode()
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_bytes(corrupt(text, changes))
    answers(load_corpus, path, level=level)


# --------------------------------------------------------------------------------------------------
# Run folders


def _run_folder(root: Path) -> Path:
    run = root / "20261130-000000-fuzz"
    (run / "checkpoints").mkdir(parents=True)
    (run / "artifacts").mkdir()
    (run / "run.json").write_text(json.dumps({"task": "first-network", "name": "fuzz", "status": "complete"}))
    (run / "summary.json").write_text(json.dumps({"task": "first-network", "loss": 0.25, "epochs": 3}))
    (run / "env.json").write_text(json.dumps({"packages": {"python": "3.11"}, "strategy": {"chosen": "cpu"}}))
    (run / "scenario.yaml").write_text((ROOT / "scenarios" / "first_network.yaml").read_text())
    (run / "metrics.csv").write_text("step,loss\n1,0.5\n2,0.25\n")
    return run


@FUZZ
@given(which=st.sampled_from(["run.json", "summary.json", "env.json", "scenario.yaml", "metrics.csv"]),
       changes=edits)
def test_damaged_run_files_in_lab_show_and_list(tmp_path_factory, which, changes, capsys):
    from lab.cli import main

    root = tmp_path_factory.mktemp("runs")
    run = _run_folder(root)
    (run / which).write_bytes(corrupt((run / which).read_bytes(), changes))
    with no_hang():
        assert main(["show", str(run)]) in (0, 2)
        assert main(["list", "--runs", str(root)]) in (0, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    model.save(path)
    return path.read_bytes()


@FUZZ
@given(changes=edits)
def test_damaged_keras_models(tmp_path_factory, keras_file, changes):
    from lab.runs import load_run_model

    path = tmp_path_factory.mktemp("model") / "model.keras"
    path.write_bytes(corrupt(keras_file, changes))
    answers(load_run_model, path)


def test_gzip_and_corruptions_are_exercised():
    """The corruption helper itself: each kind of edit changes the bytes as it says."""
    data = gzip.compress(b"x" * 100)
    assert corrupt(data, [("cut", 10, 0)]) == data[:10]
    assert corrupt(b"abc", [("insert", 1, b"Z")]) == b"aZbc"
    assert corrupt(b"abcdef", [("delete", 2, 2)]) == b"abef"
    assert corrupt(b"a", [("flip", 5, 1)]) == b"`"


# --------------------------------------------------------------------------------------------------
# Arguments and checkpoints

override_key = st.lists(st.sampled_from(["training", "model", "data", "env", "rbm", "seed", "strategy",
                                         "epochs",
                                         "learning_rate", "0", "hidden", "name", "output", "", "a.b", "-1"]),
                        min_size=1, max_size=4).map(".".join)
override_value = st.one_of(st.text(max_size=40), st.sampled_from(["[1, 2", "{a: 1}", ".inf", "*x", "&a [*a]",
                                                                  "!!python/object:os.system", "1e400", "-0",
                                                                  "99999999999999999999999", "null", "~"]))


@FUZZ
@given(scenario=st.sampled_from(SCENARIOS), key=override_key, value=override_value)
def test_random_set_overrides(scenario, key, value):
    from lab.scenario import load_scenario

    answers(load_scenario, scenario, [f"{key}={value}"])


@FUZZ
@given(text=st.text(max_size=300) | st.text(alphabet=" ,;=abc5\\\"'", max_size=3000))
def test_random_rate_arguments(text):
    from generative.rbm.titles import RecommendError, parse_rate  # lab recommend prints it as `error: ...`

    answers(parse_rate, text, np.arange(1.0, 6.0), allowed=(RecommendError,))


@FUZZ
@given(which=st.sampled_from(["manifest", "state.npz"]), changes=edits)
# found: zipfile's NotImplementedError ("version 10.9")
@example(which="state.npz", changes=[("flip", 229, 64)])
def test_damaged_checkpoints(tmp_path_factory, which, changes):
    from lab.checkpoints import CheckpointStore

    folder = tmp_path_factory.mktemp("ckpt")
    store = CheckpointStore(folder, "fuzz")
    store.save({"epoch": 3, "extra": {"a": [1, 2]}}, {"state.npz": lambda p: np.savez(p, w=np.arange(5.0))})
    target = store.manifest if which == "manifest" else store.load()[1]["state.npz"]
    target.write_bytes(corrupt(target.read_bytes(), changes))

    def reload():
        loaded = CheckpointStore(folder, "fuzz").load()
        if loaded is not None and "state.npz" in loaded[1]:
            from lab.runs import reading

            with reading(loaded[1]["state.npz"], "checkpoint part"), np.load(loaded[1]["state.npz"]) as f:
                f["w"]

    answers(reload)
