"""lab bench: the peak estimate and the arithmetic by hand, then the command end to end at tiny sizes."""

import json
import os
import subprocess
import sys

import pytest

from lab import bench


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
    assert bench.cpu_peak(text, logical_cpus=4, max_freq_khz="3000000", intra_op_threads=2)["gflops"]["float32"] == \
        pytest.approx(192.0)
    # AMD Zen 4 (family 25) runs AVX-512 on two 256-bit units: one 512-bit unit's worth
    zen4 = bench.cpu_peak(cpuinfo("avx2 fma avx512f", vendor="AuthenticAMD", family=25), logical_cpus=2)
    assert zen4["flops_per_cycle"] == 32


def test_cpu_peak_without_fma():
    peak = bench.cpu_peak(cpuinfo("fpu sse sse2", n=1, mhz="2000", siblings=1, cores=1), logical_cpus=1)
    assert peak["flops_per_cycle"] == 8 and peak["gflops"]["float32"] == pytest.approx(16.0)  # 1 x 2 GHz x 4 x 2


def test_gpu_peaks_by_name():
    assert bench.gpu_peak("NVIDIA H200", (9, 0))["gflops"]["float32"] == 494_000  # float32 runs as TF32
    assert bench.gpu_peak("NVIDIA H200", (9, 0), tf32=False)["gflops"]["float32"] == 67_000
    assert bench.gpu_peak("Tesla T4", (7, 5))["gflops"] == {"float32": 8100, "float16": 65000, "bfloat16": None}
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
    times = bench.time_calls(lambda: calls.append(1) or len(calls), repeats=4, min_seconds=0.0, warmup=2,
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
    assert [(r["measurement"], r["speedup"]) for r in rows] == [("matmul dtype=float32 engine=eager n=512", 50.0),
                                                               ("training model=mnist_mlp batch=32", 2.5)]
    assert bench.speedups(matmul[:1], [], training[:1]) == []  # CPU only: no table


def test_text_table_is_aligned():
    lines = bench.text_table([{"d": "cpu", "x": 1.5}, {"d": "gpu:0", "x": 123.25}], [("d", "device", ""),
                                                                                       ("x", "GFLOP/s", ".1f")])
    assert lines == ["device  GFLOP/s", "------  -------", "cpu         1.5", "gpu:0     123.2"]


def run_lab(args, **env):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--sizes", "0"], "--sizes 0: give matrix sizes from 1"),
    (["--batch-sizes", "-3"], "--batch-sizes -3"),
    (["--repeats", "0"], "--repeats 0"),
    (["--device", "tpu"], "invalid choice: 'tpu'"),
    (["--quik"], "unrecognized arguments: --quik"),
])
def test_bad_flags_exit_2_without_traceback(args, message):
    proc = run_lab(["bench", *args])
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_quick_json_run_folder_on_cpu(tmp_path):
    out = tmp_path / "runs"
    proc = run_lab(["bench", "--quick", "--json", "--sizes", "64", "128", "--batch-sizes", "8", "--repeats", "2",
                    "--out", str(out)], CUDA_VISIBLE_DEVICES="-1")
    assert proc.returncode == 0, proc.stderr
    assert "no GPU visible to TensorFlow: CPU only" in proc.stderr
    summary = json.loads(proc.stdout)  # stdout is the JSON and nothing else
    for key in ("task", "gpu_note", "settings", "machine", "devices", "matmul", "conv2d", "training", "speedup",
                "largest_matmul", "wall_seconds"):
        assert key in summary, key
    assert summary["task"] == "bench" and summary["speedup"] == [] and summary["gpu_note"].startswith("no GPU")
    assert [d["name"] for d in summary["devices"]] == ["cpu"]
    assert summary["devices"][0]["peak_method"].startswith(("estimate", "no estimate"))
    assert {(r["dtype"], r["n"]) for r in summary["matmul"]} == {("float32", 64), ("float32", 128)}
    assert all(r["gflops_min"] <= r["gflops_median"] <= r["gflops_max"] for r in summary["matmul"])
    assert {(r["model"], r["batch"]) for r in summary["training"]} == {("mnist_mlp", 8), ("cifar_cnn", 8)}
    assert all(r["samples_per_second"] == pytest.approx(8 * r["steps_per_second"]) for r in summary["training"])
    assert summary["conv2d"][0]["pass"] == "forward" and summary["conv2d"][0]["images_per_second"] > 0
    assert summary["largest_matmul"]["cpu_float32_eager"]["n"] == 128
    assert {r["engine"] for r in summary["matmul"]} == {"eager", "xla", "numpy"}
    (run,) = out.iterdir()
    assert run.name.endswith("-bench-quick")
    for name in ("summary.json", "report.md", "env.json", "run.json", "scenario.yaml", "artifacts/bench.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["task"] == "bench"
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert json.loads((run / "summary.json").read_text())["matmul"] == summary["matmul"]
    report = (run / "report.md").read_text()
    assert "## Matrix products" in report and "no GPU visible" in report and "bench.png" in report
    assert (run / "artifacts/bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    show = run_lab(["show", str(run)])  # a bench folder is a run folder like any other
    assert show.returncode == 0 and "bench" in show.stdout
