"""The house rules, checked on the source: no import circle among the lab's modules (imports inside
functions count), imports inside functions only of heavy or optional packages, no function over 60 lines
and no module over 600 in the packages, and no random stream derived from the seed by an integer offset."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lab", "envs", "agents", "generative", "supervised")
HEAVY = {"tensorflow", "keras", "jax", "jaxlib", "pygame", "matplotlib", "imageio", "imageio_ffmpeg",
         "optuna", "fastapi", "uvicorn", "dvc", "torch", "stable_baselines3", "pydot"}
"""What may be imported inside a function: packages that are slow to import or optional extras."""


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.glob("*/**/*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in PACKAGES:
            name = ".".join(rel.with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = module.split(".")
            keep = len(parts) - node.level + (1 if is_package else 0)
            base = ".".join(parts[:keep] + ([base] if base else []))
        return [base] + [f"{base}.{a.name}" for a in node.names]
    return []


def edges() -> dict[str, set[str]]:
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            for target in imported(node, name, path.name == "__init__.py"):
                if target.split(".")[0] in PACKAGES and (found := resolve(target)) not in (None, name):
                    targets.add(found)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_counting_imports_inside_functions():
    assert cycles(edges()) == []


def test_imports_inside_functions_are_only_of_heavy_or_optional_packages():
    found = []
    for name, path in modules().items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                for target in imported(node, name, path.name == "__init__.py")[:1]:
                    if target.split(".")[0] not in HEAVY:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {target} inside {fn.name}()")
    assert found == [], "\n".join(found)


def test_functions_and_modules_are_short_enough_to_read():
    long = []
    for path in modules().values():
        text = path.read_text()
        if text.count("\n") > 600:
            long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for fn in ast.walk(ast.parse(text)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and fn.end_lineno - fn.lineno + 1 > 60:
                long.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}: "
                            f"{fn.end_lineno - fn.lineno + 1} lines")
    assert long == [], "\n".join(long)


def _is_seed(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "seed" or name.endswith("_seed")


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def seed_offsets(tree: ast.AST) -> list[int]:
    """Lines deriving a random stream from the seed by an integer: ``seed + 1``, ``7919 * seed``, or a
    generator seeded with ``[seed, 7777]``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult, ast.Sub)):
            if (_is_seed(node.left) and _is_int(node.right)) or (_is_int(node.left) and _is_seed(node.right)):
                lines.append(node.lineno)
        if (isinstance(node, (ast.List, ast.Tuple)) and any(_is_seed(e) for e in node.elts) and
                any(_is_int(e) for e in node.elts)):
            lines.append(node.lineno)
    return lines


def test_the_offset_finder_finds_offsets():
    found = seed_offsets(
        ast.parse("a = cfg.seed + 1\nb = rng([seed, 7777])\nc = stream(seed, 'x', 3)\nd = seed + i"))
    assert found == [1, 2]


def test_no_random_stream_is_a_seed_plus_an_integer():
    found = [f"{path.relative_to(ROOT)}:{line}" for path in modules().values()
             for line in seed_offsets(ast.parse(path.read_text()))]
    assert found == [], "\n".join(found)
