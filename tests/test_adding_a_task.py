"""docs/adding-a-task.md stays true: its `sine` task is written from the page's code blocks into a folder,
registered with the page's registry line, validated, run, interrupted and resumed, and asked through the
page's `lab sine` command; the counter task the page describes is the one the driver's tests use."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from lab import cli, registry
from lab.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "adding-a-task.md"
BLOCK = re.compile(r"^```(?P<lang>\w+) title=(?P<path>\S+)\n(?P<code>.*?)^```$", re.M | re.S)


def blocks() -> dict[str, str]:
    return {m["path"]: m["code"] for m in BLOCK.finditer(PAGE.read_text())}


def registry_line() -> str:
    (line,) = re.findall(r"^Task\(\"sine\".*\),$", PAGE.read_text(), re.M)
    return line


@pytest.fixture
def sine(tmp_path, monkeypatch):
    """The page's task folder under a lane of its own on sys.path, its registry line and its command."""
    code = blocks()
    lane = tmp_path / "recipe_lane"
    (lane / "sine").mkdir(parents=True)
    for name in ("config", "model", "train", "report", "serve"):
        (lane / "sine" / f"{name}.py").write_text(code[f"sine/{name}.py"])
    monkeypatch.syspath_prepend(str(tmp_path))
    task = eval(registry_line().rstrip(","), {"Task": registry.Task})  # the line is a Task(...) call
    assert task.folder == "supervised.sine"  # the page's lane; here the folder lives in recipe_lane
    monkeypatch.setitem(registry.TASKS, "sine", registry.Task(task.name, "recipe_lane.sine", task.scenario,
                                                              task.summary))
    spec = importlib.util.spec_from_loader("lab.commands.sine", loader=None)
    command = importlib.util.module_from_spec(spec)
    exec(code["lab/commands/sine.py"], command.__dict__)
    monkeypatch.setitem(sys.modules, "lab.commands.sine", command)
    monkeypatch.setitem(cli.COMMANDS, "sine", "the network of a finished sine run at some points")
    scenario = tmp_path / "sine.yaml"
    scenario.write_text(code["scenarios/sine.yaml"].replace("strategy: auto", "strategy: cpu")
                        .replace("epochs: 40", "epochs: 6").replace("patience: 10", "patience: 3"))
    for module in [m for m in sys.modules if m.startswith("recipe_lane")]:
        monkeypatch.delitem(sys.modules, module)
    return scenario


def test_the_page_builds_a_task_that_validates_runs_resumes_and_serves(sine, tmp_path, killed_and_resumed,
                                                                       capsys):
    cfg = load_scenario(sine)
    assert cfg.task == "sine" and cfg.training.epochs == 6 and type(cfg.training).monitor == "val_loss"
    full, resumed = killed_and_resumed(sine, epoch=3)
    summary = full.summary()
    assert summary["epochs_run"] >= 4 and summary["val_mse"] < 0.2  # sin has variance 0.5: it learned
    assert (full.artifacts / "sine.keras").exists() and "The fit" in full.report_path.read_text()
    assert cli.main(["sine", str(resumed.path), "0.5", "1.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sin(0.5) ~ ") and abs(float(lines[1].split("~")[1]) - 0.997) < 0.4
    assert cli.main(["sine", str(resumed.path), "9"]) == 2  # the command's own check: a UsageError, exit 2


def test_the_counter_task_of_the_page_is_the_one_the_tests_register():
    page = PAGE.read_text()
    assert 'Task("counter", "tests.counter_task", "CounterScenario"' in page
    folder = ROOT / "tests" / "counter_task"
    assert ({p.name for p in folder.glob("*.py")} ==
            {"__init__.py", "config.py", "train.py", "report.py", "serve.py"})
    assert 'stream(cfg.seed, "draws")' in (folder / "train.py").read_text()


def test_every_shipped_task_has_the_shape_the_page_describes():
    for name, task in registry.TASKS.items():
        folder = ROOT.joinpath(*task.folder.split("."))
        files = {p.name for p in folder.glob("*.py")}
        assert {"config.py", "train.py"} <= files, f"{name}: {sorted(files)}"
        model = registry.config_model(name)
        assert model.__name__ == task.scenario and model.__module__ == f"{task.folder}.config"
        assert callable(registry.runner(name))
