"""graph-basics end to end through the driver: the chapter-1 programs, their graphs, the Dense layer."""

import pytest

from lab.errors import ScenarioError
from lab.execute import execute


def scenario(root, name):
    return str(root / "scenarios" / f"{name}.yaml")


def png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_basics_results_and_graphs(root, tmp_path, capsys, read_dot):
    run = execute(scenario(root, "graph_basics"), ["strategy=cpu"], out=str(tmp_path), quiet=True)
    s = run.summary()
    assert s["add_result"] == pytest.approx(4.5, abs=1e-12)
    assert [s["matvec_0"], s["matvec_1"]] == pytest.approx([9.4, 3.4], abs=1e-12)
    assert [s["affine_0"], s["affine_1"]] == pytest.approx([12.4, 6.4], abs=1e-12)
    # d/dW sum(W.x + b) = [x; x], d/dx = column sums of W, d/db = number of rows
    assert [s[f"grad_w_{i}"] for i in range(4)] == pytest.approx([5, 7, 5, 7])
    assert [s["grad_x_0"], s["grad_x_1"]] == pytest.approx([1.3, 0.9])
    assert s["grad_b"] == pytest.approx(2.0)
    assert [s["dense_0"], s["dense_1"]] == pytest.approx([12.4, 6.4], abs=1e-5)
    assert s["dense_matches_graph"] is True

    for stem in ("add", "matvec", "affine", "gradients", "dense"):
        nodes, edges = read_dot((run.artifacts / f"{stem}.dot").read_text())
        assert nodes and edges
    affine = (run.artifacts / "affine.dot").read_text()
    assert "= [12.4, 6.4]" in affine and "= [9.4, 3.4]" in affine
    report = run.report_path.read_text()
    assert "[12.4, 6.4]" in report and "4.5" in report and "artifacts/affine" in report

    # the saved Dense layer is what `lab graph` draws
    from lab.cli import main

    assert main(["graph", str(run.path), "--format", "dot"]) == 0
    drawn = capsys.readouterr().out.split()
    assert drawn == [str(run.artifacts / "graph-affine_dense.dot")]
    nodes, _ = read_dot((run.artifacts / "graph-affine_dense.dot").read_text())
    assert any("<b>affine</b> (Dense)" in a["label"] for a in nodes.values())


def test_graph_basics_other_values_and_bad_shapes(root, tmp_path):
    run = execute(scenario(root, "graph_basics"),
                  ["strategy=cpu", "graph.weights=[[1, 2, 3]]", "graph.vector=[1, 1, 2]", "graph.bias=-1",
                   "graph.x=1.25", "graph.y=-4"], out=str(tmp_path), quiet=True)
    s = run.summary()
    assert s["add_result"] == pytest.approx(-2.75) and s["matvec_0"] == pytest.approx(9.0)
    assert s["affine_0"] == pytest.approx(8.0) and "affine_1" not in s
    with pytest.raises(ScenarioError, match=r"as many entries in vector \(2\) as columns in weights \(3\)"):
        execute(scenario(root, "graph_basics"), ["graph.weights=[[1, 2, 3]]"], out=str(tmp_path / "x"),
                quiet=True)
    assert not (tmp_path / "x").exists()  # validated before any run folder is made
