"""The rbm task end to end on a small synthetic set: it beats the bias baseline, recovers the planted
tastes, writes its run folder, resumes exactly, and `lab recommend` works and refuses bad input."""

import json
from collections import Counter

import numpy as np
import pytest
from conftest import same_figures

from generative.rbm import train
from generative.rbm.serve import Recommender
from generative.rbm.titles import RecommendError, normalise_title, parse_rate
from lab import registry
from lab.cli import main as lab_main
from lab.errors import RunError
from lab.execute import execute
from lab.runs import RunDir
from lab.scenario import load_scenario

SCENARIO = """name: rbm_tiny
task: rbm
seed: 5
strategy: cpu
data:
  source: synthetic
  synthetic: {{users: 500, items: 150, mean_ratings: 40, tastes: 4, noise: 0.4}}
rbm:
  hidden: 40
  rated_vector: {rated_vector}
  orientation: {orientation}
  cd_schedule: [[0, 1], [8, 3]]
training:
  epochs: {epochs}
  batch_size: 20
  learning_rate: 0.1
evaluation:
  every: 4
"""


def scenario(tmp_path, epochs=14, rated_vector="joint", orientation="user", name="s.yaml"):
    path = tmp_path / name
    path.write_text(SCENARIO.format(epochs=epochs, rated_vector=rated_vector, orientation=orientation))
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rbm")
    path = scenario(tmp)
    return path, execute(str(path), out=str(tmp / "runs"), quiet=True)


def test_run_folder_summary_report_and_curve(fitted):
    _, run = fitted
    s = run.summary()
    for key in ("rmse", "mae", "baseline_rmse", "precision_at_10", "recall_at_10", "ndcg_at_10",
                "train_seconds",
                "global_mean_rmse", "bias_mae", "popularity_precision_at_10", "popularity_ndcg_at_10"):
        assert key in s, key
    assert 0 < s["precision_at_10"] <= 1 and 0 < s["ndcg_at_10"] <= 1 and s["folds"] == 1
    report = run.report_path.read_text()
    assert "Model vs baselines" in report and "user + item biases (ALS)" in report and "popularity" in report
    assert "learning_curve.png" in report and (run.artifacts / "learning_curve.png").stat().st_size > 1000
    rows = run.metrics_path.read_text().splitlines()
    assert len(rows) == 1 + 14 and "test_rmse" in rows[0] and "recon_rmse" in rows[0]
    for name in ("rbm.keras", "ratings.npz", "recommender.json"):
        assert (run.artifacts / name).exists()
    assert (run.checkpoints / "rbm.json").exists() and (run.checkpoints / "rbm_folds.json").exists()
    # the training section's default schedule: the learning rate times 0.97 after every epoch
    rates = [float(row.split(",")[rows[0].split(",").index("learning_rate")]) for row in rows[1:]]
    assert rates == pytest.approx([0.1 * 0.97**e for e in range(14)], rel=1e-6)


def test_rbm_beats_the_bias_baseline_and_recovers_planted_tastes(fitted):
    path, run = fitted
    s = run.summary()
    assert s["rmse"] < s["baseline_rmse"] - 0.02 < s["global_mean_rmse"]
    # users of the same planted taste type end up with similar hidden states
    cfg = load_scenario(path)
    truth = train.load_data(cfg).truth["user_type"]
    r2 = Recommender.open(run.path)
    hidden = np.stack(
        [1 / (1 + np.exp(-r2._hidden_input(*_items_kidx(r2, u)))) for u in range(r2.ratings.n_users)])
    centred = hidden - hidden.mean(0)
    sim = centred @ centred.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(1)
    accuracy = float((truth[nearest] == truth).mean())
    assert accuracy > 0.6  # chance is about 0.25 with 4 taste types


def _items_kidx(r2, u):
    items, values = r2.user_ratings(u)
    return items, r2._value_index(values)


def test_interrupted_run_resumes_to_the_same_figures(tmp_path, interrupt_after, fitted):
    path = scenario(tmp_path, epochs=14)
    interrupt_after(6)
    with pytest.raises(KeyboardInterrupt):
        execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    (folder,) = list((tmp_path / "runs").iterdir())
    assert RunDir(folder).status == "interrupted"
    with pytest.raises(RunError, match="no fitted recommender yet"):
        Recommender.open(folder)
    interrupt_after.disarm()
    resumed = execute(None, resume=str(folder), quiet=True)
    assert same_figures(resumed.summary(), fitted[1].summary()) == {}
    assert resumed.metrics_path.read_text().splitlines() == fitted[1].metrics_path.read_text().splitlines()


def run_cli(capsys, *argv):
    code = lab_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_recommend_for_a_user_never_returns_rated_movies(fitted, capsys):
    _, run = fitted
    code, out, _ = run_cli(capsys, "recommend", str(run.path), "--user", "7", "--top", "15", "--json")
    assert code == 0
    result = json.loads(out)
    r2 = Recommender.open(run.path)
    items, values = r2.user_ratings(r2.user_index("7"))
    rated_ids = set(r2.ratings.item_ids[items].tolist())
    picks = result["picks"]
    assert len(picks) == 15 and not rated_ids & {p["item_id"] for p in picks}
    assert all(1 <= p["predicted_rating"] <= 5 for p in picks)
    scores = [p["score"] for p in picks]
    assert scores == sorted(scores, reverse=True)
    because = [b for p in picks for b in p["because"]]
    assert all(b["effect"] >= 0.1 and b["item_id"] in rated_ids for b in because)
    assert all(abs(p["predicted_rating"] - p["general_appeal"] - p["from_your_ratings"]) < 2e-3
               for p in picks)
    code, out, _ = run_cli(capsys, "recommend", str(run.path), "--user", "7", "--top", "3")
    assert code == 0 and "appeal" in out and "0.1 star or more" in out and out.count("\n") >= 5


def test_recommend_matches_the_model_itself(fitted):
    """The NumPy scoring in `lab recommend` equals the Keras model's own prediction."""
    _, run = fitted
    r2 = Recommender.open(run.path)
    import keras

    model = keras.models.load_model(run.artifacts / "rbm.keras", safe_mode=True)
    u = 11
    items, values = r2.user_ratings(u)
    kidx = r2._value_index(values).astype(np.int32)
    batch = {"n": np.int32(1), "rows": np.zeros(len(items), np.int32), "cols": items.astype(np.int32),
             "values": kidx, "seen_rows": np.zeros(0, np.int32), "seen_cols": np.zeros(0, np.int32)}
    expected, _, _ = model.predict_batch(batch)
    mine, _ = r2.predict_user_oriented(items, values)
    assert np.allclose(np.asarray(expected)[0], mine, atol=1e-4)


def test_recommend_for_a_new_person(fitted, capsys):
    _, run = fitted
    r2 = Recommender.open(run.path)
    titles = [str(t) for t in r2.ratings.titles]
    a, b = titles[0], titles[5]
    text = f"{a.upper()}={5}, {b.lower()}  = 4"
    (items, values), picks = r2.for_ratings(text, top=8)
    assert [r2.ratings.titles[i] for i in items] == [a, b] and list(values) == [5, 4]
    assert len(picks) == 8 and not {p.item for p in picks} & set(items.tolist())
    code, out, _ = run_cli(capsys, "recommend", str(run.path), "--rate", f"{a}=5", "--json")
    assert code == 0 and json.loads(out)["rated"][0]["title"].startswith(a)
    # what a web service calls: ratings as a title -> stars mapping, the answer as plain data
    serve = registry.serve("rbm")
    answer = serve.recommend_for_ratings(r2, {a.upper(): 5, b.lower(): 4}, top=8)
    assert [m["item_id"] for m in answer["rated"]] == r2.ratings.item_ids[items].tolist()
    assert [p["item_id"] for p in answer["picks"]] == [int(r2.ratings.item_ids[p.item]) for p in picks]
    json.dumps(answer)  # plain data
    with pytest.raises(RecommendError, match="not a number"):
        serve.recommend_for_ratings(r2, {a: "great"})
    with pytest.raises(RecommendError, match="no ratings given"):
        serve.recommend_for_ratings(r2, {})


def test_title_matching_is_forgiving_but_not_careless(fitted):
    _, run = fitted
    r2 = Recommender.open(run.path)
    index = r2.titles
    assert normalise_title("Usual Suspects, The (1995)") == "the usual suspects"
    assert normalise_title("Léon: The Professional") == "leon the professional"
    first = str(r2.ratings.titles[0])
    assert index.find(first.replace(" ", "  ").upper()) == 0
    assert index.find(f"{first} ({r2.ratings.years[0]})") == 0
    # a word in several titles (not a title itself) is ambiguous: the error lists them and asks for the year
    words = Counter(w for t in index.norm for w in set(t.split()) if len(w) > 3)
    word = next(w for w, n in words.most_common() if n > 1 and w not in set(index.norm)).title()
    with pytest.raises(RecommendError, match=rf"'{word}' matches \d+ movies: .*add the year"):
        index.find(word)
    typo = first[:-1] + ("x" if first[-1] != "x" else "y")
    with pytest.raises(RecommendError, match="did you mean"):
        index.find(typo)
    with pytest.raises(RecommendError, match="no movie called 'Qqqq Zzzz Wwww'"):
        index.find("Qqqq Zzzz Wwww")
    with pytest.raises(RecommendError, match="outside the rating scale"):
        parse_rate("Heat=6", np.arange(1, 6.0))
    with pytest.raises(RecommendError, match="not a number"):
        parse_rate("Heat=great", np.arange(1, 6.0))
    assert parse_rate("Usual Suspects, The=5; Heat=4", np.arange(1, 6.0)) == [("Usual Suspects, The", 5.0),
                                                                              ("Heat", 4.0)]


def test_recommend_errors(fitted, capsys, tmp_path):
    _, run = fitted
    code, _, err = run_cli(capsys, "recommend", str(run.path), "--user", "99999")
    assert (code == 2 and "--user: user 99999 is not in this run's data" in err and
            "nearest ids: 498, 499, 500" in err)
    code, _, err = run_cli(capsys, "recommend", str(run.path), "--user", "abc")
    assert code == 2 and "whole numbers" in err
    code, _, err = run_cli(capsys, "recommend", str(run.path), "--rate", "Heat=great")
    assert (code == 2 and "--rate: the rating of 'Heat' is 'great', not a number" in err and
            "Traceback" not in err)
    code, _, err = run_cli(capsys, "recommend", str(run.path), "--user", "3", "--top", "0")
    assert code == 2 and "--top 0" in err
    other = RunDir.create(tmp_path, "vae_run", "vae")
    other.scenario_path.write_text("name: vae_run\ntask: vae\n")
    code, _, err = run_cli(capsys, "recommend", str(other.path), "--user", "1")
    assert code == 2 and "a vae run, but lab recommend needs a run of rbm" in err
    code, _, err = run_cli(capsys, "recommend", str(tmp_path / "missing"), "--user", "1")
    assert code == 2 and "no such run folder" in err


def test_item_oriented_run_recommends_for_users_but_not_new_people(tmp_path, capsys):
    path = scenario(tmp_path, epochs=3, orientation="item", rated_vector="conditional")
    run = execute(str(path), out=str(tmp_path / "runs"), quiet=True)
    s = run.summary()
    assert np.isfinite(s["rmse"]) and 0 <= s["ndcg_at_10"] <= 1
    code, out, _ = run_cli(capsys, "recommend", str(run.path), "--user", "4", "--json")
    assert code == 0 and len(json.loads(out)["picks"]) == 10
    code, _, err = run_cli(capsys, "recommend", str(run.path), "--rate", "Anything=5")
    assert code == 2 and "--rate: this run's RBM is item-oriented" in err


def test_shipped_scenarios_validate_without_their_data(capsys, root):
    files = [str(root / "scenarios" / f) for f in ("rbm_synthetic.yaml", "rbm_movielens100k.yaml",
                                                   "rbm_netflix.yaml",
                                                    "rbm_movielens100k_ranking.yaml")]
    code, out, err = run_cli(capsys, "validate", *files)
    assert code == 0 and out.count("ok:") == 4, err


def test_missing_data_is_reported_at_run_time(tmp_path, capsys, root):
    code, _, err = run_cli(capsys, "run", str(root / "scenarios" / "rbm_netflix.yaml"), "--set",
                           f"data.path={tmp_path / 'no-netflix'}", "--out", str(tmp_path / "runs"), "--quiet")
    assert code == 2 and "no-netflix: no such file or folder" in err and "combined_data_1.txt" in err
