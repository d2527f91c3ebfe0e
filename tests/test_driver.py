"""The run driver end to end on a tiny test task: layout, resume, determinism, strategies."""

import json

import keras
import pytest

from lab import registry
from lab.errors import RunError, ScenarioError, StrategyError
from lab.execute import execute, is_timing_key
from lab.runs import RunDir


@pytest.fixture
def counter_task(monkeypatch):
    spec = registry.Task("counter", "tests.counter_task", "CounterScenario", "test task")
    monkeypatch.setitem(registry.TASKS, "counter", spec)
    return spec


def scenario_file(tmp_path, extra=""):
    p = tmp_path / "counter.yaml"
    p.write_text(f"name: count\ndescription: counts\ntask: counter\nseed: 5\nstrategy: cpu\n{extra}")
    return p


def test_run_folder_layout(tmp_path, counter_task):
    run = execute(str(scenario_file(tmp_path)), out=str(tmp_path / "runs"), quiet=True)
    names = {p.name for p in run.path.iterdir()}
    backend = keras.backend.backend()
    assert {"scenario.yaml", "env.json", "metrics.csv", "summary.json", "report.md", "run.json",
            "checkpoints", "artifacts", *(["tensorboard"] if backend == "tensorflow" else [])} <= names
    env = json.loads(run.env_path.read_text())
    assert env["strategy"]["chosen"] == "cpu" and env["seed"] == 5 and env["packages"][backend]
    assert run.status == "complete"
    summary = run.summary()
    assert summary["steps"] == 10 and summary["started_at"] == 0
    report = run.report_path.read_text()
    assert "# count" in report and "Counting" in report and "total" in report
    assert len(run.metrics_path.read_text().splitlines()) == 11  # header + 10 steps
    assert "seed: 5" in run.scenario_path.read_text() and "strategy: cpu" in run.scenario_path.read_text()


def test_interrupted_run_resumes_to_the_same_result(tmp_path, counter_task):
    full = execute(str(scenario_file(tmp_path)), out=str(tmp_path / "a"), quiet=True).summary()
    with pytest.raises(KeyboardInterrupt):
        execute(str(scenario_file(tmp_path, "counter:\n  interrupt_at: 6\n")), out=str(tmp_path / "b"),
                quiet=True)
    (interrupted,) = list((tmp_path / "b").iterdir())
    assert RunDir(interrupted).status == "interrupted"
    resumed = execute(None, resume=str(interrupted), quiet=True).summary()
    assert resumed["started_at"] == 6
    assert resumed["total"] == pytest.approx(full["total"], abs=1e-12)
    with pytest.raises(RunError, match="already complete"):
        execute(None, resume=str(interrupted), quiet=True)


def test_same_scenario_twice_same_summary(tmp_path, counter_task):
    a = execute(str(scenario_file(tmp_path)), out=str(tmp_path / "runs"), quiet=True).summary()
    b = execute(str(scenario_file(tmp_path)), out=str(tmp_path / "runs"), quiet=True).summary()
    strip = lambda s: {k: v for k, v in s.items() if not is_timing_key(k)}  # noqa: E731
    assert strip(a) == strip(b)


def test_resume_rejects_non_runs_and_overrides(tmp_path, counter_task):
    (tmp_path / "notarun").mkdir()
    with pytest.raises(RunError, match="not a run folder"):
        execute(None, resume=str(tmp_path / "notarun"), quiet=True)
    run = execute(str(scenario_file(tmp_path)), out=str(tmp_path / "runs"), quiet=True)
    with pytest.raises(ScenarioError, match="--set cannot be combined with --resume"):
        execute(None, overrides=["seed=1"], resume=str(run.path), quiet=True)


def test_strategy_selection_without_gpu():
    from lab import strategy

    if any(not d.lower().startswith("cpu") for d in strategy.devices()):
        pytest.skip("this machine has a GPU: the no-GPU behaviour cannot be checked here")
    _, info = strategy.select("auto")
    assert info.chosen == "cpu" and "no GPU" in info.reason
    _, info = strategy.select("cpu")
    assert info.chosen == "cpu" and info.devices == (["/cpu:0"] if keras.backend.backend() == "tensorflow"
                                                      else ["cpu:0"])
    with pytest.raises(StrategyError, match="use strategy: auto"):
        strategy.select("gpu")
    if keras.backend.backend() == "tensorflow":  # (on JAX refused: tests/test_jax_backend.py)
        _, info = strategy.select("mirrored")
        assert info.chosen == "mirrored" and info.num_replicas == 1


def test_jit_compile_auto_has_one_rule():
    from lab.strategy import resolve_jit_compile as resolve

    assert resolve(True, "never", "cpu", False) == (True, "set in the scenario")
    assert resolve(False, "always", "gpu", False)[0] is False
    assert resolve("auto", "gpu", "cpu", False) == (False, "auto: off on the CPU")
    assert resolve("auto", "gpu", "gpu", False) == (True, "auto: on a single GPU")
    assert resolve("auto", "gpu", "gpu", True)[0] is False  # distributed
    assert resolve("auto", "always", "cpu", False)[0] is True
    assert resolve("auto", "never", "gpu", False)[0] is False


@pytest.mark.parametrize("task", registry.task_names())
def test_every_task_refuses_at_validation_what_it_cannot_honour(task):
    from lab.scenario import validate
    from lab.schema import PRECISIONS, STRATEGIES

    supports = registry.config_model(task).supports
    base = {"name": "x", "task": task}
    for field, choices, allowed in (("strategy", STRATEGIES, supports.strategies),
                                    ("precision", PRECISIONS, supports.precisions)):
        for value in choices:
            if value in allowed:
                assert getattr(validate({**base, field: value}, "s.yaml", {(field,): 3}), field) == value
            else:
                with pytest.raises(ScenarioError) as err:
                    validate({**base, field: value}, "s.yaml", {(field,): 3})
                assert (f"s.yaml:3: {field}: this task supports {field} {' | '.join(allowed)}, not "
                        f"{value!r}" in str(err.value))
    assert supports.xla in ("gpu", "always", "never") and (supports.xla == "gpu" or supports.xla_why)


def test_env_json_records_the_resolved_xla_and_why(tmp_path, counter_task):
    run = execute(str(scenario_file(tmp_path)), out=str(tmp_path / "runs"), quiet=True)
    env = json.loads(run.env_path.read_text())
    if keras.backend.backend() == "jax":  # JAX compiles every step
        assert env["strategy"]["jit_compile"] is True and env["strategy"]["jit_reason"] == "auto: on (jax " \
            "compiles every step)"
        return
    assert env["strategy"]["jit_compile"] is False and env["strategy"]["jit_reason"] == "auto: off on the CPU"
    assert "XLA: off (auto: off on the CPU)" in run.report_path.read_text()


@pytest.mark.parametrize("text, words", [
    ('[1, 2]', "a JSON list, not an object"),
    ('{"task": {"type": "worker", "index": 0}}', 'no "cluster" object'),
    ('{"cluster": {"workers": ["a:1"]}, "task": {"type": "worker", "index": 0}}', "'workers' is not one of"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "non-empty list"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}',
     "'localhost' is not a"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', 'no "task" object'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}', "task.type 'chief'"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "so 0 ... 1"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": "0"}}', "out of range"),
])
def test_a_malformed_tf_config_names_what_is_wrong(text, words):
    from lab import strategy

    with pytest.raises(StrategyError, match="TF_CONFIG") as err:
        strategy.check_tf_config(text)
    assert words in str(err.value) and "expected e.g." in str(err.value)


def test_a_good_tf_config_passes():
    from lab import strategy

    cfg = strategy.check_tf_config('{"cluster": {"chief": ["10.0.0.1:2222"], "worker": ["h1:2222", '
                                   '"[::1]:2223"]}, "task": {"type": "worker", "index": 1}}')
    assert cfg["task"]["index"] == 1


@pytest.mark.tensorflow  # (on JAX multi-worker is refused before, tests/test_jax_backend.py)
def test_multi_worker_needs_tf_config(monkeypatch):
    from lab import strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(StrategyError, match="needs TF_CONFIG"):
        strategy.prepare_process("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(StrategyError, match="TF_CONFIG is not valid JSON"):
        strategy.prepare_process("multi-worker")


def test_gpu_strategy_fails_before_the_runner(tmp_path, counter_task):
    from lab import strategy

    if any(not d.lower().startswith("cpu") for d in strategy.devices()):
        pytest.skip("this machine has a GPU")
    p = scenario_file(tmp_path).read_text().replace("strategy: cpu", "strategy: gpu")
    (tmp_path / "g.yaml").write_text(p)
    with pytest.raises(StrategyError):
        execute(str(tmp_path / "g.yaml"), out=str(tmp_path / "runs"), quiet=True)
    assert not any((tmp_path / "runs").iterdir())  # nothing ran: no run folder left behind


def test_a_result_that_is_not_a_number_fails_the_run(tmp_path, counter_task, monkeypatch):
    """Never a summary.json with NaN and exit 0: the run is marked failed and the figures are named."""
    from lab.errors import TrainingError
    from tests.counter_task import train as ct

    monkeypatch.setattr(ct, "run", lambda cfg, ctx: {"rmse": float("nan"), "hit": float("inf"), "ok": 1.0,
                                                             "not_measured": None})
    with pytest.raises(TrainingError, match=r"rmse = nan, hit = inf"):
        execute(str(scenario_file(tmp_path)), out=str(tmp_path / "runs"), quiet=True)
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert not (run / "summary.json").exists()
