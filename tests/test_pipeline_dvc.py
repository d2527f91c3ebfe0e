"""`lab pipeline` with the real DVC: in a fresh git + DVC repository, two scenarios' stages run, a second
`dvc repro` runs none of them, a changed learning rate shows in `dvc params diff` and re-runs that
scenario's stages only, and `dvc metrics show` prints the figures."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import write_bar_digits
from dvc.cli import main as dvc_main

from lab.cli import main as lab_main

SCENARIO = """# a tiny classifier on bar digits
name: {name}
task: classifier
seed: 2
strategy: cpu
data: {{dataset: mnist, path: data/mnist.npz, validation: 0.1}}
model: {{kind: mlp, hidden: [16]}}
training: {{epochs: 2, batch_size: 64, learning_rate: {lr}}}
report: {{gallery: 0}}
"""


def git(*args: str, cwd: Path) -> None:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def dvc(*args: str, capsys, caplog) -> str:
    """DVC's own command line, run in this process (saves a DVC start per call); its stages are
    subprocesses as always. Returns what it printed and logged."""
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dvc"):
        code = dvc_main([*args, "--quiet"] if args[0] == "init" else list(args))
    out = capsys.readouterr()
    said = out.out + "\n".join(caplog.messages)
    assert code == 0, f"dvc {' '.join(args)}: {said[-2000:]}{out.err[-3000:]}"
    return said


@pytest.fixture
def repo(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")  # `lab`
    for name, value in {"DVC_NO_ANALYTICS": "1", "SDL_VIDEODRIVER": "dummy", "GIT_AUTHOR_NAME": "lab",
                        "GIT_AUTHOR_EMAIL": "lab@example.org", "GIT_COMMITTER_NAME": "lab",
                        "GIT_COMMITTER_EMAIL": "lab@example.org"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    git("init", "-q", cwd=tmp_path)
    dvc("init", capsys=capsys, caplog=caplog)
    (tmp_path / "data").mkdir()
    (tmp_path / "scenarios").mkdir()
    write_bar_digits(tmp_path / "data" / "mnist.npz", 300, 100, seed=1)
    for name in ("bars_a", "bars_b"):
        (tmp_path / "scenarios" / f"{name}.yaml").write_text(SCENARIO.format(name=name, lr=0.003))
    return tmp_path


def mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def test_stages_run_once_and_a_changed_parameter_reruns_only_its_scenario(repo, capsys, caplog):
    assert lab_main(["pipeline", "scenarios/bars_a.yaml", "scenarios/bars_b.yaml", "--out", "dvc.yaml"]) == 0
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    train = stages["train-bars_a"]
    assert train["deps"] == ["scenarios/bars_a.yaml", "data/mnist.npz"]
    assert train["params"] == [{"scenarios/bars_a.yaml": None}, {"runs/lab-version.yaml": ["lab_version"]}]
    assert train["outs"] == ["runs/bars_a"] and stages["report-bars_a"]["deps"] == ["runs/bars_a"]

    first = dvc("repro", capsys=capsys, caplog=caplog)
    assert first.count("Running stage 'train-") == 2 and first.count("Running stage 'report-") == 2
    for name in ("bars_a", "bars_b"):
        assert json.loads((repo / "runs" / name / "run.json").read_text())["status"] == "complete"
        assert json.loads((repo / "runs" / f"{name}.json").read_text())["test_accuracy"] > 0.5
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "pipeline", cwd=repo)
    before = {name: mtime(repo / "runs" / name / "summary.json") for name in ("bars_a", "bars_b")}

    second = dvc("repro", capsys=capsys, caplog=caplog)
    assert "Running stage 'train-" not in second and "Running stage 'report-" not in second
    assert second.count("didn't change, skipping") == 4

    path = repo / "scenarios" / "bars_b.yaml"
    path.write_text(path.read_text().replace("learning_rate: 0.003", "learning_rate: 0.01"))
    diff = dvc("params", "diff", capsys=capsys, caplog=caplog)
    assert "training.learning_rate" in diff and "0.003" in diff and "0.01" in diff and "bars_a" not in diff
    third = dvc("repro", capsys=capsys, caplog=caplog)
    assert "Running stage 'train-bars_b'" in third and "Running stage 'report-bars_b'" in third
    assert "Running stage 'train-bars_a'" not in third and "Running stage 'report-bars_a'" not in third
    assert mtime(repo / "runs" / "bars_a" / "summary.json") == before["bars_a"]
    assert mtime(repo / "runs" / "bars_b" / "summary.json") != before["bars_b"]
    shown = dvc("metrics", "show", capsys=capsys, caplog=caplog)
    assert "runs/bars_a.json" in shown and "runs/bars_b.json" in shown and "test_accuracy" in shown


def test_scenarios_outside_the_repository_or_named_twice_are_refused(repo, tmp_path_factory, capsys):
    outside = tmp_path_factory.mktemp("elsewhere") / "x.yaml"
    outside.write_text(SCENARIO.format(name="x", lr=0.01).replace("data/mnist.npz", "null"))
    assert lab_main(["pipeline", str(outside), "--out", "dvc.yaml"]) == 2
    assert "outside" in capsys.readouterr().err and not (repo / "dvc.yaml").exists()
    assert lab_main(["pipeline", "scenarios/bars_a.yaml", "scenarios/bars_a.yaml"]) == 2
    assert "both named 'bars_a'" in capsys.readouterr().err
    (repo / "scenarios" / "bars_a.yaml").write_text(SCENARIO.format(name="bars_a", lr=0.01).replace(
        "data/mnist.npz", "data/missing.npz"))
    assert lab_main(["pipeline", "scenarios/bars_a.yaml"]) == 2
    assert "data.path: data/missing.npz does not exist" in capsys.readouterr().err
