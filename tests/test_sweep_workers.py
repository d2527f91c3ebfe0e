"""`lab sweep` across processes: two local workers on one SQLite study finish the asked trials and no more,
and a sweep killed mid-trial (SIGKILL; the child pauses after each checkpoint so the kill lands mid-trial)
resumes that trial from its checkpoint, counting it once.
(PostgreSQL and several machines: test_sweep_postgres.py.)"""

import json
import signal
import time
from pathlib import Path

import yaml
from conftest import write_bar_digits
from test_ctrl_c import lab_paused
from test_sweep import FIRST, LR, QUICK, study_of, sweep_folder

from lab.cli import main as lab_main
from lab.runs import RunDir
from lab.sweep.study import counts


def test_two_local_workers_finish_the_asked_trials_and_no_more(tmp_path):
    assert lab_main(["sweep", FIRST, *QUICK, "--param", LR, "--trials", "4", "--workers", "2",
                     "--pruner", "none", "--out", str(tmp_path), "--quiet"]) == 0
    study = study_of(sweep_folder(tmp_path))
    c = counts(study)
    assert c["complete"] == 4 and c["running"] == 0 and c["failed"] == 0
    assert len([k for k in study.user_attrs if k.startswith("worker:")]) == 2  # two processes worked on it
    folders = sorted(p.name for p in sweep_folder(tmp_path).glob("trial-*"))
    done = sorted(f"trial-{t.number:03d}" for t in study.get_trials() if t.state.name == "COMPLETE")
    assert folders == done  # a dropped (surplus) number never made a folder


def test_a_sweep_killed_mid_trial_resumes_that_trial_from_its_checkpoint(tmp_path):
    write_bar_digits(tmp_path / "mnist.npz", 300, 100, seed=1)
    bars = {"name": "bars", "task": "classifier", "seed": 2, "strategy": "cpu",
            "data": {"dataset": "mnist", "path": str(tmp_path / "mnist.npz"), "validation": 0.1},
            "model": {"kind": "mlp", "hidden": [16]}, "report": {"gallery": 0},
            "training": {"epochs": 4, "batch_size": 64, "learning_rate": 0.003}}
    path = tmp_path / "bars.yaml"
    path.write_text(yaml.safe_dump(bars))
    out = tmp_path / "runs"
    # the child pauses after each checkpoint, so the kill lands mid-trial however fast the trial runs
    proc = lab_paused("sweep", str(path), "--param", "training.learning_rate=loguniform:0.001:0.01",
                      "--trials", "2", "--pruner", "none", "--out", str(out), "--quiet")
    try:
        manifest = wait_for_glob(out, "*-sweep/trial-000/checkpoints/classifier.json", proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    folder = manifest.parents[2]
    assert RunDir.open(folder / "trial-000").status == "running"  # (as the kill left it)
    assert lab_main(["sweep", "--resume", str(folder), "--quiet"]) == 0
    study = study_of(folder)
    assert [(t.number, t.state.name) for t in study.get_trials()] == [(0, "COMPLETE"), (1, "COMPLETE")]
    resumed = RunDir.open(folder / "trial-000")
    assert json.loads(resumed.env_path.read_text()).get("resumed") is True  # continued, not started again
    assert resumed.summary()["epochs_run"] == 4


def wait_for_glob(root: Path, pattern: str, proc, seconds: float = 180) -> Path:
    """The first file matching ``pattern`` under ``root`` (a hang guard, not a speed check)."""
    deadline = time.monotonic() + seconds
    while True:
        found = sorted(root.glob(pattern)) if root.exists() else []
        if found:
            return found[0]
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"nothing matched {pattern} within {seconds} s"
        time.sleep(0.05)
