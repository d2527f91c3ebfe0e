"""Tiny finished runs of the five kinds `lab serve` answers for (a classifier, a character language model,
an RBM recommender, a VAE, a maze agent), trained in this process in about a minute on 2 cores: for the
service's tests, its browser test, benchmarks/serve_load.py and scripts/serve_screenshots.py.

    python tests/serve_runs.py FOLDER      # prints the five run folders
"""

import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
MNIST10K = ROOT.parent / "shared" / "datasets" / "mnist10k.npz"
WORDS = ["the king", "a queen", "my lord", "good night", "sweet prince", "fair lady", "the sea", "our crown"]


def scenarios(folder: Path) -> dict[str, dict]:
    text = folder / "text.txt"
    rng = np.random.default_rng(0)
    text.write_text("\n".join(f"{WORDS[rng.integers(8)]} and {WORDS[rng.integers(8)]}." for _ in range(600)))
    return {
        "classifier": {"name": "digits", "task": "classifier", "seed": 0, "strategy": "cpu",
                       "data": {"dataset": "mnist", "path": str(MNIST10K), "train_limit": 1500,
                                "test_limit": 200, "validation": 0.1},
                       "model": {"kind": "mlp", "hidden": [64]}, "augment": {"crop_padding": 2},
                       "training": {"epochs": 2, "batch_size": 64, "learning_rate": 0.003},
                       "report": {"gallery": 0}},
        "language-model": {"name": "verses", "task": "language-model", "seed": 0, "strategy": "cpu",
                           "data": {"path": str(text)},
                           "model": {"cell": "lstm", "units": 32, "embedding": 8},
                           "training": {"epochs": 2, "batch_size": 8, "seq_len": 32, "learning_rate": 0.01},
                           "generate": {"prompt": "the ", "length": 40}},
        "rbm": {"name": "movies", "task": "rbm", "seed": 5, "strategy": "cpu",
                "data": {"source": "synthetic",
                         "synthetic": {"users": 300, "items": 80, "mean_ratings": 25, "tastes": 4,
                                       "noise": 0.4}},
                "rbm": {"hidden": 20}, "training": {"epochs": 4, "batch_size": 20, "learning_rate": 0.1},
                "evaluation": {"every": 4}},
        "vae": {"name": "vae", "task": "vae", "seed": 0, "strategy": "cpu",
                "data": {"path": str(MNIST10K), "train_limit": 600, "test_limit": 100},
                "model": {"kind": "dense", "latent_size": 2, "hidden": [64]},
                "training": {"epochs": 2, "batch_size": 50, "learning_rate": 0.003},
                "evaluation": {"iw_samples": 4}, "sampling": {"grid": 16}, "quality": {"enabled": False}},
        "maze-dqn": {"name": "maze", "task": "maze-dqn", "seed": 0, "strategy": "cpu",
                     "env": {"width": 3, "height": 3, "maze_seed": 2, "observation": "grid",
                             "obs_dtype": "uint8", "exploring_starts": True, "tile_pixels": 8,
                             "rewards": {"shaping": True, "shaping_gamma": 1.0}},
                     "agent": {"network": {"kind": "mlp", "hidden": [32, 32]}, "learning_starts": 200,
                               "train_freq": 4, "target": {"every": 50}, "epsilon": {"decay_steps": 1000},
                               "replay": {"capacity": 5000}},
                     "training": {"env_steps": 8000, "num_envs": 8, "eval_every": 200,
                                  "stop_after_perfect": 2, "checkpoint_every": 400}},
    }


def make_runs(folder: Path, kinds=None) -> dict[str, Path]:
    """Train the tiny runs (task -> finished run folder) in ``folder``."""
    from lab.execute import execute

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for task, data in scenarios(folder).items():
        if kinds is not None and task not in kinds:
            continue
        path = folder / f"{data['name']}.yaml"
        path.write_text(yaml.safe_dump(data))
        out[task] = execute(str(path), out=str(folder / "runs"), quiet=True).path
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # the real envs/ and agents/, not tests/envs
    for path in make_runs(Path(sys.argv[1])).values():
        print(path)
