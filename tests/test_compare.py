"""`lab compare`: run folders built by hand (no training) compared as a user would, in-process through
`lab.cli.main`; every bad input an `error:` with exit 2."""

import csv
import io
import json
import subprocess
import sys

import pytest

from lab import compare, scenario
from lab.runs import RunDir, atomic_write_json, atomic_write_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_metrics(run: RunDir, rows: list[dict]) -> None:
    buf = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["step"]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run.metrics_path, buf.getvalue())


def fill(run: RunDir, data: dict, summary=None, metrics=None, status="complete") -> RunDir:
    """A run folder as `lab run` leaves it: the resolved scenario, summary.json, metrics.csv, the marker."""
    cfg = scenario.validate({"name": "c", "task": "classifier", "strategy": "cpu", **data})
    atomic_write_text(run.scenario_path, scenario.dump(cfg))
    if summary is not None:
        atomic_write_json(run.summary_path, summary)
    if metrics is not None:
        write_metrics(run, metrics)
    run.write_marker(task=cfg.task, status=status)
    return run


def make_run(out, name, data=None, summary=None, metrics=None, status="complete") -> RunDir:
    run = RunDir.create(out, name, (data or {}).get("task", "classifier"))
    return fill(run, {"name": name, **(data or {})}, summary, metrics, status)


def make_trial(sweep, n, data=None, summary=None, metrics=None, status="complete") -> RunDir:
    run = RunDir(sweep / f"trial-{n:03d}")
    (run.path / "artifacts").mkdir(parents=True)
    run.write_marker(task="classifier", name="sweep", status="created")
    return fill(run, {"name": "sweep", **(data or {})}, summary, metrics, status)


def curve(values, column="val_accuracy"):
    return [{"step": i + 1, "loss": 1.0 / (i + 1), column: v} for i, v in enumerate(values)]


def lab(capsys, *args):
    from lab.cli import main

    rc = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def three(tmp_path):
    """Three classifier runs: two learning rates, one also another model; accuracy tied at the top."""
    out = tmp_path / "runs"
    a = make_run(out, "a", {"training": {"learning_rate": 0.001}},
                 {"test_accuracy": 0.9, "test_loss": 0.30, "class_accuracy_min": 0.8, "learned": True,
                  "wall_seconds": 12, "note": "text"}, curve([0.5, 0.7, 0.9]))
    b = make_run(out, "b", {"training": {"learning_rate": 0.01}},
                 {"test_accuracy": 0.95, "test_loss": 0.25, "class_accuracy_min": 0.7, "wall_seconds": 9},
                 curve([0.6, 0.95]))
    c = make_run(out, "c", {"training": {"learning_rate": 0.01}, "model": {"hidden": [64]}},
                 {"test_accuracy": 0.95, "test_loss": 0.20, "extra_figure": 3}, curve([0.4, 0.8, 0.95, 0.95]))
    return a, b, c


# --------------------------------------------------------------------------------------------------
# The parts


def test_flatten_and_differences_are_exactly_the_changed_fields():
    assert compare.flatten({"a": 1, "b": {"c": [1, 2], "d": {"e": None}}, "f": {}}) == \
        {"a": 1, "b.c": [1, 2], "b.d.e": None, "f": {}}
    diffs = compare.differences([{"name": "x", "t": {"lr": 1.0, "n": 3}, "k": [1]},
                                 {"name": "y", "t": {"lr": 1, "n": 3}, "k": [1]},
                                 {"name": "x", "t": {"lr": 1.0, "n": 3, "new": True}, "k": [2]}])
    assert list(diffs) == ["name", "k", "t.new"]  # lr 1 and 1.0 are the same number
    assert diffs["t.new"] == [compare.MISSING, compare.MISSING, True]


def test_best_marks_higher_lower_and_ties():
    assert compare.best_indexes([0.9, 0.95, 0.95], "higher") == [1, 2]
    assert compare.best_indexes([0.3, None, 0.2], "lower") == [2]
    assert compare.best_indexes([5, 5], "lower") == [0, 1]
    assert compare.best_indexes([None, None], "higher") == []
    assert compare.best_indexes([1.0, 2.0], None) == []


def test_figures_table_declared_first_numbers_only(three):
    entries, _ = compare.expand([str(r.path) for r in three])
    compare.load(entries)
    table = compare.figures_table([e.summary for e in entries], compare.declared_figures("classifier"))
    assert list(table) == ["test_accuracy", "test_loss", "class_accuracy_min", "wall_seconds", "extra_figure"]
    assert table["test_accuracy"] == {"values": [0.9, 0.95, 0.95], "best": [1, 2], "better": "higher"}
    assert table["test_loss"]["best"] == [2] and table["test_loss"]["better"] == "lower"
    assert table["class_accuracy_min"] == {"values": [0.8, 0.7, None], "best": [0], "better": "higher"}
    assert table["wall_seconds"] == {"values": [12, 9, None], "best": [], "better": None}
    assert table["extra_figure"]["values"] == [None, None, 3]


def test_curves_one_line_per_run_in_the_png(three, tmp_path):
    entries, _ = compare.expand([str(r.path) for r in three])
    curves = compare.read_curves(entries)
    assert curves[entries[1].label]["val_accuracy"] == [(1.0, 0.6), (2.0, 0.95)]
    fig = compare.curves_figure({e.label: curves[e.label]["val_accuracy"] for e in entries}, "val_accuracy",
                                "classifier: val_accuracy")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == [e.label for e in entries]
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [3, 2, 4]
    png = compare.save_figure(fig, tmp_path / "c.png")
    assert png.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------------------------------
# The command


def test_text_output(three, tmp_path, capsys):
    a, b, c = three
    out = tmp_path / "cmp.png"
    rc, text, err = lab(capsys, a.path, b.path, c.path, "--out", out)
    assert rc == 0 and err == ""
    assert out.read_bytes()[:8] == PNG_MAGIC
    labels = [a.path.name, b.path.name, c.path.name]
    lines = text.splitlines()
    assert lines[0] == "task: classifier, 3 runs"
    diff = text.split("differences (3 fields):\n")[1].split("\n\n")[0].splitlines()
    assert diff[0].split() == ["field"] + labels
    assert [row.split() for row in diff[1:]] == [["name", "a", "b", "c"],
                                                 ["model.hidden", "[300,", "100]", "[300,", "100]", "[64]"],
                                                 ["training.learning_rate", "0.001", "0.01", "0.01"]]
    figures = {row.split()[0]: row.split()[1:] for row in text.split("final figures")[1].splitlines()[2:]
               if row.strip()}
    assert figures["test_accuracy"] == ["(higher)", "0.9", "0.95*", "0.95*"]
    assert figures["test_loss"] == ["(lower)", "0.3", "0.25", "0.2*"]
    assert figures["class_accuracy_min"] == ["(higher)", "0.8*", "0.7", "-"]
    assert figures["wall_seconds"] == ["12", "9", "-"]
    assert "learned" not in figures and "note" not in figures  # not numbers
    assert f"curves: val_accuracy -> {out}" in lines  # the headline's progress column


def test_json_output(three, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, text, err = lab(capsys, *(r.path for r in three), "--json")
    assert rc == 0 and err == ""
    data = json.loads(text)  # the whole of stdout is one JSON object
    assert set(data) == {"task", "runs", "differences", "figures", "curves", "notes"}
    assert data["task"] == "classifier"
    assert data["runs"] == [{"label": r.path.name, "path": str(r.path), "status": "complete"} for r in three]
    assert data["differences"] == {"name": ["a", "b", "c"], "model.hidden": [[300, 100], [300, 100], [64]],
                                   "training.learning_rate": [0.001, 0.01, 0.01]}
    assert data["figures"]["test_accuracy"] == {"values": [0.9, 0.95, 0.95], "best": [1, 2],
                                                "better": "higher"}
    assert data["curves"] == {"column": "val_accuracy", "png": "compare.png"}
    assert (tmp_path / "compare.png").read_bytes()[:8] == PNG_MAGIC  # the default: ./compare.png
    assert data["notes"] == []


def test_metric_option_and_unknown_metric(three, tmp_path, capsys):
    rc, text, _ = lab(capsys, three[0].path, three[1].path, "--metric", "loss", "--out", tmp_path / "l.png",
                      "--json")
    assert rc == 0 and json.loads(text)["curves"]["column"] == "loss"
    err = bad(capsys, three[0].path, three[1].path, "--metric", "val_los", "--out", tmp_path / "x.png")
    assert err.startswith("error: --metric val_los: no run being compared has that metrics.csv column")
    assert "the columns there are: loss, val_accuracy" in err
    assert not (tmp_path / "x.png").exists()


def test_default_column_without_the_headline_progress(tmp_path, capsys):
    out = tmp_path / "runs"
    a = make_run(out, "a", summary={"test_accuracy": 0.5}, metrics=[{"step": 1, "loss": 2, "accuracy": 0.1}])
    b = make_run(out, "b", summary={"test_accuracy": 0.6},
                 metrics=[{"step": 1, "accuracy": 0.2, "loss": 1, "learning_rate": 0.1}])
    rc, text, _ = lab(capsys, a.path, b.path, "--out", tmp_path / "c.png", "--json")
    assert rc == 0 and json.loads(text)["curves"]["column"] == "loss"  # first common column, a's order


def test_sweep_folder_expands_to_its_trials(three, tmp_path, capsys):
    sweep = tmp_path / "runs" / "20261204-1200-c-sweep"
    make_trial(sweep, 2, {"training": {"learning_rate": 0.1}}, {"test_accuracy": 0.5}, curve([0.5]))
    make_trial(sweep, 0, {"training": {"learning_rate": 0.2}}, {"test_accuracy": 0.6}, curve([0.6]))
    make_trial(sweep, 1, {"training": {"learning_rate": 0.3}}, None, None, status="running")
    make_trial(sweep, 3, {"training": {"learning_rate": 0.4}}, None, None, status="complete")
    (sweep / "study.db").write_text("not a run")
    rc, text, _ = lab(capsys, three[0].path, sweep, "--out", tmp_path / "s.png", "--json")
    assert rc == 0
    data = json.loads(text)
    assert [r["label"] for r in data["runs"]] == [three[0].path.name, "trial-000", "trial-002", "trial-003"]
    assert data["differences"]["training.learning_rate"] == [0.001, 0.2, 0.1, 0.4]
    assert data["figures"]["test_accuracy"]["values"] == [0.9, 0.6, 0.5, None]
    assert data["notes"] == [f"{sweep / 'trial-001'}: left out (status running, no summary.json yet)",
                             "trial-003: no final figures (status complete, no summary.json)",
                             "trial-003: no curve (metrics.csv has no rows)"]
    rc, text, _ = lab(capsys, sweep, "--out", tmp_path / "s.png")  # one sweep folder alone is enough
    assert rc == 0 and "note: " + str(sweep / "trial-001") in text


def test_trials_of_two_sweeps_get_distinct_labels(tmp_path, capsys):
    for name in ("s1", "s2"):
        make_trial(tmp_path / name, 0, summary={"test_accuracy": 0.5}, metrics=curve([0.5]))
    rc, text, _ = lab(capsys, tmp_path / "s1", tmp_path / "s2", "--out", tmp_path / "c.png", "--json")
    assert rc == 0 and [r["label"] for r in json.loads(text)["runs"]] == ["s1/trial-000", "s2/trial-000"]


def test_a_run_without_metrics_rows_is_still_compared(three, tmp_path, capsys):
    failed = make_run(tmp_path / "runs", "f", status="failed")
    write_metrics(failed, [])
    rc, text, err = lab(capsys, three[0].path, failed.path, "--out", tmp_path / "c.png")
    assert rc == 0, err
    row = next(r for r in text.splitlines() if r.strip().startswith("test_accuracy"))
    assert row.split()[1:] == ["(higher)", "0.9*", "-"]
    assert f"note: {failed.path.name}: no curve (metrics.csv has no rows)" in text
    assert f"note: {failed.path.name}: no final figures (status failed, no summary.json)" in text


def test_no_metrics_anywhere_means_no_plot(tmp_path, capsys):
    a = make_run(tmp_path / "runs", "a", summary={"test_accuracy": 0.5})
    b = make_run(tmp_path / "runs", "b", summary={"test_accuracy": 0.5})
    rc, text, _ = lab(capsys, a.path, b.path, "--out", tmp_path / "c.png")
    assert rc == 0 and "curves: none" in text and "note: no curves: no run has metrics.csv rows" in text
    assert not (tmp_path / "c.png").exists()


# --------------------------------------------------------------------------------------------------
# Bad input: `error: ...`, exit 2, no traceback


def bad(capsys, *args):
    rc, out, err = lab(capsys, *args)
    assert rc == 2 and out == "" and err.startswith("error: ") and "Traceback" not in err, (rc, out, err)
    return err


def test_bad_inputs(three, tmp_path, capsys):
    a, b, _ = three
    png = tmp_path / "c.png"
    err = bad(capsys, a.path, tmp_path / "nope", "--out", png)
    assert f"{tmp_path / 'nope'}: no such run folder" in err
    (tmp_path / "plain").mkdir()
    assert "not a run folder" in bad(capsys, a.path, tmp_path / "plain", "--out", png)
    assert "needs at least 2 runs, got 1" in bad(capsys, a.path, "--out", png)
    err = bad(capsys, a.path, tmp_path / "runs" / "missing", "--out", png)
    assert "no such run folder" in err
    other = make_run(tmp_path / "runs", "fn", {"task": "first-network", "name": "fn"}, {"epochs": 3})
    err = bad(capsys, a.path, other.path, "--out", png)
    assert "runs of different tasks" in err
    assert f"{a.path.name}: classifier" in err and f"{other.path.name}: first-network" in err
    assert "does not exist" in bad(capsys, a.path, b.path, "--out", tmp_path / "no" / "c.png")
    assert "is a folder" in bad(capsys, a.path, b.path, "--out", tmp_path)
    assert "ending .png" in bad(capsys, a.path, b.path, "--out", tmp_path / "c.txt")
    assert not png.exists()


def test_corrupt_files_are_named(three, tmp_path, capsys):
    a, b, c = three
    png = tmp_path / "c.png"
    b.summary_path.write_text('{"test_accuracy": 0.9,')
    assert f"{b.summary_path}:1: corrupt summary" in bad(capsys, a.path, b.path, "--out", png)
    c.metrics_path.write_text("step,loss\n1,0.5\n2,zero\n")
    err = bad(capsys, a.path, c.path, "--out", png)
    assert f"{c.metrics_path}:3: corrupt metrics file (column loss" in err
    c.metrics_path.write_bytes(b"\xff\xfe\x00garbage")
    assert f"{c.metrics_path}: corrupt metrics file" in bad(capsys, a.path, c.path, "--out", png)
    c.marker_path.write_text("[")
    assert f"{c.marker_path}" in bad(capsys, a.path, c.path, "--out", png)
    a.scenario_path.write_text("name: [unclosed\n")
    assert f"{a.scenario_path}" in bad(capsys, a.path, b.path, "--out", png)


def test_compare_imports_no_tensorflow(three, tmp_path, root):
    code = ("import sys\nfrom lab.cli import main\nrc = main(sys.argv[1:])\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code, "compare", *(str(r.path) for r in three), "--out",
                           str(tmp_path / "c.png")], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr


def test_json_has_no_nan_and_missing_is_null():
    text = compare.to_json({"d": [compare.MISSING, float("nan"), 1, float("inf")]})
    assert json.loads(text) == {"d": [None, None, 1, None]} and "NaN" not in text
