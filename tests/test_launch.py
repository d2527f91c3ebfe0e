"""``lab launch``: the launcher of local multi-worker runs, driven by fake workers (no TensorFlow).

The end-to-end run with real TensorFlow workers is tests/test_multi_worker.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import pytest

from lab import launch as L
from lab.cli import main as cli
from lab.errors import RunError, ScenarioError
from lab.strategy import check_tf_config


def fake(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def envs(n: int) -> list[dict]:
    return [dict(os.environ, PYTHONUNBUFFERED="1") for _ in range(n)]


def gone(pid: int) -> bool:
    """The process ``pid`` no longer exists (run_workers reaps its workers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_workers_write_logs_and_prefixed_console(tmp_path):
    native = ("I0000 00:00:1712345678.123456   42 cpu_feature_guard.cc:210] This TensorFlow binary is "
              "optimized")
    preamble = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
    code = ("import sys, os; i = os.environ['W']; print('hello from', i); "
            f"print({native!r}, file=sys.stderr); print({preamble!r}, file=sys.stderr); print('bye', i)")
    out = io.StringIO()
    codes = L.run_workers([fake(code)] * 2, [dict(e, W=str(i)) for i, e in enumerate(envs(2))],
                          tmp_path / "logs",
                          stream=out, show_native=False, info=[{"address": "a0"}, {"address": "a1"}])
    assert codes == [0, 0]
    for i in (0, 1):
        log = (tmp_path / "logs" / f"worker-{i}.log").read_text()
        assert f"hello from {i}\n" in log and f"bye {i}\n" in log
        assert native in log and preamble in log  # the log keeps everything
    console = out.getvalue().splitlines()
    assert sorted(console) == ["[worker 0] bye 0", "[worker 0] hello from 0", "[worker 1] bye 1",
                               "[worker 1] hello from 1"]  # native lines only in the log
    record = json.loads((tmp_path / "logs" / "workers.json").read_text())
    assert [w["index"] for w in record["workers"]] == [0, 1]
    assert [w["address"] for w in record["workers"]] == ["a0", "a1"]
    assert all(w["returncode"] == 0 and w["pid"] > 0 and w["command"][0] == sys.executable
               for w in record["workers"])
    assert record["launched"] and record["finished"]


def test_native_lines_shown_with_lab_tf_logs_and_nothing_when_quiet(tmp_path, monkeypatch, capsys):
    code = "print('W0415 12:01:02.345 x.cc:1] native'); print('plain')"
    monkeypatch.setenv("LAB_TF_LOGS", "1")
    out = io.StringIO()
    L.run_workers([fake(code)], envs(1), tmp_path / "a", stream=out)
    assert out.getvalue().splitlines() == ["[worker 0] W0415 12:01:02.345 x.cc:1] native", "[worker 0] plain"]
    L.run_workers([fake(code)], envs(1), tmp_path / "b", quiet=True)
    assert capsys.readouterr().err == ""
    assert (tmp_path / "b" / "worker-0.log").read_text().splitlines()[-1] == "plain"


def test_a_failing_worker_stops_the_others(tmp_path, capsys):
    commands = [fake("import time; print('sleeping', flush=True); time.sleep(60)"),
                fake("import sys, time; time.sleep(0.3); print('boom'); sys.exit(3)")]
    seen = []
    # (the sleeper would keep it waiting 60 s if it were not stopped)
    with pytest.raises(L.WorkerFailed) as info:
        L.run_workers(commands, envs(2), tmp_path, grace=2, stream=io.StringIO(), on_failure=seen.append,
                      resume_hint="lab launch --workers 2 --resume RUN")
    failure = info.value.failure
    assert (failure.index, failure.returncode) == (1, 3) and seen == [failure]
    message = str(info.value)
    assert "worker 1 exited with code 3" in message and str(tmp_path / "worker-1.log") in message
    assert "lab launch --workers 2 --resume RUN" in message
    assert "worker 1 exited with code 3; stopping the other workers" in capsys.readouterr().err
    record = json.loads((tmp_path / "workers.json").read_text())
    sleeper = record["workers"][0]
    assert gone(sleeper["pid"]) and sleeper["returncode"] == -signal.SIGTERM
    assert record["workers"][1]["returncode"] == 3


def test_a_worker_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    # the other worker fails only once SIGTERM is ignored: no race with the handler
    ready = tmp_path / "ignoring"
    stubborn = fake("import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                    f"pathlib.Path({str(ready)!r}).write_text('1'); time.sleep(60)")
    failing = fake(f"import pathlib, sys, time\nwhile not pathlib.Path({str(ready)!r}).exists(): "
                   f"time.sleep(0.02)\nsys.exit(1)")
    with pytest.raises(L.WorkerFailed):
        L.run_workers([stubborn, failing], envs(2), tmp_path, grace=0.5, quiet=True)
    record = json.loads((tmp_path / "workers.json").read_text())
    assert record["workers"][0]["returncode"] == -signal.SIGKILL and gone(record["workers"][0]["pid"])


def test_a_killed_worker_is_named_with_its_signal(tmp_path, capsys):
    code = "import os, signal; print('last words', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    with pytest.raises(L.WorkerFailed) as info:
        L.run_workers([fake(code)], envs(1), tmp_path, quiet=True)
    assert "worker 0 killed by SIGKILL" in str(info.value)
    assert "last words" in str(info.value)  # --quiet: the end of its log is in the message
    assert "worker 0 killed by SIGKILL\n" in capsys.readouterr().err
    assert (L.describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV" and
            L.describe_exit(2) == "exited with code 2")


def test_an_exited_worker_waits_for_the_others(tmp_path):
    commands = [fake("print('quick')"), fake("import time; time.sleep(0.8); print('slow')")]
    assert L.run_workers(commands, envs(2), tmp_path, quiet=True) == [0, 0]
    assert "slow" in (tmp_path / "worker-1.log").read_text()


@pytest.fixture(autouse=True)
def ctrl_c():
    """Ctrl-C as in a terminal: a shell starts a background job (`pytest &`, nohup) with SIGINT ignored, and
    then the tests that press Ctrl-C on this process (:func:`interrupt_parent`) would fail for that reason."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_forwards_sigint_to_every_worker(tmp_path):
    """A KeyboardInterrupt in the launcher: SIGINT to every worker group, on_interrupt, re-raised."""
    script = (
        "import time, pathlib\n"
        f"root = pathlib.Path({str(tmp_path)!r})\n"
        "try:\n"
        "    (root / 'up').write_text('yes'); time.sleep(60)\n"
        "except KeyboardInterrupt:\n"
        "    (root / 'got-sigint').write_text('yes')\n"
        "    raise SystemExit(130)\n"
    )
    called = []
    with pytest.raises(KeyboardInterrupt):
        L.run_workers([fake(script), fake(interrupt_parent(tmp_path / "up"))], envs(2), tmp_path / "logs",
                      grace=3, quiet=True, on_interrupt=lambda: called.append(True))
    assert called == [True]
    assert (tmp_path / "got-sigint").read_text() == "yes"
    record = json.loads((tmp_path / "logs" / "workers.json").read_text())
    assert record["workers"][0]["returncode"] == 130
    assert all(gone(w["pid"]) for w in record["workers"])


def interrupt_parent(ready) -> str:
    """A fake worker that presses Ctrl-C on the launcher (this test process) once ``ready`` exists."""
    return ("import os, signal, time, pathlib\n"
            f"ready = pathlib.Path({str(ready)!r})\n"
            "while not ready.exists(): time.sleep(0.02)\n"
            "time.sleep(0.2); os.kill(os.getppid(), signal.SIGINT); time.sleep(60)\n")


def test_free_ports_and_tf_config():
    ports = L.free_ports(3)
    assert len(set(ports)) == 3 and all(0 < p < 65536 for p in ports)
    addresses = [f"127.0.0.1:{p}" for p in ports]
    for i in range(3):
        cfg = check_tf_config(L.tf_config(addresses, i))
        assert cfg["task"] == {"type": "worker", "index": i} and cfg["cluster"]["worker"] == addresses
    with pytest.raises(ValueError):
        L.tf_config(addresses, 3)


def test_worker_env_shares_the_cores(monkeypatch):
    addresses = ["127.0.0.1:1", "127.0.0.1:2"]
    env = L.worker_env({"PATH": "/bin"}, addresses, 1, cpu_count=8)
    assert env["PATH"] == "/bin" and env["PYTHONUNBUFFERED"] == "1" and env["LAB_LAUNCH_WORKER"] == "1"
    assert env["TF_NUM_INTRAOP_THREADS"] == env["TF_NUM_INTEROP_THREADS"] == "4"
    check_tf_config(env["TF_CONFIG"])
    assert L.worker_env({}, addresses * 2, 0, cpu_count=2)["TF_NUM_INTRAOP_THREADS"] == "1"
    mine = L.worker_env({"TF_NUM_INTRAOP_THREADS": "3"}, addresses, 0, cpu_count=8)
    assert mine["TF_NUM_INTRAOP_THREADS"] == "3" and mine["TF_NUM_INTEROP_THREADS"] == "4"
    assert L.worker_command("runs/x")[1:] == ["-m", "lab", "run", "--resume", "runs/x"]


# --------------------------------------------------------------------------------------------------
# The command: refusals before anything starts


@pytest.fixture
def no_workers(monkeypatch):
    """Any attempt to start a process fails the test."""
    def refuse(*a, **k):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(L.subprocess, "Popen", refuse)


def test_a_task_without_multi_worker_is_refused(tmp_path, capsys, no_workers):
    assert cli(["launch", "--workers", "2", "rbm_synthetic", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "multi-worker" in err and "supports strategy" in err
    assert list(tmp_path.iterdir()) == []  # no run folder either


def test_another_strategy_is_refused(tmp_path, capsys, no_workers):
    assert cli(["launch", "--workers", "2", "rbm_synthetic", "--set", "strategy=cpu",
                "--out", str(tmp_path)]) == 2
    assert "lab launch always uses strategy multi-worker" in capsys.readouterr().err


def test_worker_count_is_checked(capsys, no_workers):
    for bad in ("0", "65", "two"):
        with pytest.raises(SystemExit) as info:
            cli(["launch", "--workers", bad, "rbm_synthetic"])
        assert info.value.code == 2
        assert "1 ... 64" in capsys.readouterr().err
    with pytest.raises(ScenarioError, match="1 ... 64"):
        L.check_workers(0)


def test_resume_of_a_run_that_was_not_multi_worker_is_refused(tmp_path, capsys, no_workers):
    from lab.execute import prepare

    _, run = prepare("rbm_synthetic", ["strategy=cpu"], str(tmp_path))
    assert cli(["launch", "--workers", "2", "--resume", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert "was not a multi-worker run" in err and f"lab run --resume {run.path}" in err


def _multi_worker_folder(tmp_path, status="interrupted"):
    """A run folder whose resolved scenario says multi-worker (written by hand: which tasks support it is
    not this file's business)."""
    from lab.execute import prepare

    _, run = prepare("rbm_synthetic", [], str(tmp_path))
    text = run.scenario_path.read_text()
    run.scenario_path.write_text(text.replace("strategy: auto", "strategy: multi-worker"))
    assert run.read_scenario()["strategy"] == "multi-worker"
    run.write_marker(status=status)
    return run


def test_resume_of_a_complete_run_is_refused(tmp_path, capsys, no_workers):
    run = _multi_worker_folder(tmp_path, status="complete")
    assert cli(["launch", "--workers", "2", "--resume", str(run.path)]) == 2
    assert "already complete" in capsys.readouterr().err


def test_launch_marks_a_failed_run_and_says_how_to_continue(tmp_path, monkeypatch, capsys):
    """lab.launch.launch with the workers' command replaced by a failing one."""
    run = _multi_worker_folder(tmp_path, status="created")
    said = tmp_path / "worker-0-said-it"  # worker 1 fails only once worker 0 has printed (no race under load)
    monkeypatch.setattr(L, "worker_command", lambda path: fake(
        "import os, sys, json, time, pathlib; cfg = json.loads(os.environ['TF_CONFIG']); "
        "i = cfg['task']['index']; "
        "print('worker', i, os.environ['TF_NUM_INTRAOP_THREADS'], flush=True); "
        f"said = pathlib.Path({str(said)!r}); said.touch() if i == 0 else None; "
        "[time.sleep(0.05) for _ in range(600) if i == 1 and not said.exists()]; "
        "sys.exit(5 if i == 1 else 0)"))
    with pytest.raises(RunError) as info:
        L.launch(run, 2, grace=1, stream=io.StringIO())
    message = str(info.value)
    assert "worker 1 exited with code 5" in message and "worker-1.log" in message
    assert f"lab launch --workers 2 --resume {run.path}" in message
    assert run.status == "failed"
    record = json.loads((run.path / "logs" / "workers.json").read_text())
    assert [w["index"] for w in record["workers"]] == [0, 1]
    assert len({w["address"] for w in record["workers"]}) == 2
    assert (run.path / "logs" / "worker-0.log").read_text().startswith("worker 0 ")


def test_the_launcher_does_not_import_tensorflow(root):
    code = ("import sys, lab.cli, lab.commands.launch, lab.launch, lab.execute; "
            "lab.cli.build_parser(); assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)


def test_launch_marks_an_interrupted_run(tmp_path, monkeypatch, capsys):
    run = _multi_worker_folder(tmp_path, status="running")
    ready = tmp_path / "ready"
    commands = iter([fake(f"import pathlib, time; pathlib.Path({str(ready)!r}).write_text('1'); "
                          f"time.sleep(60)"),
                     fake(interrupt_parent(ready))])
    monkeypatch.setattr(L, "worker_command", lambda path: next(commands))
    with pytest.raises(KeyboardInterrupt):
        L.launch(run, 2, grace=2, quiet=True)
    assert run.status == "interrupted"
    assert (f"interrupted; continue with: lab launch --workers 2 --resume "
            f"{run.path}" in capsys.readouterr().err)


def test_a_port_taken_before_the_workers_start_is_retried_on_new_ports(tmp_path, monkeypatch):
    from lab.strategy import PORT_TAKEN

    run = _multi_worker_folder(tmp_path, status="created")
    taken = f"import sys; print('error: TF_CONFIG: this worker {PORT_TAKEN} at 127.0.0.1:1'); sys.exit(2)"
    commands = iter([fake("print('up')"), fake(taken), fake("print('up')"), fake("print('up too')")])
    monkeypatch.setattr(L, "worker_command", lambda path: next(commands))
    err = io.StringIO()
    assert L.launch(run, 2, grace=2, stream=err) is run
    assert ("worker 1 could not start its gRPC server" in err.getvalue() and
            "again on new ports" in err.getvalue())
    assert next(commands, None) is None  # both workers started twice
    assert run.status == "created"  # (the fake chief marks nothing)


def test_other_failures_are_not_retried_and_mark_the_run_failed(tmp_path, monkeypatch):
    run = _multi_worker_folder(tmp_path, status="created")
    commands = iter([fake("import time; time.sleep(60)"), fake("import sys; sys.exit(3)")])
    monkeypatch.setattr(L, "worker_command", lambda path: next(commands))
    with pytest.raises(L.WorkerFailed, match="worker 1 exited with code 3"):
        L.launch(run, 2, grace=2, quiet=True)
    assert run.status == "failed"


def test_cli_success_prints_the_chiefs_summary_and_the_run_last(tmp_path, monkeypatch, capsys, root):
    run = _multi_worker_folder(tmp_path, status="created")
    monkeypatch.setenv("PYTHONPATH", str(root))
    chief = ("import json, os, pathlib; from lab.runs import RunDir; run = RunDir(os.environ['RUN']); "
             "pathlib.Path(run.summary_path).write_text(json.dumps({'test_accuracy': 0.25})); "
             "run.write_marker(status='complete'); print('done')")
    monkeypatch.setenv("RUN", str(run.path))
    commands = iter([fake(chief), fake("print('done too')")])
    monkeypatch.setattr(L, "worker_command", lambda path: next(commands))
    # which tasks accept multi-worker is the scenarios' business: skip their validation here
    monkeypatch.setattr(L, "prepare", lambda *a, **k: (None, run))
    assert cli(["launch", "--workers", "2", "--resume", str(run.path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == f"run: {run.path}"
    assert "test_accuracy  0.25" in captured.out
    assert "[worker 0] done" in captured.err and "[worker 1] done too" in captured.err


def test_resume_of_a_busy_run_is_refused_before_any_worker_starts(tmp_path, capsys):
    from lab.execute import prepare
    from lab.launch import prepare_launch

    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: busy\ntask: classifier\nstrategy: multi-worker\n")
    _, run = prepare(str(scenario), out=str(tmp_path / "runs"))
    with run.lock():
        with pytest.raises(RunError, match=r"is in use by process \d+"):
            prepare_launch(None, resume=str(run.path))
