"""Device strategies: ``auto | cpu | gpu | mirrored | multi-worker``, dtype policies and XLA.

:func:`prepare_process` must run before TensorFlow is imported (``cpu`` hides the GPUs through
``CUDA_VISIBLE_DEVICES``). :func:`select` imports TensorFlow and returns the ``tf.distribute`` strategy
with a description of what was chosen and why, which the run folder records in ``env.json``.

Note on ``multi-worker``: Keras 3's ``Model.fit`` fails under ``MultiWorkerMirroredStrategy`` ("Attempt
to convert a value (PerReplica...) to a Tensor"); tasks that support it use a custom loop with
``strategy.experimental_distribute_dataset`` and ``strategy.run``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

from lab.backend import keras_backend, quiet_native_stderr
from lab.errors import StrategyError
from lab.schema import STRATEGIES, XLA_RULES, Supports


@dataclass
class StrategyInfo:
    requested: str
    chosen: str
    devices: list[str] = field(default_factory=list)
    reason: str = ""
    precision: str = "float32"
    jit_compile: bool = False
    jit_reason: str = ""
    num_replicas: int = 1

    def as_dict(self) -> dict:
        return dict(self.__dict__)


TF_ONLY = ("mirrored", "multi-worker")
# what a worker says when its port is taken (lab launch retries)
PORT_TAKEN = "could not start its gRPC server"


def prepare_process(strategy: str) -> None:
    """Settings that must be made before TensorFlow (or JAX) starts."""
    if strategy not in STRATEGIES:
        raise StrategyError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    backend = keras_backend()
    if backend != "tensorflow" and strategy in TF_ONLY:
        raise StrategyError(f"strategy {strategy!r} is TensorFlow's tf.distribute, and this process runs "
                            f"Keras on {backend} (KERAS_BACKEND={backend}); use strategy cpu, gpu or auto, "
                            f"or unset KERAS_BACKEND")
    if strategy == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        if backend == "jax" and "jax" not in sys.modules:
            os.environ["JAX_PLATFORMS"] = "cpu"
    if strategy == "multi-worker" and not os.environ.get("TF_CONFIG"):
        raise StrategyError(
            "strategy 'multi-worker' needs TF_CONFIG describing the cluster, e.g. "
            '{"cluster": {"worker": ["localhost:12345", "localhost:12346"]}, "task": {"type": "worker", '
            '"index": 0}}; '
            "set it in each worker's environment, or use strategy: auto"
        )
    if strategy == "multi-worker":
        check_tf_config(os.environ["TF_CONFIG"])


LOGICAL_CPUS = "LAB_LOGICAL_CPUS"


def logical_cpus() -> int:
    """How many logical devices the CPU is split into (``LAB_LOGICAL_CPUS``, default 1): with 2 or more and
    no GPU, ``mirrored`` trains data-parallel over them, so multi-device code is exercised on any machine
    (CI proves it gives the result of one device at the same global batch). It does not make the CPU
    faster: the devices share its cores."""
    raw = os.environ.get(LOGICAL_CPUS, "").strip()
    if not raw:
        return 1
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise StrategyError(f"{LOGICAL_CPUS}={raw!r}: give a whole number of logical CPU devices, 1 ... 64 "
                            "(or unset it)")
    return n


def _split_cpu(tf, n: int) -> None:
    if n < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu,
                                                   [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:  # TensorFlow's devices were initialised already (a second run in one process)
        if len(tf.config.list_logical_devices("CPU")) != n:
            raise StrategyError(f"{LOGICAL_CPUS}={n} must be set before TensorFlow starts (in the "
                                f"environment of the `lab` command)") from None


TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


def check_tf_config(text: str) -> dict:
    """``TF_CONFIG`` parsed and checked the way TensorFlow's multi-worker runtime reads it: a ``cluster`` of
    job names (``worker``, optionally ``chief``, ``ps``, ``evaluator``) each a non-empty list of ``host:port``
    addresses, and this process's ``task`` (``type``: one of those jobs, ``index``: its place in the list).
    A StrategyError names the first thing wrong and shows a valid example."""
    def bad(what: str) -> StrategyError:
        return StrategyError(f"TF_CONFIG: {what}; expected e.g. {TF_CONFIG_EXAMPLE}")

    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StrategyError(f"TF_CONFIG is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(cfg, dict):
        raise bad(f"a JSON {type(cfg).__name__}, not an object")
    cluster = cfg.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise bad("no \"cluster\" object naming the workers")
    for job, addresses in cluster.items():
        if job not in ("worker", "chief", "ps", "evaluator"):
            raise bad(f"cluster job {job!r} is not one of worker, chief, ps, evaluator")
        if not isinstance(addresses, list) or not addresses:
            raise bad(f"cluster.{job} must be a non-empty list of \"host:port\" addresses")
        for i, address in enumerate(addresses):
            host, _, port = str(address).rpartition(":") if isinstance(address, str) else ("", "", "")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise bad(f"cluster.{job}[{i}] = {address!r} is not a \"host:port\" address")
    if "worker" not in cluster and "chief" not in cluster:
        raise bad("the cluster has no worker (or chief) job")
    task = cfg.get("task")
    if not isinstance(task, dict):
        raise bad("no \"task\" object saying which member of the cluster this process is")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        raise bad(f"task.type {kind!r} is not a job of the cluster ({', '.join(cluster)})")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise bad(f"task.index {index!r} is out of range: cluster.{kind} has {len(cluster[kind])} "
                  f"address(es), so 0 ... {len(cluster[kind]) - 1}")
    return cfg


def resolve_jit_compile(requested: str | bool, rule: str, device: str, distributed: bool) -> tuple[bool, str]:
    """The one meaning of ``jit_compile``: ``(use XLA, why)``.

    ``true`` / ``false`` are honoured as asked. ``auto`` follows the task's rule (its
    :class:`~lab.schema.Supports`): ``gpu``, the default, turns XLA on for a single GPU and off on the
    CPU and under a distribution strategy — what Keras' own "auto" does, because on a CPU the compile
    time of short steps outweighs the gain and tf.distribute steps do not use XLA; ``always`` and
    ``never`` are for tasks that measured otherwise (their ``why`` says what).
    """
    if isinstance(requested, bool):
        return requested, "set in the scenario"
    if rule == "always":
        return True, f"auto: {XLA_RULES[rule]} for this task"
    if rule == "never":
        return False, f"auto: {XLA_RULES[rule]} for this task"
    if distributed:
        return False, "auto: off under a distribution strategy"
    return device == "gpu", f"auto: {'on a single GPU' if device == 'gpu' else 'off on the CPU'}"


def select(strategy: str, precision: str = "float32", jit_compile: str | bool = "auto",
           supports: Supports | None = None):
    """Return ``(tf.distribute.Strategy, StrategyInfo)`` for the requested strategy; ``supports`` is the
    task's (its rule for ``jit_compile: auto``)."""
    supports = supports or Supports()
    prepare_process(strategy)
    if keras_backend() != "tensorflow":
        return None, _select_other_backend(strategy, precision, jit_compile)
    n_cpus = logical_cpus()
    with quiet_native_stderr():
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        _split_cpu(tf, n_cpus)
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            pass  # already initialised: growth cannot be changed any more
    strat, info = _tf_strategy(tf, strategy, len(gpus), n_cpus)
    info.num_replicas = int(strat.num_replicas_in_sync)
    info.precision = set_precision(precision, bool(gpus) and strategy != "cpu")
    device = "gpu" if info.chosen in ("gpu", "mirrored") and gpus else "cpu"
    info.jit_compile, info.jit_reason = resolve_jit_compile(jit_compile, supports.xla, device,
                                                            info.chosen in ("mirrored", "multi-worker"))
    if supports.xla_why and not isinstance(jit_compile, bool):
        info.jit_reason += f" ({supports.xla_why})"
    return strat, info


def _tf_strategy(tf, strategy: str, n_gpus: int, n_cpus: int):
    """The ``tf.distribute`` strategy for ``strategy`` given the GPUs and logical CPUs TensorFlow sees."""
    gpus = [f"/gpu:{i}" for i in range(n_gpus)]
    if strategy == "cpu":
        return _made(strategy, "cpu", tf.distribute.OneDeviceStrategy("/cpu:0"), ["/cpu:0"],
                     "requested; GPUs hidden before TensorFlow started")
    if strategy == "gpu":
        if not gpus:
            raise StrategyError(
                "strategy 'gpu' was requested but TensorFlow sees no GPU on this machine "
                "(check the driver and `pip install 'the-lab[gpu]'`); use strategy: auto to run on the CPU"
            )
        return _made(strategy, "gpu", tf.distribute.OneDeviceStrategy("/gpu:0"), ["/gpu:0"],
                     f"requested; {n_gpus} GPU(s) visible, using the first")
    if strategy == "auto":
        if n_gpus > 1:
            return _made(strategy, "mirrored", tf.distribute.MirroredStrategy(gpus), gpus,
                         f"{n_gpus} GPUs visible: mirrored over all")
        if gpus:
            return _made(strategy, "gpu", tf.distribute.OneDeviceStrategy("/gpu:0"), ["/gpu:0"],
                         "one GPU visible")
        return _made(strategy, "cpu", tf.distribute.OneDeviceStrategy("/cpu:0"), ["/cpu:0"], "no GPU visible")
    if strategy == "mirrored":
        return _mirrored(tf, gpus, n_cpus)
    cfg = json.loads(os.environ["TF_CONFIG"])
    try:
        strat = tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.UnknownError as exc:
        if "gRPC server" not in str(exc):
            raise
        task = cfg["task"]
        address = cfg["cluster"][task["type"]][task["index"]]
        raise StrategyError(f"TF_CONFIG: this worker {PORT_TAKEN} at {address} (is another program using the "
                            f"port?); pick another port, or start `lab launch` again: it picks free "
                            f"ones") from None
    workers = cfg.get("cluster", {}).get("worker", [])
    return _made(strategy, "multi-worker", strat, list(workers),
                 f"TF_CONFIG: {len(workers)} worker(s), this is {cfg.get('task', {})}")


def _mirrored(tf, gpus: list[str], n_cpus: int):
    if gpus:
        return _made("mirrored", "mirrored", tf.distribute.MirroredStrategy(gpus), gpus,
                     f"mirrored over {len(gpus)} local GPU(s)")
    if n_cpus > 1:
        cpus = [f"/cpu:{i}" for i in range(n_cpus)]
        return _made("mirrored", "mirrored", tf.distribute.MirroredStrategy(cpus), cpus,
                     f"no GPU visible: mirrored over {n_cpus} logical CPU devices ({LOGICAL_CPUS}; they "
                     f"share the CPU's cores)")
    return _made("mirrored", "mirrored", tf.distribute.MirroredStrategy(["/cpu:0"]), ["/cpu:0"],
                 f"no GPU visible: mirrored over the CPU only (set {LOGICAL_CPUS}=2 to split it into two "
                 f"devices)")


def _made(requested: str, chosen: str, strat, devices_: list[str], reason: str):
    return strat, StrategyInfo(requested, chosen, devices_, reason)


def _select_other_backend(strategy: str, precision: str, jit_compile: str | bool) -> StrategyInfo:
    """``cpu``, ``gpu`` or ``auto`` when Keras runs on JAX (or another backend): no tf.distribute; the
    backend's default device is used (``cpu`` hid the GPUs before it started). Its steps are always
    compiled (``jit_compile: auto`` means on: an uncompiled JAX step runs op by op)."""
    backend = keras_backend()
    accelerators = [d for d in devices() if not d.lower().startswith("cpu")]
    if strategy == "gpu" and not accelerators:
        raise StrategyError(f"strategy 'gpu' was requested but {backend} sees no GPU on this machine; use "
                            f"strategy: auto to run on the CPU")
    if accelerators and strategy != "cpu":
        info = StrategyInfo(strategy, "gpu", accelerators[:1], f"{backend} backend: {len(accelerators)} "
                            f"GPU(s) visible, using its default device")
    else:
        info = StrategyInfo(strategy, "cpu", ["cpu:0"], f"{backend} backend: " + (
            "requested; GPUs hidden before it started" if strategy == "cpu" else "no GPU visible"))
    info.precision = set_precision(precision, info.chosen == "gpu")
    if isinstance(jit_compile, bool):
        info.jit_compile, info.jit_reason = jit_compile, "set in the scenario"
    else:
        info.jit_compile, info.jit_reason = True, f"auto: on ({backend} compiles every step)"
    return info


def set_precision(precision: str, on_gpu: bool) -> str:
    import keras

    keras.mixed_precision.set_global_policy(precision)
    if precision == "mixed_float16" and not on_gpu:
        return "mixed_float16 (on CPU: runs, but float16 is slow there; float32 or mixed_bfloat16 is faster)"
    return precision


def devices() -> list[str]:
    if keras_backend() == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    import tensorflow as tf

    return [f"{d.device_type}:{d.name}" for d in tf.config.list_logical_devices()]
