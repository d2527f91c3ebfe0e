"""``dvc.yaml`` for scenarios (``lab pipeline``): DVC re-runs only the stages whose inputs changed.

For each scenario ``NAME`` the pipeline has two stages; paths are relative to the folder of ``dvc.yaml``
(DVC runs every command there):

- ``train-NAME``: ``lab run SCENARIO --out RUNS --folder NAME --quiet`` - the run folder ``RUNS/NAME``
  (checkpoints, artifacts, metrics.csv, report) is the stage's output. Its ``deps`` are the scenario
  file and the data files the scenario names (``data.path`` and any other ``*path`` field that is set);
  its ``params`` are every field of the scenario file (so ``dvc params diff`` shows a changed learning
  rate) and ``lab_version`` from ``RUNS/lab-version.yaml`` (so a new lab re-runs the stages);
- ``report-NAME``: ``lab show RUNS/NAME --json`` -> ``RUNS/NAME.json``, the run's final figures as DVC
  metrics (``dvc metrics show``, ``dvc metrics diff``).

One more stage, ``lab-version``, writes ``RUNS/lab-version.yaml`` with the installed lab's version. It is
``always_changed`` (the only way DVC can notice that the installed program changed) and takes well
under a second; every other stage runs only when its inputs changed. No task has a separate
data-preparation step today: each reads its data files directly, which is why they are the training
stage's ``deps``. A scenario whose data path is null (the shared copy beside the lab, or a download)
has no data dependency.

The lab's tasks are not imported: this is plain YAML work, no TensorFlow.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import yaml

from lab import __version__, scenario
from lab.errors import ScenarioError, UsageError
from lab.runs import sanitise_name

VERSION_FILE = "lab-version.yaml"


def stages(scenario_files: list[str], base: Path, runs: str = "runs") -> dict:
    """The ``dvc.yaml`` mapping for ``scenario_files``, with paths relative to ``base`` (the folder of
    ``dvc.yaml``). A ScenarioError names a file that does not validate, lies outside ``base`` or repeats a
    name."""
    if not scenario_files:
        raise UsageError("give one scenario file or more")
    version_file = f"{runs}/{VERSION_FILE}"
    out = {"lab-version": {"cmd": f"lab version --write {version_file}", "always_changed": True,
                           "outs": [{version_file: {"cache": False}}]}}
    seen: dict[str, str] = {}
    for text in scenario_files:
        path = scenario.resolve_scenario_path(text)
        cfg = scenario.load_scenario(path)
        name = sanitise_name(cfg.name)
        if name in seen:
            raise ScenarioError(f"{text} and {seen[name]} are both named {cfg.name!r}: each stage's run "
                                f"folder is named after its scenario; rename one (its `name:` field)")
        seen[name] = text
        rel = _inside(path, base, text)
        out.update(_scenario_stages(name, rel, _data_deps(cfg, base), runs, version_file))
    return {"stages": out}


def _scenario_stages(name: str, scenario_path: str, data: list[str], runs: str, version_file: str) -> dict:
    run = f"{runs}/{name}"
    train = {
        "cmd": shlex.join(["lab", "run", scenario_path, "--out", runs, "--folder", name, "--quiet"]),
        "deps": [scenario_path, *data],
        "params": [{scenario_path: None}, {version_file: ["lab_version"]}],
        "outs": [run],
    }
    report = {
        "cmd": f"lab show {shlex.quote(run)} --json > {shlex.quote(run + '.json')}",
        "deps": [run],
        "metrics": [{f"{run}.json": {"cache": False}}],
    }
    return {f"train-{name}": train, f"report-{name}": report}


def _inside(path: Path, base: Path, text: str) -> str:
    """``path`` relative to ``base``; a ScenarioError when it lies outside (DVC reads params only from files
    inside the repository)."""
    rel = os.path.relpath(path.resolve(), base.resolve())
    if rel.startswith(".."):
        raise ScenarioError(f"{text}: the scenario file is outside {base.resolve()}, the folder of dvc.yaml "
                            f"(DVC reads parameters from files of its repository only); copy it in, e.g. "
                            f"`cp {path} {base}/`")
    return rel


def _data_deps(cfg, base: Path) -> list[str]:
    """The data files a scenario names (``*path`` fields that are set), relative to ``base`` when inside it,
    else absolute; a ScenarioError for one that does not exist."""
    deps = []
    for field, value in _path_fields(cfg.model_dump(mode="json")):
        p = Path(value).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.exists():
            raise ScenarioError(f"{cfg.name}: {field}: {value} does not exist (seen from {base.resolve()}, "
                                f"where DVC runs the stages); fix the path in the scenario file")
        rel = os.path.relpath(p.resolve(), base.resolve())
        deps.append(str(p.resolve()) if rel.startswith("..") else rel)
    return deps


def _path_fields(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _path_fields(value, f"{prefix}{key}.")
        elif key.endswith("path") and isinstance(value, str) and value.strip():
            yield f"{prefix}{key}", value


def dump(pipeline: dict, command: str) -> str:
    """``dvc.yaml``'s text, with a header saying where it came from."""
    header = (f"# Written by `{command}` (the lab {__version__}). DVC runs each stage in this folder;\n"
              f"# `dvc repro` re-runs only what changed. Write it again with the same command after adding "
              f"a scenario.\n")
    return header + yaml.safe_dump(pipeline, sort_keys=False, width=200)


def version_params() -> str:
    """What ``lab version --write`` writes: the installed lab's version, as DVC params."""
    return yaml.safe_dump({"lab_version": __version__})
