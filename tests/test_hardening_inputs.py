"""Issue 14, inputs: what a hostile user types or points at ends in a clear `error:` (a LabError), at once.

YAML bombs and recursive aliases, endless or huge files (scenario, maze layout, picture), a backtracking
`--rate`, numbers out of range (seeds, ids, temperatures), non-finite floats in every task's scenario,
an empty `output`, `--out` under a file. No TensorFlow: the commands refuse these before loading a model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import hang_guard

from envs.maze import generate as gen
from envs.maze.layout import LAYOUT_FILE_MAX_BYTES, read_layout_file
from lab import scenario
from lab.cli import build_parser
from lab.errors import LabError, RunError, ScenarioError

ROOT = Path(__file__).resolve().parent.parent
BASE = "name: probe\ntask: first-network\n"

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
name: x
task: first-network
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _limit_memory():  # an unbounded read fails with MemoryError at 2 GiB instead of filling the machine
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


def lab_run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """`lab ARGV` (a command that never imports TensorFlow) in a subprocess killed after ``timeout`` seconds
    and limited to 2 GiB: a hang or an unbounded read fails the test instead of stalling the suite."""
    return subprocess.run([sys.executable, "-m", "lab", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          preexec_fn=_limit_memory if sys.platform == "linux" else None)


def clear_error(done: subprocess.CompletedProcess) -> str:
    assert (done.returncode == 2 and done.stderr.startswith("error: ") and
            "Traceback" not in done.stderr), done.stderr
    return done.stderr


def refuses(*argv: str) -> str:
    """The message a command's checks give for ``lab ARGV`` (its `main` run in-process: no TensorFlow
    start)."""
    args = build_parser(argv).parse_args(list(argv))
    with pytest.raises(LabError) as info:
        args._module.main(args)
    return str(info.value)


def validation_error(path, overrides=()) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario.load_scenario(path, overrides)
    return str(info.value)


# --------------------------------------------------------------------------------------------------
# 1. YAML bombs


def test_billion_laughs_is_refused_at_once_by_lab_validate(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS, "bomb.yaml")
    assert path.stat().st_size < 400
    message = clear_error(lab_run("validate", str(path)))
    assert (message.startswith(f"error: {path}: ") and "10,000 values" in message and
            "billion laughs" in message)


def test_yaml_bounds_are_checked_without_expanding():
    assert hasattr(scenario, "load_yaml"), "no bounded YAML loader"  # (without it the next lines never end)
    # a bomb in a --set value is refused too (it is never read as plain text)
    bomb = "[" + ",".join(["*a"] * 9) + "]"
    with hang_guard(), pytest.raises(ScenarioError, match="10,000 values"):
        scenario.load_yaml("a: &a [1,2,3,4,5,6,7,8,9]\nb: &b " + bomb + "\n" + "c: &c " +
                           bomb.replace("a", "b") +
                           "\nd: &d " + bomb.replace("a", "c") + "\ne: " + bomb.replace("a", "d"),
                           "--set x=...")


def test_recursive_alias_and_deep_nesting_are_errors_not_recursion(tmp_path):
    message = validation_error(write(tmp_path, "a: &a [*a]\n" + BASE))
    assert "recursive alias" in message and ":1:" in message
    message = validation_error(write(tmp_path, BASE + "x: " + "[" * 500 + "]" * 500 + "\n"))
    assert "more than 100 levels" in message


def test_a_shared_alias_within_the_bounds_still_works(tmp_path):
    path = write(tmp_path, BASE + "training: &t {learning_rate: 0.5}\n")
    with pytest.raises(ScenarioError, match="unknown key"):  # only `training` once: validation as usual
        scenario.load_scenario(
            write(tmp_path, BASE + "training: &t {learning_rate: 0.5}\nextra: *t\n", "b.yaml"))
    assert scenario.load_scenario(path).training.learning_rate == 0.5


def test_python_tags_stay_refused(tmp_path):
    message = validation_error(
        write(tmp_path, "name: !!python/object/apply:os.system [echo hi]\ntask: first-network\n"))
    assert "not valid YAML" in message and "python/object" in message


def test_an_integer_of_thousands_of_digits_is_an_error(tmp_path):
    message = validation_error(write(tmp_path, BASE + "seed: " + "9" * 5000 + "\n"))
    assert "not valid YAML" in message and "Traceback" not in message


# --------------------------------------------------------------------------------------------------
# 2. Bounded reads: scenario files and maze layout files


def test_scenario_from_dev_zero_a_fifo_or_a_huge_file(tmp_path):
    if Path("/dev/zero").exists():
        assert ("error: /dev/zero: is a device, not a scenario "
                "file" in clear_error(lab_run("validate", "/dev/zero")))
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came: it must not be opened that way
    message = clear_error(lab_run("validate", str(fifo)))
    assert str(fifo) in message and "FIFO" in message and "1 MiB" in message
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "#" + "x" * (scenario.SCENARIO_MAX_BYTES + 10) + "\n")
    message = validation_error(big)
    assert str(big) in message and "larger than 1 MiB" in message


def test_read_text_limited_is_the_one_reader(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes(b"x" * 100)
    assert scenario.read_text_limited(f, 100, "text file") == "x" * 100
    with pytest.raises(ScenarioError, match=r"t\.txt: the text file is larger than 99 bytes"):
        scenario.read_text_limited(f, 99, "text file")
    f.write_bytes(b"ok \xff")
    with pytest.raises(RunError, match=r"not a text file \(byte 3 is not UTF-8\)"):
        scenario.read_text_limited(f, 100, "text file", error=RunError)
    with pytest.raises(ScenarioError, match="is a folder"):
        scenario.read_text_limited(tmp_path, 100, "text file")
    with pytest.raises(ScenarioError, match="no such text file"):
        scenario.read_text_limited(tmp_path / "missing", 100, "text file")


@pytest.mark.parametrize("kind", ["device", "fifo", "huge"])
def test_layout_file_is_read_with_a_limit(tmp_path, kind):
    if kind == "device":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero")
        layout, expect = "/dev/zero", "is a device, not a layout file"
    elif kind == "fifo":
        layout, expect = str(tmp_path / "maze.fifo"), "FIFO"
        os.mkfifo(layout)
    else:
        layout, expect = str(tmp_path / "maze.txt"), "larger than 1 MiB"
        Path(layout).write_text("#" * (LAYOUT_FILE_MAX_BYTES + 1))
    path = write(tmp_path, f"name: m\ntask: maze-dqn\nenv:\n  layout_file: {layout}\n")
    message = clear_error(lab_run("validate", str(path)))
    assert f"{path}:3: env: layout_file: {layout}: " in message and expect in message
    with pytest.raises(gen.MazeError, match=expect):  # (now known not to hang)
        read_layout_file(layout)


# --------------------------------------------------------------------------------------------------
# 3. --rate: no backtracking, bounded


def test_rate_parsing_ends_on_100000_characters():
    """A backtracking parse of these would run for hours; the subprocess's timeout is the hang guard."""
    code = ("from generative.rbm.titles import split_rate, normalise_title, RecommendError\n"
            "for text in ('a' * 100_000, 'a=1,' * 25_000, ' ' * 100_000, 'x' + ' ' * 100_000 + 'y', '(' * "
            "100_000):\n    try:\n        split_rate(text)\n    except RecommendError:\n        pass\n"
            "    normalise_title(text)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_rate_without_equals_and_too_long_rate_are_clear_errors():
    from generative.rbm import titles
    from generative.rbm.titles import RecommendError, parse_rate

    assert hasattr(titles, "MAX_RATE_CHARS"), "--rate is not bounded"  # (without it the next lines never end)
    scale = np.arange(1, 6.0)
    with hang_guard():
        with pytest.raises(RecommendError, match="100,000 characters; give at most 10,000"):
            parse_rate("a" * 100_000, scale)
        with pytest.raises(RecommendError, match="has no rating"):
            parse_rate("a" * 9_000, scale)
    with pytest.raises(RecommendError, match="has no rating"):
        parse_rate("Heat=4, Toy Story", scale)  # a title left without a rating was dropped without a word
    with pytest.raises(RecommendError, match="without a title"):
        parse_rate("=4", scale)
    assert (parse_rate("Usual Suspects, The=5; Heat=4,", scale) ==
            [("Usual Suspects, The", 5.0), ("Heat", 4.0)])
    # and the command says so before opening the run
    message = refuses("recommend", "/nonexistent-run", "--rate", "a" * 100_000)
    assert message.startswith("--rate: 100,000 characters")


# --------------------------------------------------------------------------------------------------
# 4. Arguments


def test_seeds_are_bounded_at_validation(tmp_path):
    path = write(tmp_path, BASE)
    assert "less than or equal to 4294967295" in validation_error(path, ["seed=4294967296"])
    maze = write(tmp_path, "name: m\ntask: maze-dqn\n", "m.yaml")
    assert "env.maze_seed" in validation_error(maze, ["env.maze_seed=4294967296"])
    assert "hi <= 4294967296" in validation_error(maze, ["env.train_maze_seeds=[0, 8589934592]"])
    assert "64-bit" in validation_error(maze, ["agent.batch_size=99999999999999999999999"])


def test_a_huge_user_id_is_not_in_the_data():
    from generative.rbm.serve import Recommender
    from generative.rbm.titles import RecommendError
    from lab.data.ratings.model import Ratings

    ratings = SimpleNamespace(user_ids=np.array([3, 7, 12], np.int64), n_users=3)
    ratings.user_index = lambda uid: Ratings.user_index(ratings, uid)
    fake = SimpleNamespace(ratings=ratings)
    for text in ("99999999999999999999999", "-99999999999999999999999", "9" * 30):
        with pytest.raises(RecommendError, match="is not in this run's data.*nearest ids"):
            Recommender.user_index(fake, text)
    with pytest.raises(RecommendError, match="too long"):
        Recommender.user_index(fake, "9" * 5000)
    assert Recommender.user_index(fake, " 7 ") == 1
    assert refuses("recommend", "/nonexistent-run", "--user", "9" * 100).startswith("--user: 100 characters")


@pytest.mark.parametrize("args, message", [
    (["--temperature", "inf"], "--temperature must be positive and at most 10 (got inf)"),
    (["--temperature", "nan"], "--temperature must be positive and at most 10 (got nan)"),
    (["--temperature=-inf"], "--temperature must be positive"),
    (["--temperature", "1e6"], "--temperature must be positive and at most 10"),
    (["--traverse", "--range", "inf"], "--range must be positive and at most 100"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295"),
    (["--seed", "4294967296"], "--seed must be between 0 and 4294967295"),
    (["--interpolate", "9" * 40, "1"], "give a test-digit index"),
])
def test_sample_refuses_out_of_range_numbers_before_loading(args, message):
    assert message in refuses("sample", "/nonexistent-run", *args)


def test_sample_out_under_a_file_or_on_a_folder(tmp_path):
    (tmp_path / "plain").write_text("a file")
    message = refuses("sample", "/nonexistent-run", "--out", str(tmp_path / "plain" / "deeper" / "x.png"))
    assert "is a file, not a folder" in message and str(tmp_path / "plain") in message
    (tmp_path / "dir.png").mkdir()
    assert "is a folder" in refuses("sample", "/nonexistent-run", "--out", str(tmp_path / "dir.png"))


def test_a_picture_that_cannot_be_written_is_an_explore_error(tmp_path):
    from generative.vae import serve

    (tmp_path / "plain").write_text("a file")
    with pytest.raises(serve.ExploreError) as info:
        serve.write_grid(np.zeros((1, 784), np.float32), tmp_path / "plain" / "x.png", 1, 1)
    assert info.value.setting == "picture file" and "cannot write the picture" in info.value.detail


@pytest.mark.parametrize("argv, message", [
    (["generate", "/nonexistent-run", "--temperature", "inf"], "--temperature inf: give a number above 0"),
    (["generate", "/nonexistent-run", "--temperature", "nan"], "--temperature nan: give a number above 0"),
    (["play", "--size", "²x3"], "expected WIDTHxHEIGHT"),
    (["play", "--size", "9" * 5000 + "x3"], "expected WIDTHxHEIGHT"),
    (["play", "--seed", "4294967296"], "from 0 to 4294967295"),
    (["watch", "/nonexistent-run", "--seed", "-1"], "from 0 to 4294967295"),
])
def test_other_commands_bound_their_numbers(argv, message):
    assert message in refuses(*argv)


def test_predict_refuses_a_fifo_or_a_device_as_a_picture(tmp_path):
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    assert "not a regular file" in refuses("predict", "/nonexistent-run", str(fifo))


def test_an_empty_output_is_refused(tmp_path):
    path = write(tmp_path, BASE)
    message = validation_error(path, ["output="])
    assert "--set output=: output: is empty" in message
    assert "output: is empty" in validation_error(write(tmp_path, BASE + "output: ''\n", "e.yaml"))
    assert "NUL" in validation_error(path, ['output="runs\\0x"'])


def test_damaged_recommender_json_is_a_run_error(tmp_path):
    from generative.rbm.serve import read_meta

    meta = tmp_path / "recommender.json"
    for text, expect in (("{garbage", "not JSON"), ("[1, 2]", "a JSON list"),
                         ('{"orientation": "sideways"}', "sideways"),
                         ('{"relevant": NaN}', "not a finite number"), ("[" * 100_000, "not JSON")):
        meta.write_text(text)
        with pytest.raises(RunError, match=expect):
            read_meta(meta)
    meta.write_text('{"orientation": "user", "rank_by": "expected_rating", "relevant": 4}')
    assert read_meta(meta)["relevant"] == 4


# --------------------------------------------------------------------------------------------------
# 5. Non-finite and absurd floats in every task's scenario


@pytest.mark.parametrize("task, field", [
    ("first-network", "training.learning_rate"),
    ("optimizers", "network.noise"),
    ("graph-basics", "graph.x"),
    ("rbm", "training.learning_rate"),
    ("rbm", "evaluation.relevant"),
    ("vae", "sampling.temperature"),
    ("autoencoder", "training.learning_rate"),
    ("classifier", "training.learning_rate"),
    ("language-model", "training.clipnorm"),
    ("maze-dqn", "env.rewards.goal"),
    ("maze-dqn", "agent.learning_rate"),
])
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_non_finite_floats_are_refused_with_file_and_line(tmp_path, task, field, value):
    parts = field.split(".")
    text = f"name: probe\ntask: {task}\n" + "".join(f"{'  ' * i}{p}:\n" for i, p in enumerate(parts[:-1]))
    text += f"{'  ' * (len(parts) - 1)}{parts[-1]}: {value}\n"
    path = write(tmp_path, text)
    message = validation_error(path)
    assert f"{path}:{len(parts) + 2}: {field}: Input should be a finite number" in message


def test_non_finite_values_in_lists_and_options_too(tmp_path):
    path = write(tmp_path, "name: probe\ntask: optimizers\n")
    message = validation_error(path, ["optimizers=[{name: a, optimizer: SGD, options: {momentum: .nan}}]"])
    assert "finite number" in message
    path = write(tmp_path, "name: probe\ntask: language-model\n", "lm.yaml")
    assert "finite number" in validation_error(path, ["generate.temperatures=[0.5, .inf]"])


@pytest.mark.parametrize("task, field, value", [
    ("first-network", "training.learning_rate", "1e6"),
    ("optimizers", "optimizers.0.learning_rate", "1000.0"),
    ("rbm", "training.learning_rate", "1000.0"),
    ("rbm", "rbm.weight_decay", "2.0"),
    ("maze-dqn", "agent.adam_epsilon", "10.0"),
])
def test_absurdly_large_rates_are_refused(tmp_path, task, field, value):
    path = write(tmp_path, f"name: probe\ntask: {task}\n")
    if field.startswith("optimizers.0"):
        message = validation_error(path,
                                   [f"optimizers=[{{name: a, optimizer: SGD, learning_rate: {value}}}]"])
    else:
        message = validation_error(path, [f"{field}={value}"])
    assert "less than or equal to" in message


def test_shipped_scenarios_still_validate():
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        scenario.load_scenario(path)
