"""``lab bench``: how fast this machine's devices are, measured the same way on each (the book's chapter 4,
done properly).

For the CPU and every GPU the Keras backend sees:

- **matrix products** ``C = A @ B`` of square ``n x n`` matrices at several sizes, in float32 and, where the
  device has the hardware for them, float16/bfloat16. A product costs ``2 n^3`` floating-point operations
  (``n^3`` multiply-adds), so ``GFLOP/s = 2 n^3 / t / 1e9``;
- a **conv2d layer** (3x3, 64 -> 64 channels, "same" padding, 32x32 images), forward pass only:
  ``2 x batch x H x W x C_in x C_out x 3 x 3`` FLOPs per call;
- **training steps** (one ``train_on_batch`` per step, Adam, synthetic data of the right shape) of the book's
  MNIST network (784-300-100-10) and its chapter-6 CIFAR-10 convnet, at several batch sizes.

Every figure excludes warm-up calls (the first call traces, compiles and allocates), is the **median** of
several repeats (with the min and max beside it), and forces the device to finish before the clock stops:
GPUs run asynchronously, so a timed loop ends by reducing the last result to one number on the host.

Beside the matrix products stands the device's **theoretical peak**, an estimate whose method is stated:
for a CPU, ``physical cores x clock x FLOPs per cycle per core`` read from ``/proc/cpuinfo`` and ``/sys``
(:func:`cpu_peak`); for a GPU, a small table of vendor data-sheet figures by device name (:func:`gpu_peak`).

The measuring code uses ``keras`` and ``keras.ops`` only; device placement is the one backend-specific
part (:func:`on_device`: ``tf.device`` under TensorFlow, ``jax.default_device`` under JAX). This module
imports neither TensorFlow nor Keras at module level: the pure functions (peaks, FLOP counts, statistics)
are tested without them.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------------
# Settings

FULL_SIZES = (256, 512, 1024, 2048, 4096)
QUICK_SIZES = (256, 512, 1024, 2048)
FULL_BATCHES = (32, 128, 512)
QUICK_BATCHES = (32, 128)
CONV = {"height": 32, "width": 32, "channels_in": 64, "channels_out": 64, "kernel": 3}


@dataclass
class Settings:
    """What one bench measures and how long it tries to spend on each figure."""

    sizes: tuple[int, ...] = FULL_SIZES
    batch_sizes: tuple[int, ...] = FULL_BATCHES
    repeats: int = 5
    conv_batch: int = 64
    min_repeat_seconds: float = 0.2  # each repeat loops the measured call until it lasts about this long
    train_warmup_steps: int = 3
    quick: bool = False

    @classmethod
    def make(cls, quick: bool, sizes=None, batch_sizes=None, repeats=None) -> Settings:
        base = cls(QUICK_SIZES, QUICK_BATCHES, 3, 32, 0.08, 2, True) if quick else cls()
        if sizes:
            base.sizes = tuple(sorted(set(sizes)))
        if batch_sizes:
            base.batch_sizes = tuple(sorted(set(batch_sizes)))
        if repeats:
            base.repeats = int(repeats)
        return base

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


# --------------------------------------------------------------------------------------------------
# Arithmetic (pure)


def matmul_flops(n: int) -> int:
    """Floating-point operations of an ``n x n`` by ``n x n`` product: ``n^3`` multiply-adds = ``2 n^3``."""
    return 2 * n**3


def conv2d_flops(batch: int, height: int, width: int, channels_in: int, channels_out: int, kernel: int) -> int:
    """Forward FLOPs of a stride-1 "same" convolution: every output value is ``kernel^2 x channels_in``
    multiply-adds (biases and padding edges ignored)."""
    return 2 * batch * height * width * channels_in * channels_out * kernel * kernel


def gflops(flops: float, seconds: float) -> float:
    """``flops / seconds`` in units of 10^9 per second."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return flops / seconds / 1e9


def summarise(seconds: Sequence[float]) -> dict[str, float]:
    """Median, min and max of repeated timings (seconds per call) and how many there were."""
    if not seconds:
        raise ValueError("no timings")
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds), "n": len(seconds)}


def rate_figures(flops_per_call: float, seconds: Sequence[float]) -> dict[str, float]:
    """GFLOP/s of a call from its repeated timings: the median time gives the median rate; the fastest
    repeat gives the maximum rate and the slowest the minimum."""
    s = summarise(seconds)
    return {
        "seconds_median": s["median"],
        "gflops_median": gflops(flops_per_call, s["median"]),
        "gflops_min": gflops(flops_per_call, s["max"]),
        "gflops_max": gflops(flops_per_call, s["min"]),
        "repeats": s["n"],
    }


def percent(value: float | None, peak: float | None) -> float | None:
    if value is None or not peak:
        return None
    return 100.0 * value / peak


# --------------------------------------------------------------------------------------------------
# CPU: what the machine says, and a peak estimate from it (pure, given the texts)


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """The parts of ``/proc/cpuinfo`` the peak estimate needs: model name, vendor, family, flags, mean
    "cpu MHz", logical processors, and threads per physical core ("siblings" / "cpu cores")."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    procs = []
    for block in blocks:
        fields = {}
        for line in block.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip()] = v.strip()
        if "processor" in fields or "flags" in fields:
            procs.append(fields)
    first = procs[0] if procs else {}
    mhz = [float(p["cpu MHz"]) for p in procs if _is_number(p.get("cpu MHz"))]
    siblings = int(first["siblings"]) if str(first.get("siblings", "")).isdigit() else None
    cores = int(first["cpu cores"]) if str(first.get("cpu cores", "")).isdigit() else None
    threads_per_core = max(1, siblings // cores) if siblings and cores else 1
    return {
        "model": first.get("model name", "unknown CPU"),
        "vendor": first.get("vendor_id", ""),
        "family": int(first["cpu family"]) if str(first.get("cpu family", "")).isdigit() else None,
        "flags": sorted(set(first.get("flags", "").split())),
        "mhz": sum(mhz) / len(mhz) if mhz else None,
        "logical": len(procs),
        "threads_per_core": threads_per_core,
    }


def _is_number(s) -> bool:
    try:
        float(s)
        return True
    except (TypeError, ValueError):
        return False


def simd_fp32(info: dict) -> dict[str, Any]:
    """FLOPs per cycle per core in float32 from the instruction-set flags.

    avx512f: 16 float32 lanes, avx2 + fma: 8 lanes; x 2 for a fused multiply-add; x the number of FMA units,
    which cpuinfo does not tell: assumed 2, as on server cores since Haswell / Zen 1 (Skylake-SP parts with one
    AVX-512 unit reach half). AMD family 25 (Zen 4) runs AVX-512 on its two 256-bit units: counted as one
    512-bit unit. Without FMA (SSE/AVX only): separate add and multiply units, 4 (SSE) or 8 (AVX) lanes x 2.
    """
    flags = set(info.get("flags", ()))
    if "avx512f" in flags:
        units = 1 if info.get("vendor") == "AuthenticAMD" and info.get("family") == 25 else 2
        isa, lanes, fma = "avx512f", 16, 2
        why = (f"{lanes} fp32 lanes (avx512f) x 2 (FMA) x {units} FMA unit(s) "
               + ("(AMD Zen 4: 512-bit work on two 256-bit units)" if units == 1 else "(assumed, as on server cores)"))
    elif "avx2" in flags and "fma" in flags:
        isa, lanes, fma, units = "avx2+fma", 8, 2, 2
        why = "8 fp32 lanes (avx2) x 2 (FMA) x 2 FMA units (assumed, as on server cores)"
    elif "avx" in flags:
        isa, lanes, fma, units = "avx", 8, 1, 2
        why = "8 fp32 lanes (avx, no FMA) x 2 units (one add, one multiply)"
    else:
        isa, lanes, fma, units = "sse", 4, 1, 2
        why = "4 fp32 lanes (sse, no FMA) x 2 units (one add, one multiply)"
    return {"isa": isa, "lanes": lanes, "fma": fma, "units": units, "flops_per_cycle": lanes * fma * units,
            "why": why}


def cpu_low_precision(flags: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Which of float16/bfloat16 the CPU computes natively, and its FLOPs per cycle per core relative to
    float32 (``factor``) or absolute (``flops_per_cycle``, AMX); ``None`` with the reason when it does not."""
    f = set(flags)
    out: dict[str, dict[str, Any]] = {}
    if "amx_bf16" in f:
        out["bfloat16"] = {"flops_per_cycle": 2048, "why": "amx_bf16: 1024 bf16 multiply-adds per cycle per core"}
    elif "avx512_bf16" in f:
        out["bfloat16"] = {"factor": 2, "why": "avx512_bf16: a bf16 dot-product instruction does twice the fp32 FMA work"}
    else:
        out["bfloat16"] = {"skip": "the CPU has neither avx512_bf16 nor amx_bf16 flags: bfloat16 products would be "
                                   "converted to float32 in software (slower than float32), not measured"}
    if "amx_fp16" in f:
        out["float16"] = {"flops_per_cycle": 2048, "why": "amx_fp16: 1024 fp16 multiply-adds per cycle per core"}
    elif "avx512_fp16" in f:
        out["float16"] = {"factor": 2, "why": "avx512_fp16: 32 fp16 lanes, twice the fp32 FMA work"}
    else:
        out["float16"] = {"skip": "the CPU has neither avx512_fp16 nor amx_fp16 flags: float16 products would be "
                                  "converted to float32 in software (slower than float32), not measured"}
    return out


def cpu_peak(cpuinfo_text: str, logical_cpus: int | None = None, max_freq_khz: str | None = None,
             intra_op_threads: int = 0) -> dict[str, Any]:
    """Theoretical float32 peak of the CPU cores this process may use, in GFLOP/s, and how it was reckoned.

    ``cores used x clock x FLOPs per cycle per core``: cores = the logical CPUs this process may run on
    (``os.sched_getaffinity``), fewer if the backend's intra-op thread pool is smaller, divided by the threads
    per core (``siblings / cpu cores`` in cpuinfo: SMT siblings share one core's FMA units); clock =
    ``cpuinfo_max_freq`` when /sys has it (the highest boost clock: the estimate is then an upper bound),
    else the mean "cpu MHz" of /proc/cpuinfo (on a VM often the nominal clock; a core that boosts higher can
    exceed 100% of this estimate).
    """
    info = parse_cpuinfo(cpuinfo_text)
    simd = simd_fp32(info)
    logical = logical_cpus or info["logical"] or 1
    if intra_op_threads and intra_op_threads > 0:
        logical = min(logical, intra_op_threads)
    cores = max(1, logical // info["threads_per_core"])
    if max_freq_khz and _is_number(max_freq_khz) and float(max_freq_khz) > 0:
        ghz, clock_from = float(max_freq_khz) / 1e6, "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    elif info["mhz"]:
        ghz, clock_from = info["mhz"] / 1e3, '/proc/cpuinfo "cpu MHz" (mean over processors)'
    else:
        ghz, clock_from = None, "no clock found"
    peak = cores * ghz * simd["flops_per_cycle"] if ghz else None
    smt = f" ({info['threads_per_core']} threads per core)" if info["threads_per_core"] > 1 else ""
    method = (f"estimate: {cores} physical core(s) used{smt} x {ghz:.3g} GHz x {simd['flops_per_cycle']} fp32 "
              f"FLOP/cycle/core [{simd['why']}] = {peak:.1f} GFLOP/s; clock from {clock_from}"
              if peak else f"no estimate: {clock_from}")
    low = cpu_low_precision(info["flags"])
    peaks = {"float32": peak}
    for dtype, d in low.items():
        if "skip" in d or not ghz:
            continue
        per_cycle = d.get("flops_per_cycle") or simd["flops_per_cycle"] * d["factor"]
        peaks[dtype] = cores * ghz * per_cycle
    return {
        "model": info["model"], "isa": simd["isa"], "cores": cores, "logical_cpus": logical,
        "threads_per_core": info["threads_per_core"], "clock_ghz": ghz, "clock_from": clock_from,
        "flops_per_cycle": simd["flops_per_cycle"], "gflops": peaks, "method": method,
        "low_precision": low,
    }


def read_cpu_peak(intra_op_threads: int = 0) -> dict[str, Any]:
    """:func:`cpu_peak` of this machine."""
    text = _read("/proc/cpuinfo") or ""
    max_freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        logical = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        logical = os.cpu_count()
    if not text:  # not Linux: no flags to read
        return {"model": "unknown CPU", "gflops": {"float32": None}, "method": "no estimate: /proc/cpuinfo unreadable",
                "low_precision": cpu_low_precision(()), "cores": logical, "logical_cpus": logical}
    return cpu_peak(text, logical, max_freq.strip() if max_freq else None, intra_op_threads)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


# --------------------------------------------------------------------------------------------------
# GPU peaks: vendor data-sheet figures (dense, no sparsity, boost clock), TFLOP/s

GPU_PEAKS: list[tuple[str, str, dict[str, float]]] = [
    # (regex on the device name, label, {dtype: TFLOP/s}); "tf32" is what float32 matmuls reach on tensor cores
    (r"\bH200\b", "H200 SXM", {"float32": 67, "tf32": 494, "float16": 989, "bfloat16": 989}),
    (r"\bH100\b.*\bPCIe\b", "H100 PCIe", {"float32": 51, "tf32": 378, "float16": 756, "bfloat16": 756}),
    (r"\bH100\b", "H100 SXM", {"float32": 67, "tf32": 494, "float16": 989, "bfloat16": 989}),
    (r"\bA100\b", "A100", {"float32": 19.5, "tf32": 156, "float16": 312, "bfloat16": 312}),
    (r"\bV100\b", "V100 SXM2", {"float32": 15.7, "float16": 125}),
    (r"\bT4\b", "T4", {"float32": 8.1, "float16": 65}),
    (r"\bL4\b", "L4", {"float32": 30.3, "tf32": 60, "float16": 121, "bfloat16": 121}),
    (r"RTX 4090", "RTX 4090", {"float32": 82.6, "tf32": 82.6, "float16": 165.2, "bfloat16": 165.2}),
    (r"RTX 4080", "RTX 4080", {"float32": 48.7, "tf32": 48.7, "float16": 97.5, "bfloat16": 97.5}),
    (r"RTX 4070", "RTX 4070", {"float32": 29.1, "tf32": 29.1, "float16": 58.3, "bfloat16": 58.3}),
    (r"RTX 3090", "RTX 3090", {"float32": 35.6, "tf32": 35.6, "float16": 71, "bfloat16": 71}),
    (r"RTX 3080", "RTX 3080", {"float32": 29.8, "tf32": 29.8, "float16": 59.5, "bfloat16": 59.5}),
    (r"RTX 3070", "RTX 3070", {"float32": 20.3, "tf32": 20.3, "float16": 40.6, "bfloat16": 40.6}),
]


def gpu_dtypes(compute_capability: tuple[int, int] | None) -> dict[str, str | None]:
    """float16 and bfloat16 on a GPU: ``None`` when measured, else why not (bfloat16 needs compute
    capability 8.0, Ampere; float16 is fast from 7.0, Volta's tensor cores, and exists from 5.3)."""
    cc = tuple(compute_capability) if compute_capability else None
    out: dict[str, str | None] = {"float16": None, "bfloat16": None}
    if cc is not None and cc < (5, 3):
        out["float16"] = f"compute capability {cc[0]}.{cc[1]} has no float16 arithmetic"
    if cc is not None and cc < (8, 0):
        out["bfloat16"] = f"compute capability {cc[0]}.{cc[1]} has no bfloat16 arithmetic (needs 8.0)"
    return out


def gpu_peak(name: str, compute_capability: tuple[int, int] | None = None, tf32: bool = True) -> dict[str, Any]:
    """Peak GFLOP/s per dtype of a GPU known by name, else ``unknown``. ``tf32``: whether float32 products
    run on tensor cores in TF32 (TensorFlow's and JAX's default on compute capability >= 8.0), in which case
    the float32 matmul is compared with the TF32 peak."""
    cc = tuple(compute_capability) if compute_capability else None
    for pattern, label, tflops in GPU_PEAKS:
        if re.search(pattern, name or "", re.IGNORECASE):
            g = {k: v * 1000 for k, v in tflops.items()}
            use_tf32 = tf32 and "tf32" in g and (cc is None or cc >= (8, 0))
            peaks = {"float32": g["tf32"] if use_tf32 else g["float32"],
                     "float16": g.get("float16"), "bfloat16": g.get("bfloat16")}
            method = (f"table: {label} data sheet (dense, boost clock): fp32 {tflops['float32']} TFLOP/s"
                      + (f", TF32 tensor cores {tflops['tf32']}" if "tf32" in tflops else "")
                      + (f", fp16 {tflops['float16']}" if "float16" in tflops else "")
                      + (f", bf16 {tflops['bfloat16']}" if "bfloat16" in tflops else "")
                      + ("; float32 products run as TF32, so they are compared with the TF32 peak" if use_tf32 else ""))
            return {"model": name, "matched": label, "gflops": peaks, "method": method}
    return {"model": name, "matched": None, "gflops": {"float32": None, "float16": None, "bfloat16": None},
            "method": f"unknown: {name!r} is not in the table of known GPUs (A100, H100, H200, V100, T4, L4, RTX 30xx/40xx)"}


# --------------------------------------------------------------------------------------------------
# Devices and placement (the only backend-specific part)


@dataclass
class Device:
    name: str  # "cpu", "gpu:0", ...
    kind: str  # "CPU" or "GPU"
    handle: Any  # tf device string, or a jax Device
    description: str = ""
    compute_capability: tuple[int, int] | None = None
    peak: dict = field(default_factory=dict)
    dtypes: dict[str, str | None] = field(default_factory=dict)  # dtype -> None (measured) or why not

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "compute_capability": list(self.compute_capability) if self.compute_capability else None,
                "peak_gflops": self.peak.get("gflops", {}), "peak_method": self.peak.get("method", ""),
                "dtypes_measured": [d for d, why in self.dtypes.items() if why is None],
                "dtypes_skipped": {d: why for d, why in self.dtypes.items() if why is not None}}


def backend() -> str:
    import keras

    return keras.backend.backend()


def list_devices(which: str = "all") -> list[Device]:
    """The CPU and each GPU the Keras backend sees (``which``: all, cpu or gpu), with peaks and dtypes."""
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
            gpus.append(_gpu(i, f"/GPU:{i}", details.get("device_name", gpu.name), details.get("compute_capability"),
                             tf32))
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
        from lab.errors import UsageError

        raise UsageError(f"lab bench runs under the tensorflow and jax Keras backends, not {name} (KERAS_BACKEND)")
    peak = read_cpu_peak(intra)
    dtypes: dict[str, str | None] = {"float32": None}
    for dtype, d in peak["low_precision"].items():
        dtypes[dtype] = d.get("skip")
    cpu = Device("cpu", "CPU", cpu_handle, f"{peak.get('model')} ({peak.get('logical_cpus')} logical CPUs usable)",
                 None, peak, dtypes)
    if which == "cpu":
        return [cpu]
    if which == "gpu":
        return gpus
    return [cpu, *gpus]


def _gpu(index, handle, device_name, cc, tf32) -> Device:
    cc = tuple(cc) if cc else None
    peak = gpu_peak(device_name, cc, tf32)
    dtypes = {"float32": None, **gpu_dtypes(cc)}
    desc = device_name + (f" (compute capability {cc[0]}.{cc[1]})" if cc else "")
    return Device(f"gpu:{index}", "GPU", handle, desc, cc, peak, dtypes)


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


def force(x) -> float:
    """Wait for ``x`` to be computed: reduce it to one number and bring that to the host."""
    import keras

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


ENGINES = {
    "eager": "the keras.ops call as it is (TensorFlow: its eager kernel; JAX: a jit-compiled primitive)",
    "xla": "the same keras.ops call inside an XLA-compiled function (TensorFlow: tf.function(jit_compile=True))",
    "numpy": "numpy.matmul on the same CPU (its BLAS, float32): a reference for what the CPU can reach",
}


def engines(device: Device, kind: str = "matmul") -> list[str]:
    """How a product is computed, in the order measured: the backend's own call, the XLA-compiled call (under
    TensorFlow only: under JAX the call is already compiled), and numpy's BLAS as a reference on the CPU."""
    out = ["eager"]
    if backend() == "tensorflow":
        out.append("xla")
    if kind == "matmul" and device.kind == "CPU":
        out.append("numpy")
    return out


def compiled(fn):
    """``fn`` compiled by XLA: ``tf.function(jit_compile=True)`` under TensorFlow, ``jax.jit`` under JAX."""
    if backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=True)


def bench_matmul(device: Device, n: int, dtype: str, settings: Settings, engine: str = "eager") -> dict:
    import keras

    with on_device(device):
        gen = keras.random.SeedGenerator(n)
        a = keras.ops.cast(keras.random.normal((n, n), seed=gen), dtype)
        b = keras.ops.cast(keras.random.normal((n, n), seed=gen), dtype)
        if engine == "numpy":
            import numpy as np

            an, bn = (keras.ops.convert_to_numpy(t).astype(np.float32) for t in (a, b))
            times = time_calls(lambda: np.matmul(an, bn), settings.repeats, settings.min_repeat_seconds,
                               sync=lambda r: r)
        else:
            fn = compiled(keras.ops.matmul) if engine == "xla" else keras.ops.matmul
            times = time_calls(lambda: fn(a, b), settings.repeats, settings.min_repeat_seconds)
    fig = rate_figures(matmul_flops(n), times)
    return {"device": device.name, "dtype": dtype, "engine": engine, "n": n, **fig,
            "percent_of_peak": percent(fig["gflops_median"], device.peak.get("gflops", {}).get(dtype))}


def bench_conv(device: Device, dtype: str, settings: Settings, engine: str = "eager") -> dict:
    import keras

    c = CONV
    batch = settings.conv_batch
    with on_device(device):
        gen = keras.random.SeedGenerator(1)
        x = keras.ops.cast(keras.random.normal((batch, c["height"], c["width"], c["channels_in"]), seed=gen), dtype)
        w = keras.ops.cast(keras.random.normal((c["kernel"], c["kernel"], c["channels_in"], c["channels_out"]),
                                               seed=gen) * 0.05, dtype)

        def conv(x, w):
            return keras.ops.conv(x, w, strides=1, padding="same")

        fn = compiled(conv) if engine == "xla" else conv
        times = time_calls(lambda: fn(x, w), settings.repeats, settings.min_repeat_seconds)
    flops = conv2d_flops(batch, **c)
    fig = rate_figures(flops, times)
    return {"device": device.name, "dtype": dtype, "engine": engine, "batch": batch, "pass": "forward",
            "layer": f"{c['kernel']}x{c['kernel']} conv {c['channels_in']}->{c['channels_out']} on "
                     f"{c['height']}x{c['width']}",
            **fig, "images_per_second": batch / fig["seconds_median"],
            "percent_of_peak": percent(fig["gflops_median"], device.peak.get("gflops", {}).get(dtype))}


MODELS = {
    "mnist_mlp": "the book's MNIST network: 784-300-100-10, ReLU, dropout 0.3, softmax",
    "cifar_cnn": "the book's chapter-6 CIFAR-10 convnet: 3x3 conv 32/64/128 each with 2x2 max-pool and dropout 0.2, "
                 "dense 625 + dropout 0.55, softmax",
}


def build_model(kind: str):
    import keras
    from keras import layers

    if kind == "mnist_mlp":
        return keras.Sequential([
            keras.Input((784,)),
            layers.Dense(300, activation="relu"), layers.Dropout(0.3),
            layers.Dense(100, activation="relu"), layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ], name=kind)
    stack: list = [keras.Input((32, 32, 3))]
    for filters in (32, 64, 128):
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                  layers.Dropout(0.2)]
    stack += [layers.Flatten(), layers.Dense(625, activation="relu"), layers.Dropout(0.55),
              layers.Dense(10, activation="softmax")]
    return keras.Sequential(stack, name=kind)


def jit_for(device: Device) -> bool:
    """XLA as the lab's ``jit_compile: auto`` means it (:func:`lab.strategy.resolve_jit_compile`): on for a
    GPU, off for the CPU under TensorFlow; always on under JAX (its steps are always compiled)."""
    if backend() == "jax":
        return True
    from lab.strategy import resolve_jit_compile

    return resolve_jit_compile("auto", "gpu", device.kind.lower(), False)[0]


def bench_training(device: Device, kind: str, batch: int, settings: Settings) -> dict:
    import keras

    shape = (784,) if kind == "mnist_mlp" else (32, 32, 3)
    jit = jit_for(device)
    with on_device(device):
        keras.utils.set_random_seed(0)
        model = build_model(kind)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", jit_compile=jit)
        gen = keras.random.SeedGenerator(batch)
        x = keras.random.uniform((batch, *shape), seed=gen)
        y = keras.random.randint((batch,), 0, 10, seed=gen)
        # train_on_batch returns its loss as numpy: every step ends on the host, nothing is left queued
        times = time_calls(lambda: model.train_on_batch(x, y), settings.repeats, settings.min_repeat_seconds,
                           warmup=settings.train_warmup_steps, sync=lambda r: r)
    s = summarise(times)
    return {"device": device.name, "model": kind, "batch": batch, "seconds_per_step_median": s["median"],
            "steps_per_second": 1 / s["median"], "samples_per_second": batch / s["median"],
            "steps_per_second_min": 1 / s["max"], "steps_per_second_max": 1 / s["min"], "repeats": s["n"],
            "jit_compile": jit}


# --------------------------------------------------------------------------------------------------
# The whole bench


def run_bench(devices: list[Device], settings: Settings, note: Callable[[str], None] = print) -> dict:
    """Measure everything on every device; returns the figures (lists of rows) and the speed-ups."""
    matmul, conv, training = [], [], []
    for dev in devices:
        measured = [d for d, why in dev.dtypes.items() if why is None]
        for dtype, why in dev.dtypes.items():
            if why is not None:
                note(f"{dev.name}: {dtype} skipped: {why}")
        for dtype in measured:
            for engine in engines(dev):
                if engine == "numpy" and dtype != "float32":
                    continue
                for n in settings.sizes:
                    row = bench_matmul(dev, n, dtype, settings, engine)
                    matmul.append(row)
                    note(f"{dev.name} matmul {dtype} {engine} n={n}: {row['gflops_median']:.1f} GFLOP/s"
                         + (f" ({row['percent_of_peak']:.0f}% of peak)" if row["percent_of_peak"] is not None else ""))
        for dtype in measured:
            for engine in engines(dev, "conv2d"):
                row = bench_conv(dev, dtype, settings, engine)
                conv.append(row)
                note(f"{dev.name} conv2d {dtype} {engine} batch {row['batch']}: {row['gflops_median']:.1f} GFLOP/s, "
                     f"{row['images_per_second']:.0f} images/s")
        for kind in MODELS:
            for batch in settings.batch_sizes:
                row = bench_training(dev, kind, batch, settings)
                training.append(row)
                note(f"{dev.name} train {kind} batch {batch}: {row['steps_per_second']:.1f} steps/s, "
                     f"{row['samples_per_second']:.0f} samples/s")
    return {"matmul": matmul, "conv2d": conv, "training": training,
            "speedup": speedups(matmul, conv, training)}


def speedups(matmul: list[dict], conv: list[dict], training: list[dict]) -> list[dict]:
    """GPU / CPU for every measurement that both made (median figures)."""
    out = []
    for kind, rows, key, value in (("matmul", matmul, ("dtype", "engine", "n"), "gflops_median"),
                                   ("conv2d", conv, ("dtype", "engine", "batch"), "gflops_median"),
                                   ("training", training, ("model", "batch"), "samples_per_second")):
        cpu = {tuple(r[k] for k in key): r[value] for r in rows if r["device"] == "cpu"}
        for r in rows:
            if r["device"] == "cpu":
                continue
            k = tuple(r[k] for k in key)
            if k in cpu and cpu[k]:
                what = " ".join(f"{name}={v}" for name, v in zip(key, k, strict=True))
                out.append({"measurement": f"{kind} {what}", "device": r["device"], "figure": value,
                            "cpu": cpu[k], "gpu": r[value], "speedup": r[value] / cpu[k]})
    return out


def headline(devices: list[Device], matmul: list[dict]) -> dict:
    """Per device, dtype and engine (``cpu_float32_eager``): the matmul at the largest size and its percent of
    the peak estimate."""
    out = {}
    for dev in devices:
        for dtype in dev.dtypes:
            for engine in ENGINES:
                rows = [r for r in matmul if r["device"] == dev.name and r["dtype"] == dtype and r["engine"] == engine]
                if rows:
                    top = max(rows, key=lambda r: r["n"])
                    out[f"{dev.name}_{dtype}_{engine}"] = {
                        "n": top["n"], "gflops_median": top["gflops_median"],
                        "percent_of_peak": top["percent_of_peak"], "peak_gflops": dev.peak.get("gflops", {}).get(dtype)}
    return out


# --------------------------------------------------------------------------------------------------
# Tables and the plot


def text_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> list[str]:
    """Aligned plain-text table: ``columns`` = (key, header, format spec); numbers right-aligned."""
    cells = [[_cell(r.get(k), fmt) for k, _, fmt in columns] for r in rows]
    heads = [h for _, h, _ in columns]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    numeric = [all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in rows) for k, _, _ in columns]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))

    return [line(heads), line(["-" * w for w in widths]), *(line(c) for c in cells)]


def _cell(v, fmt: str) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)) and fmt:
        return format(v, fmt)
    return str(v)


MATMUL_COLS = [("device", "device", ""), ("dtype", "dtype", ""), ("engine", "engine", ""), ("n", "n", "d"),
               ("gflops_median", "GFLOP/s", ".1f"), ("gflops_min", "min", ".1f"), ("gflops_max", "max", ".1f"),
               ("percent_of_peak", "% of peak", ".0f"), ("seconds_median", "s/product", ".2e")]
CONV_COLS = [("device", "device", ""), ("dtype", "dtype", ""), ("engine", "engine", ""), ("batch", "batch", "d"),
             ("gflops_median", "GFLOP/s", ".1f"), ("gflops_min", "min", ".1f"), ("gflops_max", "max", ".1f"),
             ("images_per_second", "images/s", ".0f"), ("percent_of_peak", "% of peak", ".0f")]
TRAIN_COLS = [("device", "device", ""), ("model", "model", ""), ("batch", "batch", "d"),
              ("steps_per_second", "steps/s", ".1f"), ("steps_per_second_min", "min", ".1f"),
              ("steps_per_second_max", "max", ".1f"), ("samples_per_second", "samples/s", ".0f"),
              ("jit_compile", "XLA", "")]
SPEEDUP_COLS = [("measurement", "measurement", ""), ("device", "device", ""), ("figure", "figure", ""),
                ("cpu", "CPU", ".1f"), ("gpu", "GPU", ".1f"), ("speedup", "GPU/CPU", ".1f")]


def plot(summary: dict, path: Path) -> None:
    """GFLOP/s against matrix size, one line per device and dtype, each device's peak as a dashed line."""
    from lab.plots import pyplot
    from lab.runs import atomic_path

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    series: dict[tuple[str, str, str], list[dict]] = {}
    for r in summary["matmul"]:
        series.setdefault((r["device"], r["dtype"], r["engine"]), []).append(r)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    peaks = {d["name"]: d["peak_gflops"] for d in summary["devices"]}
    drawn = set()
    for i, ((dev, dtype, engine), rows) in enumerate(sorted(series.items())):
        rows = sorted(rows, key=lambda r: r["n"])
        ns = [r["n"] for r in rows]
        med = [r["gflops_median"] for r in rows]
        err = [[m - r["gflops_min"] for m, r in zip(med, rows, strict=True)],
               [r["gflops_max"] - m for m, r in zip(med, rows, strict=True)]]
        colour = colours[i % len(colours)]
        ax.errorbar(ns, med, yerr=err, marker="o", capsize=3, color=colour, label=f"{dev} {dtype} {engine}")
        peak = (peaks.get(dev) or {}).get(dtype)
        if peak and (dev, dtype) not in drawn:
            drawn.add((dev, dtype))
            ax.axhline(peak, linestyle="--", color=colour, alpha=0.7, label=f"{dev} {dtype} peak ({peak:.0f})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("matrix size n (n x n @ n x n)")
    ax.set_ylabel("GFLOP/s (median, min-max bars)")
    ax.set_title("Matrix products: measured against the estimated peak")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def report_markdown(summary: dict) -> str:
    from lab.context import markdown_table

    def rows(items, cols):
        return [{h: (_cell(r.get(k), f) if isinstance(r.get(k), (float, bool)) or r.get(k) is None else r.get(k))
                 for k, h, f in cols} for r in items]

    lines = [f"# lab bench{' --quick' if summary['settings']['quick'] else ''}", "",
             f"- backend: {summary['backend']}; {summary['gpu_note']}",
             f"- took {summary['wall_seconds']:.1f} s; repeats per figure: {summary['settings']['repeats']} "
             "(median shown, min and max beside it); warm-up calls excluded", ""]
    lines += ["## Devices and their peaks", ""]
    for d in summary["devices"]:
        lines.append(f"- **{d['name']}**: {d['description']}")
        lines.append(f"  - peak: {d['peak_method']}")
        for dtype, why in d["dtypes_skipped"].items():
            lines.append(f"  - {dtype}: {why}")
    lines += ["", "## Matrix products (GFLOP/s = 2 n^3 / t)", ""]
    lines += [f"- engine `{k}`: {v}" for k, v in ENGINES.items()] + [""]
    lines += [*markdown_table(rows(summary["matmul"], MATMUL_COLS)),
              "", "![GFLOP/s against matrix size](artifacts/bench.png)", ""]
    lines += [f"## conv2d ({summary['conv2d'][0]['layer'] if summary['conv2d'] else ''}, forward only)", "",
              *markdown_table(rows(summary["conv2d"], CONV_COLS)), ""]
    lines += ["## Training steps (one train_on_batch per step, Adam, synthetic data)", ""]
    lines += [f"- `{k}`: {v}" for k, v in MODELS.items()] + [""]
    lines += markdown_table(rows(summary["training"], TRAIN_COLS)) + [""]
    if summary["speedup"]:
        lines += ["## Speed-up GPU / CPU", "", *markdown_table(rows(summary["speedup"], SPEEDUP_COLS)), ""]
    return "\n".join(lines)


def print_tables(summary: dict, out=sys.stdout) -> None:
    def p(s=""):
        print(s, file=out)

    p(summary["gpu_note"])
    for d in summary["devices"]:
        p(f"{d['name']}: {d['description']}")
        p(f"  peak {d['peak_method']}")
        for dtype, why in d["dtypes_skipped"].items():
            p(f"  {dtype}: {why}")
    p()
    p("Matrix products, GFLOP/s = 2 n^3 / t (median of repeats; min, max). engine: eager = the keras.ops call, "
      "xla = compiled, numpy = numpy's BLAS (reference)")
    for line in text_table(summary["matmul"], MATMUL_COLS):
        p("  " + line)
    p()
    layer = summary["conv2d"][0]["layer"] if summary["conv2d"] else ""
    p(f"conv2d {layer}, forward only")
    for line in text_table(summary["conv2d"], CONV_COLS):
        p("  " + line)
    p()
    p("Training (one train_on_batch per step, Adam, synthetic data; mnist_mlp = 784-300-100-10, "
      "cifar_cnn = the book's chapter-6 convnet)")
    for line in text_table(summary["training"], TRAIN_COLS):
        p("  " + line)
    if summary["speedup"]:
        p()
        p("Speed-up GPU / CPU")
        for line in text_table(summary["speedup"], SPEEDUP_COLS):
            p("  " + line)
