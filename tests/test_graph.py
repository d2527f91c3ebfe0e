"""supervised.graph (the teaching computation graph) and lab.dot (DOT writing and reading, Keras models as
DOT, rendering), and the `lab graph` command that draws a run's models with them."""

import shutil
import stat
import subprocess

import numpy as np
import pytest

from lab import dot as lab_dot
from lab.dot import DOT_MISSING_NOTE, keras_model_to_dot, parse_dot, render_dot
from supervised.graph import Graph, GraphError

# --------------------------------------------------------------------------------------------------
# Building and evaluating graphs


def test_scalar_addition_and_operators():
    g = Graph("add")
    x, y = g.scalar("x"), g.scalar("y")
    z = x + y
    w = (z * 2.0 - y) / x
    values = g.evaluate({x: 2.0, "y": 2.5})
    assert values[z.name] == pytest.approx(4.5)
    assert values[w.name] == pytest.approx((4.5 * 2.0 - 2.5) / 2.0)
    assert [n.name for n in g.outputs] == [w.name]


def test_matvec_and_affine_shapes_and_values():
    g = Graph("affine")
    W, x, b = g.matrix("W", 2, 3), g.vector("x", 3), g.scalar("b")
    wx = g.matmul(W, x, name="Wx")
    y = g.add(wx, b, name="y")
    assert wx.shape == (2,) and y.shape == (2,)
    W_val = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
    x_val = np.array([0.5, -1.0, 2.0])
    values = g.evaluate({W: W_val, x: x_val, b: 0.25})
    np.testing.assert_allclose(values["y"], W_val @ x_val + 0.25)
    assert values["y"].dtype == np.float64


def test_shape_mistakes_are_caught_when_building():
    g = Graph()
    with pytest.raises(GraphError, match="inner sizes 3 and 2"):
        g.matmul(g.matrix("W", 2, 3), g.vector("x", 2))
    with pytest.raises(GraphError, match="do not broadcast"):
        g.add(g.vector("a", 2), g.vector("c", 3))
    with pytest.raises(GraphError, match="already has a node named 'a'"):
        g.scalar("a")
    with pytest.raises(GraphError, match="unknown op"):
        g.apply("conv", g["a"])
    other = Graph("other")
    with pytest.raises(GraphError, match="belongs to graph 'other'"):
        g.add(g["a"], other.scalar("q"))


def test_evaluation_checks_its_inputs():
    g = Graph("g")
    x, y = g.vector("x", 2), g.scalar("y")
    g.mul(x, y)
    with pytest.raises(GraphError, match="no value for input"):
        g.evaluate({x: [1.0, 2.0]})
    with pytest.raises(GraphError, match=r"shape \(2,\), got a value of shape \(3,\)"):
        g.evaluate({x: [1.0, 2.0, 3.0], y: 1.0})
    with pytest.raises(KeyError, match="no node named 'z'"):
        g.evaluate({"z": 1.0})


def test_gradients_by_autodiff():
    g = Graph("grads")
    W, x, b = g.matrix("W", 2, 2), g.vector("x", 2), g.scalar("b")
    cost = g.sum(g.sigmoid(g.matmul(W, x) + b))
    W_val, x_val, b_val = np.array([[0.9, 0.7], [0.4, 0.2]]), np.array([0.5, -1.0]), 0.3
    grads = g.gradients(cost, {W: W_val, x: x_val, b: b_val})
    s = 1 / (1 + np.exp(-(W_val @ x_val + b_val)))
    ds = s * (1 - s)
    np.testing.assert_allclose(grads["W"], np.outer(ds, x_val), rtol=1e-10)
    np.testing.assert_allclose(grads["x"], W_val.T @ ds, rtol=1e-10)
    assert float(grads["b"]) == pytest.approx(ds.sum())


# --------------------------------------------------------------------------------------------------
# DOT


def test_graph_dot_is_well_formed_and_carries_values():
    g = Graph("affine")
    W, x = g.matrix("W", 2, 2), g.vector("x", 2)
    y = g.add(g.matmul(W, x, name="Wx"), 3.0, name="y")
    values = g.evaluate({W: [[0.9, 0.7], [0.4, 0.2]], x: [5, 7]})
    nodes, edges = parse_dot(g.to_dot(values, notes={"W": "a note"}))
    assert len(nodes) == len(g.nodes) == 5  # W, x, Wx, the constant 3, y
    assert len(edges) == sum(len(n.inputs) for n in g.nodes) == 4
    labels = {n.name: nodes[f"n{n.index}"]["label"] for n in g.nodes}
    assert "= [12.4, 6.4]" in labels["y"] and "= [9.4, 3.4]" in labels["Wx"]
    assert "a note" in labels["W"]
    assert (f"n{W.index}", f"n{g['Wx'].index}") in {(a, b) for a, b, _ in edges}
    assert y.shape == (2,)


def test_odd_names_survive_quoting():
    g = Graph('quote " and \\ backslash')
    a = g.scalar('a"b\\c')
    g.neg(a, name="new\nline")
    nodes, _ = parse_dot(g.to_dot())
    assert any(v["label"].startswith('a"b\\c') for v in nodes.values())
    assert any("new\nline" in v["label"] for v in nodes.values())


@pytest.mark.parametrize("bad, message", [
    ("digraph g { a -> b; ", "missing closing brace"),
    ('digraph g { a [label="x"]; a -> b; }', "not declared"),
    ("digraph g { a [label=]; }", "expected a name"),
    ("digraph g { a; } extra", "after the closing brace"),
    ("strict { }", "not digraph"),
    ("digraph g { a @ b }", "unexpected character"),
])
def test_parse_dot_rejects_malformed_text(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_dot(bad)


# --------------------------------------------------------------------------------------------------
# Keras models


def test_functional_model_with_branches_and_a_shared_layer():
    import keras

    inp = keras.Input((3,), name="x")
    h = keras.layers.Dense(4, activation="relu", name="h")(inp)
    shared = keras.layers.Dense(4, name="shared")
    twice = shared(shared(h))
    side = keras.layers.Dense(4, activation="tanh", name="side")(inp)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(keras.layers.Add(name="sum")([twice, side]))
    model = keras.Model(inp, [out, h], name="branches")
    nodes, edges = parse_dot(keras_model_to_dot(model))
    by_name = {attrs["label"].split(":")[0]: key for key, attrs in nodes.items() if ":" in attrs["label"]}
    assert set(by_name) == {"x", "h", "shared", "side", "sum", "out"}
    pairs = {(a, b): attrs.get("label") for a, b, attrs in edges}
    assert pairs[(by_name["x"], by_name["h"])] == "(None, 3)"
    assert pairs[(by_name["shared"], by_name["shared"])] == "(None, 4)"  # the second call of the shared layer
    assert (by_name["side"], by_name["sum"]) in pairs and (by_name["sum"], by_name["out"]) in pairs
    outputs = [k for k, a in nodes.items() if a["label"].startswith("output")]
    assert len(outputs) == 2 and pairs[(by_name["out"], outputs[0])] == "(None, 1)"
    assert "units=4, relu" in nodes[by_name["h"]]["label"] and "params: 16" in nodes[by_name["h"]]["label"]


def test_sequential_built_unbuilt_and_subclassed_models():
    import keras

    seq = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, name="d1"), keras.layers.Dropout(0.5, name="drop")],
                           name="seq")
    nodes, edges = parse_dot(keras_model_to_dot(seq))
    assert len(nodes) == 4 and len(edges) == 3  # input -> d1 -> drop -> output
    assert "rate=0.5" in " ".join(a["label"] for a in nodes.values())

    unbuilt = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(1)])
    nodes, edges = parse_dot(keras_model_to_dot(unbuilt))
    assert len(nodes) == 2 and len(edges) == 1

    class Twice(keras.Model):
        def __init__(self):
            super().__init__(name="twice")
            self.a = keras.layers.Dense(3, name="a")
            self.b = keras.layers.Dense(1, name="b")

        def call(self, x):
            return self.b(self.a(x))

    text = keras_model_to_dot(Twice())
    nodes, edges = parse_dot(text)
    assert len(nodes) == 2 and not edges and "subclassed" in text


# --------------------------------------------------------------------------------------------------
# Rendering


def _fake_dot(folder, body: str):
    exe = folder / "dot"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_render_without_graphviz_writes_dot_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_dot.shutil, "which", lambda name: None)
    out = render_dot("digraph g { a -> b; }\n", tmp_path / "pic.png")
    assert out.image is None and out.note == DOT_MISSING_NOTE
    assert "apt-get install graphviz" in out.note
    assert out.dot == tmp_path / "pic.dot" and out.dot.read_text().startswith("digraph")
    assert not (tmp_path / "pic.png").exists()
    assert render_dot("digraph g { }\n", tmp_path / "only.dot").note is None


def test_render_calls_dot_with_the_format_and_reports_failures(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A stand-in for Graphviz: records its arguments and writes the -o file.
    _fake_dot(bin_dir, 'echo "$@" > "$(dirname "$0")/args"\nwhile [ "$1" != "-o" ]; do shift; done\necho drawn > "$2"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    out = render_dot("digraph g { a -> b; }\n", tmp_path / "pic.svg")
    assert out.note is None and out.image == tmp_path / "pic.svg" and out.image.read_text() == "drawn\n"
    assert (bin_dir / "args").read_text().startswith("-Tsvg -o ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pic")]  # no temporary left behind

    _fake_dot(bin_dir, 'echo "Error: syntax error in line 1" >&2\nexit 1\n')
    out = render_dot("digraph g { a -> b; }\n", tmp_path / "bad.png")
    assert out.image is None and "syntax error in line 1" in out.note and not (tmp_path / "bad.png").exists()
    with pytest.raises(ValueError, match="not .jpeg"):
        render_dot("digraph g { }\n", tmp_path / "pic.jpeg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_real_graphviz_accepts_our_dot(tmp_path):
    import keras

    g = Graph('with "quotes"')
    g.add(g.matmul(g.matrix("W", 2, 2), g.vector("x", 2)), g.scalar("b"), name="y")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    for i, text in enumerate([g.to_dot(), keras_model_to_dot(model)]):
        out = render_dot(text, tmp_path / f"g{i}.png")
        assert out.note is None and out.image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        subprocess.run(["dot", "-Tsvg", str(out.dot)], check=True, capture_output=True)


# --------------------------------------------------------------------------------------------------
# `lab graph`


@pytest.fixture
def run_with_model(tmp_path):
    import keras

    from lab.runs import RunDir, atomic_write_text

    run = RunDir.create(tmp_path / "runs", "drawn", "first-network")
    atomic_write_text(run.scenario_path, "name: drawn\ntask: first-network\n")
    inp = keras.Input((3,), name="X")
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="layer")(inp), name="tiny")
    model.save(run.checkpoints / "tiny.keras")
    model.save(run.artifacts / "other.keras")
    return run


def test_lab_graph_draws_every_model_of_a_run(run_with_model, capsys, monkeypatch):
    from lab.cli import main

    monkeypatch.setattr(lab_dot.shutil, "which", lambda name: None)
    assert main(["graph", str(run_with_model.path)]) == 0
    out, err = capsys.readouterr()
    printed = out.split()
    expected = [run_with_model.artifacts / "graph-tiny.dot", run_with_model.artifacts / "graph-artifacts-other.dot"]
    assert printed == [str(p) for p in expected]
    assert DOT_MISSING_NOTE in err
    nodes, edges = parse_dot(expected[0].read_text())
    assert any("layer: Dense" in a["label"] for a in nodes.values()) and len(edges) == 2
    assert "checkpoints/tiny.keras" in expected[0].read_text()

    assert main(["graph", str(run_with_model.path), "--model", "tiny.keras", "--format", "dot"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == [str(expected[0])] and err == ""


def test_lab_graph_finds_models_inside_checkpoint_folders(run_with_model, capsys, monkeypatch):
    """The shared loop keeps a checkpoint's model in checkpoints/<name>-<serial>/model.keras and the DQN its
    networks in checkpoints/agent/: lab graph finds them and names them after their checkpoint."""
    import shutil

    from lab.cli import main
    from lab.commands.graph import find_models

    monkeypatch.setattr(lab_dot.shutil, "which", lambda name: None)
    ckpt = run_with_model.checkpoints
    (ckpt / "vae-00003").mkdir()
    (ckpt / "agent").mkdir()
    (ckpt / ".vae-00004.tmp").mkdir()  # a checkpoint being written: skipped
    for target in ("vae-00003/model.keras", "agent/online.keras", ".vae-00004.tmp/model.keras"):
        shutil.copy(ckpt / "tiny.keras", ckpt / target)
    names = [name for name, _ in find_models(run_with_model)]
    assert names == ["agent-online", "tiny", "vae", "artifacts-other"]
    assert main(["graph", str(run_with_model.path), "--model", "vae", "--format", "dot"]) == 0
    assert capsys.readouterr().out.split() == [str(run_with_model.artifacts / "graph-vae.dot")]


def test_lab_graph_mistakes(run_with_model, tmp_path, capsys):
    from lab.cli import main

    assert main(["graph", str(run_with_model.path), "--model", "nope"]) == 2
    assert "no model named 'nope'; this run has: artifacts-other, tiny" in capsys.readouterr().err
    assert main(["graph", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    for p in list(run_with_model.checkpoints.iterdir()) + list(run_with_model.artifacts.iterdir()):
        p.unlink()
    assert main(["graph", str(run_with_model.path)]) == 2
    assert "saved no Keras model" in capsys.readouterr().err
    (run_with_model.checkpoints / "broken.keras").write_bytes(b"not a zip file")
    assert main(["graph", str(run_with_model.path)]) == 2
    assert "broken.keras: cannot load this model" in capsys.readouterr().err
