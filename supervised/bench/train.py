"""The bench's runner: measure every chosen device, compare them, and return every figure as the summary.

For the CPU and each GPU the Keras backend sees (``bench.devices``): matrix products at ``bench.sizes`` in
each dtype the device computes natively (``bench.dtypes``), by each engine (``bench.engines``); the conv2d
layer; training steps of the two small models at ``bench.batch_sizes``; then the speed-up GPU/CPU of every
figure both made, and the largest product of each device, dtype and engine against its peak. The driver
writes the run folder (``summary.json``, ``report.md``, ``env.json``, the status markers); ``report.py``
adds the tables and the plot.


The figures are timings: two runs never give the same ones, and the input tensors (named random streams of
the scenario's seed: ``matmul inputs``, ``conv2d inputs``, ``<model> weights``, ``<model> batch``) only make
what is timed the same from run to run.
"""

from __future__ import annotations

from supervised.bench import measure, report
from supervised.bench.model import headline, speedups


def run(cfg, ctx) -> dict:
    s = cfg.bench
    everything = measure.list_devices()
    machine = measure.machine(everything)  # every device seen, with every dtype it computes
    devices, gpu_note = measure.choose(everything, s.devices, s.dtypes)
    ctx.log(gpu_note)
    matmul, conv, training = [], [], []
    for dev in devices:
        for dtype, why in dev.dtypes.items():
            if why is not None:
                ctx.log(f"{dev.name}: {dtype} skipped: {why}")
        matmul += measure.matmul_rows(dev, s, cfg.seed, ctx.log)
        conv += measure.conv_rows(dev, s, cfg.seed, ctx.log)
        training += measure.training_rows(dev, s, cfg.seed, cfg.jit_compile, ctx.log)
    chosen = [d.as_dict() for d in devices]
    summary = {
        "task": "bench", "quick": s.quick, "backend": measure.backend(), "gpu_note": gpu_note,
        "settings": s.model_dump(), "machine": machine, "devices": chosen,
        "largest_matmul": headline(chosen, matmul),
        "matmul": matmul, "conv2d": conv, "training": training, "speedup": speedups(matmul, conv, training),
    }
    report.write(ctx, summary)
    return summary
