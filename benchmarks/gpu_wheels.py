"""Build the folder of wheels that ``benchmarks/gpu_check.sh`` installs offline on a JAX GPU machine.

``make gpu-wheels`` runs this. The folder holds the lab's own wheel and the wheels of what the lab needs
beyond what such a machine already has (JAX, NumPy, Matplotlib, Pillow, PyYAML, tqdm, h5py, rich, ...: the
list of the GPU image the lab was checked on, ``ALREADY_THERE``): Keras and its namex and optree, Gymnasium,
pygame, pydantic, pydot. Each at the version installed in this environment (the versions the tests ran
with), for the machine's Python (``--python``, default 3.12) on manylinux x86_64. It fails when the folder
comes out over ``--limit`` MiB (default 64: what such a machine can be sent).

    python benchmarks/gpu_wheels.py --out dist/gpu-wheels [--python 3.12]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the lab needs (its dependencies and theirs) that a JAX GPU image typically lacks.
CARRIED = ("keras", "namex", "optree", "gymnasium", "farama-notifications", "pygame", "pydantic",
           "pydantic-core", "annotated-types", "typing-inspection", "pydot")
# Already on the GPU image the lab is checked on (the device's package list): not carried.
ALREADY_THERE = ("jax", "jaxlib", "numpy", "ml-dtypes", "matplotlib", "contourpy", "cycler", "fonttools",
                 "kiwisolver", "python-dateutil", "six", "pillow", "pyyaml", "tqdm", "h5py", "rich",
                 "markdown-it-py", "mdurl", "pygments", "absl-py", "packaging", "cloudpickle",
                 "typing-extensions", "pyparsing", "colorama")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")


def download(names: list[str], out: Path, python: str) -> None:
    """``pip download`` of each name at this environment's version, binary wheels for ``python``."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    pins = [f"{name}=={version(name)}" for name in names]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--python-version", python, "--implementation", "cp", *platforms, "-d", str(out), *pins],
                   check=True)


def build(out: Path, python: str, limit_mib: float) -> float:
    """Write the folder; returns its size in MiB (SystemExit when over ``limit_mib``)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(out), str(ROOT)], check=True)
    download(list(CARRIED), out, python)
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    for f in sorted(out.iterdir()):
        print(f"{f.stat().st_size / 2**20:7.2f} MiB  {f.name}")
    print(f"{size:7.2f} MiB  in all ({out})")
    if size > limit_mib:
        raise SystemExit(f"error: the wheels come to {size:.1f} MiB, over the {limit_mib:g} MiB limit")
    return size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "gpu-wheels")
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python version (default 3.12)")
    parser.add_argument("--limit", type=float, default=64.0, help="largest folder in MiB (default 64)")
    args = parser.parse_args(argv)
    build(args.out, args.python, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
