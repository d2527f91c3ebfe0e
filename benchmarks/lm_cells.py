"""The book's chapter-5 question, answered with a table: RNN against GRU against LSTM on Shakespeare's
characters, at the same parameter budget and the same training time.

    python benchmarks/lm_cells.py                        # 720k parameters, 4 epochs each, seed 0
    python benchmarks/lm_cells.py --params 1220000 --epochs 3 --cells lstm gru

Each cell gets the width that brings its network (embedding, one recurrent layer, softmax layer) closest to
``--params`` parameters, and trains on the shipped ``shakespeare_char_lstm`` scenario's data and recipe
(Adam, cosine schedule, windows of 50 in 128 streams) for ``--epochs`` epochs. At equal parameters the
three cells cost nearly the same per token on a CPU (the widths make the recurrent matrices about the same
size), so equal epochs are equal training time within a few per cent: the table shows each one's time, and
``--minutes`` (default: none) caps it. A time limit alone would not be fair: training stops at an epoch's
end, so a cell whose epochs are a little longer can lose a whole epoch. The runs go one after the other in
this process, so they share the machine's load. Each is a normal run folder under ``--out`` (default
``runs/bench``); the table ends with the 5-gram Kneser-Ney model of the same run, the peer every cell has to
beat. Results go to docs/benchmarks.md by hand, with the date, the machine and the load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def parameters(cell: str, units: int, embedding: int, vocab: int) -> int:
    """Weights of embedding + one recurrent layer + dense softmax layer (Keras' GRU has two bias rows)."""
    recurrent = GATES[cell] * (units * (embedding + units) + units * (2 if cell == "gru" else 1))
    return vocab * embedding + recurrent + units * vocab + vocab


def units_for(cell: str, budget: int, embedding: int, vocab: int) -> int:
    return min(range(8, 8193, 8), key=lambda u: abs(parameters(cell, u, embedding, vocab) - budget))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"], choices=sorted(GATES))
    p.add_argument("--params", type=int, default=720_000,
                   help="parameter budget (default: the shipped LSTM-384's)")
    p.add_argument("--epochs", type=int, default=4, help="epochs of each cell")
    p.add_argument("--minutes", type=float, default=None, help="cap on each cell's training time")
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], help="override for every run")
    p.add_argument("--out", default="runs/bench")
    args = p.parse_args(argv)

    from lab.execute import execute

    vocab = 68  # the first 1,115,394 characters of shakespeare.txt hold 67 characters, plus <unk>
    rows = []
    for cell in args.cells:
        units = units_for(cell, args.params, args.embedding, vocab)
        overrides = [f"seed={args.seed}", f"model.cell={cell}", f"model.units={units}",
                     f"model.embedding={args.embedding}", f"training.epochs={args.epochs}",
                     f"training.time_limit_seconds={args.minutes * 60 if args.minutes else 'null'}",
                     "generate.length=200", *args.overrides]
        s = execute("shakespeare_char_lstm", overrides, out=args.out, quiet=True).summary()
        rows.append({"cell": cell, "units": units, "parameters": s["parameters"], "epochs": s["epochs_run"],
                     "train s": round(s["train_seconds"]), "tokens/s": round(s["tokens_per_second"]),
                     "test nats/char": round(s["test_nats"], 4),
                     "bits/char": round(s["test_bits_per_char"], 3),
                     "ratio to KN-5": round(s["ratio_to_kn"], 3), "kn": s["kn_nats"]})
        print(rows[-1], flush=True)
    print()
    print("| " + " | ".join(k for k in rows[0] if k != "kn") + " |")
    print("|" + "---|" * (len(rows[0]) - 1))
    for r in rows:
        print("| " +
              " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for k, v in r.items() if k != "kn") +
              " |")
    print(f"\n5-gram Kneser-Ney on the same test characters: {rows[0]['kn']:.4f} nats/char")
    return 0


if __name__ == "__main__":
    sys.exit(main())
