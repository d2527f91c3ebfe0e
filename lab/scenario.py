"""Scenario files: YAML -> a typed, validated configuration.

A scenario is a YAML mapping with the common keys of :class:`Scenario` (``name``, ``description``,
``task``, ``seed``, ``strategy``, ``precision``, ``jit_compile``, ``deterministic``, ``output``) and one
section per part of the task. Each task declares its own pydantic model (a subclass of
:class:`Scenario`, unknown keys forbidden) in the registry; this module reads the YAML, applies
``--set a.b=value`` overrides (values parsed as YAML) and validates the result, reporting *every*
problem at once with the file, the line, the field path and a fix.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lab.errors import ScenarioError
from lab.paths import scenarios_dir

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, assignments are validated, every float
    must be finite (YAML's ``.inf`` and ``.nan`` are refused: no setting of the lab means infinity), every
    whole number fits 64 bits and no text holds a NUL character (no file name can)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _plain_values(cls, value: Any) -> Any:
        problem = _value_problem(value)
        if problem:
            raise ValueError(problem)
        return value


INT64 = 2**63
"""Whole numbers are 64-bit: a larger one would only overflow in NumPy or TensorFlow at run time."""


def _value_problem(value: Any) -> str | None:
    """What no setting can be, at any depth of lists and mappings: text with a NUL character, a whole number
    beyond 64 bits."""
    if isinstance(value, str):
        return "holds a NUL character (\\0), which no setting (and no file name) can hold" if "\x00" in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -INT64 <= value < INT64 else f"is too large: {value:.3g} is outside the 64-bit range of whole numbers"
    if isinstance(value, (list, tuple)):
        return next((p for p in map(_value_problem, value) if p), None)
    if isinstance(value, dict):
        return next((p for v in value.items() for p in map(_value_problem, v) if p), None)
    return None


# --------------------------------------------------------------------------------------------------
# The schema vocabulary every task's config shares

Width = Annotated[int, Field(ge=1, le=65_536)]
Widths = Annotated[list[Width], Field(max_length=64)]
"""Widths of a stack of layers (units or filters): each 1 ... 65536, at most 64 layers."""
Activation = Literal["relu", "sigmoid", "tanh", "elu", "gelu", "selu", "softplus", "silu", "swish", "leaky_relu",
                     "linear"]
"""A Keras activation by name."""

STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "multi-worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Supports:
    """What a task can honour of the common fields. A scenario asking for anything else is refused at
    validation, naming what the task supports and why; nothing is silently ignored.

    ``xla`` is what ``jit_compile: auto`` means for the task (:func:`lab.strategy.resolve_jit_compile`
    applies it): ``gpu`` (the rule: XLA on a single GPU, off on the CPU and under distribution),
    ``always`` or ``never``. ``why`` says why a task refuses a strategy or precision, ``xla_why`` why its
    ``auto`` differs from the rule.
    """

    strategies: tuple[str, ...] = ("auto", "cpu", "gpu")
    precisions: tuple[str, ...] = PRECISIONS
    xla: Literal["gpu", "always", "never"] = "gpu"
    why: str = ""  # why some strategies or precisions are refused
    xla_why: str = ""  # why `auto` differs from the rule

    def describe(self) -> str:
        xla = XLA_RULES[self.xla] + (f" ({self.xla_why})" if self.xla_why else "")
        refused = [s for s in STRATEGIES if s not in self.strategies] + [p for p in PRECISIONS if p not in self.precisions]
        why = f"; refuses {', '.join(refused)}" + (f": {self.why}" if self.why else "") if refused else ""
        return (f"strategy {' | '.join(self.strategies)}; precision {' | '.join(self.precisions)}; "
                f"jit_compile auto: {xla}{why}")


XLA_RULES = {"gpu": "XLA on one GPU, off on the CPU and when distributed", "always": "XLA on, also on the CPU",
             "never": "XLA off"}


class Scenario(Section):
    """The keys every scenario has. Task models subclass this and add their sections; a task that
    cannot honour every strategy or precision says so in its ``supports``."""

    supports: ClassVar[Supports] = Supports()

    name: str = Field(description="Short name of the experiment; the run folder is runs/<UTC time>-<name>.")
    description: str = Field("", description="One line saying what the scenario does (shown by `lab list`).")
    task: str = Field(description="Which task runs this scenario (see `lab list --tasks`).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seeds Python, NumPy, Keras and every random part of the task "
                      "(0 ... 4294967295).")
    strategy: Literal[STRATEGIES] = Field(
        "auto", description="Device strategy: auto (GPU when present), cpu, gpu, mirrored (local GPUs), multi-worker (TF_CONFIG)."
    )
    precision: Literal[PRECISIONS] = Field(
        "float32", description="Keras dtype policy for every model of the task."
    )
    jit_compile: Literal["auto"] | bool = Field(
        "auto", description="XLA compilation of compiled steps: true, false, or auto (the task's rule: `lab list --tasks`)."
    )
    deterministic: bool = Field(False, description="Turn on TensorFlow's op determinism (slower, bit-exact).")
    output: str = Field("runs", description="Folder under which the run folder is created.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(
                "must be a plain name of letters, digits, '.', '_' or '-' (at most 80, not starting with '.' "
                f"or '-'), not a path: got {_shown(value, 100)}"
            )
        return value

    @field_validator("output")
    @classmethod
    def _output_folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty: name the folder under which run folders are made (default runs), e.g. "
                             "output: runs, or `.` for the current folder")
        if len(value) > 4096:
            raise ValueError(f"is {len(value):,} characters long; a folder name is at most 4096")
        return value

    @field_validator("strategy")
    @classmethod
    def _supported_strategy(cls, value: str) -> str:
        return _supported(cls, "strategy", value, cls.supports.strategies)

    @field_validator("precision")
    @classmethod
    def _supported_precision(cls, value: str) -> str:
        return _supported(cls, "precision", value, cls.supports.precisions)


def _supported(model: type[Scenario], what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        why = f" ({model.supports.why})" if model.supports.why else ""
        raise ValueError(f"this task supports {what} {' | '.join(allowed)}, not {value!r}{why}")
    return value


# --------------------------------------------------------------------------------------------------
# Reading YAML with line numbers


# libyaml's loader when PyYAML was built with it (10x faster), else the pure-Python one.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SCENARIO_MAX_BYTES = 2**20
"""A scenario file is read only up to 1 MiB (the largest shipped one is about 2 KB)."""
YAML_MAX_NODES = 10_000
"""A YAML document may stand for at most 10,000 values (mappings, lists and scalars) once its aliases are
expanded: a scenario has about a hundred, and a "billion laughs" file of nested aliases is refused at once
instead of being expanded for ever."""
YAML_MAX_DEPTH = 100
"""...and nest at most 100 levels deep (a scenario nests 3 or 4)."""


def _size_text(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n // 1024} KiB" if n % 1024 == 0 else f"{n:,} bytes"


def read_text_limited(path: str | Path, limit: int, what: str, error: type[Exception] = ScenarioError) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes; every other case is ``error`` naming the file.

    The one reader of the lab's text inputs (scenario files, maze layout files): a file that is missing, a
    folder, not a regular file (a FIFO, ``/dev/zero``, a socket, which could be endless or block for ever),
    larger than ``limit``, unreadable or not UTF-8 is refused with a message naming the file (and the limit)
    instead of being read whole. ``what`` names the kind of file in the messages ("scenario file").
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait for ever; the type is checked next.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except (OSError, ValueError) as exc:  # permissions, a name too long, a NUL in the name ...
        raise error(f"{path}: cannot read the {what}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a folder, not a {what}")
        if not stat.S_ISREG(mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
                    stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise error(f"{path}: is {kind}, not a {what}; give a regular file (read up to {_size_text(limit)})")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise error(f"{path}: the {what} is larger than {_size_text(limit)}, the limit for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_yaml_size(root, source: str, max_nodes: int = YAML_MAX_NODES, max_depth: int = YAML_MAX_DEPTH) -> None:
    """Refuse a composed YAML document that would expand beyond ``max_nodes`` values or ``max_depth`` levels,
    or that refers to itself (a recursive alias). Linear in the document as written: aliases are counted
    through a memo, never expanded."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    active: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        kids = _children(node)
        if done:
            active.discard(key)
            size[key] = min(max_nodes + 1, 1 + sum(size[id(k)] for k in kids))
            height[key] = min(max_depth + 1, 1 + max((height[id(k)] for k in kids), default=0))
            continue
        if key in size:
            continue
        if key in active:
            mark = node.start_mark
            raise ScenarioError(f"{source}:{mark.line + 1}: an alias refers to the value it is part of (a recursive "
                                "alias); a scenario cannot hold one")
        active.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)
    if size[id(root)] > max_nodes:
        raise ScenarioError(f"{source}: the YAML stands for more than {max_nodes:,} values once its aliases (*name) "
                            "are expanded; a scenario has a few dozen (is it a \"billion laughs\" file?)")
    if height[id(root)] > max_depth:
        raise ScenarioError(f"{source}: the YAML nests more than {max_depth} levels deep; a scenario nests 3 or 4")


def _yaml_problem(exc: Exception) -> tuple[str, str]:
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    return where, problem


def load_yaml(text: str, source: str):
    """Parse one YAML document safely and within bounds; returns (data, root node or None).

    Safe: no Python tags (``!!python/object`` ... are refused). Bounded: at most :data:`YAML_MAX_NODES`
    values once aliases are expanded and :data:`YAML_MAX_DEPTH` levels (:func:`check_yaml_size`). Anything
    else wrong is a ScenarioError naming ``source`` (and the line when YAML knows it).
    """
    try:
        loader = Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None, None
            check_yaml_size(root, source)
            return loader.construct_document(root), root
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        where, problem = _yaml_problem(exc)
        raise ScenarioError(f"{source}{where}: not valid YAML: {problem}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise ScenarioError(f"{source}: not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                            ) from None


def _line_map(root) -> dict[tuple, int]:
    """Map each key path of a composed YAML document to its 1-based line number."""
    lines: dict[tuple, int] = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                p = path + (key.value,)
                lines[p] = key.start_mark.line + 1
                walk(value, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                p = path + (i,)
                lines[p] = value.start_mark.line + 1
                walk(value, p)

    if root is not None:
        walk(root, ())
    return lines


def read_yaml(path: str | Path) -> tuple[dict, dict[tuple, int]]:
    """Read a scenario file: returns the mapping and a map of key paths to line numbers.

    At most :data:`SCENARIO_MAX_BYTES` are read (:func:`read_text_limited`) and the YAML is bounded
    (:func:`load_yaml`)."""
    path = Path(path)
    if not path.exists():
        hint = ""
        shipped = scenarios_dir() / path.name
        if shipped.exists() and shipped != path:
            hint = f" (a shipped scenario has that name: {shipped})"
        raise ScenarioError(f"{path}: no such file{hint}")
    if path.is_dir():
        raise ScenarioError(f"{path}: is a folder, not a scenario file")
    text = read_text_limited(path, SCENARIO_MAX_BYTES, "scenario file")
    if not text.strip():
        raise ScenarioError(f"{path}: the file is empty; a scenario needs at least `name` and `task`")
    data, root = load_yaml(text, str(path))
    if data is None:
        raise ScenarioError(f"{path}: the file holds only comments; a scenario needs at least `name` and `task`")
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: the top level must be a mapping of keys (name: ..., task: ...), not a {type(data).__name__}"
        )
    return data, _line_map(root)


def resolve_scenario_path(arg: str) -> Path:
    """A path as given, or the name of a shipped scenario (``maze_dqn_small`` or ``maze_dqn_small.yaml``)."""
    p = Path(arg)
    if p.exists() or p.suffix in (".yaml", ".yml") and p.parent != Path("."):
        return p
    for candidate in (scenarios_dir() / arg, scenarios_dir() / f"{arg}.yaml"):
        if candidate.is_file():
            return candidate
    return p


# --------------------------------------------------------------------------------------------------
# Overrides


OVERRIDE_MAX_CHARS = 100_000
"""A ``--set`` override is at most 100,000 characters (its value is bounded YAML too: :func:`load_yaml`)."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=value`` -> (["a", "b"], parsed YAML value)."""
    if "=" not in text:
        raise ScenarioError(f"--set {text}: expected KEY.PATH=VALUE, e.g. --set agent.learning_rate=0.001")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"--set {text}: the key path {key!r} is empty or has an empty part")
    if len(text) > OVERRIDE_MAX_CHARS:
        raise ScenarioError(f"--set {text[:40]}...: {len(text):,} characters; an override is at most "
                            f"{OVERRIDE_MAX_CHARS:,}")
    value: Any = ""
    if raw.strip():
        try:
            value, _ = load_yaml(raw, f"--set {text}")
        except ScenarioError as exc:
            if "not valid YAML" not in exc.message:  # too large or recursive: refused, never read as text
                raise
            value = raw  # not YAML: the text as written (a name with a colon, say)
    return key.split("."), value


def apply_overrides(data: dict, overrides: typing.Iterable[str]) -> tuple[dict, dict[tuple, str]]:
    """Apply ``--set`` overrides to a raw mapping; returns it and which paths came from which override.

    A numeric part indexes a list (``optimizers.0.learning_rate``).
    """
    sources: dict[tuple, str] = {}
    for text in overrides:
        path, value = parse_override(text)
        node: Any = data
        keys: list = []
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    where = ".".join(path[:i]) or "(top level)"
                    raise ScenarioError(f"--set {text}: `{where}` is a list of {len(node)}; `{part}` is not an index in it")
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
            else:
                where = ".".join(path[:i])
                raise ScenarioError(f"--set {text}: `{where}` is a value ({node!r}), not a section, so it has no field `{part}`")
            keys.append(key)
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and node.get(key) is None:
                    if path[i + 1].isdigit():
                        raise ScenarioError(
                            f"--set {text}: `{'.'.join(path[: i + 1])}` is not written in the file (it has its default "
                            f"list), so it has no item {path[i + 1]}: set the whole list, e.g. --set {'.'.join(path[: i + 1])}=[...]"
                        )
                    node[key] = {}
                node = node[key]
        sources[tuple(keys)] = f"--set {text if len(text) <= 200 else text[:200] + '...'}"
    return data, sources


def check_override_paths(model: type[BaseModel], sources: dict[tuple, str]) -> list[str]:
    """Every ``--set`` path must name a field of the task's model (or of a section in it)."""
    problems = []
    for path, text in sources.items():
        current: type[BaseModel] | None = model
        for i, part in enumerate(path):
            if isinstance(part, int):
                continue
            if current is None:
                where = ".".join(str(p) for p in path[:i])
                problems.append(f"{text}: `{where}` is a value, not a section, so it has no field `{part}`")
                break
            field = current.model_fields.get(part)
            if field is None:
                guess = closest(part, current.model_fields)
                hint = f"; did you mean `{guess}`?" if guess else ""
                where = ".".join(str(p) for p in path[:i]) or "the top level"
                problems.append(f"{text}: no field `{part}` in {where}{hint}")
                break
            nxt = _model_in(field.annotation)
            if nxt is None and typing.get_origin(field.annotation) is dict:
                break  # free-form mapping (e.g. optimizer options)
            current = nxt
    return problems


# --------------------------------------------------------------------------------------------------
# Validation


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the location ``loc`` (or None when it cannot be followed)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _model_in(field.annotation)
    return current


def _literal_choices(model: type[BaseModel], loc: tuple) -> list[str]:
    owner = _model_at(model, loc[:-1]) if loc else None
    if owner is None or not isinstance(loc[-1], str):
        return []
    field = owner.model_fields.get(loc[-1])
    if field is None:
        return []
    out: list[str] = []

    def collect(ann):
        if typing.get_origin(ann) is Literal:
            out.extend(str(a) for a in typing.get_args(ann) if isinstance(a, str))
        for a in typing.get_args(ann):
            collect(a)

    collect(field.annotation)
    return out


def closest(word: str, choices: typing.Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def describe_errors(
    exc: ValidationError,
    model: type[BaseModel],
    source: str,
    lines: dict[tuple, int],
    sources: dict[tuple, str] | None = None,
) -> list[str]:
    """Turn a pydantic ValidationError into one readable line per problem."""
    sources = sources or {}
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # Skip the tags pydantic adds for unions of a literal and a type, e.g. "literal['auto']" / "bool".
        loc = tuple(p for p in loc if not (isinstance(p, str) and (p.startswith("literal[") or p in ("bool", "int", "float", "str"))))
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        where = sources.get(loc) or (f"{source}:{lines[loc]}" if loc in lines else source)
        kind = err["type"]
        if kind == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            valid = sorted(owner.model_fields) if owner is not None else []
            guess = closest(str(loc[-1]), valid)
            hint = f"; did you mean `{guess}`?" if guess else ""
            section = ".".join(str(p) for p in loc[:-1]) or "the top level"
            known = f" Valid keys in {section}: {', '.join(valid)}." if valid else ""
            problems.append(f"{where}: {dotted}: unknown key{hint}{known}")
        elif kind == "missing":
            problems.append(f"{where}: {dotted}: required field is missing")
        elif kind == "literal_error":
            choices = _literal_choices(model, loc)
            guess = closest(str(err.get("input")), choices) if choices else None
            hint = f"; did you mean `{guess}`?" if guess else ""
            problems.append(f"{where}: {dotted}: {err['msg']} (got {_shown(err.get('input'))}){hint}")
        else:
            got = err.get("input")
            msg = err["msg"].removeprefix("Value error, ")
            echoed = isinstance(got, dict) or repr(got) in msg or _shown(got, 100) in msg
            got_text = "" if echoed else f" (got {_shown(got)})"
            problems.append(f"{where}: {dotted}: {msg}{got_text}")
    # The same location can fail in several union branches: keep the first message per line.
    seen, unique = set(), []
    problems.sort(key=_line_of)
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def _shown(value: Any, limit: int = 200) -> str:
    """A value as the user wrote it, cut to ``limit`` characters (a 1 MB string is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _line_of(problem: str) -> int:
    m = re.match(r"^[^:]*:(\d+):", problem)
    return int(m.group(1)) if m else (10**9 if problem.startswith("--set") else -1)


def validate(data: dict, source: str = "scenario", lines=None, sources=None) -> Scenario:
    """Validate a raw mapping against the model of its task. Raises ScenarioError listing every problem."""
    from lab import registry

    lines = lines or {}
    task = data.get("task")
    if task is None:
        raise ScenarioError(
            f"{source}: task: required field is missing",
            [f"known tasks: {', '.join(registry.task_names())}"],
        )
    if not isinstance(task, str) or task not in registry.task_names():
        guess = closest(str(task), registry.task_names())
        hint = f"; did you mean `{guess}`?" if guess else ""
        where = f"{source}:{lines[('task',)]}" if ("task",) in lines else source
        raise ScenarioError(
            f"{where}: task: unknown task {task!r}{hint}",
            [f"known tasks: {', '.join(registry.task_names())}"],
        )
    model = registry.config_model(task)
    bad_paths = check_override_paths(model, sources or {})
    if bad_paths:
        raise ScenarioError(f"{source}: {len(bad_paths)} bad --set " + ("path" if len(bad_paths) == 1 else "paths"), bad_paths)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc, model, source, lines, sources)
        noun = "problem" if len(problems) == 1 else "problems"
        raise ScenarioError(f"{source}: {len(problems)} {noun}", problems) from None


def load_scenario(path: str | Path, overrides: typing.Iterable[str] = ()) -> Scenario:
    """Read, override and validate a scenario file."""
    path = Path(path)
    data, lines = read_yaml(path)
    data, sources = apply_overrides(data, overrides)
    return validate(data, str(path), lines, sources)


def dump(cfg: Scenario) -> str:
    """The resolved scenario as YAML (every field, defaults included)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def field_docs(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, Any]]:
    """(dotted path, description, default) of every field, recursively: used by docs and tests."""
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        rows.append((path, field.description or "", field.default))
        sub = _model_in(field.annotation)
        if sub is not None:
            rows.extend(field_docs(sub, path + "."))
    return rows
