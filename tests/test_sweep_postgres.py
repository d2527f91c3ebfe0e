"""Several machines join one study through a real database: a PostgreSQL server started here (Debian's
postgresql: initdb and postgres as an unprivileged user, on a temporary folder, on a loopback port),
stopped by its process id afterwards; two sweep workers on it finish the asked trials and no more, and
a second sweep folder (another machine) joins the same study."""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from lab.cli import main as lab_main
from lab.sweep.study import Sweep, counts, open_study

ROOT = Path(__file__).resolve().parents[1]
FIRST = str(ROOT / "scenarios" / "first_network.yaml")
QUICK = ["--set", "strategy=cpu", "--set", "training.max_epochs=40", "--set",
         "activations.functions=[relu]", "--pruner", "none", "--quiet"]
LR = "training.learning_rate=loguniform:0.01:3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_unprivileged(folder: str) -> list[str]:
    """The command prefix that runs PostgreSQL as `nobody` when this is root (it refuses root)."""
    if os.geteuid() != 0:
        return []
    nobody = pwd.getpwnam("nobody")
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    return ["runuser", "-u", "nobody", "--"]


def wait_until_ready(url_args: dict, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(**url_args, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            assert server.poll() is None, server.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "PostgreSQL did not accept connections"
            time.sleep(0.2)


def postgres_program(name: str) -> str | None:
    """On the PATH, or where Debian's postgresql puts it (/usr/lib/postgresql/VERSION/bin)."""
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def postgres():
    initdb, server_bin = postgres_program("initdb"), postgres_program("postgres")
    if initdb is None or server_bin is None:
        pytest.skip("PostgreSQL's initdb/postgres are not installed (.ci/run installs Debian's postgresql)")
    folder = tempfile.mkdtemp(prefix="lab-pg-")
    prefix = as_unprivileged(folder)
    data = os.path.join(folder, "data")
    subprocess.run([*prefix, initdb, "-D", data, "-U", "lab", "-A", "trust", "--no-sync"], check=True,
                   capture_output=True, timeout=120)
    port = free_port()
    server = subprocess.Popen([*prefix, server_bin, "-D", data, "-p", str(port), "-k", folder,
                               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_ready({"host": "127.0.0.1", "port": port, "user": "lab", "dbname": "postgres"}, server)
        yield f"postgresql://lab@127.0.0.1:{port}/postgres"
    finally:
        stop(server, Path(data) / "postmaster.pid")
        shutil.rmtree(folder, ignore_errors=True)


def stop(server: subprocess.Popen, pid_file: Path) -> None:
    """PostgreSQL's fast shutdown (SIGINT) sent to the postmaster this test started, by its process id (the
    first line of postmaster.pid; `server` may be the runuser in front of it), then wait for it to go."""
    pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else server.pid
    os.kill(pid, signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        server.wait(timeout=30)


def test_two_workers_and_a_second_machine_share_one_postgresql_study(postgres, tmp_path):
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    assert lab_main(["sweep", FIRST, *QUICK, "--param", LR, "--trials", "4", "--workers", "2",
                     "--storage", postgres, "--study", "shared", "--out", str(first)]) == 0
    (folder_a,) = first.iterdir()
    sweep = Sweep.load(folder_a)
    assert sweep.storage == postgres and sweep.study == "shared"
    c = counts(open_study(sweep))
    assert c["complete"] == 4 and c["running"] == 0
    workers = [k for k in open_study(sweep).user_attrs if k.startswith("worker:")]
    assert len(workers) == 2  # two processes worked on the study
    # another machine joins the same study and brings it to 6 trials
    assert lab_main(["sweep", FIRST, *QUICK, "--param", LR, "--trials", "6", "--storage", postgres,
                     "--study", "shared", "--out", str(second)]) == 0
    (folder_b,) = second.iterdir()
    trials = [t for t in open_study(Sweep.load(folder_b)).get_trials() if t.state.name == "COMPLETE"]
    assert len(trials) == 6  # (a number two workers asked at once is dropped unrun: not counted)
    assert {Path(t.user_attrs["folder"]).parent for t in trials} == {folder_a, folder_b}
    assert len(list(folder_b.glob("trial-*"))) == 2  # each machine keeps its own trials' run folders


def test_an_unreachable_server_is_an_error_before_any_trial(tmp_path, capsys):
    url = f"postgresql://lab:secret@127.0.0.1:{free_port()}/postgres"
    assert lab_main(["sweep", FIRST, "--param", LR, "--storage", url, "--study", "s",
                     "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot open the study there" in err and "secret" not in err and "lab:***@" in err
    assert not any(tmp_path.iterdir())
