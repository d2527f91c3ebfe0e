"""Shared test settings: no display, no GPU, quiet TensorFlow, Agg plots."""

import json
import os
import re
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest  # noqa: E402

from lab.backend import choose_backend  # noqa: E402

choose_backend()  # JAX when TensorFlow is not installed (`make test-jax`'s environment), as `lab` does

pytest_plugins = ["no_skips"]  # LAB_NO_SKIPS=1 (CI): a skipped test fails the session

ROOT = Path(__file__).resolve().parent.parent
MNIST10K = ROOT.parent / "shared" / "datasets" / "mnist10k.npz"


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def lab_cmd():
    """The `lab` command as a subprocess argv prefix (same interpreter as the tests)."""
    return [sys.executable, "-m", "lab"]


@pytest.fixture
def mnist10k() -> Path:
    if not MNIST10K.exists():
        pytest.skip(f"{MNIST10K} is absent (the shared offline MNIST subset)")
    return MNIST10K


def _unquoted(value: str) -> str:
    """A DOT attribute value as text: quotes removed, ``\\n`` a newline, other escapes the character."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value[1:-1])
    return value


@pytest.fixture
def read_dot():
    """``read_dot(text) -> (nodes, edges)``: DOT read by pydot (the test fails when pydot cannot read it);
    ``nodes`` maps each declared node to its attributes, ``edges`` lists ``(source, target, attributes)``,
    attribute values unquoted."""
    import pydot

    def read(text: str):
        graphs = pydot.graph_from_dot_data(text)
        assert graphs, f"pydot cannot read this DOT:\n{text}"
        (graph,) = graphs
        nodes = {n.get_name(): {k: _unquoted(v) for k, v in n.get_attributes().items()}
                 for n in graph.get_nodes() if n.get_name() not in ("graph", "node", "edge")}
        edges = [(e.get_source(), e.get_destination(),
                  {k: _unquoted(v) for k, v in e.get_attributes().items()}) for e in graph.get_edges()]
        undeclared = {end for a, b, _ in edges for end in (a, b)} - set(nodes)
        assert not undeclared, f"edges use nodes that are not declared: {sorted(undeclared)}"
        return nodes, edges

    return read


# --------------------------------------------------------------------------------------------------
# Shared fixtures of the run contract: interrupt a run, resume it, compare it with one that never stopped.


@contextmanager
def hang_guard(seconds: float = 30):
    """Fail the block with TimeoutError if it runs past ``seconds``: a guard against a hang (an unbounded
    loop, a backtracking parse), never a speed check; speed is measured in benchmarks/."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def same_figures(a: dict, b: dict) -> dict:
    """The keys of two summaries whose values differ, timing figures excepted (empty: the same run)."""
    from lab.execute import is_timing_key

    keys = {k for k in set(a) | set(b) if not is_timing_key(k)}
    return {k: (a.get(k), b.get(k)) for k in sorted(keys) if a.get(k) != b.get(k)}


@pytest.fixture
def interrupt_after(monkeypatch):
    """``interrupt_after(epoch, name=None, stage=None)``: the shared loop (lab.loop) raises
    KeyboardInterrupt, as Ctrl-C would, right after it checkpoints ``epoch`` (of the loop called
    ``name``, in ``stage``); ``interrupt_after.disarm()`` undoes it."""
    from lab import loop as loop_mod

    original = loop_mod.after_checkpoint

    class Arm:
        def __call__(self, epoch: int, name: str | None = None, stage: str | None = None) -> None:
            def hook(loop, n):
                if n == epoch and name in (None, loop.name) and stage in (None, loop.stage):
                    raise KeyboardInterrupt

            monkeypatch.setattr(loop_mod, "after_checkpoint", hook)

        def disarm(self) -> None:
            monkeypatch.setattr(loop_mod, "after_checkpoint", original)

    return Arm()


@pytest.fixture
def killed_and_resumed(tmp_path, interrupt_after):
    """``killed_and_resumed(scenario_file, epoch, ...)`` runs the scenario straight through, then again
    interrupted after ``epoch`` and resumed; checks that the second ends with the same summary.json
    (timing keys excepted) and the same metrics.csv steps, and returns ``(full, resumed)`` run folders."""
    import csv

    from lab.execute import execute
    from lab.runs import RunDir

    def check(scenario_file, epoch: int, name: str | None = None, stage: str | None = None, overrides=()):
        full = execute(str(scenario_file), list(overrides), out=str(tmp_path / "full"), quiet=True)
        interrupt_after(epoch, name, stage)
        with pytest.raises(KeyboardInterrupt):
            execute(str(scenario_file), list(overrides), out=str(tmp_path / "cut"), quiet=True)
        interrupt_after.disarm()
        (folder,) = list((tmp_path / "cut").iterdir())
        assert RunDir(folder).status == "interrupted"
        assert not RunDir(folder).summary_path.exists()
        resumed = execute(None, resume=str(folder), quiet=True)
        assert resumed.status == "complete"
        assert same_figures(full.summary(), resumed.summary()) == {}

        def steps(run):
            with open(run.metrics_path, newline="") as fh:
                return [row["step"] for row in csv.DictReader(fh)]

        assert steps(resumed) == steps(full)
        return full, resumed

    return check


def write_bar_digits(path, n_train: int, n_test: int, seed: int) -> None:
    """A Keras-layout mnist.npz of learnable fake digits (noise plus a bright bar whose row is the label)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.integers(0, 10, n)
    x = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, 2 + 2 * label, 4:24] = 255
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])


BARS = {"name": "bars", "task": "classifier", "seed": 2, "strategy": "cpu",
        "data": {"dataset": "mnist", "path": "mnist.npz", "validation": 0.1},
        "model": {"kind": "mlp", "hidden": [32]},
        "training": {"epochs": 3, "batch_size": 64, "learning_rate": 0.003}, "report": {"gallery": 2}}


def bars_scenario(folder: Path, **changes) -> Path:
    """A classifier scenario on bar digits (noise plus a bright bar whose row is the label) in ``folder``."""
    if not (folder / "mnist.npz").exists():
        write_bar_digits(folder / "mnist.npz", 300, 100, seed=1)
    data = {**BARS, **changes, "data": {**BARS["data"], "path": str(folder / "mnist.npz")}}
    data["training"] = {**BARS["training"], **changes.get("training", {})}
    path = folder / f"{data['name']}.yaml"
    path.write_text(json.dumps(data))  # (JSON is YAML)
    return path


# The longest test files first (by their time in `pytest --durations`, 2026-12-04): `make test`'s two
# pytest processes take whole files from the front of the queue, so long ones started last leave one
# process working alone at the end (581 s before this order, 555 s after, same tests and day).
LONGEST_FIRST = ("test_multi_worker.py", "test_serve.py", "test_sweep_workers.py", "test_ctrl_c.py",
                 "test_pipeline_dvc.py", "agents/test_dqn_task.py", "test_jax_backend.py",
                 "supervised/test_language_model.py", "supervised/test_classifier.py", "test_sweep.py",
                 "test_user_paths.py", "test_slurm.py", "test_sweep_postgres.py", "test_hardening_runs.py",
                 "test_mirrored.py", "agents/test_dqn_live.py", "agents/test_dqn_recurrent.py",
                 "agents/test_dqn_pixels.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0].removeprefix("tests/"), len(rank)))
