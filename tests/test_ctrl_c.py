"""Ctrl-C where users press it: `lab run` exits 130 and prints a resume line that works; `lab sweep` exits
130, its last line the `lab sweep --resume` command, which continues the interrupted trial from its last
checkpoint. (A shell's background job ignores SIGINT and its children inherit that, where a terminal's
Ctrl-C does not: the subprocesses here restore the default handler.)

The subprocesses pause after each checkpoint (the loop is patched in the child, not in the lab), so Ctrl-C
lands between epochs however loaded the machine is: without the pause a short run could finish before
the signal arrives (CI saw a sweep exit 0 that way)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import bars_scenario

from lab.cli import main as lab_main
from lab.execute import execute
from lab.runs import RunDir

ROOT = Path(__file__).resolve().parents[1]


# `python -m lab ARGS`, except that every checkpoint is followed by a pause for the signal to land in
PAUSED_LAB = ("import sys, time\n"
              "from lab.cli import main\n"
              "from lab.loop import EpochLoop\n"
              "save = EpochLoop.checkpoint\n"
              "EpochLoop.checkpoint = lambda self: (save(self), time.sleep(60))\n"
              "sys.exit(main(sys.argv[1:]))\n")


def lab_paused(*args: str) -> subprocess.Popen:
    """``lab ARGS`` in a child with the default SIGINT handler, pausing after each checkpoint."""
    return subprocess.Popen([sys.executable, "-c", PAUSED_LAB, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    """Until ``path`` exists (a hang guard, not a speed check)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear within {seconds} s"
        time.sleep(0.05)


def test_ctrl_c_in_lab_run_exits_130_and_prints_the_resume_line_that_works(tmp_path):
    path = bars_scenario(tmp_path, training={"epochs": 5})
    out = tmp_path / "runs"
    proc = lab_paused("run", str(path), "--out", str(out), "--quiet")
    try:
        wait_for(out, proc)
        (folder,) = out.iterdir()
        wait_for(folder / "checkpoints" / "classifier.json", proc)  # the first epoch is saved
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"interrupted; continue with: lab run --resume {folder}" in err and "Traceback" not in err
    run = RunDir.open(folder)
    assert run.status == "interrupted" and not run.summary_path.exists()
    resumed = execute(None, resume=str(folder), quiet=True)  # the printed command, in this process
    assert resumed.status == "complete" and resumed.summary()["epochs_run"] == 5


def test_ctrl_c_in_lab_sweep_exits_130_and_its_resume_line_continues_the_trial(tmp_path):
    from lab.sweep.study import Sweep, open_study

    path = bars_scenario(tmp_path, training={"epochs": 4})
    out = tmp_path / "runs"
    proc = lab_paused("sweep", str(path), "--param", "training.learning_rate=loguniform:0.001:0.01",
                      "--trials", "1", "--pruner", "none", "--out", str(out), "--quiet")
    try:
        wait_for(out, proc)
        (folder,) = out.iterdir()
        wait_for(folder / "trial-000" / "checkpoints" / "classifier.json", proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == f"interrupted; continue with: lab sweep --resume {folder}"
    assert RunDir.open(folder / "trial-000").status == "interrupted"
    assert [t.state.name for t in open_study(Sweep.load(folder)).get_trials()] == ["RUNNING"]
    assert lab_main(["sweep", "--resume", str(folder), "--quiet"]) == 0  # the printed command
    trials = open_study(Sweep.load(folder)).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"]
    assert json.loads(RunDir.open(folder / "trial-000").env_path.read_text()).get("resumed") is True


