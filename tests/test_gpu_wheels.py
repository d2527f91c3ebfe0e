"""`make gpu-wheels` carries what a JAX GPU machine lacks: every package the installed lab needs, followed
through the requirements of each, is either carried as a wheel or on the machine's list of packages
already there (benchmarks/gpu_wheels.py). A dependency added to pyproject.toml without either fails here.
The wheels themselves and the offline install are proven by `benchmarks/gpu_check.sh` (docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import PackageNotFoundError, requires

from conftest import ROOT

spec = importlib.util.spec_from_file_location("gpu_wheels", ROOT / "benchmarks" / "gpu_wheels.py")
gpu_wheels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_wheels)


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _runtime_requirements(package: str) -> list[str]:
    """The names a distribution requires outside extras and outside other platforms."""
    try:
        found = requires(package) or []
    except PackageNotFoundError:
        return []
    return [_name(r) for r in found if "extra ==" not in r and "sys_platform == \"win32\"" not in r
            and "platform_system == \"Windows\"" not in r]


def test_every_runtime_dependency_is_carried_or_already_there():
    known = set(gpu_wheels.CARRIED) | set(gpu_wheels.ALREADY_THERE)
    seen, todo, missing = set(), ["the-lab"], []
    while todo:
        package = todo.pop()
        for name in _runtime_requirements(package):
            if name in seen:
                continue
            seen.add(name)
            if name not in known:
                missing.append(f"{name} (needed by {package})")
            todo.append(name)
    assert "keras" in seen and "jax" not in gpu_wheels.CARRIED
    assert not missing, f"neither carried nor on the GPU machine: {missing}"
