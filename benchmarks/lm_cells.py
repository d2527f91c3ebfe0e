"""The book's chapter-5 question, answered with a table: RNN against GRU against LSTM against a transformer on
Shakespeare's characters, at the same parameter budget and the same training time.

    python benchmarks/lm_cells.py                                  # 720k parameters, 4 epochs each, seed 0
    python benchmarks/lm_cells.py --minutes 15 --epochs 40 --cells gru transformer
    python benchmarks/lm_cells.py --cell-set transformer:training.seq_len=128 \
        --cell-set transformer:training.batch_size=32 --cell-set rnn:training.epochs=13

Each recurrent cell gets the width that brings its network (embedding, one recurrent layer, softmax layer)
closest to ``--params`` parameters; the transformer (``--transformer-layers`` blocks, ``--heads`` heads, tied
output) the width, a multiple of 2 per head, that brings it closest. All train on the shipped
``shakespeare_char_lstm`` scenario's data and recipe (Adam, cosine schedule, windows of 50 in 128 streams)
unless ``--set`` (every run) or ``--cell-set CELL:SETTING=VALUE`` (one cell's run: the transformer's window
is its whole context, so it is usually given longer ones) say otherwise. ``--epochs`` sets each run's
schedule and ``--minutes`` caps its training time: the epoch loop stops before an epoch that would pass the
limit, so a time budget is fair when each schedule is about as long as the budget (``--cell-set
rnn:training.epochs=13`` for a faster cell). The runs go one after the other in this process, so they share
the machine's load. Each is a normal run folder under ``--out`` (default ``runs/bench``).

Two tables are printed: the final figures (the test text, the ratio to the 5-gram Kneser-Ney model of the
same run, the peer every cell has to beat), and how close each cell gets per minute of training: the best
validation nats/char reached by each minute (from each epoch's ``train_seconds`` in metrics.csv). Results go
to docs/benchmarks.md by hand, with the date, the machine and the load.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
CELLS = [*GATES, "transformer"]


def parameters(cell: str, units: int, embedding: int, vocab: int, layers: int = 1, window: int = 50,
               mlp_ratio: int = 4) -> int:
    """Weights of the network: embedding + one recurrent layer + dense softmax layer (Keras' GRU has two bias
    rows); the transformer: tied embedding and output bias, positions, ``layers`` blocks, final norm."""
    if cell == "transformer":
        d, hidden = units, mlp_ratio * units
        block = 4 * (d * d + d) + 2 * 2 * d + d * hidden + hidden + hidden * d + d
        return vocab * d + vocab + window * d + layers * block + 2 * d
    recurrent = GATES[cell] * (units * (embedding + units) + units * (2 if cell == "gru" else 1))
    return vocab * embedding + recurrent + units * vocab + vocab


def units_for(cell: str, budget: int, embedding: int, vocab: int, layers: int = 1, window: int = 50,
              heads: int = 4) -> int:
    step = 2 * heads if cell == "transformer" else 8  # the transformer's heads: an even width each
    return min(range(step, 8193, step),
               key=lambda u: abs(parameters(cell, u, embedding, vocab, layers, window) - budget))


def progress(run, minutes: list[float]) -> list[float | None]:
    """The best validation nats reached by each of ``minutes`` of training (None: no epoch ended by then)."""
    with open(run.metrics_path, newline="") as fh:
        rows = [(float(r["train_seconds"]), float(r["val_nats"])) for r in csv.DictReader(fh)
                if r.get("val_nats") and r.get("train_seconds")]
    return [min((v for s, v in rows if s <= 60 * m), default=None) for m in minutes]


def overrides_for(cell: str, args, vocab: int) -> tuple[list[str], int]:
    own = dict(s.split(":", 1)[1].split("=", 1) for s in args.cell_set if s.split(":", 1)[0] == cell)
    window = int(own.get("training.seq_len", 50))
    layers = args.transformer_layers if cell == "transformer" else 1
    units = units_for(cell, args.params, args.embedding, vocab, layers, window, args.heads)
    shape = ([f"model.layers={layers}", f"model.heads={args.heads}", "model.embedding=null"]
             if cell == "transformer"
             else [f"model.embedding={args.embedding}"])
    return [f"seed={args.seed}", f"model.cell={cell}", f"model.units={units}", *shape,
            f"training.epochs={args.epochs}",
            f"training.time_limit_seconds={args.minutes * 60 if args.minutes else 'null'}",
            "generate.length=200", *args.overrides, *(f"{k}={v}" for k, v in own.items())], units


def print_table(rows: list[dict]) -> None:
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else "" if v is None else str(v)
                                for v in r.values()) + " |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", nargs="+", default=CELLS, choices=CELLS)
    p.add_argument("--params", type=int, default=720_000,
                   help="parameter budget (default: the shipped LSTM-384's)")
    p.add_argument("--epochs", type=int, default=4, help="epochs of each cell's schedule")
    p.add_argument("--minutes", type=float, default=None, help="cap on each cell's training time")
    p.add_argument("--embedding", type=int, default=64, help="the recurrent cells' embedding")
    p.add_argument("--transformer-layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], help="override for every run")
    p.add_argument("--cell-set", action="append", default=[], metavar="CELL:SETTING=VALUE",
                   help="override for one cell's run")
    p.add_argument("--out", default="runs/bench")
    args = p.parse_args(argv)

    from lab.execute import execute

    vocab = 68  # the first 1,115,394 characters of shakespeare.txt hold 67 characters, plus <unk>
    minutes = [m for m in (1, 2, 5, 10, 15, 20, 30) if m <= (args.minutes or 30)]
    rows, curves = [], []
    for cell in args.cells:
        overrides, units = overrides_for(cell, args, vocab)
        run = execute("shakespeare_char_lstm", overrides, out=args.out, quiet=True)
        s = run.summary()
        rows.append({"cell": cell, "units": units, "parameters": s["parameters"], "epochs": s["epochs_run"],
                     "train s": round(s["train_seconds"]), "tokens/s": round(s["tokens_per_second"]),
                     "test nats/char": round(s["test_nats"], 4),
                     "bits/char": round(s["test_bits_per_char"], 3),
                     "ratio to KN-5": round(s["ratio_to_kn"], 3)})
        curves.append({"cell": cell, **{f"{m:g} min": None if v is None else round(v, 3)
                                        for m, v in zip(minutes, progress(run, minutes), strict=True)}})
        print(rows[-1], curves[-1], f"(5-gram KN: {s['kn_nats']:.4f})", flush=True)
    print()
    print_table(rows)
    print("\nBest validation nats/char reached by each minute of training:\n")
    print_table(curves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
