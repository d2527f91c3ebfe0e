"""Run folders: naming, layout helpers, atomic writes, metrics."""

import os

import pytest

from lab.errors import RunError
from lab.runs import MetricsCSV, RunDir, atomic_path, atomic_write_json, read_json, sanitise_name


def test_runs_never_overwrite_each_other(tmp_path):
    a = RunDir.create(tmp_path, "demo", "graph-basics", now=0)
    b = RunDir.create(tmp_path, "demo", "graph-basics", now=0)
    assert a.path != b.path and a.path.exists() and b.path.exists()
    assert a.path.name == "19700101-000000-demo" and b.path.name == "19700101-000000-demo-2"
    assert (a.checkpoints).is_dir() and a.artifacts.is_dir() and a.marker()["task"] == "graph-basics"


@pytest.mark.parametrize("name", ["../../etc", "/etc/passwd", "..", "a/../../b", "\x00x"])
def test_names_cannot_escape(tmp_path, name):
    run = RunDir.create(tmp_path / "out", name, "graph-basics")
    assert (tmp_path / "out").resolve() in run.path.resolve().parents
    assert "/" not in sanitise_name(name) and not sanitise_name(name).startswith(".")


def test_open_rejects_non_runs(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunError, match="not a run folder"):
        RunDir.open(tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="is a file"):
        RunDir.open(tmp_path / "file")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("crash while writing")
    assert read_json(target) == {"a": 1}
    assert os.listdir(tmp_path) == ["summary.json"]  # no temporary left behind


def test_corrupt_json_names_file_and_line(tmp_path):
    p = tmp_path / "summary.json"
    p.write_text('{\n  "a": 1,\n  oops\n}')
    with pytest.raises(RunError, match=r"summary\.json:3: corrupt"):
        read_json(p, "summary")


def test_metrics_columns_grow_and_truncate(tmp_path):
    m = MetricsCSV(tmp_path / "metrics.csv")
    m.log({"step": 0, "loss": 1.0})
    m.log({"step": 1, "loss": 0.5})
    m.log({"step": 2, "loss": 0.25, "success": 1})
    rows = MetricsCSV(tmp_path / "metrics.csv").rows()
    assert [r["step"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["success"] == "" and rows[2]["success"] == "1"
    m.truncate_after(1)
    assert [r["step"] for r in m.rows()] == ["0", "1"]
