"""The book's first lessons, measured: computation graphs (chapter 1), a first network, activation
functions and optimizers (chapter 2).

Three runners, one per task of the registry:

- :func:`run_graph_basics` (``graph-basics``): the chapter-1 programs on an explicit graph
  (:class:`supervised.graph.Graph`): x + y, W.x, W.x + b, the gradients of W.x + b, and the same affine map as
  a Keras ``Dense`` layer; every graph drawn as DOT.
- :func:`run_first_network` (``first-network``): one sigmoid layer learns y = [0, 0, 1, 1] from the
  book's X by full-batch gradient descent, until its predictions round to y; plus a gallery of
  activation functions and their derivatives (by autodiff).
- :func:`run_optimizers` (``optimizers``): Keras optimizers on Rosenbrock and Beale (trajectories
  over the contours) and on a small two-moons network (loss curves), ranked in the summary.

Training loops run inside ``tf.function`` (``tf.range`` loops with ``TensorArray`` histories), so a
whole descent is one call rather than thousands of eager steps.
"""

from __future__ import annotations

import contextlib
import logging
import math

import keras
import numpy as np
import tensorflow as tf

from lab.dot import keras_model_to_dot, render_dot
from lab.errors import ScenarioError
from supervised.graph import Graph, format_value

# --------------------------------------------------------------------------------------------------
# Shared helpers


def compiled(ctx, fn):
    """``tf.function`` honouring the scenario's ``jit_compile`` (auto: TensorFlow's default, no XLA).

    Each optimizer is traced into its own function on purpose (its update is part of the loop), so
    TensorFlow's "frequent retracing" warning is silenced while these functions are first called.
    """
    jit = ctx.jit_compile if isinstance(ctx.jit_compile, bool) else None
    function = tf.function(fn, jit_compile=jit)

    def call(*args):
        with _tf_log_level(logging.ERROR):
            return function(*args)

    return call


@contextlib.contextmanager
def _tf_log_level(level: int):
    logger = tf.get_logger()
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def _note_distributed(ctx) -> None:
    if ctx.distributed:
        ctx.log(f"note: these tasks are tiny and run on one device; strategy {ctx.strategy_info.chosen} is not used")


def _clean(v) -> float:
    """A float without the last-bit noise of binary arithmetic (12 significant digits: 9.4, not 9.399999999999999)."""
    return float(f"{float(v):.12g}")


def _draw(ctx, dot_text: str, stem: str) -> tuple[str, str | None, str | None]:
    """Write ``artifacts/<stem>.dot`` and, when Graphviz's dot exists, ``<stem>.png``.

    Returns the artifact names (dot, png or None) and the note when nothing was drawn.
    """
    rendered = render_dot(dot_text, ctx.artifact(f"{stem}.png"))
    return rendered.dot.name, (rendered.image.name if rendered.image else None), rendered.note


# --------------------------------------------------------------------------------------------------
# graph-basics: the chapter-1 programs


def chapter1_programs(weights, vector, bias, x=2.0, y=2.5):
    """The chapter-1 computations as (key, title, graph, feeds, result node) on explicit graphs."""
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
        ("add", "x + y", add, {gx: x, gy: y}, add_out),
        ("matvec", "W·x", matvec, {mW: weights, mx: vector}, matvec_out),
        ("affine", "W·x + b", affine, {aW: weights, ax: vector, ab: bias}, affine_out),
        ("gradients", "∂/∂(W, x, b) of Σ(W·x + b)", grads, {gW: weights, gxv: vector, gb: bias}, cost),
    ]


def dense_affine(weights, bias) -> keras.Model:
    """W.x + b as a Keras ``Dense`` layer: kernel W transposed, bias b on every output."""
    w = np.asarray(weights, dtype="float32")
    inputs = keras.Input((w.shape[1],), name="x")
    layer = keras.layers.Dense(w.shape[0], name="affine")
    model = keras.Model(inputs, layer(inputs), name="affine_dense")
    layer.set_weights([w.T, np.full((w.shape[0],), bias, dtype="float32")])
    return model


def run_graph_basics(cfg, ctx) -> dict:
    g = cfg.graph
    _note_distributed(ctx)
    summary: dict = {}
    rows, drawn, notes = [], [], set()
    for key, title, graph, feeds, out in chapter1_programs(g.weights, g.vector, g.bias, g.x, g.y):
        values = graph.evaluate(feeds)
        notes_on_nodes = None
        result = values[out.name]
        if key == "gradients":
            grads = graph.gradients(out, feeds)
            notes_on_nodes = {name: f"∂cost/∂{name} = {format_value(v)}" for name, v in grads.items()}
            result = grads
            for j, v in enumerate(np.ravel(grads["W"])):
                summary[f"grad_w_{j}"] = _clean(v)
            for j, v in enumerate(np.ravel(grads["x"])):
                summary[f"grad_x_{j}"] = _clean(v)
            summary["grad_b"] = _clean(grads["b"])
            shown = "; ".join(f"∂/∂{k} = {format_value(v)}" for k, v in grads.items())
        elif np.ndim(result) == 0:
            summary[f"{key}_result"] = _clean(result)
            shown = format_value(result, 6)
        else:
            for j, v in enumerate(np.ravel(result)):
                summary[f"{key}_{j}"] = _clean(v)
            shown = format_value(result, 6)
        dot = graph.to_dot(values, title=f"{title}", notes=notes_on_nodes)
        dot_name, png_name, note = _draw(ctx, dot, key)
        if note:
            notes.add(note)
        drawn.append((title, dot_name, png_name))
        rows.append({"program": key, "computes": title, "result": shown, "graph": dot_name})
        ctx.log(f"{key}: {title} = {shown}")

    # The fifth program: the same affine map as a Keras layer, checked against the explicit graph.
    model = dense_affine(g.weights, g.bias)
    dense_out = keras.ops.convert_to_numpy(model(np.asarray([g.vector], dtype="float32")))[0]
    for j, v in enumerate(dense_out):
        summary[f"dense_{j}"] = float(v)
    affine_values = np.array([summary[f"affine_{j}"] for j in range(len(dense_out))])
    tolerance = {"float16": 1e-2, "bfloat16": 2e-2}.get(model.compute_dtype, 1e-5)  # mixed precision policies
    summary["dense_matches_graph"] = bool(np.allclose(dense_out, affine_values, rtol=tolerance, atol=tolerance))
    model_path = ctx.save_model(model, "affine_dense.keras")
    dot_name, png_name, note = _draw(ctx, keras_model_to_dot(model), "dense")
    if note:
        notes.add(note)
    drawn.append(("Dense(W, b) in Keras", dot_name, png_name))
    rows.append({"program": "dense", "computes": "Dense layer with kernel Wᵀ, bias b", "result": format_value(dense_out, 6),
                 "graph": dot_name})
    ctx.log(f"dense: Keras Dense layer = {format_value(dense_out, 6)} (saved {model_path.name})")

    ctx.report.table("The chapter-1 programs", rows,
                     note="Each computation is an explicit graph evaluated with keras.ops (float64, as Gorgonia's "
                          "Float64); the Keras Dense layer computes W·x + b in float32.")
    for title, dot_name, png_name in drawn:
        if png_name:
            ctx.report.image(f"Graph: {title}", f"artifacts/{png_name}")
        else:
            ctx.report.text(f"Graph: {title}", f"[artifacts/{dot_name}](artifacts/{dot_name}) (Graphviz DOT)")
    for note in sorted(notes):
        ctx.log(f"note: {note}")
        ctx.report.text("Drawing the graphs", note)
    ctx.log_metrics(0, **{k: v for k, v in summary.items() if isinstance(v, float)})
    return summary


# --------------------------------------------------------------------------------------------------
# first-network: the chapter-2 single layer


BOOK_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype="float32")
BOOK_Y = np.array([[0], [0], [1], [1]], dtype="float32")


def first_network(seed: int, use_bias: bool = False) -> keras.Model:
    """One Dense unit with a sigmoid, weights drawn uniformly in [-1, 1) (as the book's NumPy-style start)."""
    return keras.Sequential(
        [
            keras.Input((3,), name="X"),
            keras.layers.Dense(1, activation="sigmoid", use_bias=use_bias, name="layer",
                               kernel_initializer=keras.initializers.RandomUniform(-1.0, 1.0, seed=seed)),
        ],
        name="first_network",
    )


def train_until_learned(model, x, y, learning_rate, max_epochs, target_loss, loss="mse", chunk=500,
                        step_fn=tf.function, on_chunk=None):
    """Full-batch gradient descent until ``round(predictions) == y`` and ``loss < target_loss``.

    Each epoch first measures the loss and predictions at the current weights; if both criteria hold
    it stops, else it takes one gradient step. Runs ``chunk`` epochs per compiled call. Returns
    ``(epochs, losses, learned)``: the number of gradient steps taken, the loss before each step (and
    at the end), and whether the criteria were met within ``max_epochs``.
    """
    optimizer = keras.optimizers.SGD(learning_rate)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.get(loss)
    xt, yt = tf.constant(x), tf.constant(y)

    def measure():
        pred = tf.cast(model(xt, training=True), tf.float32)
        value = tf.reduce_mean(loss_fn(yt, pred))
        ok = tf.logical_and(tf.reduce_all(tf.equal(tf.round(pred), yt)), value < target_loss)
        return pred, value, ok

    def run_chunk(n: int):  # a Python int: a static size, as XLA (jit_compile: true) needs
        history = tf.TensorArray(tf.float32, size=n, element_shape=())
        done = tf.constant(False)
        steps = tf.constant(0)
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                _, value, ok = measure()
            history = history.write(steps, value)
            if ok:
                done = tf.constant(True)
                break
            grads = tape.gradient(value, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            steps += 1
        return steps, history.stack(), done

    run_chunk = step_fn(run_chunk)
    losses: list[float] = []
    epochs, learned = 0, False
    while epochs < max_epochs and not learned:
        n = min(chunk, max_epochs - epochs)
        steps, history, done = run_chunk(n)
        start = epochs
        epochs += int(steps)
        learned = bool(done)
        losses += [float(v) for v in history.numpy()[: int(steps)]]
        if on_chunk is not None:
            on_chunk(start, epochs, losses)
    _, final, ok = measure()
    losses.append(float(final))
    return epochs, losses, bool(ok)


ACTIVATION_TITLES = {
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU (slope 0.2)", "elu": "ELU",
    "gelu": "GELU", "softplus": "softplus", "softmax": "softmax of (x, 0), first output", "selu": "SELU",
    "swish": "swish (SiLU)",
}


def activation_curves(names, x) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Value and derivative (by autodiff) of each activation on the points ``x``.

    Element-wise activations are differentiated through ``sum(f(x))``; softmax, which acts on a vector,
    is drawn as its first output for the pair (x, 0) (equal to sigmoid(x)) and differentiated the same way.
    """
    xt = tf.constant(np.asarray(x, dtype="float32"))
    out = {}
    for name in names:
        with tf.GradientTape() as tape:
            tape.watch(xt)
            if name == "softmax":
                pair = tf.stack([xt, tf.zeros_like(xt)], axis=-1)
                value = keras.activations.softmax(pair, axis=-1)[:, 0]
            else:
                value = keras.activations.get(name)(xt)
            total = tf.reduce_sum(value)
        out[name] = (value.numpy(), tape.gradient(total, xt).numpy())
    return out


def activation_figure(curves, x):
    from lab.plots import pyplot

    plt = pyplot()

    n = len(curves)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, (value, deriv)) in zip(axes.flat, curves.items(), strict=False):
        ax.axhline(0, color="#999", lw=0.6)
        ax.axvline(0, color="#999", lw=0.6)
        ax.plot(x, value, lw=2, label="f(x)")
        ax.plot(x, deriv, lw=1.6, ls="--", label="f'(x)")
        ax.set_title(ACTIVATION_TITLES.get(name, name), fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Activation functions (solid) and their derivatives by autodiff (dashed)")
    fig.tight_layout()
    return fig


def run_first_network(cfg, ctx) -> dict:
    t = cfg.training
    _note_distributed(ctx)
    model = first_network(cfg.seed, t.use_bias)
    every = max(1, t.max_epochs // 1000)
    with ctx.progress(t.max_epochs, "first network", unit="epoch") as bar:

        def on_chunk(start, end, losses):
            for e in range(start, end):
                if e % every == 0:
                    ctx.log_metrics(e, loss=losses[e])
            bar.update(end - start, loss=losses[-1] if losses else float("nan"))

        epochs, losses, learned = train_until_learned(
            model, BOOK_X, BOOK_Y, t.learning_rate, t.max_epochs, t.target_loss, t.loss,
            step_fn=lambda fn: compiled(ctx, fn), on_chunk=on_chunk,
        )
    ctx.log_metrics(epochs, loss=losses[-1])
    pred = keras.ops.convert_to_numpy(model(BOOK_X)).ravel()
    rounded_ok = bool(np.array_equal(np.round(pred), BOOK_Y.ravel()))
    if not learned:
        ctx.log(f"warning: not learned within {t.max_epochs} epochs (loss {losses[-1]:.4g}); "
                "raise training.max_epochs or training.learning_rate")
    ctx.save_model(model, "first_network.keras")

    from lab.plots import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(np.arange(len(losses)), losses, lw=1.8)
    ax.axhline(t.target_loss, color="#c33", ls="--", lw=1, label=f"target {t.target_loss:g}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (full-batch gradient step)")
    ax.set_ylabel(t.loss)
    ax.set_title(f"One sigmoid layer learns y from X: {epochs} epochs")
    ax.legend()
    ax.grid(alpha=0.3)
    ctx.save_figure(fig, "learning_curve.png")

    lo, hi = cfg.activations.x_range
    xs = np.linspace(lo, hi, 401)
    curves = activation_curves(cfg.activations.functions, xs)
    ctx.save_figure(activation_figure(curves, xs), "activations.png")

    weights = keras.ops.convert_to_numpy(model.get_layer("layer").kernel).ravel()
    summary = {"epochs": epochs, "final_loss": losses[-1], "learned": learned, "rounded_equal_y": rounded_ok}
    summary.update({f"prediction_{i}": float(p) for i, p in enumerate(pred)})
    summary.update({f"weight_{i}": float(w) for i, w in enumerate(weights)})

    ctx.report.table(
        "The network's predictions",
        [{"X": BOOK_X[i].astype(int).tolist(), "y": int(BOOK_Y[i, 0]), "prediction": float(pred[i]),
          "rounded": int(round(float(pred[i])))} for i in range(len(pred))],
        note=f"One Dense unit with a sigmoid, {t.loss} loss, plain gradient descent at learning rate "
             f"{t.learning_rate:g}: {'learned' if learned else 'NOT learned'} after {epochs} epochs "
             f"(loss {losses[-1]:.4g}). Weights: {format_value(weights)}.",
    )
    ctx.report.image("Learning curve", "artifacts/learning_curve.png")
    zero = int(np.argmin(np.abs(xs)))
    ctx.report.table(
        "Activation functions",
        [{"function": ACTIVATION_TITLES.get(n, n), "f(0)": float(v[zero]), "f'(0)": float(d[zero]),
          "max f'": float(d.max()), "min f'": float(d.min())} for n, (v, d) in curves.items()],
        note="Derivatives computed by TensorFlow's autodiff on the plotted range.",
    )
    ctx.report.image("Activation gallery", "artifacts/activations.png")
    return summary


# --------------------------------------------------------------------------------------------------
# optimizers: Keras optimizers on 2-D surfaces and a small network


def rosenbrock(p):
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def beale(p):
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


SURFACES = {
    # name: (function, minimum, plot bounds (x0, x1, y0, y1))
    "rosenbrock": (rosenbrock, (1.0, 1.0), (-2.0, 2.0, -1.0, 3.0)),
    "beale": (beale, (3.0, 0.5), (-1.0, 4.0, -1.5, 2.0)),
}


def surface_values(surface: str, points) -> np.ndarray:
    """f of a surface at NumPy points (float64; overflow on a diverged path gives inf/nan, silently)."""
    with np.errstate(all="ignore"):
        return np.asarray(SURFACES[surface][0](np.asarray(points, dtype="float64")))


def make_optimizer(spec, learning_rate: float, where: str = "optimizers"):
    """The Keras optimizer a spec names; a wrong option becomes a ScenarioError naming the field."""
    cls = getattr(keras.optimizers, spec.optimizer, None)
    if cls is None:
        raise ScenarioError(f"{where}: optimizer {spec.optimizer!r} is not in this Keras ({keras.__version__})")
    try:
        return cls(learning_rate=learning_rate, **spec.options)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}.options: {spec.optimizer} rejects {spec.options}: {exc}") from None


def descend(optimizer, fn, start, steps: int, step_fn=tf.function) -> np.ndarray:
    """``steps`` optimizer steps on the 2-D function ``fn`` from ``start``; returns the (steps + 1, 2) path."""
    point = keras.Variable(np.asarray(start, dtype="float32"), name="point")
    optimizer.build([point])

    def loop(n):
        path = tf.TensorArray(tf.float32, size=n + 1)
        path = path.write(0, point.value)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                value = fn(point.value)
            grad = tape.gradient(value, point.value)
            optimizer.apply_gradients([(grad, point)])
            path = path.write(i + 1, point.value)
        return path.stack()

    return step_fn(loop)(tf.constant(steps)).numpy()


def two_moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles with Gaussian noise, standardised; labels 0 and 1 (shuffled)."""
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0, t1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n - n0)
    outer = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    inner = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([outer, inner]) + rng.normal(0, noise, (n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    order = rng.permutation(n)
    x, y = x[order], y[order]
    x = (x - x.mean(0)) / x.std(0)
    return x.astype("float32"), y.astype("float32")[:, None]


def moons_network(hidden, activation: str, seed: int) -> keras.Model:
    layers = [keras.Input((2,), name="point")]
    for i, width in enumerate(hidden):
        layers.append(keras.layers.Dense(width, activation=activation, name=f"hidden_{i}",
                                         kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i)))
    layers.append(keras.layers.Dense(1, activation="sigmoid", name="class",
                                     kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden))))
    return keras.Sequential(layers, name="moons")


def train_network(model, optimizer, x, y, epochs: int, step_fn=tf.function) -> tuple[np.ndarray, float]:
    """Full-batch training for ``epochs``; returns the loss before each step (and at the end) and the accuracy."""
    optimizer.build(model.trainable_variables)
    bce = keras.losses.BinaryCrossentropy()
    xt, yt = tf.constant(x), tf.constant(y)

    def loop(n):
        history = tf.TensorArray(tf.float32, size=n + 1)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                loss = bce(yt, tf.cast(model(xt, training=True), tf.float32))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            history = history.write(i, loss)
        pred = tf.cast(model(xt, training=False), tf.float32)
        history = history.write(n, bce(yt, pred))
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.round(pred), yt), tf.float32))
        return history.stack(), accuracy

    history, accuracy = step_fn(loop)(tf.constant(epochs))
    return history.numpy(), float(accuracy)


def _finite_or_none(v: float):
    return float(v) if np.isfinite(v) else None


def compare_one(spec, cfg, data, initial_weights, ctx) -> dict:
    """Run one optimizer on every surface and on the network; JSON-ready results."""
    idx = [o.name for o in cfg.optimizers].index(spec.name)
    where = f"optimizers.{idx}"
    out: dict = {"surfaces": {}, "network": {}}
    for surface in cfg.surfaces.functions:
        fn = SURFACES[surface][0]
        start = getattr(cfg.surfaces, f"{surface}_start")
        path = descend(make_optimizer(spec, spec.learning_rate, where), fn, start, cfg.surfaces.steps,
                       step_fn=lambda f: compiled(ctx, f))
        values = surface_values(surface, path)
        out["surfaces"][surface] = {"path": path.tolist(), "final": _finite_or_none(values[-1])}
        yield surface, out
    x, y = data
    model = moons_network(cfg.network.hidden, cfg.network.activation, cfg.seed)
    model.set_weights(initial_weights)
    history, accuracy = train_network(model, make_optimizer(spec, spec.net_lr, where), x, y, cfg.network.epochs,
                                      step_fn=lambda f: compiled(ctx, f))
    out["network"] = {"loss": [_finite_or_none(v) for v in history], "final": _finite_or_none(history[-1]),
                      "accuracy": accuracy}
    yield "network", out


def _rank(results: dict[str, float | None]) -> list[str]:
    return sorted(results, key=lambda k: (results[k] is None, results[k] if results[k] is not None else 0.0))


def run_optimizers(cfg, ctx) -> dict:
    _note_distributed(ctx)
    for i, spec in enumerate(cfg.optimizers):  # every mistake in the options before any work
        make_optimizer(spec, spec.learning_rate, f"optimizers.{i}")
    # One state file per finished optimizer (written once): a resumed run reuses them.
    done: dict = {}
    if ctx.resume:
        for spec in cfg.optimizers:
            saved = ctx.load_state(f"optimizer-{spec.name}.json")
            if saved is not None and saved.get("spec") == spec.model_dump(mode="json"):
                done[spec.name] = saved["result"]
    if done:
        ctx.log(f"resuming: {', '.join(done)} already finished")
    data = two_moons(cfg.network.samples, cfg.network.noise, cfg.seed)
    initial = moons_network(cfg.network.hidden, cfg.network.activation, cfg.seed).get_weights()
    units = len(cfg.surfaces.functions) + 1
    with ctx.progress(len(cfg.optimizers) * units, "optimizers", unit="run") as bar:
        if done:
            bar.update(len([s for s in cfg.optimizers if s.name in done]) * units)
        for spec in cfg.optimizers:
            if spec.name in done:
                continue
            for part, result in compare_one(spec, cfg, data, initial, ctx):
                final = result["network"]["final"] if part == "network" else result["surfaces"][part]["final"]
                bar.update(1, optimizer=spec.name, **{part: final if final is not None else float("inf")})
            done[spec.name] = result
            ctx.save_state(f"optimizer-{spec.name}.json", {"spec": spec.model_dump(mode="json"), "result": result})

    if ctx.resume:
        ctx.metrics.truncate_after(-1)  # metrics are written once, below, from the saved results
    summary: dict = {}
    names = [s.name for s in cfg.optimizers]
    for surface in cfg.surfaces.functions:
        finals = {n: done[n]["surfaces"][surface]["final"] for n in names}
        for n in names:
            summary[f"{surface}_final_{n}"] = finals[n]
        ranking = _rank(finals)
        summary[f"best_{surface}"] = ranking[0]
        summary[f"ranking_{surface}"] = ",".join(ranking)
        ctx.save_figure(surface_figure(surface, cfg, {n: np.asarray(done[n]["surfaces"][surface]["path"]) for n in names}),
                        f"{surface}.png")
    # metrics.csv: f along each path at ~50 steps (the figures have every step), then the network's losses.
    stride = max(1, cfg.surfaces.steps // 50)
    for step in sorted({*range(0, cfg.surfaces.steps + 1, stride), cfg.surfaces.steps}):
        ctx.log_metrics(step, **{f"{surface}_{n}": float(surface_values(surface, done[n]["surfaces"][surface]["path"][step]))
                                 for surface in cfg.surfaces.functions for n in names})
    net_finals = {n: done[n]["network"]["final"] for n in names}
    for n in names:
        summary[f"network_loss_{n}"] = net_finals[n]
        summary[f"network_accuracy_{n}"] = done[n]["network"]["accuracy"]
    ranking = _rank(net_finals)
    summary["best_network"] = ranking[0]
    summary["ranking_network"] = ",".join(ranking)
    stride = max(1, cfg.network.epochs // 100)
    for epoch in sorted({*range(0, cfg.network.epochs + 1, stride), cfg.network.epochs}):
        ctx.log_metrics(epoch, **{f"network_loss_{n}": done[n]["network"]["loss"][epoch] for n in names
                                  if done[n]["network"]["loss"][epoch] is not None})
    ctx.save_figure(network_figure(cfg, {n: done[n]["network"]["loss"] for n in names}), "network_loss.png")

    rows = []
    for spec in cfg.optimizers:
        row = {"optimizer": spec.name, "class": spec.optimizer, "lr (surfaces)": spec.learning_rate,
               "lr (network)": spec.net_lr, "options": ", ".join(f"{k}={v}" for k, v in spec.options.items()) or "-"}
        for surface in cfg.surfaces.functions:
            row[f"{surface} f(end)"] = summary[f"{surface}_final_{spec.name}"]
        row["network loss"] = summary[f"network_loss_{spec.name}"]
        row["network accuracy"] = summary[f"network_accuracy_{spec.name}"]
        rows.append(row)
    ctx.report.table("Optimizers compared", rows,
                     note=f"{cfg.surfaces.steps} steps on each surface from the same start; {cfg.network.epochs} full-batch "
                          f"epochs on {cfg.network.samples} two-moons points from the same initial weights. "
                          "None: the run diverged.")
    ranks = [f"- {what}: {summary[f'ranking_{what}'].replace(',', ' < ')}" for what in [*cfg.surfaces.functions, "network"]]
    ctx.report.text("Rankings (lowest final value first)", "\n".join(ranks))
    for surface in cfg.surfaces.functions:
        ctx.report.image(f"Trajectories on {surface}", f"artifacts/{surface}.png")
    ctx.report.image("Network loss curves", "artifacts/network_loss.png")
    return summary


def surface_figure(surface: str, cfg, paths: dict[str, np.ndarray]):
    from lab.plots import pyplot

    plt = pyplot()
    from matplotlib.colors import LogNorm

    _, minimum, (x0, x1, y0, y1) = SURFACES[surface]
    start = getattr(cfg.surfaces, f"{surface}_start")
    x0, x1 = min(x0, start[0] - 0.5), max(x1, start[0] + 0.5)
    y0, y1 = min(y0, start[1] - 0.5), max(y1, start[1] + 0.5)
    gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    z = surface_values(surface, np.stack([gx, gy], axis=-1)) + 1e-3
    fig, ax = plt.subplots(figsize=(7, 5.6))
    levels = np.logspace(np.log10(z.min()), np.log10(z.max()), 30)
    ax.contourf(gx, gy, z, levels=levels, norm=LogNorm(), cmap="Greys", alpha=0.35)
    ax.contour(gx, gy, z, levels=levels, norm=LogNorm(), colors="#777", linewidths=0.4)
    colors = plt.get_cmap("tab10")
    for i, (name, path) in enumerate(paths.items()):
        path = np.where(np.isfinite(path), path, np.nan)
        final = surface_values(surface, path[-1])
        label = f"{name}: f = {final:.2e}" if np.isfinite(final) else f"{name}: diverged"
        ax.plot(path[:, 0], path[:, 1], "-", lw=1.4, color=colors(i % 10), label=label)
        ax.plot(path[-1, 0], path[-1, 1], "o", ms=4, color=colors(i % 10))
    ax.plot(*start, "s", color="k", ms=7, label="start")
    ax.plot(*minimum, "*", color="#d62728", ms=14, label="minimum")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(f"{surface.capitalize()}: {cfg.surfaces.steps} steps of each optimizer")
    ax.legend(fontsize=8, loc="best")
    return fig


def network_figure(cfg, losses: dict[str, list]):
    from lab.plots import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, curve in losses.items():
        ax.plot([np.nan if v is None else v for v in curve], lw=1.6, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch (full batch)")
    ax.set_ylabel("binary cross-entropy")
    hidden = "-".join(str(h) for h in cfg.network.hidden)
    ax.set_title(f"Two moons, network 2-{hidden}-1 ({cfg.network.activation}), same initial weights")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
