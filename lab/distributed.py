"""Training under ``strategy: multi-worker``: TensorFlow's own runtime, driven by a custom loop.

Keras 3's ``Model.fit`` fails under ``tf.distribute.MultiWorkerMirroredStrategy`` (see
:mod:`lab.strategy`), so the tasks that support ``multi-worker`` (the classifier and the VAE) train
there with :class:`ReplicaTrainer`: every worker holds the data, draws the same permutation from the
loop's per-epoch generator, and for each global batch of ``batch_size`` examples every replica takes
its contiguous share (``numpy.array_split`` of the batch: replica ``r`` of ``R`` gets rows ``r*n//R``
to ``(r+1)*n//R``); ``strategy.run`` computes each replica's loss as the sum of its examples' losses
divided by the *global* batch's size, Keras' optimizer all-reduces (sums) the gradients across
replicas and applies the same update everywhere. The result is the update of one process on the
whole batch — the same weights within float rounding (CI checks it, 2 workers against 1 process) —
as long as no layer draws random numbers (dropout, random augmentation: each worker draws its own
masks for its own rows; those runs agree in distribution, not in every bit) and no layer depends on
the batch as a whole (batch normalisation uses each replica's own rows).

Roles: the *chief* (task ``chief``, or ``worker`` 0 when the cluster has no chief) writes the run
folder — metrics, checkpoints, artifacts, summary and report; every other worker computes the same
steps, writes nothing but its log (its run folder is a scratch folder, removed when it ends) and
skips the work after training. Whatever decides the course of training is the chief's and is
broadcast each epoch (:meth:`ReplicaTrainer.follow_chief`): early stopping, the time limit; a worker
that decided otherwise would wait forever in the next all-reduce.

Resume: the chief loads its last checkpoint *outside* the strategy (loading inside it would create
variables collectively on one worker only), every worker builds the model inside it, the chief copies
the checkpoint's weights and optimizer state in, and :meth:`ReplicaTrainer.sync_from_chief`
broadcasts them and the loop's state to the others — so the other workers need no copy of the
chief's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from lab.errors import RunError
from lab.strategy import check_tf_config

FAULT_ENV = "LAB_FAULT_EXIT_AFTER_EPOCH"  # "<worker>:<epoch>": that worker exits (code 17) after that epoch


@dataclass(frozen=True)
class Role:
    """This process's place in a multi-worker cluster (from ``TF_CONFIG``)."""

    kind: str = "worker"
    index: int = 0
    workers: int = 1  # members that train: chief + workers
    is_chief: bool = True

    @property
    def name(self) -> str:
        return f"{self.kind} {self.index}"

    @property
    def rank(self) -> int:
        """0 for the chief, then the workers in order (the per-worker random streams use it)."""
        return 0 if self.is_chief else self.index + (1 if self.kind == "worker" and self._has_chief else 0)

    _has_chief: bool = False


def role(tf_config: str | None = None) -> Role:
    """The role ``TF_CONFIG`` gives this process (checked as TensorFlow reads it); a single process when
    unset."""
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not text.strip():
        return Role()
    cfg = check_tf_config(text)
    cluster, task = cfg["cluster"], cfg["task"]
    has_chief = "chief" in cluster
    kind, index = task["type"], int(task["index"])
    chief = kind == "chief" or (kind == "worker" and index == 0 and not has_chief)
    members = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return Role(kind, index, members, chief, has_chief)


def classify_terms(label_smoothing: float = 0.0) -> Callable:
    """Per-example terms of a classifier with one-hot labels: ``loss`` (cross-entropy with label smoothing,
    what Keras' ``CategoricalCrossentropy`` averages) and ``accuracy`` (0 or 1)."""
    import keras

    ce = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing, reduction="none")

    def terms(model, batch, training):
        x, y = batch
        probs = model(x, training=training)
        right = keras.ops.cast(keras.ops.equal(keras.ops.argmax(probs, -1), keras.ops.argmax(y, -1)),
                               "float32")
        return {"loss": keras.ops.cast(ce(y, probs), "float32"), "accuracy": right}

    return terms


class ReplicaTrainer:
    """A custom training loop that runs under any ``tf.distribute`` strategy (see the module docstring).

    Args:
        strategy: the run's strategy (``ctx.strategy``).
        model: a compiled Keras model, built in the strategy's scope; its ``optimizer`` is used.
        terms: ``terms(model, batch, training) -> {name: per-example float32 tensor}``; ``"loss"`` is
            minimised (mean over the global batch); every term's mean is reported per epoch.
        role: this process's :class:`Role` (default: from ``TF_CONFIG``).
    """

    def __init__(self, strategy, model, terms: Callable, role_: Role | None = None):
        import tensorflow as tf

        self.tf = tf
        self.strategy = strategy
        self.model = model
        self.terms = terms
        self.role = role_ or role()
        self.replicas = int(strategy.num_replicas_in_sync)
        if not model.optimizer.built:
            with strategy.scope():
                model.optimizer.build(model.trainable_variables)
        self._step = tf.function(self._train_step, reduce_retracing=True)
        self._eval = tf.function(lambda batch: self.terms(self.model, batch, False), reduce_retracing=True)
        self._broadcast_fn = tf.function(self._broadcast_graph, reduce_retracing=True)

    # one global batch ------------------------------------------------------------------------------
    def _train_step(self, per_replica, n_global):
        tf, model, optimizer = self.tf, self.model, self.model.optimizer

        def replica_step(batch):
            with tf.GradientTape() as tape:
                terms = self.terms(model, batch, True)
                loss = tf.reduce_sum(terms["loss"]) / n_global
                if model.losses:  # regularisers: counted once per global step
                    loss += tf.add_n([tf.cast(v, "float32") for v in model.losses]) / self.replicas
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return {k: tf.reduce_sum(tf.cast(v, "float32")) for k, v in terms.items()}

        sums = self.strategy.run(replica_step, args=(per_replica,))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in sums.items()}

    def _distribute(self, arrays: tuple[np.ndarray, ...]):
        n, replicas = len(arrays[0]), self.replicas

        def chunk(context):
            r = context.replica_id_in_sync_group
            lo, hi = r * n // replicas, (r + 1) * n // replicas
            return tuple(self.tf.constant(a[lo:hi]) for a in arrays)

        return self.strategy.experimental_distribute_values_from_function(chunk)

    def train_epoch(self, arrays: tuple[np.ndarray, ...], batch_size: int) -> dict[str, float]:
        """One pass over ``arrays`` (already in the epoch's order) in global batches of ``batch_size``
        (the last one may be smaller); returns each term's mean over the examples."""
        with self._peers_lost():
            return self._train_epoch(arrays, batch_size)

    @contextlib.contextmanager
    def _peers_lost(self):
        """A peer that died (TensorFlow's heartbeats notice it in about 10 s) ends this worker with a
        RunError that says so, instead of a TensorFlow traceback."""
        tf = self.tf
        try:
            yield
        except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError,
                tf.errors.CancelledError) as exc:
            text = str(exc)
            peers = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", text)))
            keys = ("unhealthy", "heartbeat", "socket closed", "connection", "unavailable", "deadline")
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            why = next((ln for ln in lines if any(k in ln.lower() for k in keys)), type(exc).__name__)
            raise RunError(f"{self.role.name}: the cluster lost a worker ({', '.join(peers) or 'a peer'}: "
                           f"{why[:200]}); the chief's last checkpoint is kept: start every worker again "
                           f"with `lab run --resume RUN_DIR` (locally: `lab launch --workers N --resume "
                           f"RUN_DIR`)") from None

    def _train_epoch(self, arrays: tuple[np.ndarray, ...], batch_size: int) -> dict[str, float]:
        n = len(arrays[0])
        totals: dict[str, float] = {}
        for start in range(0, n, batch_size):
            part = tuple(a[start:start + batch_size] for a in arrays)
            sums = self._step(self._distribute(part), self.tf.constant(float(len(part[0]))))
            for k, v in sums.items():
                totals[k] = totals.get(k, 0.0) + float(v)
        return {k: v / max(1, n) for k, v in totals.items()}

    def evaluate(self, arrays: tuple[np.ndarray, ...], batch_size: int = 500) -> dict[str, float]:
        """Each term's mean over ``arrays`` without training, computed by this process alone (every
        worker holds the same weights, so every worker gets the chief's figures)."""
        n = len(arrays[0])
        totals: dict[str, float] = {}
        for start in range(0, n, batch_size):
            part = tuple(self.tf.constant(a[start:start + batch_size]) for a in arrays)
            for k, v in self._eval(part).items():
                totals[k] = totals.get(k, 0.0) + float(self.tf.reduce_sum(v))
        return {k: v / max(1, n) for k, v in totals.items()}

    # the chief's word --------------------------------------------------------------------------------
    def _broadcast(self, values: list):
        """The first replica's (the chief's) ``values`` on every replica: an all-reduce (sum) in which
        the other replicas contribute zeros."""
        with self._peers_lost():
            return self._broadcast_fn([self.tf.convert_to_tensor(v) for v in values])

    def _broadcast_graph(self, values: list):
        tf = self.tf

        def contribute():
            context = tf.distribute.get_replica_context()
            first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), "float64")
            return [tf.cast(tf.cast(v, "float64") * first, "float64") for v in values]

        per_replica = self.strategy.run(contribute)
        return [self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in per_replica]

    def broadcast_json(self, obj) -> object:
        """``obj`` as the chief has it (JSON-serialisable), on every worker."""
        data = np.frombuffer(json.dumps(obj).encode("utf-8"), np.uint8).astype(np.float64)
        (length,) = self._broadcast([np.float64(len(data))])
        size = int(length.numpy())
        padded = np.zeros(1 << max(6, (size - 1).bit_length()), np.float64)  # powers of two: few traces
        padded[:min(size, len(data))] = data[:size]
        (received,) = self._broadcast([padded])
        return json.loads(bytes(np.rint(received.numpy()[:size]).astype(np.uint8)).decode("utf-8"))

    def sync_from_chief(self, loop) -> None:
        """Give every worker the chief's weights, optimizer state and loop state (after ``loop.restore``)."""
        if self.replicas == 1 and self.role.workers == 1:
            return
        mine = {"epochs": loop.epochs, "seed": loop.seed, "parameters": int(self.model.count_params()),
                "variables": len(self.model.variables) + len(self.model.optimizer.variables)}
        chiefs = self.broadcast_json(mine)
        if chiefs != mine:
            differ = ", ".join(f"{k} {mine[k]} (the chief's: {chiefs.get(k)})"
                               for k in mine if chiefs.get(k) != mine[k])
            raise RunError(f"{self.role.name}: this worker's scenario is not the chief's: {differ}; start "
                           f"every worker with the same scenario and --set options")
        variables = [v for v in [*self.model.variables, *self.model.optimizer.variables]
                     if np.issubdtype(np.dtype(_np_dtype(v)), np.number)]
        values = self._broadcast([v.value for v in variables])
        for variable, value in zip(variables, values, strict=True):
            variable.assign(self.tf.cast(value, variable.dtype))
        state = self.broadcast_json(asdict(loop.state))
        if not self.role.is_chief:
            loop.state = type(loop.state)(**state)
            loop._last_checkpoint = loop.state.epoch

    def follow_chief(self, loop) -> None:
        """After ``end_epoch`` (and any stop decision) on every worker: the chief's decision to stop is
        everybody's. Also the place where a test makes a worker die (``LAB_FAULT_EXIT_AFTER_EPOCH``)."""
        _fault(self.role, loop.state.epoch)
        if self.role.workers == 1:
            return
        decided = self.broadcast_json({"stop_reason": loop.state.stop_reason,
                                       "stopped_early": loop.state.stopped_early})
        loop.state.stop_reason = decided["stop_reason"]
        loop.state.stopped_early = decided["stopped_early"]


def _np_dtype(variable) -> str:
    dtype = getattr(variable, "dtype", "float32")
    return str(getattr(dtype, "name", dtype))


def _fault(role_: Role, epoch: int) -> None:
    raw = os.environ.get(FAULT_ENV, "")
    if not raw:
        return
    worker, _, at = raw.partition(":")
    if worker.strip() == str(role_.rank) and at.strip() == str(epoch):
        print(f"{FAULT_ENV}={raw}: worker {role_.rank} exits after epoch {epoch} (a fault injected for a "
              f"test)",
              flush=True)
        os._exit(17)


def transplant(source, target) -> None:
    """Copy ``source``'s weights and optimizer state into ``target`` (same architecture and optimizer),
    e.g. a checkpoint loaded outside the strategy into a model built inside it."""
    target.set_weights(source.get_weights())
    src_opt, dst_opt = getattr(source, "optimizer", None), getattr(target, "optimizer", None)
    if src_opt is None or dst_opt is None:
        return
    if not src_opt.built:
        src_opt.build(source.trainable_variables)
    if not dst_opt.built:
        dst_opt.build(target.trainable_variables)
    if len(src_opt.variables) != len(dst_opt.variables):
        raise RunError(f"the checkpoint's optimizer has {len(src_opt.variables)} variables, the model built "
                       f"now {len(dst_opt.variables)}: this run cannot be resumed (start it again)")
    for dst, src in zip(dst_opt.variables, src_opt.variables, strict=True):
        dst.assign(src.value)
