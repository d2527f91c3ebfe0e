"""Scenario files: YAML -> a typed, validated configuration.

A scenario is a YAML mapping with the common keys of :class:`lab.schema.Scenario` (``name``,
``description``, ``task``, ``seed``, ``strategy``, ``precision``, ``jit_compile``, ``deterministic``,
``output``) and one section per part of the task. Each task declares its own pydantic model (a subclass of
``Scenario``, unknown keys forbidden) in its ``config.py``; this module reads the YAML, applies
``--set a.b=value`` overrides (values parsed as YAML) and validates the result, reporting *every*
problem at once with the file, the line, the field path and a fix.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import re
import stat
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from lab import registry
from lab.errors import ScenarioError
from lab.paths import scenarios_dir
from lab.schema import Scenario, closest, shown

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
    """The UTF-8 text of a regular file of at most ``limit`` bytes; every other case is ``error`` naming the
    file.

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
            raise error(f"{path}: is {kind}, not a {what}; give a regular file (read up to "
                        f"{_size_text(limit)})")
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


def check_yaml_size(root, source: str, max_nodes: int = YAML_MAX_NODES,
                    max_depth: int = YAML_MAX_DEPTH) -> None:
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
            raise ScenarioError(f"{source}:{mark.line + 1}: an alias refers to the value it is part of (a "
                                f"recursive alias); a scenario cannot hold one")
        active.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)
    if size[id(root)] > max_nodes:
        raise ScenarioError(f"{source}: the YAML stands for more than {max_nodes:,} values once its aliases "
                            f"(*name) are expanded; a scenario has a few dozen (is it a \"billion laughs\" "
                            f"file?)")
    if height[id(root)] > max_depth:
        raise ScenarioError(f"{source}: the YAML nests more than {max_depth} levels deep; a scenario nests 3 "
                            f"or 4")


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
        raise ScenarioError(f"{source}: not valid YAML: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
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
        raise ScenarioError(f"{path}: the file holds only comments; a scenario needs at least `name` and "
                            f"`task`")
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: the top level must be a mapping of keys (name: ..., task: ...), not a "
            f"{type(data).__name__}"
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
                    raise ScenarioError(f"--set {text}: `{where}` is a list of {len(node)}; `{part}` is not "
                                        f"an index in it")
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
            else:
                where = ".".join(path[:i])
                raise ScenarioError(f"--set {text}: `{where}` is a value ({node!r}), not a section, so it "
                                    f"has no field `{part}`")
            keys.append(key)
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and node.get(key) is None:
                    if path[i + 1].isdigit():
                        raise ScenarioError(
                            f"--set {text}: `{'.'.join(path[: i + 1])}` is not written in the file (it has "
                            f"its default list), so it has no item {path[i + 1]}: set the whole list, e.g. "
                            f"--set {'.'.join(path[: i + 1])}=[...]"
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
        loc = tuple(p for p in loc
                    if not (isinstance(p, str) and (p.startswith("literal[") or
                                                    p in ("bool", "int", "float", "str"))))
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
            problems.append(f"{where}: {dotted}: {err['msg']} (got {shown(err.get('input'))}){hint}")
        else:
            got = err.get("input")
            msg = err["msg"].removeprefix("Value error, ")
            echoed = isinstance(got, dict) or repr(got) in msg or shown(got, 100) in msg
            got_text = "" if echoed else f" (got {shown(got)})"
            problems.append(f"{where}: {dotted}: {msg}{got_text}")
    # The same location can fail in several union branches: keep the first message per line.
    seen, unique = set(), []
    problems.sort(key=_line_of)
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique



def _line_of(problem: str) -> int:
    m = re.match(r"^[^:]*:(\d+):", problem)
    return int(m.group(1)) if m else (10**9 if problem.startswith("--set") else -1)


def validate(data: dict, source: str = "scenario", lines=None, sources=None) -> Scenario:
    """Validate a raw mapping against the model of its task. Raises ScenarioError listing every problem."""
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
        raise ScenarioError(f"{source}: {len(bad_paths)} bad --set " +
                            ("path" if len(bad_paths) == 1 else "paths"), bad_paths)
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
