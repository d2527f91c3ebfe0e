"""lab.graphviz: DOT rendered with Graphviz's dot (or a note when it is missing), Keras models drawn by
keras.utils.model_to_dot, and the `lab graph` command that draws a run's models with them."""

import shutil
import stat
import subprocess

import pytest

from lab import graphviz
from lab.graphviz import DOT_MISSING_NOTE, model_dot, render_dot

# --------------------------------------------------------------------------------------------------
# Keras models


def test_model_dot_draws_every_layer_with_its_shapes_and_the_title(read_dot):
    import keras

    inp = keras.Input((3,), name="x")
    h = keras.layers.Dense(4, activation="relu", name="h")(inp)
    side = keras.layers.Dense(4, activation="tanh", name="side")(inp)
    out = keras.layers.Dense(1, activation="sigmoid", name="out")(keras.layers.Add(name="sum")([h, side]))
    model = keras.Model(inp, out, name="branches")
    text = model_dot(model, title="branches from checkpoints/x.keras")
    nodes, edges = read_dot(text)
    by_name = {}
    for key, attrs in nodes.items():
        for name in ("x", "h", "side", "sum", "out"):
            if f"<b>{name}</b>" in attrs["label"]:
                by_name[name] = key
    assert set(by_name) == {"x", "h", "side", "sum", "out"}
    pairs = {(a, b) for a, b, _ in edges}
    expected = [("x", "h"), ("x", "side"), ("h", "sum"), ("side", "sum"), ("sum", "out")]
    assert pairs == {(by_name[a], by_name[b]) for a, b in expected}
    assert "relu" in nodes[by_name["h"]]["label"] and "(None, 4)" in nodes[by_name["h"]]["label"]
    assert "branches from checkpoints/x.keras" in text


# --------------------------------------------------------------------------------------------------
# Rendering


def _fake_dot(folder, body: str):
    exe = folder / "dot"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_render_without_graphviz_writes_dot_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(graphviz.shutil, "which", lambda name: None)
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
    _fake_dot(bin_dir, 'echo "$@" > "$(dirname "$0")/args"\n'
                       'while [ "$1" != "-o" ]; do shift; done\necho drawn > "$2"\n')
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
def test_real_graphviz_draws_a_keras_model(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    out = render_dot(model_dot(model, title='a "quoted" title'), tmp_path / "model.png")
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


def test_lab_graph_draws_every_model_of_a_run(run_with_model, capsys, monkeypatch, read_dot):
    from lab.cli import main

    monkeypatch.setattr(graphviz.shutil, "which", lambda name: None)
    assert main(["graph", str(run_with_model.path)]) == 0
    out, err = capsys.readouterr()
    printed = out.split()
    expected = [run_with_model.artifacts / name for name in ("graph-tiny.dot", "graph-artifacts-other.dot")]
    assert printed == [str(p) for p in expected]
    assert DOT_MISSING_NOTE in err
    nodes, edges = read_dot(expected[0].read_text())
    assert any("<b>layer</b> (Dense)" in a["label"] for a in nodes.values()) and len(edges) == 1
    assert "checkpoints/tiny.keras" in expected[0].read_text()

    assert main(["graph", str(run_with_model.path), "--model", "tiny.keras", "--format", "dot"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == [str(expected[0])] and err == ""


def test_lab_graph_finds_models_inside_checkpoint_folders(run_with_model, capsys, monkeypatch):
    """The shared loop keeps a checkpoint's model in checkpoints/<name>-<serial>/model.keras and the DQN its
    networks in checkpoints/agent/: lab graph finds them and names them after their checkpoint."""
    import shutil

    from lab.cli import main
    from lab.graphviz import find_models

    monkeypatch.setattr(graphviz.shutil, "which", lambda name: None)
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
    assert "broken.keras: corrupt model" in capsys.readouterr().err
