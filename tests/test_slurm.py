"""`lab deploy slurm` on a real Slurm cluster: one node, started here (Debian's slurm-wlm and munge, as
root, on loopback ports, its files in a temporary folder) and stopped by the process ids it started.

The sbatch script `lab deploy slurm` writes runs two tasks of `lab run`; each derives the cluster from
Slurm's own variables (no TF_CONFIG in the script), task 0 writes the run folder."""

import json
import subprocess
from pathlib import Path

import pytest
import slurm_cluster

from lab.cli import main as lab_main

ROOT = Path(__file__).resolve().parents[1]
MNIST10K = ROOT.parent / "shared" / "datasets" / "mnist10k.npz"
TINY = ["data.train_limit=1500", "data.test_limit=500", "training.epochs=2", "model.hidden=[32]",
        "training.learning_rate=0.01",
        "model.dropout=0", "augment.crop_padding=0", "report.book_outputs=false", "report.gallery=0"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster (its environment, with SLURM_CONF), stopped afterwards."""
    why = slurm_cluster.missing()
    if why:
        pytest.skip(f"Slurm cannot start here: {why}")
    with slurm_cluster.local_slurm(tmp_path_factory.mktemp("slurm")) as env:
        yield env


@pytest.mark.tensorflow  # TensorFlow's multi-worker runtime
def test_sbatch_two_workers_from_slurm_variables(slurm, tmp_path, capsys, monkeypatch):
    env = slurm
    monkeypatch.chdir(tmp_path)
    args = ["deploy", "slurm", "mnist_mlp_book", "--workers", "2", "--cpus-per-worker", "1", "--time", "10",
            "--out", "runs", "--set", f"data.path={MNIST10K}"] + [a for t in TINY for a in ("--set", t)]
    assert lab_main(args) == 0
    text = capsys.readouterr().out
    assert "TF_CONFIG" not in text.split("set -euo pipefail")[1]  # the lab derives it; the script does not
    (tmp_path / "job.sbatch").write_text(text)
    done = subprocess.run(["sbatch", "--parsable", "job.sbatch"], capture_output=True, text=True,
                          env={**env, "SDL_VIDEODRIVER": "dummy"}, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip().split(";")[0]
    state = slurm_cluster.wait_for_job(job_id, env)
    output = (tmp_path / f"lab-mnist-mlp-book-{job_id}.out").read_text(errors="replace")
    assert state == "COMPLETED", output[-3000:]
    run = tmp_path / "runs" / f"lab-mnist-mlp-book-{job_id}"
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.5  # 1,500 digits, one epoch: about 0.8
    cluster = json.loads((run / "env.json").read_text())["cluster"]
    assert cluster["source"] == "slurm" and cluster["workers"] == 2 and cluster["index"] == 0
    assert "SLURM_PROCID=0" in cluster["from"]
    assert "worker 1: done" in output  # the second task trained with the chief and wrote nothing
    assert f"run: {run}" in output or f"run: runs/lab-mnist-mlp-book-{job_id}" in output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [run.name]  # one run folder only
