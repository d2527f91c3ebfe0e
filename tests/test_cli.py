"""The `lab` command in a subprocess: fast paths import no TensorFlow, errors exit 2 without tracebacks."""

import subprocess
import sys

import pytest


def run_lab(args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, cwd=cwd,
                          env=env)


@pytest.mark.parametrize("args", [["--help"], ["list"], ["list", "--tasks"], ["validate", "SCENARIOS"]])
def test_fast_commands_import_no_tensorflow(root, args):
    if args[-1] == "SCENARIOS":
        args = args[:-1] + [str(p) for p in sorted((root / "scenarios").glob("*.yaml"))]
    code = ("import sys\nfrom lab.cli import main\n"
            "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
            "assert 'keras' not in sys.modules, 'keras was imported'\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_list_shows_descriptions(root):
    proc = run_lab(["list"])
    assert proc.returncode == 0
    for path in (root / "scenarios").glob("*.yaml"):
        assert path.stem in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("mnist_mlp_book "))
    assert " classifier " in line and "784-300-100-10" in line  # each scenario's task and description


def test_output_into_a_closed_pipe_is_not_a_traceback():
    proc = subprocess.run(f"{sys.executable} -m lab list | head -1", shell=True, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr


def test_list_tasks_shows_what_each_task_supports():
    proc = run_lab(["list", "--tasks"])
    assert proc.returncode == 0
    rbm = proc.stdout.split("\nrbm ")[1].split("\n")[1]
    assert ("supports: strategy auto | cpu | gpu; precision float32;" in rbm and
            "refuses mirrored, multi-worker" in rbm)
    assert "jit_compile auto: XLA on, also on the CPU" in proc.stdout  # the DQN's own rule


def test_bad_scenario_exit_2_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntask: first-network\ntraining:\n  learning_rat: 0.1\n")
    proc = run_lab(["validate", str(bad)])
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "did you mean `learning_rate`" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_lab(["run", str(bad)])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run_lab(["--debug", "validate", str(bad)])
    assert proc.returncode == 1 and "Traceback" in proc.stderr  # --debug: the exception propagates


def test_resume_on_non_run_and_bad_run_name(tmp_path):
    proc = run_lab(["run", "--resume", str(tmp_path)])
    assert proc.returncode == 2 and "not a run folder" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "evil.yaml"
    bad.write_text("name: ../../etc\ntask: graph-basics\n")
    proc = run_lab(["run", str(bad), "--out", str(tmp_path / "runs")])
    assert proc.returncode == 2 and "not a path" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_run_end_to_end(tmp_path, root):
    proc = run_lab(["run", str(root / "scenarios" / "graph_basics.yaml"), "--out", str(tmp_path), "--quiet",
                    "--set", "strategy=cpu"])
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("run: ")
    run_dir = last.removeprefix("run: ")
    assert (tmp_path in __import__("pathlib").Path(run_dir).parents)
    show = run_lab(["show", run_dir])
    assert show.returncode == 0 and "graph-basics" in show.stdout and "complete" in show.stdout
