"""Issue 14, run folders: the run lock, checkpoints as one atomic unit (the DQN's too), corrupt run files as
errors naming the file, lab list --runs past a damaged run, lab graph on a DQN run, --out and a full disk,
and the timing-key rule."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from lab.checkpoints import CheckpointStore
from lab.errors import LabError, RunError
from lab.runs import RunDir, atomic_path, atomic_write_json, read_json, reading

ROOT = Path(__file__).resolve().parent.parent

GRAPH_SCENARIO = {"name": "g", "task": "graph-basics", "strategy": "cpu"}

# A maze-dqn scenario small enough to build in a second (nothing here trains it for long).
TINY_DQN = {
    "name": "tiny-maze", "task": "maze-dqn", "seed": 0, "strategy": "cpu", "jit_compile": False,
    "env": {"width": 3, "height": 3, "maze_seed": 2, "observation": "grid", "obs_dtype": "uint8",
            "exploring_starts": True, "tile_pixels": 8, "rewards": {"shaping": True, "shaping_gamma": 1.0}},
    "agent": {"network": {"kind": "mlp", "hidden": [16]}, "learning_starts": 200, "train_freq": 4,
              "target": {"every": 50}, "epsilon": {"decay_steps": 1000}, "replay": {"capacity": 500}},
    "training": {"env_steps": 800, "num_envs": 4, "eval_every": 400, "checkpoint_every": 400},
}


def make_run(tmp_path, data=None, name="r") -> RunDir:
    """A run folder as `lab run` leaves it before training (marker, resolved scenario)."""
    data = data or GRAPH_SCENARIO
    run = RunDir.create(tmp_path / "runs", name, data["task"])
    run.scenario_path.write_text(yaml.safe_dump(data))
    return run


def lab(*args):
    from lab.cli import main

    return main(list(args))


# --------------------------------------------------------------------------------------------------
# 1. The run lock

HOLDER = textwrap.dedent("""
    import sys, time
    from lab.runs import RunDir
    lock = RunDir(sys.argv[1]).lock()
    print("locked", flush=True)
    time.sleep(60)
""")


def hold_lock(run: RunDir) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run.path)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_locked_run_names_its_holder_and_a_dead_holder_is_taken_over(tmp_path):
    from lab.lock import lock_holder

    run = make_run(tmp_path)
    proc = hold_lock(run)
    try:
        assert lock_holder(run.path)["pid"] == proc.pid
        with pytest.raises(RunError, match=rf"^{re.escape(str(run.path))} is in use by process {proc.pid} "
                                           r"\(started .*\); wait for it or stop it$"):
            run.lock()
    finally:
        proc.send_signal(signal.SIGKILL)  # dies holding it: the OS frees the flock, the file stays
        proc.wait()
    assert json.loads((run.path / ".lock").read_text())["pid"] == proc.pid  # stale content...
    with run.lock() as lock:  # ...taken over at once
        assert lock.held and json.loads((run.path / ".lock").read_text())["pid"] == os.getpid()
        with pytest.raises(RunError, match=f"in use by process {os.getpid()}"):
            run.lock()  # the same process twice: also refused
    assert lock_holder(run.path) is None and (run.path / ".lock").read_text() == ""


def test_taking_the_lock_removes_what_a_killed_writer_left(tmp_path):
    run = make_run(tmp_path)
    ck = run.checkpoints
    leftovers = [run.path / ".summary.json.ab12cd34.json", run.artifacts / ".policy.png.k2j4h5g6.png",
                 ck / ".replay.npz.x1y2z3w4.npz", ck / ".dqn-00003.tmp", ck / "agent" / ".agent.old",
                 ck / "dqn-00002" / ".agent.q1w2e3r4"]
    kept = [ck / "dqn.json", ck / "dqn-00002" / "replay.npz", run.artifacts / "policy.png",
            run.path / ".keepme"]
    for p in leftovers + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix in (".tmp", ".old") or p.name.startswith(".agent."):
            p.mkdir()
            (p / "q_network.keras").write_bytes(b"half")
        else:
            p.write_bytes(b"x")
    with run.lock():
        assert [p for p in leftovers if p.exists()] == []
        assert all(p.exists() for p in kept)


def test_two_resumes_of_one_run_cannot_both_run(tmp_path):
    """`lab run --resume R` while another process works on R: exit 2 naming that process."""
    from lab.execute import execute, prepare

    scenario_file = tmp_path / "g.yaml"
    scenario_file.write_text(yaml.safe_dump(GRAPH_SCENARIO))
    _, run = prepare(str(scenario_file), out=str(tmp_path / "runs"))
    run.write_marker(status="interrupted")
    proc = hold_lock(run)
    try:
        with pytest.raises(RunError, match=f"in use by process {proc.pid}"):
            execute(None, resume=str(run.path), quiet=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert execute(None, resume=str(run.path), quiet=True).status == "complete"


# --------------------------------------------------------------------------------------------------
# 2. Checkpoints: one atomic unit, whatever instant a kill strikes

KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from lab.checkpoints import CheckpointStore
    from lab.runs import atomic_path
    store = CheckpointStore(Path(sys.argv[1]), "run")
    store.save({"epoch": 1}, {"a.txt": lambda p: p.write_text("one"), "b.bin": lambda p: p.write_text("one")})
    def killed(path):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
    store.save({"epoch": 2}, {"a.txt": lambda p: p.write_text("two"), "b.bin": killed})
""")


def test_a_checkpoint_killed_while_written_leaves_the_previous_one_whole(tmp_path):
    run = make_run(tmp_path)
    proc = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(run.checkpoints)], cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL
    state, parts = CheckpointStore(run.checkpoints, "run").load()
    assert state == {"epoch": 1} and {p.read_text() for p in parts.values()} == {"one"}
    assert (run.checkpoints / ".run-00002.tmp").exists()  # what the kill left...
    with run.lock():  # ...goes when the next process takes the run
        assert sorted(p.name for p in run.checkpoints.iterdir()) == ["run-00001", "run.json"]


def test_loading_a_checkpoint_only_reads(tmp_path):
    """lab sample / lab watch read the checkpoint of a run still training: they must not remove the folder its
    trainer is writing, nor the finished one it is about to name in the manifest."""
    store = CheckpointStore(tmp_path, "run")
    store.save({"epoch": 1}, {"a.txt": lambda p: p.write_text("one")})
    (tmp_path / ".run-00002.tmp").mkdir()
    (tmp_path / "run-00003").mkdir()
    assert store.load()[0] == {"epoch": 1}
    assert (tmp_path / ".run-00002.tmp").exists() and (tmp_path / "run-00003").exists()


def test_a_damaged_manifest_loses_no_checkpoint(tmp_path):
    store = CheckpointStore(tmp_path, "run")
    store.save({"epoch": 1}, {"a.txt": lambda p: p.write_text("one")})
    (tmp_path / "run.json").write_text("{garbage")
    with pytest.raises(RunError, match=r"run\.json:1: corrupt checkpoint manifest .*cannot be resumed"):
        store.load()
    store.clean()
    assert (tmp_path / "run-00001" / "a.txt").read_text() == "one"  # a hand repair is still possible
    store.save({"epoch": 2}, {"a.txt": lambda p: p.write_text("two")})  # never onto run-00001
    assert store.load()[0] == {"epoch": 2}


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path):
    store = CheckpointStore(tmp_path, "run")
    store.save({"epoch": 1}, {"a.txt": lambda p: p.write_text("one")})

    def full(path):
        path.write_text("ha")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(RunError,
                       match=r"run: cannot write the checkpoint \(OSError: No space left on device"):
        store.save({"epoch": 2}, {"a.txt": full})
    assert (store.load()[0] == {"epoch": 1} and
            sorted(p.name for p in tmp_path.iterdir()) == ["run-00001", "run.json"])


def test_a_damaged_metrics_file_is_a_run_error(tmp_path):
    from lab.runs import MetricsCSV

    path = tmp_path / "metrics.csv"
    path.write_text("step,loss\n1,0.5\nabc,0.25\n")
    with pytest.raises(RunError, match=r"metrics\.csv: corrupt metrics file \(ValueError: could not convert"):
        MetricsCSV(path).truncate_after(1)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(RunError, match=r"metrics\.csv: corrupt metrics file \(UnicodeDecodeError"):
        MetricsCSV(path)


@pytest.mark.parametrize("state, why", [({"epoch": "3"}, "epoch is '3'"), ({"epoch": -1}, "epoch is -1"),
                                        ({"stopped_early": 1}, "stopped_early is 1"),
                                        ({"nope": 1}, "unknown field"),
                                        ({"train_seconds": None}, "train_seconds is None")])
def test_a_loop_state_of_the_wrong_type_is_a_run_error(state, why):
    from lab.loop import LoopState

    with pytest.raises(RunError, match=rf"m\.json: corrupt loop state .*\({re.escape(why)}"):
        LoopState.from_dict(state, Path("m.json"))


# --------------------------------------------------------------------------------------------------
# 2b. The DQN's checkpoint: agent, replay buffer and counters as one unit


def dqn_trainer(run: RunDir, resume: bool = False):
    from agents.dqn.train import Trainer
    from lab import scenario
    from lab.context import RunContext

    cfg = scenario.validate(TINY_DQN)
    return Trainer(cfg, RunContext(run, quiet=True, resume=resume), jit_compile=False)


def collect(trainer, steps: int) -> None:
    loop = trainer._start()
    for _ in range(steps):
        trainer._collect(loop, None)


KILLED_DQN = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, os.path.dirname(sys.argv[2]))
    from test_hardening_runs import collect, dqn_trainer
    from lab.runs import RunDir, atomic_path
    trainer = dqn_trainer(RunDir(sys.argv[1]))
    collect(trainer, 5)
    trainer.save_checkpoint()          # env step 20: whole
    collect(trainer, 5)
    def killed(path):                  # SIGKILL halfway through the replay buffer of env step 40
        with atomic_path(path, suffix=".npz") as tmp:
            tmp.write_bytes(b"PK" + bytes(100_000))
            os.kill(os.getpid(), signal.SIGKILL)
    trainer.buffer.save = killed
    trainer.save_checkpoint()
""")


def test_a_dqn_killed_while_checkpointing_resumes_from_the_previous_checkpoint_whole(tmp_path):
    run = make_run(tmp_path, TINY_DQN)
    proc = subprocess.run([sys.executable, "-c", KILLED_DQN, str(run.path), __file__], cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == -signal.SIGKILL
    hidden = [p for p in run.checkpoints.rglob(".*")]
    assert hidden  # the kill left its temporaries (the new agent, a half replay buffer)
    with run.lock():
        assert not [p for p in run.checkpoints.rglob(".*")]
        trainer = dqn_trainer(run, resume=True)
        assert trainer.try_resume()
    state = json.loads((run.checkpoints / "dqn.json").read_text())["state"]
    assert trainer.env_steps == trainer.agent.env_steps == state["env_steps"] == 20
    assert trainer.buffer.added == state["replay_added"] > 0


def test_a_dqn_checkpoint_whose_parts_disagree_is_refused(tmp_path):
    from agents.dqn.agent import META_FILE

    run = make_run(tmp_path, TINY_DQN)
    trainer = dqn_trainer(run)
    collect(trainer, 3)
    trainer.save_checkpoint()
    old_replay = trainer.buffer.save(tmp_path / "old.npz")
    collect(trainer, 3)
    trainer.save_checkpoint()
    _, parts = CheckpointStore(run.checkpoints, "dqn").load()

    # the buffer of another step beside this step's agent
    os.replace(old_replay, parts["replay.npz"])
    with pytest.raises(RunError, match=r"replay\.npz: the replay buffer holds \d+ transitions, the "
                                       r"checkpoint .*dqn\.json says \d+; this run cannot be resumed"):
        dqn_trainer(run, resume=True).try_resume()

    # an agent of another step
    meta_path = parts["agent"] / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["env_steps"] = 4
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError,
                       match=r"agent: the agent is of env step 4, the checkpoint .* of env step 24"):
        dqn_trainer(run, resume=True).try_resume()

    # a truncated buffer (BadZipFile used to escape as a traceback)
    data = parts["replay.npz"].read_bytes()
    parts["replay.npz"].write_bytes(data[: len(data) // 2])
    meta["env_steps"] = 24
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RunError, match=r"replay\.npz: corrupt replay buffer checkpoint \(BadZipFile"):
        dqn_trainer(run, resume=True).try_resume()


def test_lab_graph_finds_every_network_of_a_dqn_run(tmp_path):
    from agents.dqn.agent import FINAL_DIR
    from lab.graphviz import find_models

    run = make_run(tmp_path, TINY_DQN)
    trainer = dqn_trainer(run)
    trainer.save_checkpoint()
    trainer.agent.save(run.path / FINAL_DIR)
    names = [name for name, _ in find_models(run)]
    assert names == ["dqn-agent-q_network", "dqn-agent-target_network", "final_agent-q_network",
                     "final_agent-target_network"]


# --------------------------------------------------------------------------------------------------
# 3. Corrupt run files: a LabError naming the file


@pytest.mark.parametrize("exc, reason", [
    (zipfile.BadZipFile("File is not a zip file"), r"corrupt thing \(BadZipFile: File is not a zip file\)"),
    (zlib.error("Error -3 while decompressing data"),
     r"corrupt thing \(zlib\.error: Error -3 while decompressing data\)"),
    (EOFError(), r"corrupt thing \(EOFError\)"),
    (ValueError("cannot reshape"), r"corrupt thing \(ValueError: cannot reshape\)"),
    (KeyError("meta"), r"corrupt thing \(KeyError: no 'meta'\)"),
    (TypeError("bad"), r"corrupt thing \(TypeError: bad\)"),
    (FileNotFoundError(errno.ENOENT, "No such file"), r"missing thing"),
    (PermissionError(errno.EACCES, "Permission denied"),
     r"cannot read thing \(PermissionError: Permission denied\)"),
    (json.JSONDecodeError("Expecting value", "x\ny", 2), r":2: corrupt thing \(Expecting value\)"),
])
def test_reading_maps_every_corruption_to_a_run_error_naming_the_file(exc, reason):
    with pytest.raises(RunError, match=rf"^some/file\.bin{':' if reason.startswith(':') else ': '}"
                                       rf"{reason.lstrip(':')}; start again$"):
        with reading("some/file.bin", "thing", hint="start again"):
            raise exc


def test_reading_lets_other_errors_through_and_can_raise_data_errors():
    from lab.errors import DataError

    with pytest.raises(RuntimeError):
        with reading("f", "thing"):
            raise RuntimeError("a bug, not a damaged file")
    with pytest.raises(DataError, match="^f: corrupt ratings file"):
        with reading("f", "ratings file", error=DataError):
            raise EOFError


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize("damage", ["run.json []", "run.json garbage", "summary.json list",
                                    "env.json garbage",
                                    "env.json list", "scenario.yaml binary", "scenario.yaml laughs"])
def test_lab_show_of_a_damaged_run_names_the_file(tmp_path, capsys, damage):
    run = make_run(tmp_path)
    name, kind = damage.split()
    content = {"[]": "[]", "garbage": "{oops", "list": "[1, 2]", "binary": b"\xff\xfe\x00",
               "laughs": LAUGHS}[kind]
    path = run.path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert lab("show", str(run.path)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and "Traceback" not in err, err
    assert re.search(r"corrupt|not a text file|more than 10,000 values", err), err


def test_lab_run_resume_of_a_run_with_a_damaged_marker_is_an_error(tmp_path, capsys):
    run = make_run(tmp_path)
    run.marker_path.write_text("[]")
    assert lab("run", "--resume", str(run.path)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run.marker_path}: corrupt run marker (a JSON list, not an object)"), err


def test_damaged_checkpoint_files_are_run_errors(tmp_path):
    from agents.dqn.replay import ReplayBuffer
    from lab.context import RunContext
    from lab.loop import _load, _read_weights

    run = make_run(tmp_path)
    ctx = RunContext(run, quiet=True)
    # a task's JSON state (e.g. the recommender's, the optimizers' of first_network)
    ctx.save_state("vae_state.json", {"done": []})
    for garbage in ("{oops", "[1]"):
        (run.checkpoints / "vae_state.json").write_text(garbage)
        with pytest.raises(RunError,
                           match=r"vae_state\.json(:1)?: corrupt checkpoint state .*cannot be resumed"):
            ctx.load_state("vae_state.json")
    # a .keras whose zip fails its CRC check (BadZipFile), and one cut short
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    data = (tmp_path / "m.keras").read_bytes()
    for damaged in (data[:400] + bytes(60) + data[460:], data[: len(data) // 2]):
        (tmp_path / "d.keras").write_bytes(damaged)
        with pytest.raises(RunError, match=r"d\.keras: corrupt checkpoint model .*cannot be resumed"):
            _load(None, tmp_path / "d.keras")
    (tmp_path / "w.npz").write_bytes(b"PK\x03\x04" + bytes(50))
    with pytest.raises(RunError, match=r"w\.npz: corrupt checkpoint of the best weights"):
        _read_weights(tmp_path / "w.npz")
    # a replay buffer cut short, or whose arrays do not fit
    buf = ReplayBuffer(10, (2,), np.float32, n_envs=1, n_step=1, gamma=0.9, seed=0)
    path = buf.save(tmp_path / "replay.npz")
    full = path.read_bytes()
    path.write_bytes(full[: len(full) - 100])
    with pytest.raises(RunError, match=r"replay\.npz: corrupt replay buffer checkpoint \(BadZipFile"):
        buf.load(path)
    other = ReplayBuffer(10, (3,), np.float32, n_envs=1, n_step=1, gamma=0.9, seed=0)
    with pytest.raises(RunError,
                       match=r"other\.npz: replay buffer checkpoint does not fit this configuration"):
        buf.load(other.save(tmp_path / "other.npz"))


# --------------------------------------------------------------------------------------------------
# 4. lab list --runs lists every run, the damaged ones marked


def test_lab_list_runs_goes_past_a_damaged_run(tmp_path, capsys):
    runs = [make_run(tmp_path, name=n) for n in ("a", "b", "c")]
    runs[1].marker_path.write_text("{oops")
    assert lab("list", "--runs", str(tmp_path / "runs")) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 3 and "graph-basics" in lines[0] and "graph-basics" in lines[2]
    assert lines[1].startswith(str(runs[1].path)) and "corrupt: " in lines[1] and "run.json:1" in lines[1]
    assert "1 run folder with a damaged run.json" in err


# --------------------------------------------------------------------------------------------------
# 6. --out and a full disk


def test_an_output_folder_that_is_a_file_or_under_a_file_is_a_run_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunError, match=rf"^{re.escape(str(blocker))}: the output folder is a file"):
        RunDir.create(blocker, "r", "graph-basics")
    with pytest.raises(RunError, match=rf"^{re.escape(str(blocker / 'sub'))}: cannot write the output folder "
                                       r"\((NotADirectoryError|FileExistsError): "):
        RunDir.create(blocker / "sub", "r", "graph-basics")
    scenario_file = tmp_path / "g.yaml"
    scenario_file.write_text(yaml.safe_dump(GRAPH_SCENARIO))
    assert lab("run", str(scenario_file), "--out", str(blocker), "--quiet") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {blocker}: the output folder is a file") and "Traceback" not in err


def test_a_full_disk_while_saving_a_figure_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    from lab.context import RunContext
    from lab.plots import pyplot

    plt = pyplot()
    run = make_run(tmp_path)
    ctx = RunContext(run, quiet=True)
    target = ctx.save_figure(plt.figure(), "curve.png")
    before = target.read_bytes()

    def full(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(type(plt.figure()), "savefig", full)
    with pytest.raises(RunError,
                       match=rf"^{re.escape(str(target))}: cannot write the file \(OSError: No space left"):
        ctx.save_figure(plt.figure(), "curve.png")
    assert target.read_bytes() == before and sorted(p.name for p in run.artifacts.iterdir()) == ["curve.png"]

    monkeypatch.setattr(os, "replace",
                        lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(RunError,
                       match=r"summary\.json: cannot write the file \(OSError: No space left on device"):
        atomic_write_json(run.summary_path, {"a": 1})
    with pytest.raises(RunError, match="No space left"):
        with atomic_path(run.path / "x.bin") as tmp:
            tmp.write_bytes(b"1")
    assert not [p for p in run.path.iterdir() if p.name.startswith(".x.bin")]


def test_read_json_type_checks(tmp_path):
    p = tmp_path / "summary.json"
    p.write_text("[1]")
    assert read_json(p, "summary") == [1]
    with pytest.raises(LabError, match=r"summary\.json: corrupt summary \(a JSON list, not an object\)"):
        read_json(p, "summary", dict)


# --------------------------------------------------------------------------------------------------
# 7. Every timing figure a task writes is a timing key of the determinism rule

# "wall" as in wall-clock time (wall, wall_*, *_wall), not a maze's walls (nor its wall follower)
TIMING_WORDS = re.compile(r"second|seconds|elapsed|duration|_time\b|\btime_|_ms\b|"
                          r"\bwall\b|\bwall_(?!follower)|_wall\b")


def test_every_timing_figure_in_the_code_is_a_timing_key():
    """String literals that name a figure measuring time (in the tasks' and the lab's code) end the way
    lab.execute.is_timing_key expects, so identical runs compare equal except for them. (The bench task,
    supervised/bench/, is all timings, reported by `lab bench` and never compared; benchmarks/ writes no
    run.)"""
    from lab.execute import is_timing_key

    odd = []
    for folder in ("lab", "supervised", "generative", "agents", "envs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.parent == ROOT / "supervised" / "bench":
                continue
            for key in re.findall(r"""["']([a-z][a-z0-9_]*)["']\s*[:\]]""", path.read_text(encoding="utf-8")):
                if TIMING_WORDS.search(key) and not is_timing_key(key) and key not in ("time_limit_seconds",):
                    odd.append(f"{path.relative_to(ROOT)}: {key}")
    assert odd == [], odd
