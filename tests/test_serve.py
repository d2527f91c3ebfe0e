"""`lab serve`: the HTTP service on tiny runs of each kind (in this process, through FastAPI's test client),
its bounds and errors (a 4xx JSON naming the problem, never a 500), the token, and the command's checks.
The real server in a real browser: tests/test_serve_browser.py."""

import base64
import io
import json
import threading

import browser
import numpy as np
import pytest
from conftest import hang_guard
from fastapi.testclient import TestClient
from PIL import Image
from serve_runs import make_runs

from lab.cli import main as lab_main
from lab.serve import runs as served_runs
from lab.serve.app import MAX_BODY, create_app
from lab.serve.runs import open_all


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def served(runs):
    return open_all(list(runs.values()))


@pytest.fixture(scope="module")
def client(served):
    return TestClient(create_app(served), raise_server_exceptions=False)


def name(runs, task):
    return runs[task].name


def events(text: str) -> tuple[list[dict], dict]:
    tokens, done = [], None
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        if lines.get("event") == "done":
            done = json.loads(lines["data"])
        else:
            tokens.append(json.loads(lines["data"]))
    return tokens, done


def digit_pixels() -> list[list[int]]:
    a = np.zeros((28, 28), int)
    a[4:24, 13:16] = 255  # a one: a vertical bar
    return a.tolist()


def test_runs_health_and_ready(client, runs):
    listed = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert {r["kind"] for r in listed.values()} == {"predict", "generate", "recommend", "sample", "solve"}
    digits = listed[name(runs, "classifier")]
    assert digits["headline"]["name"] == "test_accuracy" and digits["info"]["input_shape"] == [28, 28, 1]
    assert client.get("/health").json() == {"status": "ok"} and client.get("/ready").json()["runs"] == 5
    assert "text/html" in client.get("/").headers["content-type"]
    assert "/api/runs/{run}/generate" in client.get("/openapi.json").json()["paths"]


def test_predict_from_pixels_and_from_an_uploaded_picture_agree(client, runs):
    url = f"/api/runs/{name(runs, 'classifier')}/predict"
    by_pixels = client.post(url, json={"pixels": digit_pixels(), "top": 3}).json()
    assert abs(sum(by_pixels["probabilities"]) - 1) < 1e-4 and len(by_pixels["top"]) == 3
    assert by_pixels["top"][0]["probability"] >= by_pixels["top"][1]["probability"]
    png = io.BytesIO()
    Image.fromarray(np.asarray(digit_pixels(), np.uint8)).save(png, format="PNG")
    by_file = client.post(url, files={"file": ("one.png", png.getvalue(), "image/png")}).json()
    assert by_file["top"][0]["class"] == by_pixels["top"][0]["class"]
    np.testing.assert_allclose(by_file["probabilities"], by_pixels["probabilities"], atol=1e-5)


def test_generate_streams_tokens_and_the_same_seed_gives_the_same_text(client, runs):
    url = f"/api/runs/{name(runs, 'language-model')}/generate"
    body = {"prompt": "the ", "length": 30, "temperature": 0.9, "seed": 4}
    with client.stream("POST", url, json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first, done = events(response.read().decode())
    assert len(first) == 30 and done["tokens"] == 30 and done["cut"] is False
    again, _ = events(client.post(url, json=body).text)
    other, _ = events(client.post(url, json={**body, "seed": 5}).text)
    text = "".join(t["text"] for t in first)
    assert "".join(t["text"] for t in again) == text != "".join(t["text"] for t in other)


def test_concurrent_generations_each_get_their_own_state(client, runs):
    url = f"/api/runs/{name(runs, 'language-model')}/generate"
    body = {"prompt": "the ", "length": 25, "seed": 7}
    alone = client.post(url, json=body).text
    results = [None] * 4

    def call(i):
        results[i] = client.post(url, json=body).text

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(events(r)[0] == events(alone)[0] for r in results)


def test_a_generation_whose_client_goes_away_holds_nothing(client, runs, tmp_path):
    url = f"/api/runs/{name(runs, 'language-model')}/generate"
    with client.stream("POST", url, json={"length": 2000}) as response:
        assert next(response.iter_lines()).startswith("data: ")  # one token, then the client leaves
    with hang_guard(60):
        tokens, done = events(client.post(url, json={"length": 5}).text)
    assert len(tokens) == 5 and done["tokens"] == 5


def test_a_slow_generation_is_cut_at_the_time_limit(client, runs, monkeypatch):
    monkeypatch.setitem(served_runs.LIMITS, "generate_seconds", 0.0)
    tokens, done = events(client.post(f"/api/runs/{name(runs, 'language-model')}/generate",
                                      json={"length": 500}).text)
    assert done["cut"] is True and len(tokens) == done["tokens"] < 500


def test_recommend_for_rated_titles_and_search_titles(client, runs):
    base = f"/api/runs/{name(runs, 'rbm')}"
    found = client.get(f"{base}/titles", params={"q": "", "limit": 2}).json()["titles"]
    assert len(found) == 2
    word = found[0]["title"].split()[0]
    assert any(word in t["title"] for t in client.get(f"{base}/titles", params={"q": word}).json()["titles"])
    rated = {found[0]["title"]: 5, found[1]["title"]: 4}
    answer = client.post(f"{base}/recommend", json={"ratings": rated, "top": 5}).json()
    assert [r["title"] for r in answer["rated"]] == list(rated)
    assert len(answer["picks"]) == 5 and not {p["title"] for p in answer["picks"]} & set(rated)
    assert all(1 <= p["predicted_rating"] <= 5 and p["why"] for p in answer["picks"])
    assert client.post(f"{base}/recommend", json={"user": 3}).json()["user"] == 3


def test_sample_from_the_prior_and_from_given_codes(client, runs):
    url = f"/api/runs/{name(runs, 'vae')}/sample"
    drawn = client.post(url, json={"n": 4, "seed": 1}).json()
    assert drawn["latent_size"] == 2 and len(drawn["codes"]) == len(drawn["images"]) == 4
    assert client.post(url, json={"n": 4, "seed": 1}).json()["codes"] == drawn["codes"]
    png = base64.b64decode(drawn["images"][0].removeprefix("data:image/png;base64,"))
    assert Image.open(io.BytesIO(png)).size == (28, 28)
    again = client.post(url, json={"latents": drawn["codes"][:2]}).json()
    assert again["images"] == drawn["images"][:2]


def test_solve_walks_the_runs_maze_at_its_optimal_length(client, runs):
    answer = client.post(f"/api/runs/{name(runs, 'maze-dqn')}/solve", json={}).json()
    maze, path = answer["maze"], answer["path"]
    assert answer["success"] and answer["steps"] == answer["optimal"] == len(path) - 1
    assert path[0] == maze["start"] and path[-1] == maze["goal"]
    assert all(not maze["walls"][r][c] for r, c in path)
    r, c = maze["start"]
    assert answer["actions"][r][c] in (0, 1, 2, 3) and answer["q_max"][r][c] is not None


def test_solve_a_maze_given_as_text(client, runs):
    layout = "#######\n#S....#\n#.###.#\n#...#.#\n###.#.#\n#...#G#\n#######"
    answer = client.post(f"/api/runs/{name(runs, 'maze-dqn')}/solve", json={"layout": layout}).json()
    assert answer["maze"]["rows"] == 7 and answer["optimal"] == 8 and answer["maze"]["goal"] == [5, 5]
    bad = client.post(f"/api/runs/{name(runs, 'maze-dqn')}/solve", json={"layout": "#S#"})
    assert bad.status_code == 400 and bad.json()["setting"] == "layout"


@pytest.mark.parametrize("task, path, body, status, says", [
    ("classifier", "predict", {"pixels": [[0] * 2000] * 2000}, 413, "at most"),
    ("classifier", "predict", {"pixels": [[0, 1], [2]]}, 400, "pixels"),
    ("classifier", "predict", {"pixels": [[300] * 28] * 28}, 400, "0 to 255"),
    ("classifier", "predict", {"pixels": digit_pixels(), "top": 11}, 400, "top 11"),
    ("classifier", "predict", {"pixels": digit_pixels(), "colour": 1}, 422, "colour"),
    ("language-model", "generate", {"length": 2001}, 422, "length"),
    ("language-model", "generate", {"prompt": "\u2603 snow"}, 400, "never saw"),
    ("language-model", "generate", {"temperature": 0}, 422, "temperature"),
    ("rbm", "recommend", {"ratings": {"No Such Film At All": 5}}, 400, "no movie called"),
    ("rbm", "recommend", {"user": 1, "ratings": {"x": 5}}, 400, "either"),
    ("rbm", "recommend", {"user": 999999}, 400, "999999"),
    ("rbm", "recommend", {"user": 1, "top": 51}, 422, "top"),
    ("vae", "sample", {"n": 257}, 422, "n"),
    ("vae", "sample", {"latents": [[0.0, 0.0, 0.0]]}, 400, "latent size"),
    ("vae", "sample", {"latents": [[1e9, 0.0]]}, 400, "within"),
    ("maze-dqn", "solve", {"seed": 3}, 400, "fixed maze"),
    ("classifier", "solve", {}, 404, "maze-dqn run"),
])
def test_bad_requests_are_4xx_json_naming_the_problem(client, runs, task, path, body, status, says):
    response = client.post(f"/api/runs/{name(runs, task)}/{path}", json=body)
    assert response.status_code == status, response.text
    assert says in response.json()["error"] and "Traceback" not in response.text
    assert str(runs[task].parent) not in response.text  # no path of the server's in an answer


def test_uploads_garbage_and_names_that_are_not_runs(client, runs):
    url = f"/api/runs/{name(runs, 'classifier')}/predict"
    not_image = client.post(url, files={"file": ("x.png", b"GIF89 but not really", "image/png")})
    assert not_image.status_code == 400 and "not an image" in not_image.json()["error"]
    assert client.post(url, files={"other": ("x", b"1")}).status_code == 400
    garbled = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert garbled.status_code == 422
    big = client.post(url, content=b"0" * (MAX_BODY + 1), headers={"content-type": "application/json"})
    assert big.status_code == 413 and "at most" in big.json()["error"]
    for bad in ("..%2F..%2Fetc%2Fpasswd", "nope", "%2Ftmp"):
        response = client.post(f"/api/runs/{bad}/predict", json={"pixels": digit_pixels()})
        assert response.status_code in (404, 405) and "Traceback" not in response.text
    assert client.get("/static/../runs.py").status_code == 404


def test_a_token_guards_every_api_call_but_not_health(served):
    guarded = TestClient(create_app(served, token="s3cret-token"), raise_server_exceptions=False)
    assert guarded.get("/api/runs").status_code == 401
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert guarded.get("/api/runs", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert guarded.get("/health").status_code == 200 and guarded.get("/ready").status_code == 200


@pytest.mark.parametrize("args, says", [
    (["--host", "0.0.0.0"], "--token"),
    (["--host", "0.0.0.0", "--token", "short"], "at least 8"),
    (["--port", "70000"], "--port 70000"),
])
def test_serve_refuses_exposure_without_a_token_and_bad_ports(runs, capsys, args, says):
    assert lab_main(["serve", str(runs["rbm"]), *args]) == 2
    assert says in capsys.readouterr().err


def test_serve_refuses_runs_it_cannot_serve(tmp_path, capsys):
    assert lab_main(["serve", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# The page, in a real browser against a real `lab serve` process


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    """(driver, base URL, folder for screenshots): Chromium on `lab serve` of the tiny runs."""
    try:
        driver = browser.chromium()
    except browser.NoBrowser as exc:
        pytest.skip(f"no browser: {exc}")
    proc, url = browser.serve(runs.values())
    try:
        yield driver, url, tmp_path_factory.mktemp("screenshots")
    finally:
        driver.quit()
        browser.stop(proc)


def open_panel(driver, url, run_name, panel):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/")
    wait = WebDriverWait(driver, 30)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'.run-card[data-run="{run_name}"]'))).click()
    wait.until(ec.visibility_of_element_located((By.ID, panel)))
    return wait, By, ec


def test_the_page_lists_every_run(page, runs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, shots = page
    driver.get(url + "/")
    cards = WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".run-card") or None)
    assert {c.get_attribute("data-run") for c in cards} == {p.name for p in runs.values()}
    driver.save_screenshot(str(shots / "home.png"))


def rate(driver, wait, by, n: int, stars: int) -> None:
    """Search titles with a common letter, add result ``n`` to the ratings, give it ``stars``."""
    box = driver.find_element(by.ID, "title-search")
    box.clear()
    box.send_keys("e")
    results = wait.until(lambda d: d.find_elements(by.CSS_SELECTOR, "#title-results .title-result") or None)
    results[n].click()
    star = f"#my-ratings .star[data-stars='{stars}']"
    rows = wait.until(lambda d: len(d.find_elements(by.CSS_SELECTOR, star)) > n or None)
    assert rows
    driver.find_elements(by.CSS_SELECTOR, star)[n].click()


def test_rating_two_movies_shows_picks(page, runs):
    driver, url, shots = page
    wait, By, ec = open_panel(driver, url, name(runs, "rbm"), "panel-recommend")
    rate(driver, wait, By, 0, 5)
    rate(driver, wait, By, 1, 4)
    driver.find_element(By.ID, "recommend-go").click()
    picks = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#picks .pick") or None)
    assert len(picks) >= 5 and all(p.text.strip() for p in picks)
    driver.save_screenshot(str(shots / "recommend.png"))


def test_drawing_a_stroke_shows_probabilities(page, runs):
    from selenium.webdriver.common.action_chains import ActionChains

    driver, url, shots = page
    wait, By, ec = open_panel(driver, url, name(runs, "classifier"), "panel-predict")
    pad = driver.find_element(By.ID, "pad")
    chain = ActionChains(driver).move_to_element_with_offset(pad, 0, -90).click_and_hold()
    for dy in range(-80, 91, 10):
        chain = chain.move_to_element_with_offset(pad, 0, dy)
    chain.release().perform()
    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#probs .prob-row") or None)
    assert len(rows) == 10
    driver.save_screenshot(str(shots / "predict.png"))


def test_generated_text_grows_as_it_streams(page, runs):
    driver, url, shots = page
    wait, By, ec = open_panel(driver, url, name(runs, "language-model"), "panel-generate")
    out = driver.find_element(By.ID, "generated")
    driver.find_element(By.ID, "generate-go").click()
    seen = []
    status = driver.find_element(By.ID, "generate-status")
    wait.until(lambda d: seen.append(len(out.text)) or "tokens" in status.text)
    assert len(out.text) > 20 and len(set(seen)) >= 2  # it grew while the status said it was not done
    driver.save_screenshot(str(shots / "generate.png"))
