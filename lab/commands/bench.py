"""``lab bench [--quick] [--json] [--device all|cpu|gpu] [--out DIR]``: CPU and GPU speeds against their peaks."""

HELP = "measure matmul, conv2d and training-step speeds on the CPU and each GPU, against their peaks"
DESCRIPTION = """Measure how fast this machine's devices are, the same way on each (the book's chapter 4, done properly).

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

The result is a run folder under --out (task "bench"): summary.json (every figure, the machine, the peak
estimates and their method), report.md, env.json and artifacts/bench.png (GFLOP/s against matrix size with
the peaks). --json prints summary.json on stdout instead of the tables (progress goes to stderr)."""

MAX_SIZE = 16384
MAX_BATCH = 65536


def add_arguments(p):
    p.add_argument("--quick", action="store_true", help="fewer and smaller sizes, 3 repeats: under a minute on 2 cores")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout instead of the tables")
    p.add_argument("--device", choices=("all", "cpu", "gpu"), default="all",
                   help="which devices to measure (default all: the CPU and every GPU)")
    p.add_argument("--out", default="runs", metavar="DIR", help="where the run folder goes (default runs/)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="matrix sizes to measure (default 256 512 1024 2048 4096; --quick: 256 ... 2048)")
    p.add_argument("--batch-sizes", type=int, nargs="+", metavar="B",
                   help="training batch sizes (default 32 128 512; --quick: 32 128)")
    p.add_argument("--repeats", type=int, metavar="R", help="timed repeats per figure (default 5; --quick: 3)")


def check(args) -> None:
    from lab.errors import UsageError

    for n in args.sizes or ():
        if not 1 <= n <= MAX_SIZE:
            raise UsageError(f"--sizes {n}: give matrix sizes from 1 to {MAX_SIZE} (e.g. --sizes 256 1024)")
    for b in args.batch_sizes or ():
        if not 1 <= b <= MAX_BATCH:
            raise UsageError(f"--batch-sizes {b}: give batch sizes from 1 to {MAX_BATCH} (e.g. --batch-sizes 32 128)")
    if args.repeats is not None and not 1 <= args.repeats <= 1000:
        raise UsageError(f"--repeats {args.repeats}: give 1 ... 1000 (the median of the repeats is reported)")


def main(args) -> int:
    import json
    import os
    import platform
    import sys
    import time

    t0 = time.perf_counter()
    check(args)
    from lab.errors import StrategyError
    from lab.strategy import keras_backend, start_tensorflow

    try:
        start_tensorflow()  # under another Keras backend (KERAS_BACKEND=jax), nothing
    except ImportError:
        raise StrategyError(f"Keras' {keras_backend()} backend is not installed here; install it, or run under "
                            "another backend, e.g. KERAS_BACKEND=jax lab bench") from None
    from lab import bench
    from lab.execute import package_versions
    from lab.runs import RunDir, atomic_write_json, atomic_write_text

    def note(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    settings = bench.Settings.make(args.quick, args.sizes, args.batch_sizes, args.repeats)
    backend = bench.backend()
    shown = {"tensorflow": "TensorFlow", "jax": "JAX"}.get(backend, backend)
    everything = bench.list_devices("all")
    gpus = [d for d in everything if d.kind == "GPU"]
    if args.device == "gpu" and not gpus:
        raise StrategyError(f"--device gpu: no GPU visible to {shown} on this machine; use --device cpu or all")
    devices = [d for d in everything if args.device == "all" or d.kind.lower() == args.device]
    if not gpus:
        gpu_note = f"no GPU visible to {shown}: CPU only"
    elif args.device == "cpu":
        gpu_note = f"{len(gpus)} GPU(s) visible to {shown}, not measured (--device cpu)"
    else:
        gpu_note = f"{len(gpus)} GPU(s) visible to {shown}: " + "; ".join(f"{g.name} {g.description}" for g in gpus)
    note(gpu_note)

    name = "bench-quick" if args.quick else "bench"
    run = RunDir.create(args.out, name, task="bench")
    scenario = {"name": name, "task": "bench", "description": "lab bench: matmul, conv2d and training-step speeds "
                "per device against the peak", "settings": {**settings.as_dict(), "device": args.device}}
    import yaml

    atomic_write_text(run.scenario_path, yaml.safe_dump(scenario, sort_keys=False))
    machine = {
        "platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "backend": backend, "devices": [d.as_dict() for d in everything],
    }
    packages = package_versions()
    if backend != "tensorflow":
        import importlib.metadata

        packages[backend] = importlib.metadata.version(backend)
    atomic_write_json(run.env_path, {"packages": packages, **machine, "command": " ".join(sys.argv)})
    run.write_marker(status="running")
    note(f"bench -> {run.path}")
    try:
        results = bench.run_bench(devices, settings, note=note)
    except KeyboardInterrupt:
        run.write_marker(status="interrupted")
        raise
    except BaseException:
        run.write_marker(status="failed")
        raise
    summary = {
        "task": "bench", "quick": args.quick, "backend": backend, "gpu_note": gpu_note,
        "settings": settings.as_dict(), "machine": machine,
        "devices": [d.as_dict() for d in devices],
        "largest_matmul": bench.headline(devices, results["matmul"]),
        **results,
    }
    bench.plot(summary, run.artifact("bench.png"))
    summary["wall_seconds"] = round(time.perf_counter() - t0, 2)
    atomic_write_json(run.summary_path, summary)
    atomic_write_text(run.report_path, bench.report_markdown(summary))
    run.write_marker(status="complete")
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        bench.print_tables(summary)
        print()
        for engine in bench.ENGINES:
            largest = summary["largest_matmul"].get(f"cpu_float32_{engine}")
            if largest and largest["percent_of_peak"] is not None:
                print(f"CPU float32 matmul ({engine}) at n={largest['n']}: {largest['gflops_median']:.1f} GFLOP/s = "
                      f"{largest['percent_of_peak']:.0f}% of the estimated {largest['peak_gflops']:.1f} GFLOP/s")
        print(f"took {summary['wall_seconds']:.1f} s{' (--quick)' if args.quick else ''}")
        print(f"run folder: {run.path}")
    note(f"took {summary['wall_seconds']:.1f} s; run folder: {run.path}")
    return 0
