"""The book's first computation graphs (chapter 1): a tiny explicit graph library you can evaluate,
differentiate and draw, the chapter-1 programs built on it, and the same affine map as a Keras layer.

The book builds its first programs with Gorgonia: declare nodes on a graph, combine them with ops,
bind values, run the graph, and draw it. :class:`Graph` does the same here, evaluated with
``keras.ops`` (TensorFlow underneath)::

    g = Graph()
    x, y = g.scalar("x"), g.scalar("y")
    z = g.add(x, y, name="z")             # or x + y
    values = g.evaluate({x: 2.0, y: 2.5})  # values["z"] == 4.5
    g.to_dot(values)                       # Graphviz DOT text, values on the nodes

:func:`chapter1_programs` are the book's x + y, W.x, W.x + b and the gradients of W.x + b;
:func:`dense_affine` is W.x + b as a Keras ``Dense`` layer. Rendering DOT to PNG/SVG is
:mod:`lab.graphviz`'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from lab.compiled import value_and_grad

# --------------------------------------------------------------------------------------------------
# DOT text


def dot_quote(text: Any) -> str:
    """A DOT double-quoted string (backslashes and quotes escaped, newlines as ``\\n``)."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + s.replace("\n", "\\n") + '"'


def dot_attrs(**attrs: Any) -> str:
    """``[key="value", ...]`` for the attributes that are not None."""
    items = [f"{k}={dot_quote(v)}" for k, v in attrs.items() if v is not None]
    return f" [{', '.join(items)}]" if items else ""


def shape_text(shape) -> str:
    """``(2, 3)``, ``(4,)``: a tensor shape as Python writes a tuple."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# --------------------------------------------------------------------------------------------------
# Values as text


def format_value(value: Any, digits: int = 4) -> str:
    """A short text for a node's value: ``4.5``, ``[9.4, 3.4]``, or a shape for big tensors."""
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
    book's Gorgonia programs, so 0.9 * 5 + 0.7 * 7 prints as 9.4; on JAX, which computes float32 unless told,
:meth:`evaluate` and :meth:`gradients` turn JAX's 64-bit mode on while they run).
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
        ops = keras.ops
        bound: dict[int, Any] = {}
        for key, value in feeds.items():
            node = key if isinstance(key, Node) else self[key]
            if node.graph is not self or node.kind != "input":
                raise GraphError(f"{node.name!r} is not an input of graph {self.name!r}")
            tensor = ops.convert_to_tensor(value, dtype=self.dtype)
            if node.shape is not None and tuple(tensor.shape) != node.shape:
                raise GraphError(f"input {node.name!r} has shape {node.shape}, got a value of shape "
                                 f"{tuple(tensor.shape)}")
            bound[node.index] = tensor
        missing = [n.name for n in self.inputs if n.index not in bound]
        if missing:
            raise GraphError(f"no value for input(s) {', '.join(missing)} of graph {self.name!r}")
        return bound

    def _run(self, bound: dict[int, Any]) -> dict[int, Any]:
        ops = keras.ops
        values = dict(bound)
        for n in self.nodes:
            if n.kind == "constant":
                values[n.index] = ops.convert_to_tensor(n.value, dtype=self.dtype)
            elif n.is_op:
                values[n.index] = OPS[n.kind].fn(ops, *[values[i.index] for i in n.inputs])
        return values

    def _precision(self):
        """JAX's 64-bit mode while a float64 graph runs (JAX truncates float64 to float32 otherwise)."""
        if self.dtype != "float64" or keras.backend.backend() != "jax":
            return contextlib.nullcontext()
        import jax

        return jax.enable_x64(True)

    def evaluate(self, feeds: Mapping[Node | str, Any]) -> dict[str, Any]:
        """Bind the inputs (by node or name), run every node once; returns ``{node name: numpy value}``."""
        with self._precision():
            values = self._run(self._bind(feeds))
            return {n.name: keras.ops.convert_to_numpy(values[n.index]) for n in self.nodes}

    def gradients(self, output: Node | str, feeds: Mapping[Node | str, Any],
                  wrt: Iterable[Node | str] | None = None) -> dict[str, Any]:
        """d(sum of ``output``)/d(input) for the inputs ``wrt`` (default: all), by the backend's autodiff.

        Gorgonia's ``Grad(cost, w)``: the inputs become variables and the graph is evaluated under
        :func:`lab.compiled.value_and_grad` (a ``GradientTape`` on TensorFlow, ``jax.grad`` on JAX). An input
        the output does not depend on gets None on TensorFlow, zeros on JAX.
        """
        out = output if isinstance(output, Node) else self[output]
        targets = [w if isinstance(w, Node) else self[w] for w in (wrt if wrt is not None else self.inputs)]
        with self._precision():
            bound = self._bind(feeds)
            variables = [keras.Variable(bound[t.index], dtype=self.dtype, name=f"d{t.index}")
                         for t in targets]

            def total():
                given = {t.index: v.value for t, v in zip(targets, variables, strict=True)}
                values = self._run({**bound, **given})
                return keras.ops.sum(values[out.index]), ()

            _, _, grads = value_and_grad(total, variables)
            return {t.name: (keras.ops.convert_to_numpy(g) if g is not None else None)
                for t, g in zip(targets, grads, strict=True)}

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
            shape_label = "" if n.shape is None else ("scalar" if n.shape == () else shape_text(n.shape))
            value = values.get(n.name, n.value if n.kind == "constant" else None)
            if n.is_op:
                label = f"{OPS[n.kind].symbol}\n{n.name}"
                attrs = dict(shape="circle", style="filled", fillcolor="#fde9c4")
            elif n.kind == "constant":
                label = n.name if n.name == format_value(n.value) else f"{n.name}\n{format_value(n.value)}"
                attrs = dict(shape="box", style="rounded,filled", fillcolor="#e8e8e8")
                value = None
            else:
                label = f"{n.name}\n{shape_label}" if shape_label else n.name
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
# The chapter-1 programs


@dataclass
class Program:
    """One chapter-1 program: its key (artifact names, summary keys), what it computes, its graph, the
    values bound to the graph's inputs and the node whose value is the result."""

    key: str
    title: str
    graph: Graph
    feeds: dict
    result: Node


def chapter1_programs(weights, vector, bias, x=2.0, y=2.5) -> list[Program]:
    """The chapter-1 computations on explicit graphs: x + y, W.x, W.x + b, and the cost Σ(W.x + b) whose
    gradients the fourth program asks for."""
    add = Graph("add")
    gx, gy = add.scalar("x"), add.scalar("y")
    add_out = add.add(gx, gy, name="z")

    rows, cols = len(weights), len(vector)
    matvec = Graph("matvec")
    mW, mx = matvec.matrix("W", rows, cols), matvec.vector("x", cols)
    matvec_out = matvec.matmul(mW, mx, name="Wx")

    affine = Graph("affine")
    aW, ax, ab = affine.matrix("W", rows, cols), affine.vector("x", cols), affine.scalar("b")
    affine_out = affine.add(affine.matmul(aW, ax, name="Wx"), ab, name="y")

    grads = Graph("gradients")
    gW, gxv, gb = grads.matrix("W", rows, cols), grads.vector("x", cols), grads.scalar("b")
    cost = grads.sum(grads.add(grads.matmul(gW, gxv, name="Wx"), gb, name="y"), name="cost")

    return [
        Program("add", "x + y", add, {gx: x, gy: y}, add_out),
        Program("matvec", "W·x", matvec, {mW: weights, mx: vector}, matvec_out),
        Program("affine", "W·x + b", affine, {aW: weights, ax: vector, ab: bias}, affine_out),
        Program("gradients", "∂/∂(W, x, b) of Σ(W·x + b)", grads, {gW: weights, gxv: vector, gb: bias}, cost),
    ]


def dense_affine(weights, bias) -> keras.Model:
    """W.x + b as a Keras ``Dense`` layer: kernel W transposed, bias b on every output."""
    w = np.asarray(weights, dtype="float32")
    inputs = keras.Input((w.shape[1],), name="x")
    layer = keras.layers.Dense(w.shape[0], name="affine")
    model = keras.Model(inputs, layer(inputs), name="affine_dense")
    layer.set_weights([w.T, np.full((w.shape[0],), bias, dtype="float32")])
    return model
