"""Graphviz DOT for the lab: Keras models as DOT, DOT text helpers, rendering with ``dot``, and a strict
reader of the DOT written here.

:func:`keras_model_to_dot` draws any Keras 3 model (Sequential or functional: its layers, the shapes on
the edges) as DOT without pydot; ``lab graph RUN`` uses it on a run's saved models. :func:`render_dot`
turns DOT into PNG/SVG with Graphviz's ``dot`` program when it is installed (and says so clearly when it
is not). :func:`dot_quote`, :func:`dot_attrs` and :func:`shape_text` are the pieces other drawings build
on (the book's teaching graph, :mod:`supervised.graph`, draws itself with them); :func:`parse_dot`
checks that what was written is well-formed.

Nothing here imports Keras or TensorFlow: drawing a Keras model needs a model, not the import.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOT_MISSING_NOTE = "Graphviz's dot is not installed: apt-get install graphviz; wrote DOT only"


# --------------------------------------------------------------------------------------------------
# DOT text helpers


def dot_quote(text: Any) -> str:
    """A DOT double-quoted string (backslashes and quotes escaped, newlines as ``\\n``)."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + s.replace("\n", "\\n") + '"'


def dot_attrs(**attrs: Any) -> str:
    """``[key="value", ...]`` for the attributes that are not None."""
    items = [f"{k}={dot_quote(v)}" for k, v in attrs.items() if v is not None]
    return f" [{', '.join(items)}]" if items else ""


def shape_text(shape) -> str:
    """``(None, 3)``, ``(4,)``: a tensor shape as Python writes a tuple, unknown sizes as None."""
    try:
        return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    except TypeError:
        return str(shape)


# --------------------------------------------------------------------------------------------------
# Keras models as DOT


def _layer_label(layer) -> str:
    cls = type(layer).__name__
    parts = [f"{layer.name}: {cls}" if layer.name != cls else cls]
    details = []
    units = getattr(layer, "units", None)
    if isinstance(units, int):
        details.append(f"units={units}")
    filters = getattr(layer, "filters", None)
    if isinstance(filters, int):
        details.append(f"filters={filters}")
    activation = getattr(layer, "activation", None)
    act_name = getattr(activation, "__name__", None)
    if act_name and act_name != "linear":
        details.append(act_name)
    rate = getattr(layer, "rate", None)
    if isinstance(rate, float):
        details.append(f"rate={rate:g}")
    if details:
        parts.append(", ".join(details))
    try:
        params = int(layer.count_params()) if layer.built else 0
    except (ValueError, AttributeError):
        params = 0
    if params:
        parts.append(f"params: {params:,}")
    return "\n".join(parts)


def _is_input_layer(layer) -> bool:
    return type(layer).__name__ == "InputLayer"


def keras_model_to_dot(model, title: str | None = None) -> str:
    """Draw a Keras 3 model as DOT (no pydot needed): one box per layer, edges labelled with the
    shapes of the tensors that flow along them, the model's outputs as end points.

    Sequential and functional models are drawn from their recorded graph (shared layers and branches
    included; a nested model is one box). A subclassed model has no recorded graph: its layers are
    drawn inside a box without edges, in the order they were created.
    """
    name = getattr(model, "name", type(model).__name__)
    try:
        total_params = int(model.count_params())
    except (ValueError, AttributeError):
        total_params = 0
    heading = title or f"{name} ({type(model).__name__}" + (f", {total_params:,} parameters)" if total_params else ")")
    lines = [
        f"digraph {dot_quote(name)} {{",
        "  rankdir=TB;",
        f"  graph{dot_attrs(label=heading, labelloc='t', fontname='Helvetica')};",
        '  node [shape="box", style="rounded,filled", fillcolor="#eef3fa", fontname="Helvetica", fontsize="11"];',
        '  edge [fontname="Helvetica", fontsize="9"];',
    ]
    graph_model = getattr(model, "_functional", None) if type(model).__name__ == "Sequential" else model
    outputs = getattr(graph_model, "outputs", None) if graph_model is not None else None
    if outputs:
        lines += _functional_dot(outputs, getattr(graph_model, "operations", None))
    elif type(model).__name__ == "Sequential":
        lines += _sequential_chain_dot(model)
    else:
        lines += _subclassed_dot(model)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _functional_dot(outputs, operations=None) -> list[str]:
    """Walk back from the output tensors through each layer call (``_keras_history``): every layer
    reached is a node, every tensor passed between two calls an edge labelled with its shape."""
    found: dict[int, object] = {}
    edges: list[tuple[int, int, str]] = []
    ends: list[tuple[int, str]] = []
    visited: set[tuple[int, int]] = set()
    stack = []
    for tensor in outputs:
        hist = getattr(tensor, "_keras_history", None)
        if hist is None:
            continue
        found[id(hist.operation)] = hist.operation
        ends.append((id(hist.operation), shape_text(tensor.shape)))
        stack.append((hist.operation, hist.node_index))
    while stack:
        op, node_index = stack.pop()
        if (id(op), node_index) in visited:
            continue
        visited.add((id(op), node_index))
        inbound = getattr(op, "_inbound_nodes", [])
        if node_index >= len(inbound):
            continue
        for t in getattr(inbound[node_index], "input_tensors", []):
            hist = getattr(t, "_keras_history", None)
            if hist is None:
                continue
            found[id(hist.operation)] = hist.operation
            edge = (id(hist.operation), id(op), shape_text(t.shape))
            if edge not in edges:
                edges.append(edge)
            stack.append((hist.operation, hist.node_index))
    # Node order: the model's own (topological) order of operations, inputs first.
    rank = {id(op): i for i, op in enumerate(operations or [])}
    ordered = sorted(found.values(), key=lambda op: (not _is_input_layer(op), rank.get(id(op), len(rank))))
    ids = {id(op): f"l{i}" for i, op in enumerate(ordered)}
    lines = []
    for op in ordered:
        if _is_input_layer(op):
            shape = getattr(op, "batch_shape", None) or getattr(getattr(op, "output", None), "shape", None)
            label = f"{op.name}: Input" + (f"\n{shape_text(shape)}" if shape is not None else "")
            lines.append(f"  {ids[id(op)]}{dot_attrs(label=label, shape='ellipse', style='filled', fillcolor='#d6e9f8')};")
        else:
            lines.append(f"  {ids[id(op)]}{dot_attrs(label=_layer_label(op))};")
    for k in range(len(ends)):
        lines.append(f"  out{k}{dot_attrs(label='output' if len(ends) == 1 else f'output {k}', shape='plaintext', style='solid')};")
    edges.sort(key=lambda e: (ordered.index(found[e[1]]), ordered.index(found[e[0]])))
    for src, dst, shape in edges:
        lines.append(f"  {ids[src]} -> {ids[dst]}{dot_attrs(label=shape)};")
    for k, (src, shape) in enumerate(ends):
        lines.append(f"  {ids[src]} -> out{k}{dot_attrs(label=shape)};")
    return lines


def _sequential_chain_dot(model) -> list[str]:
    """An unbuilt (or input-less) Sequential: its layers in order; shapes where Keras knows them."""
    lines, prev = [], None
    for i, layer in enumerate(model.layers):
        lines.append(f"  l{i}{dot_attrs(label=_layer_label(layer))};")
        if prev is not None:
            try:
                shape = shape_text(model.layers[i - 1].output.shape)
            except (AttributeError, ValueError):
                shape = None
            lines.append(f"  {prev} -> l{i}{dot_attrs(label=shape)};")
        prev = f"l{i}"
    if not model.layers:
        lines.append(f"  empty{dot_attrs(label='(no layers)', shape='plaintext')};")
    return lines


def _subclassed_dot(model) -> list[str]:
    lines = [
        "  subgraph cluster_model {",
        f"    graph{dot_attrs(label=f'{type(model).__name__} (subclassed: the call order is not recorded)', style='dashed')};",
    ]
    for i, layer in enumerate(getattr(model, "layers", [])):
        lines.append(f"    l{i}{dot_attrs(label=_layer_label(layer))};")
    if not getattr(model, "layers", []):
        lines.append(f"    l0{dot_attrs(label=_layer_label(model))};")
    lines.append("  }")
    return lines


# --------------------------------------------------------------------------------------------------
# Rendering


@dataclass
class Rendered:
    """What :func:`render_dot` wrote: the DOT file always, the image when ``dot`` could draw it."""

    dot: Path
    image: Path | None = None
    note: str | None = None


class _DotFailed(Exception):
    pass


def dot_program() -> str | None:
    """Path of Graphviz's ``dot``, or None when it is not installed."""
    return shutil.which("dot")


def render_dot(dot_text: str, path: str | Path, timeout: float = 60) -> Rendered:
    """Write ``dot_text`` beside ``path`` (as ``.dot``) and, for a ``.png`` or ``.svg`` path, draw it with
    Graphviz's ``dot`` when installed. Without ``dot`` (or when it fails) the result carries a note
    saying so, and only the DOT file is written. Files are written atomically.
    """
    from lab.runs import atomic_path, atomic_write_text

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    dot_path = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
    atomic_write_text(dot_path, dot_text)
    if fmt in ("dot", "gv"):
        return Rendered(dot_path)
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"{path}: can draw .png, .svg or .pdf (or write .dot), not .{fmt}")
    exe = dot_program()
    if exe is None:
        return Rendered(dot_path, note=DOT_MISSING_NOTE)
    try:
        with atomic_path(path) as tmp:  # an exception inside discards the temporary file
            try:
                proc = subprocess.run([exe, f"-T{fmt}", "-o", str(tmp), str(dot_path)], capture_output=True,
                                      text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise _DotFailed(f"no picture after {timeout:g} s") from None
            if proc.returncode != 0:
                raise _DotFailed((proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[0])
    except _DotFailed as exc:
        return Rendered(dot_path, note=f"Graphviz's dot failed on {dot_path.name} ({exc}); wrote DOT only")
    return Rendered(dot_path, image=path)


# --------------------------------------------------------------------------------------------------
# Reading DOT back (the subset the lab writes): a strict check used by the tests


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<arrow>->|--)|(?P<id>[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?)'
                    r"|(?P<punct>[{}\[\];,=]))", re.S)


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, dict[str, str]]]]:
    """Parse the DOT subset the lab writes (here and in :mod:`supervised.graph`); returns ``(nodes, edges)`` with their attributes.

    Raises ``ValueError`` with the offending position on anything malformed, an edge whose ends were
    not declared as nodes, or an unbalanced brace. (Graphviz's own parser accepts more; this is a
    well-formedness check, not a full DOT reader.)
    """
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"DOT: unexpected character {text[pos:pos + 10]!r} at offset {pos}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else ("eof", "", len(text))

    def take(kind=None, value=None):
        nonlocal i
        tok = peek()
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise ValueError(f"DOT: expected {value or kind} at offset {tok[2]}, found {tok[1]!r}")
        i += 1
        return tok

    def ident():
        tok = peek()
        if tok[0] not in ("id", "str"):
            raise ValueError(f"DOT: expected a name at offset {tok[2]}, found {tok[1]!r}")
        take()
        return _unquote(tok[1]) if tok[0] == "str" else tok[1]

    def attr_list():
        attrs: dict[str, str] = {}
        take("punct", "[")
        while peek()[1] != "]":
            key = ident()
            take("punct", "=")
            attrs[key] = ident()
            if peek()[1] in (",", ";"):
                take()
        take("punct", "]")
        return attrs

    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []

    def statements(depth):
        while peek()[1] != "}":
            if peek()[0] == "eof":
                raise ValueError("DOT: missing closing brace")
            if peek()[1] == "subgraph":
                take()
                if peek()[1] != "{":
                    ident()
                take("punct", "{")
                statements(depth + 1)
                take("punct", "}")
            else:
                first = ident()
                if first in ("graph", "node", "edge") and peek()[1] == "[":
                    attr_list()
                elif peek()[1] == "=":
                    take()
                    ident()
                elif peek()[0] == "arrow":
                    chain = [first]
                    while peek()[0] == "arrow":
                        take()
                        chain.append(ident())
                    attrs = attr_list() if peek()[1] == "[" else {}
                    edges.extend((a, b, attrs) for a, b in zip(chain[:-1], chain[1:], strict=True))
                else:
                    nodes[first] = attr_list() if peek()[1] == "[" else {}
            if peek()[1] == ";":
                take()

    kind = ident()
    if kind not in ("digraph", "graph"):
        raise ValueError(f"DOT: starts with {kind!r}, not digraph")
    if peek()[1] != "{":
        ident()
    take("punct", "{")
    statements(0)
    take("punct", "}")
    if peek()[0] != "eof":
        raise ValueError(f"DOT: text after the closing brace at offset {peek()[2]}")
    for a, b, _ in edges:
        for end in (a, b):
            if end not in nodes:
                raise ValueError(f"DOT: edge {a} -> {b} uses {end!r}, which is not declared as a node")
    return nodes, edges


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), body)
