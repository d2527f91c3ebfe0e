"""The maths of ``lab bench``: peaks, FLOP counts, statistics, and the models whose training steps are timed.

- A **matrix product** ``C = A @ B`` of square ``n x n`` matrices costs ``2 n^3`` floating-point operations
  (``n^3`` multiply-adds), so ``GFLOP/s = 2 n^3 / t / 1e9``;
- a **conv2d layer** (3x3, 64 -> 64 channels, "same" padding, 32x32 images), forward pass only:
  ``2 x batch x H x W x C_in x C_out x 3 x 3`` FLOPs per call;
- **training steps** of the book's MNIST network (784-300-100-10) and its chapter-6 CIFAR-10 convnet
  (:func:`build_model`).

Every figure is the **median** of several repeats, with the min and max beside it (:func:`rate_figures`).
Beside the products stands the device's **theoretical peak**, an estimate whose method is stated: for a CPU,
``physical cores x clock x FLOPs per cycle per core`` read from ``/proc/cpuinfo`` and ``/sys``
(:func:`cpu_peak`, given the texts); for a GPU, a small table of vendor data-sheet figures by device name
(:func:`gpu_peak`). Everything here but :func:`build_model` is plain Python, checkable by hand.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

CONV = {"height": 32, "width": 32, "channels_in": 64, "channels_out": 64, "kernel": 3}
"""The conv2d layer every device runs: 3x3, 64 -> 64 channels, on 32 x 32 images."""

ENGINES = {
    "eager": "the keras.ops call as it is (TensorFlow: its eager kernel; JAX: a jit-compiled primitive)",
    "xla": "the same keras.ops call inside an XLA-compiled function (TensorFlow: "
           "tf.function(jit_compile=True))",
    "numpy": "numpy.matmul on the same CPU (its BLAS, float32): a reference for what the CPU can reach",
}

MODELS = {
    "mnist_mlp": "the book's MNIST network: 784-300-100-10, ReLU, dropout 0.3, softmax",
    "cifar_cnn": "the book's chapter-6 CIFAR-10 convnet: 3x3 conv 32/64/128 each with 2x2 max-pool and "
                 "dropout 0.2, dense 625 + dropout 0.55, softmax",
}
INPUT_SHAPES = {"mnist_mlp": (784,), "cifar_cnn": (32, 32, 3)}


# --------------------------------------------------------------------------------------------------
# Arithmetic


def matmul_flops(n: int) -> int:
    """Floating-point operations of an ``n x n`` by ``n x n`` product: ``n^3`` multiply-adds = ``2 n^3``."""
    return 2 * n**3


def conv2d_flops(batch: int, height: int, width: int, channels_in: int, channels_out: int,
                 kernel: int) -> int:
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
    which cpuinfo does not tell: assumed 2, as on server cores since Haswell / Zen 1 (Skylake-SP parts with
    one AVX-512 unit reach half). AMD family 25 (Zen 4) runs AVX-512 on its two 256-bit units: counted as one
    512-bit unit. Without FMA (SSE/AVX only): separate add and multiply units, 4 (SSE) or 8 (AVX) lanes x 2.
    """
    flags = set(info.get("flags", ()))
    if "avx512f" in flags:
        units = 1 if info.get("vendor") == "AuthenticAMD" and info.get("family") == 25 else 2
        isa, lanes, fma = "avx512f", 16, 2
        why = (f"{lanes} fp32 lanes (avx512f) x 2 (FMA) x {units} FMA unit(s) "
               + ("(AMD Zen 4: 512-bit work on two 256-bit units)" if units == 1
                  else "(assumed, as on server cores)"))
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
    software = "would be converted to float32 in software (slower than float32), not measured"
    if "amx_bf16" in f:
        out["bfloat16"] = {"flops_per_cycle": 2048,
                           "why": "amx_bf16: 1024 bf16 multiply-adds per cycle per core"}
    elif "avx512_bf16" in f:
        out["bfloat16"] = {"factor": 2,
                           "why": "avx512_bf16: a bf16 dot-product instruction does twice the fp32 FMA work"}
    else:
        out["bfloat16"] = {"skip": "the CPU has neither avx512_bf16 nor amx_bf16 flags: bfloat16 products "
                                   f"{software}"}
    if "amx_fp16" in f:
        out["float16"] = {"flops_per_cycle": 2048,
                          "why": "amx_fp16: 1024 fp16 multiply-adds per cycle per core"}
    elif "avx512_fp16" in f:
        out["float16"] = {"factor": 2, "why": "avx512_fp16: 32 fp16 lanes, twice the fp32 FMA work"}
    else:
        out["float16"] = {"skip": "the CPU has neither avx512_fp16 nor amx_fp16 flags: float16 products "
                                  f"{software}"}

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
    method = (f"estimate: {cores} physical core(s) used{smt} x {ghz:.3g} GHz x {simd['flops_per_cycle']} "
              f"fp32 FLOP/cycle/core [{simd['why']}] = {peak:.1f} GFLOP/s; clock from {clock_from}"
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
        "low_precision": low, "dtypes": cpu_dtypes(info["flags"]),
    }


def cpu_dtypes(flags: Sequence[str]) -> dict[str, str | None]:
    """float32, bfloat16 and float16 on a CPU with these cpuinfo ``flags``: ``None`` when measured, else why
    not (:func:`cpu_low_precision`)."""
    return {"float32": None, **{dtype: d.get("skip") for dtype, d in cpu_low_precision(flags).items()}}


# --------------------------------------------------------------------------------------------------
# GPU peaks: vendor data-sheet figures (dense, no sparsity, boost clock), TFLOP/s

GPU_PEAKS: list[tuple[str, str, dict[str, float]]] = [
    # (regex on the device name, label, {dtype: TFLOP/s}); "tf32": what float32 matmuls reach on tensor cores
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


def gpu_peak(name: str, compute_capability: tuple[int, int] | None = None,
             tf32: bool = True) -> dict[str, Any]:
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
                      + ("; float32 products run as TF32, so they are compared with the TF32 peak"
                         if use_tf32 else ""))
            return {"model": name, "matched": label, "gflops": peaks, "method": method}
    return {"model": name, "matched": None, "gflops": {"float32": None, "float16": None, "bfloat16": None},
            "method": f"unknown: {name!r} is not in the table of known GPUs (A100, H100, H200, V100, T4, L4, "
                      "RTX 30xx/40xx)"}


# --------------------------------------------------------------------------------------------------
# The models whose training steps are timed


def build_model(kind: str) -> keras.Model:
    """The book's MNIST network (``mnist_mlp``) or its chapter-6 CIFAR-10 convnet (``cifar_cnn``):
    :data:`MODELS`."""
    if kind == "mnist_mlp":
        return keras.Sequential([
            keras.Input(INPUT_SHAPES[kind]),
            layers.Dense(300, activation="relu"), layers.Dropout(0.3),
            layers.Dense(100, activation="relu"), layers.Dropout(0.3),
            layers.Dense(10, activation="softmax"),
        ], name=kind)
    stack: list = [keras.Input(INPUT_SHAPES[kind])]
    for filters in (32, 64, 128):
        stack += [layers.Conv2D(filters, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                  layers.Dropout(0.2)]
    stack += [layers.Flatten(), layers.Dense(625, activation="relu"), layers.Dropout(0.55),
              layers.Dense(10, activation="softmax")]
    return keras.Sequential(stack, name=kind)


# --------------------------------------------------------------------------------------------------
# Comparing the figures

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



def headline(devices: list[dict], matmul: list[dict]) -> dict:
    """Per device, dtype and engine (``cpu_float32_eager``): the matmul at the largest size and its percent of
    the peak estimate (``devices``: each device's record, as ``summary["devices"]`` holds them)."""
    out = {}
    for dev in devices:
        for dtype in dev["dtypes_measured"]:
            for engine in ENGINES:
                rows = [r for r in matmul
                        if r["device"] == dev["name"] and r["dtype"] == dtype and r["engine"] == engine]
                if rows:
                    top = max(rows, key=lambda r: r["n"])
                    out[f"{dev['name']}_{dtype}_{engine}"] = {
                        "n": top["n"], "gflops_median": top["gflops_median"],
                        "percent_of_peak": top["percent_of_peak"],
                        "peak_gflops": dev["peak_gflops"].get(dtype)}

    return out
