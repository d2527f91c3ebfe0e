"""What a sweep found: ``summary.json``, ``best.yaml`` (the best trial's scenario, ready for `lab run`),
``report.md`` with the trials table and parameter importances (Optuna's fANOVA), and three matplotlib
PNGs in ``artifacts/``: the optimisation history, the importances and the parallel coordinates."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from lab import scenario
from lab.runs import atomic_write_text
from lab.sweep.study import Sweep, counts, open_study, optuna_module, trial_folder

PLOTS = {"history": "plot_optimization_history", "importances": "plot_param_importances",
         "parallel": "plot_parallel_coordinate"}


def write(sweep: Sweep) -> dict:
    """Write the sweep's results from its study (all machines' trials); returns summary.json's dict."""
    study = open_study(sweep)
    optuna = optuna_module()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    summary = {"study": sweep.study, "task": sweep.task, "metric": sweep.metric, "direction": sweep.direction,
               "trials_asked": sweep.trials, **{f"trials_{k}": v for k, v in counts(study).items()},
               "wall_seconds": round(time.time() - sweep.created, 1), "folder": str(sweep.folder)}
    importances, notes = {}, []
    if complete:
        best = study.best_trial
        folder = best.user_attrs.get("folder", str(sweep.folder / trial_folder(best.number)))
        summary["best"] = {"trial": best.number, "value": best.value, "params": best.params, "folder": folder}
        summary["best_scenario"] = str(write_best(sweep, best))
        importances, note = param_importances(study, sweep, len(complete))
        notes += [note] if note else []
    summary["importances"] = importances
    plots = draw(study, sweep, bool(importances), notes) if complete else {}
    summary["plots"] = plots
    atomic_write_text(sweep.folder / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(sweep.folder / "report.md", markdown(sweep, study, summary, notes))
    return summary


def write_best(sweep: Sweep, best) -> Path:
    """best.yaml: the scenario with the sweep's overrides and the best trial's values."""
    overrides = [*sweep.overrides, *(p.override(best.params[p.path]) for p in sweep.params)]
    cfg = scenario.load_scenario(Path(sweep.scenario), overrides)
    text = (f"# The best trial ({best.number}, {sweep.metric} {best.value:.6g}) of the sweep {sweep.folder}\n"
            f"# (scenario {sweep.scenario}; searched: {', '.join(p.path for p in sweep.params)}).\n"
            f"# Run it with: lab run {sweep.folder / 'best.yaml'}\n")
    path = sweep.folder / "best.yaml"
    atomic_write_text(path, text + scenario.dump(cfg))
    return path


def param_importances(study, sweep: Sweep, n_complete: int) -> tuple[dict, str | None]:
    """fANOVA importances (share of the metric's variance each parameter explains), or why there are none."""
    optuna = optuna_module()
    if n_complete < 2 or not sweep.params:
        return {}, "parameter importances need at least two complete trials"
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=sweep.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except ImportError:
        return {}, "parameter importances need scikit-learn (pip install -e '.[sweep]')"
    except (RuntimeError, ValueError) as exc:  # e.g. every complete trial had the same values
        return {}, f"parameter importances: {exc}"
    return {k: round(float(v), 4) for k, v in found.items()}, None


def draw(study, sweep: Sweep, with_importances: bool, notes: list[str]) -> dict[str, str]:
    """The PNGs Optuna's matplotlib visualisations draw (no browser needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    optuna = optuna_module()
    out = sweep.folder / "artifacts"
    out.mkdir(exist_ok=True)
    written = {}
    for name, function in PLOTS.items():
        if name == "importances" and not with_importances:
            continue
        kwargs = ({"evaluator": optuna.importance.FanovaImportanceEvaluator(seed=sweep.seed)}
                  if name == "importances" else {})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = getattr(optuna.visualization.matplotlib, function)(study, **kwargs)
        except (RuntimeError, ValueError) as exc:
            notes.append(f"{name} plot: {exc}")
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(out / f"{name}.png", dpi=100)
        plt.close(figure)
        written[name] = f"artifacts/{name}.png"
    return written


def markdown(sweep: Sweep, study, summary: dict, notes: list[str]) -> str:
    lines = [f"# Sweep {sweep.study}", "",
             f"Scenario `{sweep.scenario}` (task {sweep.task}), overrides "
             f"{', '.join(f'`{o}`' for o in sweep.overrides) or 'none'}; {sweep.direction} `{sweep.metric}`; "
             f"pruner {sweep.pruner}; storage `{sweep.storage.split('@')[-1]}`.", "",
             f"Trials: {summary['trials_finished']} finished of {sweep.trials} asked "
             f"({summary['trials_complete']} complete, {summary['trials_pruned']} pruned, "
             f"{summary['trials_failed']} failed; {summary['trials_running']} still running); "
             f"{summary['wall_seconds']:.0f} s since the sweep began.", ""]
    best = summary.get("best")
    if best:
        lines += [f"**Best: trial {best['trial']}**, {sweep.metric} {best['value']:.6g} with "
                  f"{', '.join(f'`{k}={v}`' for k, v in best['params'].items())}. Its scenario: "
                  f"`best.yaml` (`lab run {summary['best_scenario']}`).", ""]
    lines += trials_table(sweep, study)
    if summary["importances"]:
        lines += ["", "## Parameter importances (fANOVA)", "", "| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in summary["importances"].items()]
    for name, path in summary.get("plots", {}).items():
        lines += ["", f"![{name}]({path})"]
    lines += ["", *(f"- {n}" for n in notes)] if notes else []
    return "\n".join(lines) + "\n"


def trials_table(sweep: Sweep, study) -> list[str]:
    names = [p.path for p in sweep.params]
    lines = ["## Trials", "", "| trial | state | " + " | ".join([sweep.metric, *names]) + " |",
             "|" + "---|" * (3 + len(names))]
    for t in study.get_trials(deepcopy=False):
        value = f"{t.value:.6g}" if t.state.name == "COMPLETE" else ""
        if t.state.name == "PRUNED" and t.intermediate_values:
            step = max(t.intermediate_values)
            shown = sweep.progress_sign * t.intermediate_values[step]
            value = f"(at step {step}: {sweep.progress} {shown:.4g})"
        state = t.state.name.lower() + (f" ({t.user_attrs['not_counted']})" if "not_counted" in t.user_attrs
                                        else "")
        params = [str(t.params.get(n, "")) for n in names]
        lines.append(f"| {t.number} | {state} | " + " | ".join([value, *params]) + " |")
    return lines
