"""A real `lab serve` process and a real browser for the page's test and docs/serve_screenshots.py: Debian's
Chromium driven through its chromium-driver by Selenium (no browser download), headless.

`serve(runs)` starts `lab serve` on a free loopback port and waits until it is ready; `stop(proc)` ends
it by its process id. `chromium()` is a headless driver, or raises `NoBrowser` saying why there is none.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lab.launch import free_ports

ROOT = Path(__file__).resolve().parents[1]


class NoBrowser(RuntimeError):
    """Chromium or its driver is missing or cannot start (the message says which)."""



def serve(runs, *extra: str, seconds: float = 120) -> tuple[subprocess.Popen, str]:
    """(`lab serve` process, its base URL), once GET /ready answers."""
    port = free_ports(1)[0]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "lab", "serve", *map(str, runs), "--port", str(port), *extra]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"lab serve did not become ready: {proc.stdout.read()[-3000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def chromium(width: int = 1280, height: int = 900):
    """A headless Chromium driven by Selenium."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        raise NoBrowser("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                        "chromium-driver; .ci/run does)")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service(driver_path), options=options)
    except WebDriverException as exc:
        raise NoBrowser(f"Chromium does not start here: {str(exc).splitlines()[0]}") from None
