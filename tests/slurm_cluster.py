"""A one-node Slurm cluster on this machine, for the test of `lab deploy slurm` and
benchmarks/slurm_vs_launch.py: Debian's slurm-wlm and munge, started as root on loopback ports with their
files in a folder, and stopped by the process ids started here (nothing else is touched)."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from lab.launch import free_ports

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")

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



def missing() -> str | None:
    """Why a cluster cannot start here, or None."""
    absent = [d for d in DAEMONS if not shutil.which(d)]
    if absent:
        return (f"{', '.join(absent)} not installed (Debian: apt-get install slurm-wlm munge; .ci/run does)")
    if os.geteuid() != 0:
        return "its daemons run as root here (SlurmUser=root), and this is not root"
    return None



def _start(command: list[str], folder: Path, name: str, env: dict) -> subprocess.Popen:
    log = open(folder / f"{name}.out", "wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_idle_node(env: dict, procs: list[subprocess.Popen], folder: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env,
                              timeout=10)
        if done.stdout.strip() == "idle":
            return
        dead = [p.args[0] for p in procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = {f.name: f.read_text(errors="replace")[-1500:] for f in folder.glob("*.log")}
            raise RuntimeError(f"Slurm did not come up ({dead}): {logs}")
        time.sleep(0.2)


def _configure(folder: Path) -> Path:
    for sub in ("ctld", "d"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    conf = folder / "slurm.conf"
    ctld_port, d_port = free_ports(2)
    conf.write_text(CONF.format(host=socket.gethostname().split(".")[0], dir=folder, ctld_port=ctld_port,
                                d_port=d_port, cpus=os.cpu_count() or 2))
    return conf


@contextlib.contextmanager
def local_slurm(folder: Path):
    """Start munged, slurmctld and slurmd with their files in ``folder``; yield the environment that
    points Slurm's commands at them (SLURM_CONF); stop them afterwards, by their process ids."""
    conf = _configure(folder)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs = [_start(["munged", "-F", "--force", f"--socket={folder}/munge.socket",
                     f"--key-file={folder}/munge.key", f"--pid-file={folder}/munged.pid",
                     f"--log-file={folder}/munged.log", f"--seed-file={folder}/munge.seed"],
                    folder, "munged", env)]
    time.sleep(0.3)
    procs.append(_start(["slurmctld", "-D", "-f", str(conf)], folder, "slurmctld", env))
    procs.append(_start(["slurmd", "-D", "-f", str(conf)], folder, "slurmd", env))
    try:
        _wait_for_idle_node(env, procs, folder)
        yield env
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()


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
    raise TimeoutError(f"job {job_id} did not end within {seconds} s")
