"""The README's pictures of `lab serve`'s page, made in Chromium (headless, through Selenium).

    python docs/serve_screenshots.py                       # tiny runs made in a temporary folder
    python docs/serve_screenshots.py runs/<a> runs/<b> ... # your runs

Starts `lab serve` on the runs (tests/browser.py), opens each panel, uses it (rates two movies, draws a
digit, generates text, picks two samples, walks the maze) and writes docs/images/serve-<panel>.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
import browser  # noqa: E402  (tests/browser.py: the same server and browser the page's test uses)
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

OUT = ROOT / "docs" / "images"


def open_kind(driver, url: str, kind: str):
    driver.get(url + "/")
    wait = WebDriverWait(driver, 60)
    cards = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".run-card") or None)
    for card in cards:
        if kind in card.get_attribute("class") or kind in card.text.lower():
            card.click()
            break
    wait.until(lambda d: d.find_element(By.ID, f"panel-{kind}").is_displayed())
    return wait


def recommend(driver, wait) -> None:
    for n, stars in ((0, 5), (1, 4)):
        box = driver.find_element(By.ID, "title-search")
        box.clear()
        box.send_keys("e")
        wait.until(lambda d, n=n: len(d.find_elements(By.CSS_SELECTOR, "#title-results .title-result")) > n)
        driver.find_elements(By.CSS_SELECTOR, "#title-results .title-result")[n].click()
        star = f"#my-ratings .star[data-stars='{stars}']"
        wait.until(lambda d, n=n, star=star: len(d.find_elements(By.CSS_SELECTOR, star)) > n)
        driver.find_elements(By.CSS_SELECTOR, star)[n].click()
    driver.find_element(By.ID, "recommend-go").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#picks .pick"))


def predict(driver, wait) -> None:
    pad = driver.find_element(By.ID, "pad")
    chain = ActionChains(driver).move_to_element_with_offset(pad, -60, -80).click_and_hold()
    for x, y in ((60, -80), (0, 0), (-30, 90)):  # a 7
        chain = chain.move_to_element_with_offset(pad, x, y)
    chain.release().perform()
    time.sleep(1.5)


def generate(driver, wait) -> None:
    driver.find_element(By.ID, "generate-go").click()
    wait.until(lambda d: "tokens" in d.find_element(By.ID, "generate-status").text)


def sample(driver, wait) -> None:
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#samples img.sample")) >= 8)
    time.sleep(2)  # the first grid replaced by the drawn samples
    images = driver.find_elements(By.CSS_SELECTOR, "#samples img.sample")
    images[0].click()
    time.sleep(0.5)
    images[5].click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#interpolation img"))


def solve(driver, wait) -> None:
    wait.until(lambda d: "solved" in d.find_element(By.ID, "maze-status").text)
    time.sleep(3)  # the agent's walk


PANELS = {"recommend": recommend, "predict": predict, "generate": generate, "sample": sample, "solve": solve}


def main(argv: list[str]) -> int:
    if argv:
        runs = [Path(a) for a in argv]
    else:
        from serve_runs import make_runs

        runs = list(make_runs(Path(tempfile.mkdtemp(prefix="lab-shots-"))).values())
    OUT.mkdir(parents=True, exist_ok=True)
    driver = browser.chromium(1366, 800)
    proc, url = browser.serve(runs)
    try:
        driver.get(url + "/")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".run-card"))
        driver.save_screenshot(str(OUT / "serve-home.png"))
        for kind, use in PANELS.items():
            use(driver, open_kind(driver, url, kind))
            driver.save_screenshot(str(OUT / f"serve-{kind}.png"))
            print(OUT / f"serve-{kind}.png")
    finally:
        driver.quit()
        browser.stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
