"""``lab sample RUN``: digits from a VAE run's decoder, and views of its latent space."""

from __future__ import annotations

import math
import re
from pathlib import Path

from lab import registry
from lab.errors import RunError, UsageError
from lab.runs import RunDir

USES_TENSORFLOW = True
DESCRIPTION = """Draw pictures from a finished (or checkpointed) `vae` run and print the path of the PNG
written.

Modes (one at a time; default: samples from the prior):
  (none)             -n digits decoded from codes drawn from the run's prior as a square grid (--seed,
                     --temperature T): z ~ N(0, T^2 I) for the standard prior; for a learned mixture
                     prior (mog, vamp), a component drawn by its weight and its spread scaled by T
  --interpolate A B  a strip of --steps digits decoded along the straight line between two latent codes.
                     A and B are test-digit indices (e.g. 17 42: the means of q(z|x) of those digits)
                     or digit classes written cN (e.g. c3 c8: the average latent mean of all test
                     digits of that class); the two kinds can be mixed (17 c8)
  --traverse         one row per latent dimension: that dimension swept from -R to R (--range R),
                     the others held at 0, --steps columns
  --manifold         the decoded 2-D grid of --steps x --steps codes placed through the Gaussian
                     inverse CDF (quantiles 0.05 ... 0.95); needs a latent of size 2, or two dimensions
                     chosen with --dims I J (the others held at 0)
  --scatter          the test digits' latent means coloured by class (first two principal components
                     when the latent has more than 2 dimensions)
  --reconstruct      -n test digits beside their reconstructions (pairs, 8 per row)

Grids use 28-pixel tiles with 2-pixel gaps, scaled by --scale. Pictures go to RUN/artifacts/samples/
unless --out says otherwise. Modes that need test digits read them from the run's data.path."""

MODES = ("interpolate", "traverse", "manifold", "scatter", "reconstruct")
FLAGS = {"interpolation": "--interpolate", "manifold": "--manifold", "manifold dimensions": "--dims"}


def add_arguments(p):
    p.add_argument("run", help="a vae run folder (runs/<time>-<name>)")
    p.add_argument("-n", "--num", type=int, default=64,
                   help="prior samples, or digits to reconstruct (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prior samples (default 0)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="scale of the prior's standard deviations for samples (default 1.0)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--interpolate", nargs=2, metavar=("A", "B"),
                      help="interpolate between two test digits (indices) or classes (c0-c9)")
    mode.add_argument("--traverse", action="store_true", help="sweep each latent dimension in turn")
    mode.add_argument("--manifold", action="store_true", help="decode a 2-D grid of latent codes")
    mode.add_argument("--scatter", action="store_true", help="plot the test digits' latent means by class")
    mode.add_argument("--reconstruct", action="store_true", help="test digits beside their reconstructions")
    p.add_argument("--dims", nargs=2, type=int, metavar=("I", "J"), help="latent dimensions of --manifold")
    p.add_argument("--steps", type=int, help="digits per strip or per grid side (default: 10 interpolate, "
                   "11 traverse, 15 manifold)")
    p.add_argument("--range", dest="span", type=float, default=3.0,
                   help="--traverse sweeps from -R to R (default 3)")
    p.add_argument("--scale", type=int, default=2, help="integer pixel scale of the grids (default 2)")
    p.add_argument("--out", help="PNG file to write (default: RUN/artifacts/samples/<mode>...png)")


MAX_TEMPERATURE = 10.0  # as the scenario's sampling.temperature
MAX_RANGE = 100.0


def _check_args(args, mode: str):
    if args.num < 1 or args.num > 10_000:
        raise UsageError(f"-n must be between 1 and 10000 (got {args.num})")
    if not 0 <= args.seed <= 2**32 - 1:
        raise UsageError(f"--seed must be between 0 and 4294967295 (got {args.seed})")
    if not (math.isfinite(args.temperature) and 0 < args.temperature <= MAX_TEMPERATURE):
        raise UsageError(f"--temperature must be positive and at most {MAX_TEMPERATURE:g} "
                         f"(got {args.temperature:g}); 1 draws from the prior as trained, below 1 nearer its "
                         "centre")
    if args.scale < 1 or args.scale > 16:
        raise UsageError(f"--scale must be between 1 and 16 (got {args.scale})")
    if args.steps is not None and (args.steps < 2 or args.steps > 100):
        raise UsageError(f"--steps must be between 2 and 100 (got {args.steps})")
    if args.dims is not None and mode != "manifold":
        raise UsageError("--dims only applies to --manifold")
    if not (math.isfinite(args.span) and 0 < args.span <= MAX_RANGE):
        raise UsageError(f"--range must be positive and at most {MAX_RANGE:g} (got {args.span:g}); the "
                         "latent's prior has its mass within about 3")
    if args.dims is not None and any(not 0 <= d < 100_000 for d in args.dims):
        raise UsageError(f"--dims {args.dims[0]} {args.dims[1]}: latent dimensions are numbered from 0")
    if args.out:
        _check_out(Path(args.out))


def _check_out(path: Path) -> None:
    """--out must be a PNG file name whose folder is (or can become) a folder: said before the model loads."""
    if path.suffix.lower() != ".png":
        raise UsageError(f"--out {path}: the picture is a PNG; give a path ending in .png")
    if "\x00" in str(path):
        raise UsageError(f"--out {path!r}: a file name cannot hold a NUL character")
    if path.is_dir():
        raise UsageError(f"--out {path}: is a folder; give the PNG file to write, e.g. "
                         f"{path / 'samples.png'}")
    if path.exists() and not path.is_file():
        raise UsageError(f"--out {path}: exists and is not a regular file; give a new PNG file name")
    for parent in path.parents:  # the nearest part of the path that exists must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--out {path}: {parent} is a file, not a folder, so nothing can be written "
                                 "under it")
            break


def parse_endpoint(text: str):
    """``'17'`` -> ("index", 17); ``'c3'`` -> ("class", 3)."""
    m = re.fullmatch(r"\s*(c?)(\d{1,18})\s*", text, flags=re.IGNORECASE)
    if not m:
        raise UsageError(f"--interpolate {text!r}: give a test-digit index (e.g. 17) or a digit class "
                         "(c0 ... c9)")
    kind, value = ("class" if m.group(1) else "index"), int(m.group(2))
    if kind == "class" and value > 9:
        raise UsageError(f"--interpolate {text!r}: digit classes are c0 ... c9")
    return kind, value


def main(args) -> int:
    mode = next((m for m in MODES if getattr(args, m)), "prior")
    _check_args(args, mode)
    endpoints = [parse_endpoint(t) for t in args.interpolate] if mode == "interpolate" else None
    run = RunDir.open(args.run)  # a wrong folder is said before TensorFlow loads
    run.require_task("vae", command="lab sample")

    serve = registry.serve("vae")
    try:
        print(_draw(serve, run, args, mode, endpoints))
    except serve.ExploreError as exc:  # the same complaint, worded with the option to change
        if exc.setting == "picture file":  # cannot be written: the user's --out, or the run folder's samples/
            if args.out:
                raise UsageError(f"--out {exc.detail}") from None
            raise RunError(exc.detail) from None
        raise UsageError(f"{FLAGS.get(exc.setting, exc.setting)}: {exc.detail}") from None
    return 0


def _draw(serve, run, args, mode: str, endpoints) -> Path:
    """Write the picture the options ask for (through the vae task's serve module); returns its path."""
    model = serve.load_model(run)
    dims = serve.manifold_dims(model.latent_size, args.dims) if mode == "manifold" else None
    if args.out:
        path = Path(args.out)
    else:
        path = serve.default_path(run, mode, n=args.num, seed=args.seed, temperature=args.temperature,
                                  endpoints=endpoints, dims=dims if args.dims else None)
    if mode == "prior":
        return serve.save_prior(model, path, args.num, args.seed, args.temperature, args.scale)
    if mode == "traverse":
        return serve.save_traversal(model, path, args.steps or 11, args.span, args.scale)
    if mode == "manifold":
        return serve.save_manifold(model, path, dims, args.steps or 15, args.scale)
    test = serve.load_test_digits(run)
    if mode == "interpolate":
        return serve.save_interpolation(model, test, path, endpoints, args.steps or 10, args.scale)
    if mode == "scatter":
        return serve.save_scatter(model, test, path)
    return serve.save_reconstructions(model, test, path, args.num, args.scale)
