"""Computation graphs you can see: a tiny explicit graph library, Keras models as DOT, and rendering.

The book builds its first programs with Gorgonia: declare nodes on a graph, combine them with ops,
bind values, run the graph, and draw it. :class:`Graph` does the same here, evaluated with
``keras.ops`` (TensorFlow underneath)::

    g = Graph()
    x, y = g.scalar("x"), g.scalar("y")
    z = g.add(x, y, name="z")             # or x + y
    values = g.evaluate({x: 2.0, y: 2.5})  # values["z"] == 4.5
    g.to_dot(values)                       # Graphviz DOT text, values on the nodes

:func:`keras_model_to_dot` draws any Keras 3 model (Sequential or functional: its layers, the shapes
on the edges) as DOT without pydot, and :func:`render_dot` turns DOT into PNG/SVG with Graphviz's
``dot`` program when it is installed (and says so clearly when it is not).

Nothing here imports Keras or TensorFlow at module level: building and drawing a graph needs neither;
evaluating one, or drawing a Keras model, does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
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


def format_value(value: Any, digits: int = 4) -> str:
    """A short text for a node's value: ``4.5``, ``[9.4, 3.4]``, or a shape for big tensors."""
    import numpy as np

    arr = np.asarray(value)
    if arr.size > 12:
        return f"{arr.dtype}{list(arr.shape)}"
    if arr.ndim == 0:
        return _num(arr.item(), digits)

    def fmt(a):
        if a.ndim == 0:
            return _num(a.item(), digits)
        return "[" + ", ".join(fmt(x) for x in a) + "]"

    return fmt(arr)


def _num(v, digits: int) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


# --------------------------------------------------------------------------------------------------
# The graph


class GraphError(ValueError):
    """A graph was built or evaluated wrongly (mismatched shapes, a missing input, a foreign node)."""


@dataclass(frozen=True)
class OpDef:
    symbol: str  # drawn on the node
    arity: int  # number of inputs; -1 for any
    fn: Callable  # (keras.ops module, *values) -> value
    shape: Callable  # (*input shapes) -> output shape (or None when unknown)


def _broadcast(*shapes):
    if any(s is None for s in shapes):
        return None
    out: list[int] = []
    for dims in _zip_right(shapes):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise GraphError(f"shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(reversed(out))


def _zip_right(shapes):
    n = max(len(s) for s in shapes)
    for i in range(1, n + 1):
        yield [s[-i] if i <= len(s) else 1 for s in shapes]


def _matmul_shape(a, b):
    if a is None or b is None:
        return None
    if len(a) == 0 or len(b) == 0:
        raise GraphError("matmul needs vectors or matrices, not scalars (use mul)")
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        raise GraphError(f"matmul of shapes {tuple(a)} and {tuple(b)}: inner sizes {k_a} and {k_b} differ")
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(a) == 1:
        return tuple(b[:-2]) + (b[-1],)
    if len(b) == 1:
        return tuple(a[:-1])
    return tuple(a[:-1]) + (b[-1],)


def _same(a):
    return a


def _reduced(a):
    return None if a is None else ()


def _transposed(a):
    return None if a is None else tuple(reversed(a))


OPS: dict[str, OpDef] = {
    "add": OpDef("+", 2, lambda o, a, b: o.add(a, b), _broadcast),
    "sub": OpDef("-", 2, lambda o, a, b: o.subtract(a, b), _broadcast),
    "mul": OpDef("×", 2, lambda o, a, b: o.multiply(a, b), _broadcast),
    "div": OpDef("÷", 2, lambda o, a, b: o.divide(a, b), _broadcast),
    "matmul": OpDef("matmul", 2, lambda o, a, b: o.matmul(a, b), _matmul_shape),
    "neg": OpDef("−", 1, lambda o, a: o.negative(a), _same),
    "square": OpDef("x²", 1, lambda o, a: o.square(a), _same),
    "exp": OpDef("exp", 1, lambda o, a: o.exp(a), _same),
    "log": OpDef("log", 1, lambda o, a: o.log(a), _same),
    "sigmoid": OpDef("σ", 1, lambda o, a: o.sigmoid(a), _same),
    "tanh": OpDef("tanh", 1, lambda o, a: o.tanh(a), _same),
    "relu": OpDef("ReLU", 1, lambda o, a: o.relu(a), _same),
    "sum": OpDef("Σ", 1, lambda o, a: o.sum(a), _reduced),
    "mean": OpDef("mean", 1, lambda o, a: o.mean(a), _reduced),
    "transpose": OpDef("ᵀ", 1, lambda o, a: o.transpose(a), _transposed),
}


@dataclass(eq=False)
class Node:
    """One node of a :class:`Graph`: an input (value bound at evaluation), a constant, or an op."""

    graph: Graph
    index: int
    name: str
    kind: str  # "input", "constant" or an op name of OPS
    inputs: tuple[Node, ...] = ()
    shape: tuple[int, ...] | None = None
    value: Any = None  # constants only

    @property
    def is_op(self) -> bool:
        return self.kind in OPS

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.kind}, shape={self.shape})"

    # Operators build new nodes on the same graph (numbers become constants).
    def __add__(self, other):
        return self.graph.add(self, other)

    def __radd__(self, other):
        return self.graph.add(other, self)

    def __sub__(self, other):
        return self.graph.sub(self, other)

    def __rsub__(self, other):
        return self.graph.sub(other, self)

    def __mul__(self, other):
        return self.graph.mul(self, other)

    def __rmul__(self, other):
        return self.graph.mul(other, self)

    def __truediv__(self, other):
        return self.graph.div(self, other)

    def __matmul__(self, other):
        return self.graph.matmul(self, other)

    def __neg__(self):
        return self.graph.neg(self)


@dataclass
class Graph:
    """An explicit computation graph: declare inputs and constants, combine them with ops, evaluate.

    Nodes are created in topological order (an op's inputs always exist before it), so evaluation is
    one pass over :attr:`nodes`. ``dtype`` is the float type values are computed in (``float64`` as the
    book's Gorgonia programs, so 0.9 * 5 + 0.7 * 7 prints as 9.4).
    """

    name: str = "graph"
    dtype: str = "float64"
    nodes: list[Node] = field(default_factory=list)

    # declaring nodes --------------------------------------------------------------------------------
    def _new(self, name: str | None, kind: str, inputs=(), shape=None, value=None) -> Node:
        if name is None:
            count = sum(1 for n in self.nodes if n.kind == kind)
            name = kind if count == 0 else f"{kind}_{count}"
        if not name or any(n.name == name for n in self.nodes):
            raise GraphError(f"graph {self.name!r} already has a node named {name!r}")
        node = Node(self, len(self.nodes), name, kind, tuple(inputs), shape, value)
        self.nodes.append(node)
        return node

    def input(self, name: str, shape: Iterable[int] | None = ()) -> Node:
        """A named input whose value is bound at :meth:`evaluate` (Gorgonia's ``NewScalar``/``NewMatrix``).

        ``shape`` is checked against the bound value; ``None`` accepts any shape.
        """
        return self._new(name, "input", shape=None if shape is None else tuple(int(d) for d in shape))

    def scalar(self, name: str) -> Node:
        return self.input(name, ())

    def vector(self, name: str, size: int) -> Node:
        return self.input(name, (size,))

    def matrix(self, name: str, rows: int, cols: int) -> Node:
        return self.input(name, (rows, cols))

    def constant(self, value: Any, name: str | None = None) -> Node:
        """A node with a fixed value."""
        import numpy as np

        arr = np.asarray(value, dtype=self.dtype)
        if name is None:
            name = format_value(arr)
            if any(n.name == name for n in self.nodes):
                name = None
        return self._new(name, "constant", shape=tuple(arr.shape), value=arr)

    def apply(self, op: str, *inputs: Node | Any, name: str | None = None) -> Node:
        """A new node computing ``op`` of ``inputs`` (numbers and arrays become constants)."""
        if op not in OPS:
            raise GraphError(f"unknown op {op!r}; ops: {', '.join(sorted(OPS))}")
        spec = OPS[op]
        if spec.arity >= 0 and len(inputs) != spec.arity:
            raise GraphError(f"{op} takes {spec.arity} input(s), got {len(inputs)}")
        nodes = []
        for x in inputs:
            if isinstance(x, Node):
                if x.graph is not self:
                    raise GraphError(f"node {x.name!r} belongs to graph {x.graph.name!r}, not {self.name!r}")
                nodes.append(x)
            else:
                nodes.append(self.constant(x))
        shape = spec.shape(*[n.shape for n in nodes])
        return self._new(name, op, nodes, shape)

    def add(self, a, b, name=None):
        return self.apply("add", a, b, name=name)

    def sub(self, a, b, name=None):
        return self.apply("sub", a, b, name=name)

    def mul(self, a, b, name=None):
        return self.apply("mul", a, b, name=name)

    def div(self, a, b, name=None):
        return self.apply("div", a, b, name=name)

    def matmul(self, a, b, name=None):
        return self.apply("matmul", a, b, name=name)

    def neg(self, a, name=None):
        return self.apply("neg", a, name=name)

    def square(self, a, name=None):
        return self.apply("square", a, name=name)

    def exp(self, a, name=None):
        return self.apply("exp", a, name=name)

    def log(self, a, name=None):
        return self.apply("log", a, name=name)

    def sigmoid(self, a, name=None):
        return self.apply("sigmoid", a, name=name)

    def tanh(self, a, name=None):
        return self.apply("tanh", a, name=name)

    def relu(self, a, name=None):
        return self.apply("relu", a, name=name)

    def sum(self, a, name=None):
        return self.apply("sum", a, name=name)

    def mean(self, a, name=None):
        return self.apply("mean", a, name=name)

    def transpose(self, a, name=None):
        return self.apply("transpose", a, name=name)

    def __getitem__(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"graph {self.name!r} has no node named {name!r}")

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "input"]

    @property
    def outputs(self) -> list[Node]:
        """Nodes that no other node uses."""
        used = {id(i) for n in self.nodes for i in n.inputs}
        return [n for n in self.nodes if id(n) not in used]

    # evaluating -------------------------------------------------------------------------------------
    def _bind(self, feeds: Mapping[Node | str, Any]):
        import keras

        ops = keras.ops
        bound: dict[int, Any] = {}
        for key, value in feeds.items():
            node = key if isinstance(key, Node) else self[key]
            if node.graph is not self or node.kind != "input":
                raise GraphError(f"{node.name!r} is not an input of graph {self.name!r}")
            tensor = ops.convert_to_tensor(value, dtype=self.dtype)
            if node.shape is not None and tuple(tensor.shape) != node.shape:
                raise GraphError(f"input {node.name!r} has shape {node.shape}, got a value of shape {tuple(tensor.shape)}")
            bound[node.index] = tensor
        missing = [n.name for n in self.inputs if n.index not in bound]
        if missing:
            raise GraphError(f"no value for input(s) {', '.join(missing)} of graph {self.name!r}")
        return bound

    def _run(self, bound: dict[int, Any]) -> dict[int, Any]:
        import keras

        ops = keras.ops
        values = dict(bound)
        for n in self.nodes:
            if n.kind == "constant":
                values[n.index] = ops.convert_to_tensor(n.value, dtype=self.dtype)
            elif n.is_op:
                values[n.index] = OPS[n.kind].fn(ops, *[values[i.index] for i in n.inputs])
        return values

    def evaluate(self, feeds: Mapping[Node | str, Any]) -> dict[str, Any]:
        """Bind the inputs (by node or name), run every node once; returns ``{node name: numpy value}``."""
        import keras

        values = self._run(self._bind(feeds))
        return {n.name: keras.ops.convert_to_numpy(values[n.index]) for n in self.nodes}

    def gradients(self, output: Node | str, feeds: Mapping[Node | str, Any],
                  wrt: Iterable[Node | str] | None = None) -> dict[str, Any]:
        """d(sum of ``output``)/d(input) for the inputs ``wrt`` (default: all), by TensorFlow autodiff.

        Gorgonia's ``Grad(cost, w)``: the graph is evaluated under a ``tf.GradientTape`` watching the inputs.
        """
        import tensorflow as tf

        out = output if isinstance(output, Node) else self[output]
        targets = [w if isinstance(w, Node) else self[w] for w in (wrt if wrt is not None else self.inputs)]
        bound = self._bind(feeds)
        with tf.GradientTape() as tape:
            for t in targets:
                tape.watch(bound[t.index])
            values = self._run(bound)
            total = tf.reduce_sum(values[out.index])
        grads = tape.gradient(total, [bound[t.index] for t in targets])
        return {t.name: (g.numpy() if g is not None else None) for t, g in zip(targets, grads, strict=True)}

    # drawing ----------------------------------------------------------------------------------------
    def to_dot(self, values: Mapping[str, Any] | None = None, title: str | None = None,
               notes: Mapping[str, str] | None = None) -> str:
        """The graph as Graphviz DOT: inputs as ellipses, constants as boxes, ops as circles with their
        symbol; ``values`` (e.g. from :meth:`evaluate`) are written on the nodes, and ``notes`` (by node
        name, e.g. gradients) as an extra line."""
        values = values or {}
        notes = notes or {}
        outputs = {id(n) for n in self.outputs}
        lines = [
            f"digraph {dot_quote(self.name)} {{",
            "  rankdir=LR;",
            f"  graph{dot_attrs(label=title or self.name, labelloc='t', fontname='Helvetica')};",
            '  node [fontname="Helvetica", fontsize="11"];',
            '  edge [fontname="Helvetica", fontsize="9"];',
        ]
        for n in self.nodes:
            shape_text = "" if n.shape is None else ("scalar" if n.shape == () else _shape_text(n.shape))
            value = values.get(n.name, n.value if n.kind == "constant" else None)
            if n.is_op:
                label = f"{OPS[n.kind].symbol}\n{n.name}"
                attrs = dict(shape="circle", style="filled", fillcolor="#fde9c4")
            elif n.kind == "constant":
                label = n.name if n.name == format_value(n.value) else f"{n.name}\n{format_value(n.value)}"
                attrs = dict(shape="box", style="rounded,filled", fillcolor="#e8e8e8")
                value = None
            else:
                label = f"{n.name}\n{shape_text}" if shape_text else n.name
                attrs = dict(shape="ellipse", style="filled", fillcolor="#d6e9f8")
            if value is not None:
                label += f"\n= {format_value(value)}"
            if n.name in notes:
                label += f"\n{notes[n.name]}"
            if id(n) in outputs and n.is_op:
                attrs["penwidth"] = "2"
            lines.append(f"  n{n.index}{dot_attrs(label=label, **attrs)};")
        for n in self.nodes:
            for pos, i in enumerate(n.inputs):
                label = str(pos) if n.kind in ("sub", "div", "matmul") else None
                lines.append(f"  n{i.index} -> n{n.index}{dot_attrs(label=label)};")
        lines.append("}")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Keras models as DOT


def _shape_text(shape) -> str:
    try:
        return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    except TypeError:
        return str(shape)


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
        ends.append((id(hist.operation), _shape_text(tensor.shape)))
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
            edge = (id(hist.operation), id(op), _shape_text(t.shape))
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
            label = f"{op.name}: Input" + (f"\n{_shape_text(shape)}" if shape is not None else "")
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
                shape = _shape_text(model.layers[i - 1].output.shape)
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
# Reading DOT back (the subset written here): a strict check used by the tests


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<arrow>->|--)|(?P<id>[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?)'
                    r"|(?P<punct>[{}\[\];,=]))", re.S)


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, dict[str, str]]]]:
    """Parse the DOT subset written by this module; returns ``(nodes, edges)`` with their attributes.

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
