#!/usr/bin/env bash
# The lab's GPU check for an offline machine with JAX (and its CUDA) but no TensorFlow, no Keras and no
# package registry:
#
#   benchmarks/gpu_check.sh WHEELS_DIR [OUT_DIR]
#
# 1. installs the lab offline from WHEELS_DIR (`make gpu-wheels`: the lab's wheel, Keras and the small
#    packages such a machine lacks) with pip --no-index into a fresh folder put on PYTHONPATH (the machine's
#    own environment is left as it is), and checks that `lab` starts on Keras' JAX backend without
#    importing TensorFlow;
# 2. runs `lab bench --quick --json` (every device JAX sees, the GPU/CPU speed-ups);
# 3. short timed runs, `strategy: gpu`: mnist_mlp_book (3 epochs), cifar10_resnet (3 epochs) and
#    shakespeare_char_lstm (1 epoch), on the data in LAB_DATA (default ../shared/datasets beside the lab);
# 4. writes OUT_DIR/gpu_check.json: the machine, the versions, the bench summary and each run's figures
#    (seconds per epoch, samples per second, the final figures), and prints it.
#
# STRATEGY=cpu runs the same on the CPU: how the script is proven on a machine without a GPU (CI's
# tests/test_gpu_check.py does, from a fresh venv with JAX's CPU wheel). RUNS="mnist_mlp_book" picks
# fewer runs; EPOCHS_SCALE=0 keeps the epochs above but cuts each run to its first epoch's worth.
set -euo pipefail
wheels=${1:?usage: benchmarks/gpu_check.sh WHEELS_DIR [OUT_DIR]}
out=$(mkdir -p "${2:-gpu-check}" && cd "${2:-gpu-check}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
strategy=${STRATEGY:-gpu}
data=${LAB_DATA:-$root/../shared/datasets}
runs=${RUNS:-mnist_mlp_book cifar10_resnet shakespeare_char_lstm}
python=${PYTHON:-python3}

site="$out/site"
rm -rf "$site"
"$python" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl
cp -r "$root/scenarios" "$site/scenarios"  # the shipped scenarios beside the packages, as in a checkout
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
cd "$out"  # the installed lab, not a checkout's packages, is what runs
"$python" - <<'EOF'
import sys
import lab.cli  # noqa: F401
import keras
import jax
assert keras.backend.backend() == "jax", keras.backend.backend()
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
print(f"lab from {lab.cli.__file__}; Keras {keras.__version__} on JAX {jax.__version__}: {jax.devices()}")
EOF

"$python" -m lab bench --quick --json --out "$out/runs/bench" > "$out/bench.json"

declare -A settings=(
  [mnist_mlp_book]="--set training.epochs=3 --set data.path=$data/mnist.npz"
  [cifar10_resnet]="--set training.epochs=3 --set training.warmup_epochs=1 --set data.path=$data/cifar10-subset"
  [shakespeare_char_lstm]="--set training.epochs=1 --set data.path=$data/shakespeare.txt"
)
for name in $runs; do
  rm -rf "$out/runs/$name"
  # shellcheck disable=SC2086  # the settings are words on purpose
  "$python" -m lab run "$root/scenarios/$name.yaml" --set "strategy=$strategy" ${settings[$name]} \
    --out "$out/runs" --folder "$name" --quiet
done

"$python" - "$out" $runs <<'EOF'
import json, platform, sys
from pathlib import Path

out, names = Path(sys.argv[1]), sys.argv[2:]
import jax, keras

def run_figures(name):
    folder = out / "runs" / name
    summary = json.loads((folder / "summary.json").read_text())
    env = json.loads((folder / "env.json").read_text())
    keep = {k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool)) or v is None}
    return {"strategy": env.get("strategy"), "summary": keep}

report = {
    "machine": platform.node(), "python": platform.python_version(), "keras": keras.__version__,
    "jax": jax.__version__, "devices": [str(d) for d in jax.devices()],
    "bench": json.loads((out / "bench.json").read_text()),
    "runs": {name: run_figures(name) for name in names},
}
(out / "gpu_check.json").write_text(json.dumps(report, indent=1))
for name, run in report["runs"].items():
    s = run["summary"]
    print(f"{name}: {run['strategy'].get('chosen')} {run['strategy'].get('devices')}; "
          + ", ".join(f"{k} {s[k]:.4g}" for k in sorted(s) if isinstance(s[k], float)
                      and any(w in k for w in ("accuracy", "nats", "per_second", "seconds"))))
print(f"wrote {out / 'gpu_check.json'}")
EOF
