"""The shared epoch loop and its atomic checkpoints, on a tiny Keras model (no data files needed)."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from lab.checkpoints import CheckpointStore
from lab.context import RunContext
from lab.errors import RunError, TrainingError
from lab.loop import EarlyStopping, EpochLoop
from lab.runs import RunDir
from lab.schema import EpochTraining
from lab.seeding import stream


def context(tmp_path, resume=False, run=None):
    run = run or RunDir.create(tmp_path / "runs", "loop", "test")
    return RunContext(run, quiet=True, resume=resume)


def tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    return model


X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.2]], np.float32)
Y = X @ np.array([[2.0], [-1.0]], np.float32) + 0.5


def train(ctx, epochs, losses=None, checkpoint_every=1, time_limit=None, seconds=None, **kw):
    """Fit the tiny model on shuffles drawn from each epoch's generator; ``losses`` overrides the figure,
    ``seconds`` the training time each epoch adds."""
    section = EpochTraining(epochs=epochs, checkpoint_every=checkpoint_every, time_limit_seconds=time_limit)
    loop = EpochLoop(ctx, "tiny", section, seed=3, **kw)
    loop.restore(tiny_model)
    for epoch in loop:
        order = epoch.rng.permutation(len(X))
        figures = loop.fit((X[order], Y[order]), 2)
        if seconds is not None:
            loop.state.train_seconds += seconds[epoch.index]
        loss = figures["loss"] if losses is None else losses[epoch.index]
        loop.end_epoch({"loss": loss}, show=("loss",))
    return loop, loop.finish()


def metric_steps(run):
    with open(run.metrics_path, newline="") as fh:
        return [int(r["step"]) for r in csv.DictReader(fh)]


def test_resume_after_an_interruption_ends_with_the_same_weights(tmp_path, interrupt_after):
    full_loop, _ = train(context(tmp_path / "a"), 4)
    ctx = context(tmp_path / "b")
    interrupt_after(2)
    with pytest.raises(KeyboardInterrupt):
        train(ctx, 4)
    interrupt_after.disarm()
    ctx.metrics.log({"step": 3, "loss": 9.9})  # an epoch that ran but was never checkpointed
    loop, figures = train(context(tmp_path, resume=True, run=ctx.run), 4)
    assert loop.resumed and figures["epochs_run"] == 4 and figures["samples_per_second"] > 0
    for a, b in zip(full_loop.model.get_weights(), loop.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # optimizer state and per-epoch generators came back
    assert metric_steps(ctx.run) == [1, 2, 3, 4]  # the stray row after the checkpoint is gone


def test_each_epoch_draws_its_own_named_stream(tmp_path):
    section = EpochTraining(epochs=3)
    loop = EpochLoop(context(tmp_path), "tiny", section, seed=3, rng_key=(2,))
    loop.restore(tiny_model)
    drawn = []
    for epoch in loop:
        drawn.append(epoch.rng.random(3))
        loop.end_epoch({"loss": 1.0})
    for index, values in enumerate(drawn):
        assert np.array_equal(values, stream(3, "tiny/epoch", 2, index).random(3))
    assert not np.array_equal(loop.stream("noise", 0).random(3), drawn[0])


def test_the_time_limit_stops_before_an_epoch_that_would_pass_it(tmp_path):
    ctx = context(tmp_path)
    _, figures = train(ctx, 10, time_limit=100.0, seconds=[30.0] * 10)
    assert figures["epochs_run"] == 3  # 90 s after 3 epochs: a fourth of about 30 s would pass 100 s
    assert figures["stop_reason"].startswith("time limit 100 s")
    state, _ = CheckpointStore(ctx.run.checkpoints, "tiny").load()
    # a resume will not train on
    assert state["epoch"] == 3 and state["stop_reason"] == figures["stop_reason"]


def test_a_nan_figure_stops_the_run_naming_the_figure_and_the_epoch(tmp_path):
    ctx = context(tmp_path)
    with pytest.raises(TrainingError,
                       match=r"loss = nan at epoch 3: training diverged.*after epoch 2\) is kept"):
        train(ctx, 5, losses=[1.0, 0.5, float("nan"), 0.1, 0.1])
    state, _ = CheckpointStore(ctx.run.checkpoints, "tiny").load()
    assert state["epoch"] == 2 and metric_steps(ctx.run) == [1, 2]


def test_early_stopping_keeps_the_best_weights_and_stops_after_patience(tmp_path):
    ctx = context(tmp_path)
    es = EarlyStopping("loss", patience=2)
    losses = [3.0, 1.0, 2.0, 2.5, 0.1, 0.1]
    loop, figures = train(ctx, 6, losses=losses, early_stopping=es)
    assert figures["epochs_run"] == 4 and figures["stopped_early"] is True
    assert figures["best_loss"] == 1.0 and figures["best_epoch"] == 2
    state, files = CheckpointStore(ctx.run.checkpoints, "tiny").load()
    assert state["stopped_early"] and "best_weights.npz" in files
    with np.load(files["best_weights.npz"]) as f:
        best = [f[f"arr_{i}"] for i in range(len(f.files))]
    for a, b in zip(best, loop.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # finish() restored epoch 2's weights


def test_resume_with_early_stopping_restores_the_best_weights_and_the_optimizer(tmp_path, interrupt_after):
    es = dict(early_stopping=EarlyStopping("loss", patience=3))
    losses = [3.0, 1.0, 2.0, 2.5, 0.1, 0.2]
    full, full_figures = train(context(tmp_path / "a"), 6, losses=losses, **es)
    ctx = context(tmp_path / "b")
    interrupt_after(4)
    with pytest.raises(KeyboardInterrupt):
        train(ctx, 6, losses=losses, **es)
    interrupt_after.disarm()
    loop, figures = train(context(tmp_path, resume=True, run=ctx.run), 6, losses=losses, **es)
    assert figures["best_epoch"] == full_figures["best_epoch"] == 5
    for a, b in zip(full.model.get_weights(), loop.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_every_and_the_last_epoch(tmp_path, monkeypatch):
    from lab import loop as loop_mod

    saved = []
    monkeypatch.setattr(loop_mod, "after_checkpoint", lambda loop, epoch: saved.append(epoch))
    train(context(tmp_path), 5, checkpoint_every=2)
    assert saved == [2, 4, 5]


# --------------------------------------------------------------------------------------------------
# lab.checkpoints


def write(text):
    def writer(path):
        path.write_text(text)
    return writer


def test_a_checkpoint_becomes_current_whole_or_not_at_all(tmp_path):
    store = CheckpointStore(tmp_path, "run")
    store.save({"epoch": 1}, {"a.txt": write("one"), "b.txt": write("one")})

    def dies(path):
        path.write_text("half")
        raise KeyboardInterrupt  # killed while writing the second part

    with pytest.raises(KeyboardInterrupt):
        store.save({"epoch": 2}, {"a.txt": write("two"), "b.txt": dies})
    state, parts = store.load()
    assert state == {"epoch": 1} and {p.read_text() for p in parts.values()} == {"one"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-00001", "run.json"]


def test_leftovers_of_a_kill_are_removed_and_unchanged_parts_are_linked(tmp_path):
    store = CheckpointStore(tmp_path, "run")
    first = store.save({"epoch": 1}, {"big.bin": write("weights")})
    (tmp_path / ".run-00002.tmp").mkdir()  # killed while writing
    (tmp_path / "run-00003").mkdir()  # killed after the rename, before the manifest
    (tmp_path / ".run.json.abc123.json").write_text("{")  # killed while writing the manifest
    (tmp_path / "other.keras").write_text("not ours")
    second = store.save({"epoch": 2}, {"big.bin": first["big.bin"], "new.txt": write("x")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.keras", "run-00002", "run.json"]
    assert second["big.bin"].read_text() == "weights" and not first["big.bin"].exists()


@pytest.mark.parametrize("manifest", ["{", "[]", '{"state": {}, "parts": ["m.keras"], "folder": "run-00001", '
                                                 '"serial": 1}',
                                      '{"state": {}, "parts": [], "folder": "../../etc", "serial": 1}'])
def test_a_corrupt_or_incomplete_manifest_is_a_run_error_naming_the_file(tmp_path, manifest):
    (tmp_path / "run.json").write_text(manifest)
    with pytest.raises(RunError, match=str(tmp_path)):
        CheckpointStore(tmp_path, "run").load()


def test_resume_from_a_corrupt_model_file_is_a_run_error(tmp_path):
    ctx = context(tmp_path)
    train(ctx, 1)
    manifest = json.loads((ctx.run.checkpoints / "tiny.json").read_text())
    model_file = ctx.run.checkpoints / manifest["folder"] / "model.keras"
    with open(model_file, "r+b") as fh:
        fh.truncate(os.path.getsize(model_file) // 2)
    with pytest.raises(RunError, match="corrupt checkpoint model.*cannot be resumed"):
        train(context(tmp_path, resume=True, run=ctx.run), 2)
