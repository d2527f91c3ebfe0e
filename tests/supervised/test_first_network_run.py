"""first-network end to end through the driver, and its activation gallery's derivatives."""

import csv

import numpy as np
import pytest

from lab.execute import execute
from supervised.first_network.model import activation_curves


def scenario(root, name):
    return str(root / "scenarios" / f"{name}.yaml")


def png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_first_network_learns_the_book_table(root, tmp_path):
    import keras

    run = execute(scenario(root, "first_network"), ["strategy=cpu"], out=str(tmp_path), quiet=True)
    s = run.summary()
    y = [0, 0, 1, 1]
    assert s["rounded_equal_y"] is True and s["learned"] is True
    assert [round(s[f"prediction_{i}"]) for i in range(4)] == y
    assert png(run.artifacts / "learning_curve.png") and png(run.artifacts / "activations.png")
    # it stopped at the first epoch under the target loss, well before the 10,000-epoch cap: every logged
    # epoch before the last is at or above 0.01, the last is the summary's epoch and loss
    rows = [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(run.metrics_path.open())]
    assert len(rows) >= 2 and rows[-1] == (s["epochs"], pytest.approx(s["final_loss"]))
    assert s["final_loss"] < 0.01 <= min(loss for _, loss in rows[:-1]) and s["epochs"] < 5000

    model = keras.saving.load_model(run.checkpoints / "first_network.keras", safe_mode=True)
    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype="float32")
    pred = model.predict(x, verbose=0).ravel()
    np.testing.assert_allclose(pred, [s[f"prediction_{i}"] for i in range(4)], rtol=1e-5)
    assert np.mean((pred - y) ** 2) == pytest.approx(s["final_loss"], rel=1e-4)  # the loss it stopped at
    assert "![Activation gallery](artifacts/activations.png)" in run.report_path.read_text()


def test_first_network_reports_honestly_when_out_of_budget(root, tmp_path):
    run = execute(scenario(root, "first_network"),
                  ["strategy=cpu", "training.max_epochs=3", "activations.functions=[relu]"],
                  out=str(tmp_path), quiet=True)
    s = run.summary()
    assert s["epochs"] == 3 and s["learned"] is False and s["final_loss"] > 0.01


def test_activation_derivatives_match_finite_differences():
    names = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "softmax", "selu", "swish"]
    x = np.linspace(-3, 3, 61) + 0.013  # off the kinks at 0
    curves = activation_curves(names, x)
    h = 1e-2
    for name in names:
        value, deriv = curves[name]
        up, _ = activation_curves([name], x + h)[name]
        down, _ = activation_curves([name], x - h)[name]
        np.testing.assert_allclose(deriv, (up - down) / (2 * h), atol=2e-3, err_msg=name)
    sig, dsig = curves["sigmoid"]
    np.testing.assert_allclose(curves["softmax"][0], sig, atol=1e-6)  # softmax of (x, 0) is sigmoid(x)
    zero = activation_curves(["sigmoid", "tanh", "leaky_relu"], np.array([0.0, -2.0]))
    assert zero["sigmoid"][1][0] == pytest.approx(0.25) and zero["tanh"][1][0] == pytest.approx(1.0)
    assert zero["leaky_relu"][1][1] == pytest.approx(0.2)
