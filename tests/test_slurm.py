"""`lab deploy slurm` on a real Slurm cluster: one node, started here (Debian's slurm-wlm and munge, as
root, on loopback ports, its files in a temporary folder) and stopped by the process ids it started.

The sbatch script `lab deploy slurm` writes runs two tasks of `lab run`; each derives the cluster from
Slurm's own variables (no TF_CONFIG in the script), task 0 writes the run folder."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from lab.cli import main as lab_main

ROOT = Path(__file__).resolve().parents[1]
MNIST10K = ROOT.parent / "shared" / "datasets" / "mnist10k.npz"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch")
TINY = ["data.train_limit=1500", "data.test_limit=500", "training.epochs=2", "model.hidden=[32]",
        "training.learning_rate=0.01",
        "model.dropout=0", "augment.crop_padding=0", "report.book_outputs=false", "report.gallery=0"]

CONF = """ClusterName=labtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={dir}/ctld
SlurmdSpoolDir={dir}/d
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], folder: Path, name: str, env: dict) -> subprocess.Popen:
    log = open(folder / f"{name}.out", "wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_idle_node(env: dict, procs: list[subprocess.Popen], folder: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env,
                              timeout=10)
        if done.stdout.strip() == "idle":
            return
        dead = [p.args[0] for p in procs if p.poll() is not None]
        logs = {f.name: f.read_text(errors="replace")[-1500:] for f in folder.glob("*.log")}
        assert not dead and time.monotonic() < deadline, f"Slurm did not come up ({dead}): {logs}"
        time.sleep(0.2)


def wait_for_job(job_id: str, env: dict, seconds: float = 300) -> str:
    """The job's final state (COMPLETED, FAILED, ...), polled quickly (`sbatch --wait` backs off to 30 s)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = subprocess.run(["scontrol", "show", "job", job_id, "-o"], capture_output=True, text=True,
                              env=env, timeout=10)
        state = next((f.split("=", 1)[1] for f in done.stdout.split() if f.startswith("JobState=")), "")
        if state not in ("", "PENDING", "RUNNING", "CONFIGURING", "COMPLETING"):
            return state
        time.sleep(0.3)
    subprocess.run(["scancel", job_id], env=env, timeout=10)
    raise AssertionError(f"job {job_id} did not end within {seconds} s")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster: (environment with SLURM_CONF, its folder). Stopped afterwards."""
    missing = [d for d in DAEMONS if not shutil.which(d)]
    if missing:
        pytest.skip(f"Slurm cannot start here: {', '.join(missing)} not installed (Debian: apt-get install "
                    f"slurm-wlm munge; .ci/run does)")
    if os.geteuid() != 0:
        pytest.skip("Slurm cannot start here: its daemons run as root in this test (SlurmUser=root)")
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("ctld", "d"):
        (folder / sub).mkdir()
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(CONF.format(host=host, dir=folder, ctld_port=free_port(), d_port=free_port(),
                                cpus=os.cpu_count() or 2))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs = [start(["munged", "-F", "--force", f"--socket={folder}/munge.socket", f"--key-file={key}",
                    f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log",
                    f"--seed-file={folder}/munge.seed"], folder, "munged", env)]
    time.sleep(0.3)
    procs.append(start(["slurmctld", "-D", "-f", str(conf)], folder, "slurmctld", env))
    procs.append(start(["slurmd", "-D", "-f", str(conf)], folder, "slurmd", env))
    try:
        wait_for_idle_node(env, procs, folder)
        yield env, folder
    finally:
        for p in reversed(procs):  # only what this fixture started, by its process id
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()


def test_sbatch_two_workers_from_slurm_variables(slurm, tmp_path, capsys, monkeypatch):
    env, _ = slurm
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
    state = wait_for_job(job_id, env)
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
