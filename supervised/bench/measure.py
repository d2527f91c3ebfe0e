"""How ``lab bench`` measures: the devices the Keras backend sees, placement on each, and the timed calls.

Every figure excludes warm-up calls (the first call traces, compiles and allocates), is the median of several
repeats, and forces the device to finish before the clock stops: GPUs run asynchronously, so a timed loop ends
by reducing the last result to one number on the host (:func:`time_calls`).

The measuring code uses ``keras`` and ``keras.ops`` only; device placement and compilation are the one
backend-specific part (:func:`on_device`, :func:`compiled`: ``tf.device`` and ``tf.function`` under
TensorFlow, ``jax.default_device`` and ``jax.jit`` under JAX). TensorFlow and JAX are imported only on their
own branch, so the bench runs on a machine that has one of them.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lab.errors import StrategyError, UsageError
from lab.seeding import stream_seed
from lab.strategy import resolve_jit_compile
from supervised.bench.config import BenchConfig, BenchScenario
from supervised.bench.model import (
    CONV,
    INPUT_SHAPES,
    build_model,
    conv2d_flops,
    cpu_dtypes,
    cpu_low_precision,
    cpu_peak,
    gpu_dtypes,
    gpu_peak,
    matmul_flops,
    percent,
    rate_figures,
    summarise,
)

Note = Callable[[str], None]

# --------------------------------------------------------------------------------------------------
# Devices


@dataclass
class Device:
    name: str  # "cpu", "gpu:0", ...
    kind: str  # "CPU" or "GPU"
    handle: Any  # tf device string, or a jax Device
    description: str = ""
    compute_capability: tuple[int, int] | None = None
    peak: dict = field(default_factory=dict)
    dtypes: dict[str, str | None] = field(default_factory=dict)  # dtype -> None (measured) or why not

    def measured(self) -> list[str]:
        return [d for d, why in self.dtypes.items() if why is None]

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "compute_capability": list(self.compute_capability) if self.compute_capability else None,
                "peak_gflops": self.peak.get("gflops", {}), "peak_method": self.peak.get("method", ""),
                "dtypes_measured": self.measured(),
                "dtypes_skipped": {d: why for d, why in self.dtypes.items() if why is not None}}


def backend() -> str:
    return keras.backend.backend()


def list_devices() -> list[Device]:
    """The CPU and each GPU the Keras backend sees, with their peaks and the dtypes they compute."""
    name = backend()
    gpus: list[Device] = []
    if name == "tensorflow":
        import tensorflow as tf

        intra = tf.config.threading.get_intra_op_parallelism_threads()
        physical = tf.config.list_physical_devices("GPU")
        for gpu in physical:
            with contextlib.suppress(RuntimeError, ValueError):
                tf.config.experimental.set_memory_growth(gpu, True)
        tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
        for i, gpu in enumerate(physical):
            details = tf.config.experimental.get_device_details(gpu) or {}
            gpus.append(_gpu(i, f"/GPU:{i}", details.get("device_name", gpu.name),
                             details.get("compute_capability"), tf32))
        cpu_handle = "/CPU:0"
    elif name == "jax":
        import jax

        intra = 0
        try:
            found = jax.devices("gpu")
        except RuntimeError:
            found = []
        tf32 = getattr(jax.config, "jax_default_matmul_precision", None) in (None, "default", "tensorfloat32")
        for i, dev in enumerate(found):
            cc = getattr(dev, "compute_capability", None)
            cc = tuple(int(x) for x in str(cc).split(".")[:2]) if cc else None
            gpus.append(_gpu(i, dev, getattr(dev, "device_kind", str(dev)), cc, tf32))
        cpu_handle = jax.devices("cpu")[0]
    else:
        raise UsageError(f"lab bench runs under the tensorflow and jax Keras backends, not {name} "
                         "(KERAS_BACKEND)")
    peak = read_cpu_peak(intra)
    description = f"{peak.get('model')} ({peak.get('logical_cpus')} logical CPUs usable)"
    cpu = Device("cpu", "CPU", cpu_handle, description, None, peak, dict(peak["dtypes"]))
    return [cpu, *gpus]


def _gpu(index, handle, device_name, cc, tf32) -> Device:
    cc = tuple(cc) if cc else None
    peak = gpu_peak(device_name, cc, tf32)
    dtypes = {"float32": None, **gpu_dtypes(cc)}
    desc = device_name + (f" (compute capability {cc[0]}.{cc[1]})" if cc else "")
    return Device(f"gpu:{index}", "GPU", handle, desc, cc, peak, dtypes)


def read_cpu_peak(intra_op_threads: int = 0) -> dict[str, Any]:
    """:func:`~supervised.bench.model.cpu_peak` of this machine."""
    text = _read("/proc/cpuinfo") or ""
    max_freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        logical = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        logical = os.cpu_count()
    if not text:  # not Linux: no flags to read
        return {"model": "unknown CPU", "gflops": {"float32": None},
                "method": "no estimate: /proc/cpuinfo unreadable", "low_precision": cpu_low_precision(()),
                "dtypes": cpu_dtypes(()), "cores": logical, "logical_cpus": logical}
    return cpu_peak(text, logical, max_freq.strip() if max_freq else None, intra_op_threads)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def choose(everything: list[Device], which: str, dtypes: list[str]) -> tuple[list[Device], str]:
    """The devices ``which`` (all, cpu or gpu) names, each keeping only the asked ``dtypes``, and a line
    saying which GPUs were seen and which measured."""
    shown = {"tensorflow": "TensorFlow", "jax": "JAX"}.get(backend(), backend())
    gpus = [d for d in everything if d.kind == "GPU"]
    if which == "gpu" and not gpus:
        raise StrategyError(f"bench.devices gpu (lab bench --device gpu): no GPU visible to {shown} on this "
                            "machine; use cpu or all")
    devices = [replace(d, dtypes={t: why for t, why in d.dtypes.items() if t in dtypes})  # (a copy each)
               for d in everything if which == "all" or d.kind.lower() == which]
    if not gpus:
        return devices, f"no GPU visible to {shown}: CPU only"
    if which == "cpu":
        return devices, f"{len(gpus)} GPU(s) visible to {shown}, not measured (--device cpu)"
    return devices, f"{len(gpus)} GPU(s) visible to {shown}: " + "; ".join(f"{g.name} {g.description}"
                                                                           for g in gpus)


def machine(everything: list[Device]) -> dict:
    """What the summary records of the machine: platform, processor, CPU count, backend, every device seen."""
    return {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "backend": backend(), "devices": [d.as_dict() for d in everything]}


@contextlib.contextmanager
def on_device(device: Device):
    """Run what is inside on ``device``: ``tf.device`` under TensorFlow, ``jax.default_device`` under JAX."""
    if backend() == "jax":
        import jax

        with jax.default_device(device.handle):
            yield
    else:
        import tensorflow as tf

        with tf.device(device.handle):
            yield


def compiled(fn):
    """``fn`` compiled by XLA: ``tf.function(jit_compile=True)`` under TensorFlow, ``jax.jit`` under JAX."""
    if backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=True)


def engines(device: Device, wanted: list[str], kind: str = "matmul") -> list[str]:
    """How a product is computed, in the order measured, of the ``wanted`` ones: the backend's own call, the
    XLA-compiled call (under TensorFlow only: under JAX the call is already compiled), and numpy's BLAS as a
    reference on the CPU (products only)."""
    out = ["eager"]
    if backend() == "tensorflow":
        out.append("xla")
    if kind == "matmul" and device.kind == "CPU":
        out.append("numpy")
    return [e for e in out if e in wanted]


def training_jit(requested: str | bool, device: Device) -> bool:
    """XLA for the timed training steps on ``device``: ``jit_compile`` true or false as the scenario says;
    ``auto`` is the lab's rule (:func:`lab.strategy.resolve_jit_compile`) applied to each device measured,
    not only to the run's own: on for a GPU, off for the CPU under TensorFlow; always on under JAX, whose
    steps are always compiled."""
    if isinstance(requested, bool):
        return requested
    if backend() == "jax":
        return True
    return resolve_jit_compile("auto", BenchScenario.supports.xla, device.kind.lower(), False)[0]


def force(x) -> float:
    """Wait for ``x`` to be computed: reduce it to one number and bring that to the host."""
    return float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.cast(x, "float32"))))


# --------------------------------------------------------------------------------------------------
# Timing


def time_calls(call: Callable[[], Any], repeats: int, min_seconds: float, warmup: int = 1,
               sync: Callable[[Any], Any] = force) -> list[float]:
    """Seconds per call of ``call``, one figure per repeat.

    ``warmup`` calls first (not timed). One more call sizes the loop: each repeat makes ``k`` calls, enough to
    last about ``min_seconds``, and then ``sync`` on the last result makes the device finish (calls on one
    device run in order, so the last finishing means all have), all inside the timed span.
    """
    for _ in range(warmup):
        sync(call())
    t0 = time.perf_counter()
    sync(call())
    once = time.perf_counter() - t0
    k = max(1, min(10_000, math.ceil(min_seconds / max(once, 1e-7))))
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = None
        for _ in range(k):
            result = call()
        sync(result)
        out.append((time.perf_counter() - t0) / k)
    return out


# --------------------------------------------------------------------------------------------------
# The three measurements


def bench_matmul(device: Device, n: int, dtype: str, s: BenchConfig, seed: int,
                 engine: str = "eager") -> dict:
    """One row of the products table: ``n x n @ n x n`` in ``dtype`` by ``engine`` on ``device``."""
    with on_device(device):
        gen = keras.random.SeedGenerator(stream_seed(seed, "matmul inputs", n))
        a = keras.ops.cast(keras.random.normal((n, n), seed=gen), dtype)
        b = keras.ops.cast(keras.random.normal((n, n), seed=gen), dtype)
        if engine == "numpy":
            an, bn = (keras.ops.convert_to_numpy(t).astype(np.float32) for t in (a, b))
            times = time_calls(lambda: np.matmul(an, bn), s.repeats, s.min_repeat_seconds, sync=lambda r: r)
        else:
            fn = compiled(keras.ops.matmul) if engine == "xla" else keras.ops.matmul
            times = time_calls(lambda: fn(a, b), s.repeats, s.min_repeat_seconds)
    fig = rate_figures(matmul_flops(n), times)
    return {"device": device.name, "dtype": dtype, "engine": engine, "n": n, **fig,
            "percent_of_peak": percent(fig["gflops_median"], device.peak.get("gflops", {}).get(dtype))}


def bench_conv(device: Device, dtype: str, s: BenchConfig, seed: int, engine: str = "eager") -> dict:
    """One row of the conv2d table: the :data:`~supervised.bench.model.CONV` layer's forward pass."""
    c = CONV
    with on_device(device):
        gen = keras.random.SeedGenerator(stream_seed(seed, "conv2d inputs"))
        images = (s.conv_batch, c["height"], c["width"], c["channels_in"])
        kernel = (c["kernel"], c["kernel"], c["channels_in"], c["channels_out"])
        x = keras.ops.cast(keras.random.normal(images, seed=gen), dtype)
        w = keras.ops.cast(keras.random.normal(kernel, seed=gen) * 0.05, dtype)

        def conv(x, w):
            return keras.ops.conv(x, w, strides=1, padding="same")

        fn = compiled(conv) if engine == "xla" else conv
        times = time_calls(lambda: fn(x, w), s.repeats, s.min_repeat_seconds)
    fig = rate_figures(conv2d_flops(s.conv_batch, **c), times)
    return {"device": device.name, "dtype": dtype, "engine": engine, "batch": s.conv_batch, "pass": "forward",
            "layer": f"{c['kernel']}x{c['kernel']} conv {c['channels_in']}->{c['channels_out']} on "
                     f"{c['height']}x{c['width']}",
            **fig, "images_per_second": s.conv_batch / fig["seconds_median"],
            "percent_of_peak": percent(fig["gflops_median"], device.peak.get("gflops", {}).get(dtype))}


def bench_training(device: Device, kind: str, batch: int, s: BenchConfig, seed: int, jit: bool) -> dict:
    """One row of the training table: ``train_on_batch`` steps of the model ``kind`` (Adam, synthetic
    data)."""
    with on_device(device):
        keras.utils.set_random_seed(stream_seed(seed, f"{kind} weights"))
        model = build_model(kind)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      jit_compile=jit)
        gen = keras.random.SeedGenerator(stream_seed(seed, f"{kind} batch", batch))
        x = keras.random.uniform((batch, *INPUT_SHAPES[kind]), seed=gen)
        y = keras.random.randint((batch,), 0, 10, seed=gen)
        # train_on_batch returns its loss as numpy: every step ends on the host, nothing is left queued
        times = time_calls(lambda: model.train_on_batch(x, y), s.repeats, s.min_repeat_seconds,
                           warmup=s.train_warmup_steps, sync=lambda r: r)
    t = summarise(times)
    return {"device": device.name, "model": kind, "batch": batch, "seconds_per_step_median": t["median"],
            "steps_per_second": 1 / t["median"], "samples_per_second": batch / t["median"],
            "steps_per_second_min": 1 / t["max"], "steps_per_second_max": 1 / t["min"], "repeats": t["n"],
            "jit_compile": jit}


# --------------------------------------------------------------------------------------------------
# Every measurement of one device, with a line of progress each


def matmul_rows(dev: Device, s: BenchConfig, seed: int, note: Note) -> list[dict]:
    rows = []
    for dtype in dev.measured():
        for engine in engines(dev, s.engines):
            if engine == "numpy" and dtype != "float32":
                continue
            for n in s.sizes:
                row = bench_matmul(dev, n, dtype, s, seed, engine)
                rows.append(row)
                share = row["percent_of_peak"]
                peak = f" ({share:.0f}% of peak)" if share is not None else ""
                note(f"{dev.name} matmul {dtype} {engine} n={n}: {row['gflops_median']:.1f} GFLOP/s{peak}")
    return rows


def conv_rows(dev: Device, s: BenchConfig, seed: int, note: Note) -> list[dict]:
    rows = []
    for dtype in dev.measured():
        for engine in engines(dev, s.engines, "conv2d"):
            row = bench_conv(dev, dtype, s, seed, engine)
            rows.append(row)
            note(f"{dev.name} conv2d {dtype} {engine} batch {row['batch']}: {row['gflops_median']:.1f} "
                 f"GFLOP/s, {row['images_per_second']:.0f} images/s")
    return rows


def training_rows(dev: Device, s: BenchConfig, seed: int, jit_compile: str | bool,
                  note: Note) -> list[dict]:

    rows = []
    for kind in s.models:
        for batch in s.batch_sizes:
            row = bench_training(dev, kind, batch, s, seed, training_jit(jit_compile, dev))
            rows.append(row)
            note(f"{dev.name} train {kind} batch {batch}: {row['steps_per_second']:.1f} steps/s, "
                 f"{row['samples_per_second']:.0f} samples/s")
    return rows
