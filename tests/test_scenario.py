"""Scenario files: loading, every bad-input case, overrides, the registry."""

import re
import textwrap

import pytest

from lab import registry, scenario
from lab.errors import ScenarioError


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def problems_of(exc_info) -> str:
    return str(exc_info.value)


def test_valid_file_gets_defaults(tmp_path):
    p = write(tmp_path, """
        name: demo
        task: optimizers
        seed: 3
    """)
    cfg = scenario.load_scenario(p)
    assert cfg.seed == 3 and cfg.strategy == "auto" and cfg.precision == "float32"
    assert cfg.surfaces.steps > 0 and len(cfg.optimizers) >= 6


def test_unknown_key_suggests_nearest(tmp_path):
    p = write(tmp_path, """
        name: demo
        task: optimizers
        optimizers:
          - name: a
            optimizer: SGD
            learnin_rate: 0.1
    """)
    with pytest.raises(ScenarioError) as e:
        scenario.load_scenario(p)
    text = problems_of(e)
    assert "optimizers.0.learnin_rate" in text and "did you mean `learning_rate`" in text
    assert f"{p}:7" in text  # the line of the bad key


def test_every_problem_reported_at_once(tmp_path):
    p = write(tmp_path, """
        name: demo
        task: optimizers
        seeed: 1
        strategy: cpux
        precision: 16
        surfaces:
          steps: -5
    """)
    with pytest.raises(ScenarioError) as e:
        scenario.load_scenario(p)
    text = problems_of(e)
    assert "4 problems" in text
    assert "did you mean `seed`" in text
    assert "did you mean `cpu`" in text
    assert "surfaces.steps" in text and "greater than or equal to 1" in text
    assert "precision" in text


def test_wrong_type(tmp_path):
    p = write(tmp_path, """
        name: demo
        task: first-network
        training:
          max_epochs: lots
    """)
    with pytest.raises(ScenarioError, match=r"training\.max_epochs: Input should be a valid integer"):
        scenario.load_scenario(p)


def test_unknown_task_lists_known(tmp_path):
    p = write(tmp_path, "name: x\ntask: first-netwrk\n")
    with pytest.raises(ScenarioError) as e:
        scenario.load_scenario(p)
    text = problems_of(e)
    assert "did you mean `first-network`" in text
    for name in registry.task_names():
        assert name in text


def test_missing_task(tmp_path):
    p = write(tmp_path, "name: x\n")
    with pytest.raises(ScenarioError, match="task: required field is missing"):
        scenario.load_scenario(p)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        scenario.load_scenario(tmp_path / "nope.yaml")


def test_not_yaml_names_line(tmp_path):
    p = write(tmp_path, "name: x\ntask: [first-network\nseed: 1\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:\d+:\d+: not valid YAML"):
        scenario.load_scenario(p)


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    p = write(tmp_path, text)
    with pytest.raises(ScenarioError, match="empty|only comments"):
        scenario.load_scenario(p)


def test_top_level_not_mapping(tmp_path):
    p = write(tmp_path, "- a\n- b\n")
    with pytest.raises(ScenarioError, match="top level must be a mapping"):
        scenario.load_scenario(p)


@pytest.mark.parametrize("name", ["../../etc", "/abs", "a/b", ".hidden", "x" * 81, "sp ace"])
def test_path_like_names_rejected(tmp_path, name):
    p = write(tmp_path, f"name: {name!r}\ntask: graph-basics\n")
    with pytest.raises(ScenarioError, match="not a path"):
        scenario.load_scenario(p)


def test_overrides_parsed_as_yaml(tmp_path):
    p = write(tmp_path, "name: demo\ntask: optimizers\noptimizers:\n  - {name: a, optimizer: SGD}\n  - "
                        "{name: b, optimizer: Adam}\n")
    cfg = scenario.load_scenario(p, ["seed=7", "surfaces.steps=50", "surfaces.functions=[beale]",
                                     "optimizers.1.options={momentum: 0.5}", "deterministic=true"])
    assert cfg.seed == 7 and cfg.surfaces.steps == 50 and cfg.surfaces.functions == ["beale"]
    assert cfg.optimizers[1].options == {"momentum": 0.5} and cfg.deterministic is True


def test_override_validated_like_the_file(tmp_path):
    p = write(tmp_path, "name: demo\ntask: optimizers\n")
    with pytest.raises(ScenarioError, match=r"--set surfaces.steps=-1: surfaces.steps"):
        scenario.load_scenario(p, ["surfaces.steps=-1"])


@pytest.mark.parametrize("override, message", [
    ("surfaces.stepz=3", "no field `stepz` in surfaces; did you mean `steps`"),
    ("nosuch.x=1", "no field `nosuch` in the top level"),
    ("seed.x=1", "`seed` is a value"),
    ("optimizers.99.name=x", "has no item 99"),
    ("justakey", "expected KEY.PATH=VALUE"),
])
def test_override_bad_paths(tmp_path, override, message):
    p = write(tmp_path, "name: demo\ntask: optimizers\nseed: 1\n")
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario.load_scenario(p, [override])


def test_every_field_is_described():
    for task in registry.task_names():
        model = registry.config_model(task)
        undocumented = [path for path, desc, _ in scenario.field_docs(model) if not desc.strip()]
        assert not undocumented, f"{task}: fields without a description: {undocumented}"


def test_config_models_import_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from lab import registry\n"
            "[registry.config_model(t) for t in registry.task_names()]\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'heavy import'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_shipped_scenarios_validate(root):
    files = sorted((root / "scenarios").glob("*.yaml"))
    assert files, "no shipped scenarios"
    for f in files:
        cfg = scenario.load_scenario(f)
        assert cfg.description, f"{f.name} has no description"


def test_resolved_dump_round_trips(tmp_path):
    p = write(tmp_path, "name: demo\ntask: first-network\nseed: 4\n")
    cfg = scenario.load_scenario(p)
    again = write(tmp_path, scenario.dump(cfg), "again.yaml")
    assert scenario.load_scenario(again) == cfg


def test_config_classes_follow_one_naming_rule():
    """Task models end in Scenario, every section class under them in Config (docs/adding-a-task.md)."""
    import typing

    from pydantic import BaseModel

    from lab import registry

    def sections(model, seen):
        for field in model.model_fields.values():
            stack = [field.annotation]
            while stack:
                ann = stack.pop()
                if isinstance(ann, type) and issubclass(ann, BaseModel):
                    if ann not in seen:
                        seen.add(ann)
                        sections(ann, seen)
                else:
                    stack.extend(typing.get_args(ann))
        return seen

    for task in registry.task_names():
        model = registry.config_model(task)
        assert model.__name__.endswith("Scenario"), model
        wrong = sorted(c.__name__ for c in sections(model, set()) if not c.__name__.endswith("Config"))
        assert wrong == [], f"{task}: section classes not named ...Config: {wrong}"
