"""The search space and settings of a sweep, checked before any trial runs (no Optuna, no TensorFlow).

A parameter is ``PATH=KIND:ARGS`` (``--param`` or a sweep file's ``params:`` mapping ``PATH: KIND:ARGS``):

- ``float:LOW:HIGH`` (also ``uniform:``), ``loguniform:LOW:HIGH`` (also ``log:``; LOW > 0),
  ``int:LOW:HIGH`` (both ends included), ``choice:A,B,C`` (YAML values; separate them with ``|`` when a
  value holds commas, e.g. ``choice:[64]|[128, 128]``).

Every path and value is validated against the task's schema with the scenario's own overrides, the
lowest and highest value of each range and every choice, with the messages of ``lab validate``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from lab import scenario
from lab.errors import ScenarioError, UsageError
from lab.schema import Figure, Section

KINDS = {"float": "float", "uniform": "float", "loguniform": "log", "log": "log", "int": "int",
         "choice": "choice"}
PRUNERS = ("median", "hyperband", "none")
SWEEP_FILE = "sweep.json"


@dataclass(frozen=True)
class Param:
    path: str
    kind: Literal["float", "log", "int", "choice"]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()  # the YAML text of each choice (Optuna stores them as strings)

    @property
    def spec(self) -> str:
        if self.kind == "choice":
            return f"choice:{'|'.join(self.choices)}"
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"{'loguniform' if self.kind == 'log' else self.kind}:{low}:{high}"

    def extremes(self) -> list[Any]:
        """The values that validation tries: both ends of a range, every choice."""
        if self.kind == "choice":
            return [yaml.safe_load(c) for c in self.choices]
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def override(self, value: Any) -> str:
        """``PATH=VALUE`` as `--set` takes it (a choice's value is its YAML text)."""
        text = value if self.kind == "choice" else json.dumps(value)
        return f"{self.path}={text}"


def parse_param(text: str, where: str = "--param") -> Param:
    """``PATH=KIND:ARGS`` -> Param; a UsageError naming ``where`` and the fix otherwise."""
    path, eq, spec = text.partition("=")
    path, spec = path.strip(), spec.strip()
    if not eq or not path or not spec:
        raise UsageError(f"{where} {text!r}: write PATH=KIND:ARGS, e.g. "
                         "training.learning_rate=loguniform:1e-4:1e-1")
    kind_text, _, args = spec.partition(":")
    kind = KINDS.get(kind_text.strip().lower())
    if kind is None:
        raise UsageError(f"{where} {text!r}: unknown kind {kind_text!r}; use float, loguniform, int or "
                         "choice")
    if kind == "choice":
        return _choice(path, args, text, where)
    return _range(path, kind, args, text, where)


def _choice(path: str, args: str, text: str, where: str) -> Param:
    parts = [p.strip() for p in args.split("|" if "|" in args else ",")]
    if not args.strip() or any(not p for p in parts):
        raise UsageError(f"{where} {text!r}: give the choices, e.g. choice:32,48,64")
    for p in parts:
        try:
            yaml.safe_load(p)
        except yaml.YAMLError:
            raise UsageError(f"{where} {text!r}: choice {p!r} is not a YAML value") from None
    if len(set(parts)) != len(parts):
        raise UsageError(f"{where} {text!r}: a choice is listed twice")
    return Param(path, "choice", choices=tuple(parts))


def _range(path: str, kind: str, args: str, text: str, where: str) -> Param:
    bounds = args.split(":")
    try:
        if len(bounds) != 2:
            raise ValueError
        low, high = (int(b) if kind == "int" else float(b) for b in bounds)
    except ValueError:
        example = "int:1:4" if kind == "int" else f"{'loguniform' if kind == 'log' else 'float'}:0.001:0.1"
        raise UsageError(f"{where} {text!r}: give LOW:HIGH as {'whole ' if kind == 'int' else ''}numbers, "
                         f"e.g. {example}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UsageError(f"{where} {text!r}: the range needs LOW < HIGH (got {low} and {high})")
    if kind == "log" and low <= 0:
        raise UsageError(f"{where} {text!r}: a log range must stay above 0 (LOW is {low}); use float: for "
                         "a range that reaches 0")
    return Param(path, kind, float(low), float(high))


class SweepFile(Section):
    """A sweep file: the scenario to tune and how (the command line's flags win over it)."""

    scenario: str = Field(description="The scenario file or shipped scenario name to tune.")
    set: list[str] = Field(default_factory=list, description="Overrides applied to every trial (--set).")
    params: dict[str, str] = Field(description="PATH: KIND:ARGS for each parameter searched.")
    trials: int | None = Field(None, ge=1, le=100_000)
    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None
    pruner: Literal[PRUNERS] | None = None
    prune_after: int | None = Field(None, ge=0, le=100_000)
    timeout: float | None = Field(None, gt=0)
    workers: int | None = Field(None, ge=1, le=64)


def read_sweep_file(path: Path) -> SweepFile:
    try:
        data, _ = scenario.load_yaml(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ScenarioError(f"{path}: {where}: {first['msg']}") from None


def is_sweep_file(path: str) -> bool:
    """A YAML file with a ``params:`` mapping and no ``task:`` is a sweep file, not a scenario."""
    p = Path(path)
    if not p.is_file() or p.suffix not in (".yaml", ".yml"):
        return False
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "params" in data and "task" not in data


def check_space(scenario_path: Path, overrides: list[str], params: list[Param]):
    """Validate the scenario with its overrides, then with each parameter's extreme values; returns the
    base scenario (validated)."""
    base = scenario.load_scenario(scenario_path, overrides)
    if base.strategy == "multi-worker":
        raise ScenarioError(f"{scenario_path}: strategy: multi-worker: each trial of a sweep is one process; "
                            "use cpu, gpu, auto or mirrored (several sweep workers: --workers)")
    seen = set()
    for p in params:
        if p.path in seen:
            raise UsageError(f"--param {p.path}: given twice")
        seen.add(p.path)
        for value in p.extremes():
            try:
                scenario.load_scenario(scenario_path, [*overrides, p.override(value)])
            except ScenarioError as exc:
                raise ScenarioError(f"--param {p.path}={p.spec}: with {p.path}={value}: {exc}") from None
    return base


def choose_metric(cfg, metric: str | None, direction: str | None) -> tuple[str, str, Figure]:
    """(metric, "maximize"|"minimize", its Figure): the task's headline by default; a metric the task does
    not declare, or a direction against the figure's, is an error naming the choices."""
    figures: dict[str, Figure] = type(cfg).figures
    if not figures:
        raise ScenarioError(f"task {cfg.task}: it reports no figure to tune (nothing to sweep)")
    name = metric or next(iter(figures))
    if name not in figures:
        listed = ", ".join(f"{k} ({f.better} is better)" for k, f in figures.items())
        raise UsageError(f"--metric {name}: the {cfg.task} task does not report it for tuning; choose one of "
                         f"{listed}")
    figure = figures[name]
    natural = "maximize" if figure.better == "higher" else "minimize"
    if direction is not None and direction != natural:
        raise UsageError(f"--{direction} {name}: {figure.better} {name} is better; drop the flag or use "
                         f"--{natural}")
    return name, natural, figure
