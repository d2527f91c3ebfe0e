"""`lab bench` end to end at tiny sizes (through the driver, like `lab run`), its flags as overrides of
scenarios/bench.yaml, the bench scenario's quick preset, and the command's text tables."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from lab import scenario
from lab.cli import main as lab_main
from lab.commands import bench as command
from lab.errors import ScenarioError
from lab.paths import scenarios_dir
from supervised.bench.report import table


def cpu_flags() -> set[str]:
    """The "flags" line of /proc/cpuinfo, read here without the task's parser (none off Linux, and none on
    ARM, whose cpuinfo names its "Features")."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return set(value.split())
    return set()


def dtypes_of_this_cpu() -> set[str]:
    """What `lab bench` measures on this CPU: float32, and bfloat16 / float16 where the flags say the CPU
    computes them (avx512_bf16 or amx_bf16; avx512_fp16 or amx_fp16)."""
    flags = cpu_flags()
    return ({"float32"} | ({"bfloat16"} if flags & {"avx512_bf16", "amx_bf16"} else set())
            | ({"float16"} if flags & {"avx512_fp16", "amx_fp16"} else set()))


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


def test_quick_json_run_folder_on_cpu(tmp_path, monkeypatch, capsys):
    from supervised.bench import measure

    cpu_only = [d for d in measure.list_devices() if d.kind != "GPU"]  # (this machine, any GPU hidden)
    monkeypatch.setattr(measure, "list_devices", lambda: cpu_only)
    out = tmp_path / "runs"
    assert lab_main(["bench", "--quick", "--json", "--device", "cpu", "--sizes", "128", "64",
                     "--batch-sizes", "8", "--repeats", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    shown = {"tensorflow": "TensorFlow", "jax": "JAX"}[keras.backend.backend()]
    assert f"no GPU visible to {shown}: CPU only" in captured.err
    summary = json.loads(captured.out)  # stdout is the JSON and nothing else
    for key in ("task", "gpu_note", "settings", "machine", "devices", "matmul", "conv2d", "training",
                "speedup", "largest_matmul", "wall_seconds"):
        assert key in summary, key
    assert summary["task"] == "bench" and summary["speedup"] == []
    assert summary["gpu_note"].startswith("no GPU")
    assert [d["name"] for d in summary["devices"]] == ["cpu"]
    assert summary["devices"][0]["peak_method"].startswith(("estimate", "no estimate"))
    dtypes = dtypes_of_this_cpu()  # float32, and bfloat16 / float16 on CPUs that compute them
    assert set(summary["devices"][0]["dtypes_measured"]) == dtypes
    assert {(r["dtype"], r["n"]) for r in summary["matmul"] if r["engine"] != "numpy"} == \
        {(d, n) for d in dtypes for n in (64, 128)}
    assert {(r["dtype"], r["n"]) for r in summary["matmul"] if r["engine"] == "numpy"} == \
        {("float32", 64), ("float32", 128)}
    assert {r["dtype"] for r in summary["conv2d"]} == dtypes
    assert all(r["gflops_min"] <= r["gflops_median"] <= r["gflops_max"] for r in summary["matmul"])
    assert {(r["model"], r["batch"]) for r in summary["training"]} == {("mnist_mlp", 8), ("cifar_cnn", 8)}
    assert all(r["samples_per_second"] == pytest.approx(8 * r["steps_per_second"])
               for r in summary["training"])
    assert summary["conv2d"][0]["pass"] == "forward" and summary["conv2d"][0]["images_per_second"] > 0
    assert summary["largest_matmul"]["cpu_float32_eager"]["n"] == 128
    xla = {"xla"} if keras.backend.backend() == "tensorflow" else set()  # (a JAX call is compiled already)
    assert {r["engine"] for r in summary["matmul"]} == {"eager", "numpy", *xla}
    (run,) = out.iterdir()
    assert run.name.endswith("-bench-quick")
    for name in ("summary.json", "report.md", "env.json", "run.json", "scenario.yaml", "artifacts/bench.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["task"] == "bench"
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    env = json.loads((run / "env.json").read_text())  # the driver's record, as for every run
    assert env["strategy"]["chosen"] == "cpu" and env["keras_backend"] == keras.backend.backend()
    assert "packages" in env
    resolved = scenario.load_scenario(run / "scenario.yaml")  # the quick preset, written out
    assert (resolved.bench.quick, resolved.bench.sizes, resolved.bench.conv_batch) == (True, [64, 128], 32)
    assert json.loads((run / "summary.json").read_text())["matmul"] == summary["matmul"]
    report = (run / "report.md").read_text()
    assert "## Matrix products" in report and "no GPU visible" in report and "bench.png" in report
    assert (run / "artifacts/bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    show = run_lab(["show", str(run)])  # a bench folder is a run folder like any other
    assert show.returncode == 0 and "bench" in show.stdout


def test_text_table_is_aligned():
    t = table("t", [{"d": "cpu", "x": 1.5}, {"d": "gpu:0", "x": 123.25}],
              [("d", "device", ""), ("x", "GFLOP/s", ".1f")])
    assert command.text_table(t) == ["device  GFLOP/s", "------  -------", "cpu         1.5",
                                     "gpu:0     123.2"]


def flags(*argv):
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return p.parse_args(argv)


def test_flags_become_overrides_of_the_shipped_scenario():
    assert command.overrides(flags()) == []
    args = flags("--quick", "--device", "cpu", "--sizes", "128", "64", "--batch-sizes", "8", "--repeats", "2",
                 "--set", "bench.dtypes=[float32]")
    assert command.overrides(args) == ["name=bench-quick", "bench.quick=true", "bench.devices=cpu",
                                       "bench.sizes=[128, 64]", "bench.batch_sizes=[8]", "bench.repeats=2",
                                       "bench.dtypes=[float32]"]
    cfg = scenario.load_scenario(scenarios_dir() / "bench.yaml", command.overrides(args))
    assert cfg.name == "bench-quick" and cfg.task == "bench"
    b = cfg.bench
    assert (b.devices, b.sizes, b.batch_sizes, b.repeats, b.dtypes) == ("cpu", [64, 128], [8], 2, ["float32"])
    assert (b.conv_batch, b.min_repeat_seconds, b.train_warmup_steps) == (32, 0.08, 2)  # the quick preset


def test_quick_fills_only_what_the_scenario_leaves_out():
    full = scenario.load_scenario(scenarios_dir() / "bench.yaml").bench
    assert (full.sizes, full.batch_sizes, full.repeats, full.conv_batch) == ([256, 512, 1024, 2048, 4096],
                                                                             [32, 128, 512], 5, 64)
    quick = scenario.load_scenario(scenarios_dir() / "bench.yaml", ["bench.quick=true", "bench.repeats=7"])
    assert (quick.bench.sizes, quick.bench.batch_sizes, quick.bench.repeats, quick.bench.conv_batch) == \
        ([256, 512, 1024, 2048], [32, 128], 7, 32)
    dumped = scenario.validate(json.loads(json.dumps(scenario.load_scenario(
        scenarios_dir() / "bench.yaml", ["bench.quick=true"]).model_dump())), "again")
    assert dumped.bench == scenario.load_scenario(scenarios_dir() / "bench.yaml", ["bench.quick=true"]).bench


@pytest.mark.parametrize("override, words", [
    ("bench.sizes=[0]", "matrix sizes are 1 ... 16384, not 0"),
    ("bench.dtypes=[float64]", "bench.dtypes.0"),
    ("bench.devices=tpu", "bench.devices"),
    ("strategy=cpu", "this task supports strategy auto, not 'cpu'"),
    ("precision=mixed_bfloat16", "this task supports precision float32"),
])
def test_bad_bench_settings_are_refused_at_validation(override, words):
    with pytest.raises(ScenarioError) as err:
        scenario.load_scenario(scenarios_dir() / "bench.yaml", [override])
    assert words in str(err.value)
