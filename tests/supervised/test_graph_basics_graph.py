"""The teaching computation graph of graph-basics (supervised.graph_basics.model.Graph): building,
evaluating, differentiating, and its DOT text (read back with pydot)."""

import shutil
import subprocess

import numpy as np
import pytest

from lab.graphviz import render_dot
from supervised.graph_basics.model import Graph, GraphError, chapter1_programs

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
    assert values["y"].dtype == np.float64  # as the book's Gorgonia, on JAX too


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


def test_graph_dot_is_well_formed_and_carries_values(read_dot):
    g = Graph("affine")
    W, x = g.matrix("W", 2, 2), g.vector("x", 2)
    y = g.add(g.matmul(W, x, name="Wx"), 3.0, name="y")
    values = g.evaluate({W: [[0.9, 0.7], [0.4, 0.2]], x: [5, 7]})
    nodes, edges = read_dot(g.to_dot(values, notes={"W": "a note"}))
    assert len(nodes) == len(g.nodes) == 5  # W, x, Wx, the constant 3, y
    assert len(edges) == sum(len(n.inputs) for n in g.nodes) == 4
    labels = {n.name: nodes[f"n{n.index}"]["label"] for n in g.nodes}
    assert "= [12.4, 6.4]" in labels["y"] and "= [9.4, 3.4]" in labels["Wx"]
    assert "a note" in labels["W"]
    assert (f"n{W.index}", f"n{g['Wx'].index}") in {(a, b) for a, b, _ in edges}
    assert y.shape == (2,)


def test_odd_names_survive_quoting(read_dot):
    g = Graph('quote " and \\ backslash')
    a = g.scalar('a"b\\c')
    g.neg(a, name="new\nline")
    nodes, _ = read_dot(g.to_dot())
    assert any(v["label"].startswith('a"b\\c') for v in nodes.values())
    assert any("new\nline" in v["label"] for v in nodes.values())


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_real_graphviz_accepts_the_graph_dot(tmp_path):
    g = Graph('with "quotes"')
    g.add(g.matmul(g.matrix("W", 2, 2), g.vector("x", 2)), g.scalar("b"), name="y")
    out = render_dot(g.to_dot(), tmp_path / "graph.png")
    assert out.note is None and out.image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    subprocess.run(["dot", "-Tsvg", str(out.dot)], check=True, capture_output=True)


def test_chapter1_programs_compute_the_book_values():
    programs = {p.key: p for p in chapter1_programs([[0.9, 0.7], [0.4, 0.2]], [5.0, 7.0], 3.0)}
    assert list(programs) == ["add", "matvec", "affine", "gradients"]
    results = {k: p.graph.evaluate(p.feeds)[p.result.name] for k, p in programs.items()}
    assert results["add"] == pytest.approx(4.5)
    np.testing.assert_allclose(results["matvec"], [9.4, 3.4])
    np.testing.assert_allclose(results["affine"], [12.4, 6.4])
    grads = programs["gradients"].graph.gradients(programs["gradients"].result, programs["gradients"].feeds)
    np.testing.assert_allclose(grads["W"], [[5, 7], [5, 7]])
    assert float(grads["b"]) == pytest.approx(2.0)
