"""`lab sweep`: search spaces checked against the task's schema before any trial, trials as run folders of
a real Optuna study (SQLite here, PostgreSQL in test_sweep_postgres.py), pruning through the run's
metrics rows, two workers without a trial too many, a killed sweep resumed without a trial counted twice,
and the results (best.yaml, report, importances, plots)."""

import json
from pathlib import Path

import optuna
import pytest
import yaml

from lab import scenario
from lab.cli import main as lab_main
from lab.errors import Pruned, UsageError
from lab.runs import RunDir
from lab.sweep import study as study_module
from lab.sweep.space import parse_param
from lab.sweep.study import Sweep, counts, open_study

ROOT = Path(__file__).resolve().parents[1]
FIRST = str(ROOT / "scenarios" / "first_network.yaml")
QUICK = ["--set", "strategy=cpu", "--set", "training.max_epochs=40",  # (a trial takes about a second)
         "--set", "activations.functions=[relu]"]
LR = "training.learning_rate=loguniform:0.01:3"


def sweep_folder(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if p.name.endswith("-sweep")]
    return folder


def study_of(folder: Path):
    return open_study(Sweep.load(folder))


# --------------------------------------------------------------------------------------------------
# The search space


@pytest.mark.parametrize("text, kind, low, high", [
    ("a.b=float:0:1", "float", 0.0, 1.0), ("a.b=uniform:-1:1", "float", -1.0, 1.0),
    ("a.b=loguniform:1e-4:1e-1", "log", 1e-4, 0.1), ("a.b=int:2:8", "int", 2, 8)])
def test_ranges_parse(text, kind, low, high):
    p = parse_param(text)
    assert (p.path, p.kind, p.low, p.high) == ("a.b", kind, low, high)
    assert parse_param(f"a.b={p.spec}") == p  # what sweep.json stores reads back the same


def test_choices_parse_as_yaml_and_split_on_bars_when_values_hold_commas():
    assert parse_param("m.width=choice:32,48,64").extremes() == [32, 48, 64]
    assert parse_param("m.hidden=choice:[64]|[128, 128]").extremes() == [[64], [128, 128]]
    assert parse_param("m.cell=choice:gru,lstm").override("lstm") == "m.cell=lstm"


@pytest.mark.parametrize("text, words", [
    ("a.b", "write PATH=KIND:ARGS"), ("a.b=normal:0:1", "unknown kind 'normal'"),
    ("a.b=float:1:1", "LOW < HIGH"), ("a.b=float:2:1", "LOW < HIGH"),
    ("a.b=loguniform:0:1", "must stay above 0"), ("a.b=loguniform:-1:1", "must stay above 0"),
    ("a.b=int:1.5:3", "whole numbers"), ("a.b=float:x:1", "LOW:HIGH as numbers"),
    ("a.b=choice:", "give the choices"), ("a.b=choice:1,1", "listed twice"),
    ("a.b=float:0:inf", "LOW < HIGH")])
def test_bad_ranges_are_named(text, words):
    with pytest.raises(UsageError, match=words):
        parse_param(text)


@pytest.mark.parametrize("argv, words", [
    (["--param", "training.learning_rat=float:0.1:1"], "did you mean `learning_rate`"),
    (["--param", "training.max_epochs=int:0:5"], "with training.max_epochs=0"),
    (["--param", "training.learning_rate=loguniform:0:1"], "must stay above 0"),
    (["--param", LR, "--metric", "accuracy"], "does not report it for tuning; choose one of final_loss"),
    (["--param", LR, "--maximize"], "--maximize final_loss: lower final_loss is better"),
    (["--param", LR, "--storage", "sqlite:////nonexistent-dir/x.db", "--study", "s"],
     "cannot open the study"),
    (["--param", LR, "--storage", "sqlite:///x.db"], "--storage and --study go together"),
    ([], "give at least one --param"),
])
def test_mistakes_are_errors_before_any_trial(tmp_path, capsys, argv, words):
    assert lab_main(["sweep", FIRST, "--out", str(tmp_path / "runs"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_sweep_file_holds_the_same_settings_and_flags_win(tmp_path, capsys):
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump({
        "scenario": FIRST, "set": QUICK[1::2], "params": {"training.learning_rate": "loguniform:0.01:3"},
        "trials": 5, "pruner": "none"}))
    assert lab_main(["sweep", str(study_file), "--trials", "2", "--out", str(tmp_path / "runs"),
                     "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    sweep = Sweep.load(Path(summary["folder"]))
    assert (sweep.trials, sweep.pruner, sweep.metric) == (2, "none", "final_loss")  # --trials won
    assert sweep.overrides == QUICK[1::2] and [p.path for p in sweep.params] == ["training.learning_rate"]
    assert summary["trials_complete"] == 2
    study_file.write_text(yaml.safe_dump({"scenario": FIRST, "params": {"training.learning_rate": "x"},
                                          "trails": 3}))
    assert lab_main(["sweep", str(study_file), "--out", str(tmp_path / "runs")]) == 2
    assert "trails" in capsys.readouterr().err


def test_a_timeout_stops_new_trials_and_the_report_says_none_finished(tmp_path, capsys):
    assert lab_main(["sweep", FIRST, *QUICK, "--param", LR, "--trials", "3", "--timeout", "1e-9",
                     "--out", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["trials_finished"] == 0 and "--timeout 1e-09 s passed" in captured.err
    folder = sweep_folder(tmp_path)
    assert not list(folder.glob("trial-*")) and "0 finished of 3 asked" in (folder / "report.md").read_text()


def test_missing_data_stops_the_sweep_with_its_error_and_the_trial_is_not_counted(tmp_path, capsys):
    missing = tmp_path / "nowhere.npz"
    assert lab_main(["sweep", "mnist_mlp_book", "--set", f"data.path={missing}", "--set", "strategy=cpu",
                     "--param", "training.learning_rate=loguniform:0.001:0.01", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err and "Traceback" not in err
    (trial,) = study_of(sweep_folder(tmp_path)).get_trials()
    assert trial.state.name == "FAIL" and trial.user_attrs["not_counted"].startswith("stopped by an error")


def test_a_multi_worker_scenario_is_refused(tmp_path, capsys):
    assert lab_main(["sweep", "mnist_mlp_book", "--set", "strategy=multi-worker", "--param", LR,
                     "--out", str(tmp_path)]) == 2
    assert "each trial of a sweep is one process" in capsys.readouterr().err


def test_a_task_with_nothing_to_tune_says_so(tmp_path, capsys):
    assert lab_main(["sweep", "graph_basics", "--param", "seed=int:0:3", "--out", str(tmp_path)]) == 2
    assert "reports no figure to tune" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# A study


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    code = lab_main(["sweep", FIRST, *QUICK, "--param", LR, "--param", "training.use_bias=choice:true,false",
                     "--trials", "5", "--out", str(out), "--json", "--quiet"])
    assert code == 0
    return sweep_folder(out)


def test_each_trial_is_a_run_folder_with_the_values_the_study_chose(swept):
    study = study_of(swept)
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(5)) and counts(study)["finished"] == 5
    for t in trials:
        run = RunDir.open(swept / f"trial-{t.number:03d}")
        cfg = scenario.validate(run.read_scenario())
        assert cfg.training.learning_rate == pytest.approx(t.params["training.learning_rate"])
        assert cfg.training.use_bias is yaml.safe_load(t.params["training.use_bias"])
        assert cfg.training.max_epochs == 40 and cfg.strategy == "cpu"  # the --set of every trial
        if t.state.name == "COMPLETE":
            assert run.status == "complete" and t.value == run.summary()["final_loss"]
        else:
            assert t.state.name == "PRUNED" and run.status == "pruned"


def test_results_best_scenario_report_and_plots(swept, capsys):
    summary = json.loads((swept / "summary.json").read_text())
    study = study_of(swept)
    best = study.best_trial
    assert summary["best"]["trial"] == best.number and summary["direction"] == "minimize"
    assert best.value == min(t.value for t in study.get_trials() if t.state.name == "COMPLETE")
    cfg = scenario.load_scenario(swept / "best.yaml")  # ready to run: valid, with the best values
    assert cfg.training.learning_rate == pytest.approx(best.params["training.learning_rate"])
    assert cfg.training.max_epochs == 40
    report = (swept / "report.md").read_text()
    assert "## Trials" in report and report.count("\n| ") >= 6 and f"**Best: trial {best.number}**" in report
    assert set(summary["importances"]) == {"training.learning_rate", "training.use_bias"}
    assert sum(summary["importances"].values()) == pytest.approx(1, abs=0.01)
    for name in ("history", "importances", "parallel"):
        assert (swept / "artifacts" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert lab_main(["sweep", "--resume", str(swept), "--json"]) == 0  # finished: only the report again
    assert json.loads(capsys.readouterr().out)["trials_finished"] == 5
    assert len(study_of(swept).get_trials()) == 5


def test_a_sweep_folder_given_where_a_run_is_expected_says_what_to_do(swept, capsys):
    assert lab_main(["show", str(swept)]) == 2
    err = capsys.readouterr().err
    assert "a sweep folder, not a run" in err and f"lab compare {swept}" in err


def test_resume_refuses_new_settings(swept, capsys):
    assert lab_main(["sweep", "--resume", str(swept), "--trials", "9"]) == 2
    assert "--resume keeps the sweep's own settings; drop --trials" in capsys.readouterr().err
    assert lab_main(["sweep", "--resume", str(swept), "--prune-after", "0"]) == 2
    assert "drop --prune-after" in capsys.readouterr().err
    assert lab_main(["sweep", "--resume", str(swept.parent)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err


def test_a_pruned_trial_stops_its_run_and_its_folder_says_so(tmp_path, monkeypatch):
    """The pruner's verdict reaches the run through its metrics rows (forced here for trial 1)."""

    def reporter(sweep, trial):
        def on_metrics(step, figures):
            if trial.number == 1 and step >= 10:
                raise Pruned(f"loss {figures['loss']:.3g} at step {step}")
        return on_metrics

    monkeypatch.setattr(study_module, "reporter", reporter)
    assert lab_main(["sweep", FIRST, *QUICK, "--param", LR, "--trials", "3", "--out", str(tmp_path),
                     "--quiet"]) == 0
    folder = sweep_folder(tmp_path)
    states = [t.state.name for t in study_of(folder).get_trials()]
    assert states == ["COMPLETE", "PRUNED", "COMPLETE"]
    pruned = RunDir.open(folder / "trial-001")
    assert pruned.status == "pruned" and not pruned.summary_path.exists()
    rows = pruned.metrics_path.read_text().splitlines()
    assert rows[-1].startswith("10,")  # it stopped at the row that decided it


def test_the_real_pruner_reads_each_row_in_the_studys_direction_after_its_warm_up_rows():
    """A median pruner on a minimised figure stops a trial whose figure is above the others' median, but
    not on the trial's first row (--prune-after 1, the default: first epochs are noisy)."""
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    sweep = Sweep(folder=Path("."), scenario="", overrides=[], params=[], trials=3, metric="final_loss",
                  direction="minimize", progress="loss", progress_sign=1, pruner="median", timeout=None,
                  storage="", study="s", seed=0, task="first-network")
    for value in (0.1, 0.2):
        trial = study.ask()
        report = study_module.reporter(sweep, trial)
        report(1, {"loss": value})
        report(2, {"loss": value / 2})
        study.tell(trial, value)
    hopeless = study_module.reporter(sweep, study.ask())
    hopeless(1, {"loss": 0.9})  # its first row: not judged yet
    with pytest.raises(Pruned, match="loss 0.9 at step 2"):
        hopeless(2, {"loss": 0.9})
    hopeful = study_module.reporter(sweep, study.ask())
    hopeful(1, {"loss": 0.05})
    hopeful(2, {"loss": 0.02})  # better than the median: goes on
    sweep.prune_after = 0
    with pytest.raises(Pruned, match="at step 1"):  # --prune-after 0: judged from the first row
        study_module.reporter(sweep, study.ask())(1, {"loss": 0.9})
