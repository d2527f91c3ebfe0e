"""The CI rule of tests/no_skips.py: with LAB_NO_SKIPS=1 a skipped test fails the session."""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_pytest(folder: Path, **env) -> subprocess.CompletedProcess:
    sample = ("import pytest\n\n\ndef test_skips():\n    pytest.skip('no data here')\n\n\n"
              "def test_runs():\n    pass\n")
    (folder / "test_sample.py").write_text(sample)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no_skips", "-p", "no:cacheprovider",
                           str(folder)], capture_output=True, text=True, cwd=folder, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(HERE), **env})


def test_a_skip_fails_the_session_when_ci_asks(tmp_path):
    done = run_pytest(tmp_path, LAB_NO_SKIPS="1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_sample.py::test_skips: no data here" in done.stderr


def test_a_skip_is_a_skip_elsewhere(tmp_path):
    done = run_pytest(tmp_path, LAB_NO_SKIPS="0")
    assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout + done.stderr
