"""``lab bench [--quick] [--json] [--device all|cpu|gpu] [--out DIR] [--set KEY=VALUE ...]``: CPU and GPU
speeds against their peaks. The flags become ``--set`` overrides of ``scenarios/bench.yaml``, run by the same
driver as ``lab run`` (task ``bench``); the tables (or the JSON) are printed from the run's summary."""

from __future__ import annotations

import importlib.util
import json
import sys

from lab import registry
from lab.backend import keras_backend
from lab.errors import StrategyError, UsageError
from lab.execute import prepare, run_prepared
from lab.paths import scenarios_dir
from supervised.bench.config import MAX_BATCH, MAX_REPEATS, MAX_SIZE

DESCRIPTION = """Measure how fast this machine's devices are, the same way on each (the book's chapter 4,
done properly).

  lab bench                      # CPU and every visible GPU; a minute or two on 2 cores
  lab bench --quick --json       # the short version (< 60 s on 2 cores), the summary as JSON on stdout

For the CPU and each GPU the Keras backend sees:
  matrix products n x n @ n x n (n = 256 ... 4096; --quick: 256 ... 2048) in float32, and float16/bfloat16
    where the device computes them natively (a CPU needs the avx512_bf16/amx flags: else skipped, and said
    why), as GFLOP/s = 2 n^3 / t beside the device's theoretical peak: for a CPU an estimate, physical cores x
    clock x FLOPs per cycle read from /proc/cpuinfo (the method is printed); for a GPU, a table of data-sheet
    figures by name (A100, H100, H200, V100, T4, L4, RTX 30xx/40xx), else "unknown". Each product is timed
    as the keras.ops call itself ("eager"), inside an XLA-compiled function ("xla", TensorFlow only: under
    JAX the call is compiled already) and, on the CPU, as numpy.matmul ("numpy": its BLAS, a reference);
  a conv2d layer (3x3, 64 -> 64 channels, 32x32 images), forward pass, eager and xla: GFLOP/s and images/s;
  training steps/s and samples/s of the book's MNIST network (784-300-100-10) and its CIFAR-10 convnet at
    batch sizes 32, 128, 512 (--quick: 32, 128): one train_on_batch per step, Adam, synthetic data;
  with a GPU, the speed-up GPU/CPU of every figure.
Warm-up calls are not timed; every figure is the median of --repeats repeats (min and max beside it); each
timed loop ends by bringing a result to the host, so asynchronous GPUs cannot finish after the clock stops.

It runs scenarios/bench.yaml (task "bench") like `lab run` does: every flag is an override of it, and --set
reaches the rest (bench.dtypes, bench.engines, bench.models, bench.conv_batch, ...: scenarios/bench.yaml
describes each). The result is a run folder under --out: summary.json (every figure, the machine, the
peak estimates and their method), report.md, env.json and artifacts/bench.png (GFLOP/s against matrix size
with the peaks). --json prints summary.json on stdout instead of the tables (progress goes to stderr)."""


def add_arguments(p):
    p.add_argument("--quick", action="store_true",
                   help="fewer and smaller sizes, 3 repeats: under a minute on 2 cores")
    p.add_argument("--json", action="store_true",
                   help="print the summary as JSON on stdout instead of the tables")
    p.add_argument("--device", choices=("all", "cpu", "gpu"),
                   help="which devices to measure (default all: the CPU and every GPU)")
    p.add_argument("--out", metavar="DIR", help="where the run folder goes (default runs/)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="matrix sizes to measure (default 256 512 1024 2048 4096; --quick: 256 ... 2048)")
    p.add_argument("--batch-sizes", type=int, nargs="+", metavar="B",
                   help="training batch sizes (default 32 128 512; --quick: 32 128)")
    p.add_argument("--repeats", type=int, metavar="R",
                   help="timed repeats per figure (default 5; --quick: 3)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override any field of scenarios/bench.yaml (value parsed as YAML); repeatable")


def check(args) -> None:
    """Each flag's value in its own words (the scenario's validation would name the field instead)."""
    for n in args.sizes or ():
        if not 1 <= n <= MAX_SIZE:
            raise UsageError(f"--sizes {n}: give matrix sizes from 1 to {MAX_SIZE} (e.g. --sizes 256 1024)")
    for b in args.batch_sizes or ():
        if not 1 <= b <= MAX_BATCH:
            raise UsageError(f"--batch-sizes {b}: give batch sizes from 1 to {MAX_BATCH} "
                             "(e.g. --batch-sizes 32 128)")
    if args.repeats is not None and not 1 <= args.repeats <= MAX_REPEATS:
        raise UsageError(f"--repeats {args.repeats}: give 1 ... {MAX_REPEATS} (the median of the repeats is "
                         "reported)")
    backend = keras_backend()
    if importlib.util.find_spec(backend) is None:
        raise StrategyError(f"Keras' {backend} backend is not installed here; install it, or run under "
                            "another backend, e.g. KERAS_BACKEND=jax lab bench")


def overrides(args) -> list[str]:
    """The flags as ``--set`` overrides of scenarios/bench.yaml (then the --set ones, which come last and
    win)."""

    out = ["name=bench-quick", "bench.quick=true"] if args.quick else []
    if args.device:
        out.append(f"bench.devices={args.device}")
    if args.sizes:
        out.append(f"bench.sizes={json.dumps(args.sizes)}")
    if args.batch_sizes:
        out.append(f"bench.batch_sizes={json.dumps(args.batch_sizes)}")
    if args.repeats is not None:
        out.append(f"bench.repeats={args.repeats}")
    return out + list(args.overrides)


def main(args) -> int:
    check(args)
    if args.device:
        registry.serve("bench").check_devices(args.device)
    cfg, run = prepare(str(scenarios_dir() / "bench.yaml"), overrides(args), args.out)
    run = run_prepared(cfg, run)
    results = registry.serve("bench").results(run.path)
    summary = results["summary"]
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print_results(results)
        print(f"took {summary['wall_seconds']:.1f} s{' (--quick)' if summary['quick'] else ''}")
        print(f"run folder: {run.path}")
    print(f"took {summary['wall_seconds']:.1f} s; run folder: {run.path}", file=sys.stderr, flush=True)
    return 0


def print_results(results: dict) -> None:
    summary = results["summary"]
    print(summary["gpu_note"])
    for name, description, notes in results["devices"]:
        print(f"{name}: {description}")
        for note in notes:
            print(f"  {note}")
    for t in results["tables"]:
        print()
        print(t["title"])
        for note in t["notes"]:
            print(f"  {note}")
        for line in text_table(t):
            print("  " + line)
    print()
    for key, largest in summary["largest_matmul"].items():
        if key.startswith("cpu_float32_") and largest["percent_of_peak"] is not None:
            print(f"CPU float32 matmul ({key.removeprefix('cpu_float32_')}) at n={largest['n']}: "
                  f"{largest['gflops_median']:.1f} GFLOP/s = {largest['percent_of_peak']:.0f}% of the "
                  f"estimated {largest['peak_gflops']:.1f} GFLOP/s")


def text_table(t: dict) -> list[str]:
    """A table of :func:`supervised.bench.report.table` as aligned plain text: numbers right-aligned."""
    widths = [max([len(h)] + [len(row[i]) for row in t["cells"]]) for i, h in enumerate(t["headers"])]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, t["numeric"], strict=True)).rstrip()

    return [line(t["headers"]), line(["-" * w for w in widths]), *(line(row) for row in t["cells"])]
