"""lab bench's maths by hand: the peak estimates from cpuinfo texts and GPU names, the dtypes a CPU's flags
allow, FLOP counts, statistics, the speed-ups and the headline figures; and the timed loop."""

import pytest

from supervised.bench import measure
from supervised.bench import model as bench


def cpuinfo(flags: str, n: int = 2, mhz: str = "2500.000", siblings: int = 2, cores: int = 2,
            vendor: str = "GenuineIntel", family: int = 6) -> str:
    block = ("processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: Test CPU\n"
             "cpu MHz\t\t: {mhz}\nsiblings\t: {siblings}\ncpu cores\t: {cores}\nflags\t\t: {flags}\n")
    return "\n".join(block.format(i=i, vendor=vendor, family=family, mhz=mhz, siblings=siblings, cores=cores,
                                  flags=flags) for i in range(n))


def test_cpu_peak_avx2_fma_from_cpuinfo_mhz():
    peak = bench.cpu_peak(cpuinfo("fpu sse sse2 avx fma avx2"), logical_cpus=2)
    # 2 cores x 2.5 GHz x (8 lanes x 2 for FMA x 2 FMA units = 32 FLOP/cycle) = 160 GFLOP/s
    assert peak["flops_per_cycle"] == 32 and peak["cores"] == 2 and peak["clock_ghz"] == pytest.approx(2.5)
    assert peak["gflops"]["float32"] == pytest.approx(160.0)
    assert "estimate" in peak["method"] and "avx2" in peak["method"] and "cpu MHz" in peak["method"]
    assert "bfloat16" not in peak["gflops"] and "avx512_bf16" in peak["low_precision"]["bfloat16"]["skip"]


def test_cpu_peak_avx512_smt_max_freq_and_bf16():
    text = cpuinfo("sse2 avx fma avx2 avx512f avx512_bf16", n=4, mhz="1800.0", siblings=4, cores=2)
    peak = bench.cpu_peak(text, logical_cpus=4, max_freq_khz="3000000")
    # 4 logical CPUs / 2 threads per core = 2 cores x 3.0 GHz (cpuinfo_max_freq) x (16 x 2 x 2 = 64) = 384
    assert peak["cores"] == 2 and peak["threads_per_core"] == 2 and peak["flops_per_cycle"] == 64
    assert peak["gflops"]["float32"] == pytest.approx(384.0)
    assert peak["gflops"]["bfloat16"] == pytest.approx(768.0)  # avx512_bf16: twice the fp32 work
    assert "cpuinfo_max_freq" in peak["method"]
    # the backend's thread pool can use fewer cores than the affinity mask allows
    fewer = bench.cpu_peak(text, logical_cpus=4, max_freq_khz="3000000", intra_op_threads=2)
    assert fewer["gflops"]["float32"] == pytest.approx(192.0)
    # AMD Zen 4 (family 25) runs AVX-512 on two 256-bit units: one 512-bit unit's worth
    zen4 = bench.cpu_peak(cpuinfo("avx2 fma avx512f", vendor="AuthenticAMD", family=25), logical_cpus=2)
    assert zen4["flops_per_cycle"] == 32


def test_cpu_peak_without_fma():
    peak = bench.cpu_peak(cpuinfo("fpu sse sse2", n=1, mhz="2000", siblings=1, cores=1), logical_cpus=1)
    assert peak["flops_per_cycle"] == 8
    assert peak["gflops"]["float32"] == pytest.approx(16.0)  # 1 x 2 GHz x 4 x 2


def test_gpu_peaks_by_name():
    assert bench.gpu_peak("NVIDIA H200", (9, 0))["gflops"]["float32"] == 494_000  # float32 runs as TF32
    assert bench.gpu_peak("NVIDIA H200", (9, 0), tf32=False)["gflops"]["float32"] == 67_000
    assert bench.gpu_peak("Tesla T4", (7, 5))["gflops"] == {"float32": 8100, "float16": 65000,
                                                            "bfloat16": None}
    assert bench.gpu_peak("NVIDIA L40S", (8, 9))["matched"] is None  # not mistaken for an L4
    assert "unknown" in bench.gpu_peak("NVIDIA L40S")["method"]
    assert bench.gpu_peak("NVIDIA H100 PCIe")["gflops"]["bfloat16"] == 756_000
    assert bench.gpu_dtypes((7, 5)) == {"float16": None, "bfloat16": "compute capability 7.5 has no bfloat16 "
                                                                     "arithmetic (needs 8.0)"}


def test_flops_and_rates_by_hand():
    assert bench.matmul_flops(1000) == 2_000_000_000
    assert bench.gflops(bench.matmul_flops(1000), 0.5) == pytest.approx(4.0)
    assert bench.conv2d_flops(64, 32, 32, 64, 64, 3) == 2 * 64 * 32 * 32 * 64 * 64 * 9
    with pytest.raises(ValueError):
        bench.gflops(1.0, 0.0)
    assert bench.percent(40.0, 160.0) == pytest.approx(25.0) and bench.percent(1.0, None) is None


def test_median_of_repeats_and_min_max():
    assert bench.summarise([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert bench.summarise([4.0, 1.0, 3.0, 2.0])["median"] == 2.5
    fig = bench.rate_figures(2e9, [1.0, 2.0, 4.0])  # 2 GFLOP per call
    assert fig["gflops_median"] == pytest.approx(1.0)
    assert fig["gflops_max"] == pytest.approx(2.0) and fig["gflops_min"] == pytest.approx(0.5)


def test_time_calls_excludes_warmup_and_syncs_each_repeat():
    calls, synced = [], []
    times = measure.time_calls(lambda: calls.append(1) or len(calls), repeats=4, min_seconds=0.0, warmup=2,
                             sync=synced.append)
    assert len(times) == 4 and all(t >= 0 for t in times)
    assert len(calls) == 2 + 1 + 4  # warm-up, sizing call, one call per repeat (min_seconds 0)
    assert synced == [1, 2, 3, 4, 5, 6, 7]


def test_speedups_pair_each_gpu_figure_with_the_cpu_one():
    matmul = [{"device": "cpu", "dtype": "float32", "engine": "eager", "n": 512, "gflops_median": 100.0},
              {"device": "gpu:0", "dtype": "float32", "engine": "eager", "n": 512, "gflops_median": 5000.0},
              {"device": "gpu:0", "dtype": "float16", "engine": "eager", "n": 512, "gflops_median": 9000.0}]
    training = [{"device": "cpu", "model": "mnist_mlp", "batch": 32, "samples_per_second": 4000.0},
                {"device": "gpu:0", "model": "mnist_mlp", "batch": 32, "samples_per_second": 10000.0}]
    rows = bench.speedups(matmul, [], training)
    assert [(r["measurement"], r["speedup"]) for r in rows] == [
        ("matmul dtype=float32 engine=eager n=512", 50.0), ("training model=mnist_mlp batch=32", 2.5)]
    assert bench.speedups(matmul[:1], [], training[:1]) == []  # CPU only: no table


def test_headline_is_the_largest_product_of_each_device_dtype_and_engine():
    devices = [{"name": "cpu", "dtypes_measured": ["float32"], "peak_gflops": {"float32": 200.0}}]
    matmul = [{"device": "cpu", "dtype": "float32", "engine": e, "n": n, "gflops_median": g,
               "percent_of_peak": g / 2}
              for e, n, g in (("eager", 256, 50.0), ("eager", 1024, 100.0), ("numpy", 1024, 150.0))]
    assert bench.headline(devices, matmul) == {
        "cpu_float32_eager": {"n": 1024, "gflops_median": 100.0, "percent_of_peak": 50.0,
                              "peak_gflops": 200.0},
        "cpu_float32_numpy": {"n": 1024, "gflops_median": 150.0, "percent_of_peak": 75.0,
                              "peak_gflops": 200.0}}


# --------------------------------------------------------------------------------------------------
# Which dtypes a CPU computes, from its cpuinfo flags (the bfloat16 rows of `lab bench` on some machines)

PLAIN = "fpu sse sse2 avx fma avx2 avx512f"


@pytest.mark.parametrize("extra, measured, bf16_per_cycle, fp16_per_cycle", [
    ("", {"float32"}, None, None),
    ("avx512_bf16", {"float32", "bfloat16"}, 128, None),  # twice the 64 fp32 FLOP/cycle of avx512f
    ("amx_bf16", {"float32", "bfloat16"}, 2048, None),
    ("avx512_bf16 amx_bf16", {"float32", "bfloat16"}, 2048, None),  # AMX, the faster, counts
    ("avx512_fp16", {"float32", "float16"}, None, 128),
    ("amx_fp16", {"float32", "float16"}, None, 2048),
    ("avx512_bf16 avx512_fp16 amx_bf16 amx_fp16", {"float32", "bfloat16", "float16"}, 2048, 2048),
])
def test_cpu_flags_decide_the_low_precision_dtypes(extra, measured, bf16_per_cycle, fp16_per_cycle):
    text = cpuinfo(f"{PLAIN} {extra}".strip(), n=1, mhz="1000", siblings=1, cores=1)
    flags = bench.parse_cpuinfo(text)["flags"]
    assert set(extra.split()) <= set(flags) and "avx512f" in flags
    dtypes = bench.cpu_dtypes(flags)
    assert {d for d, why in dtypes.items() if why is None} == measured
    for dtype, why in dtypes.items():
        assert (why is None) == (dtype in measured)
        assert why is None or "not measured" in why
    peak = bench.cpu_peak(text, logical_cpus=1)  # 1 core at 1 GHz: GFLOP/s = FLOPs per cycle
    assert peak["dtypes"] == dtypes
    assert set(peak["gflops"]) == measured and peak["gflops"]["float32"] == pytest.approx(64.0)
    assert peak["gflops"].get("bfloat16") == (pytest.approx(bf16_per_cycle) if bf16_per_cycle else None)
    assert peak["gflops"].get("float16") == (pytest.approx(fp16_per_cycle) if fp16_per_cycle else None)


def test_arm_cpuinfo_gives_float32_only():
    # ARM's cpuinfo names its features "Features", not "flags": the estimate knows none of them (nor its bf16)
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd bf16 sve\nCPU implementer\t: 0x41\n"
    flags = bench.parse_cpuinfo(arm)["flags"]
    assert flags == []
    assert {d for d, why in bench.cpu_dtypes(flags).items() if why is None} == {"float32"}
    assert bench.cpu_peak(arm, logical_cpus=1)["gflops"] == {"float32": None}  # no clock given: no estimate


def test_the_device_list_reads_the_cpu_flags(monkeypatch):
    texts = {"/proc/cpuinfo": cpuinfo(f"{PLAIN} avx512_bf16", n=1, siblings=1, cores=1)}
    monkeypatch.setattr(measure, "_read", texts.get)
    cpu = measure.list_devices()[0]
    assert cpu.name == "cpu" and cpu.measured() == ["float32", "bfloat16"]
    assert "avx512_fp16" in cpu.dtypes["float16"]
    (chosen,), _ = measure.choose([cpu], "cpu", ["float32", "float16"])  # bench.dtypes keeps only those asked
    assert chosen.as_dict()["dtypes_measured"] == ["float32"]
    assert list(chosen.dtypes) == ["float32", "float16"]

