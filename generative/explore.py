"""What ``lab sample`` draws from a VAE run: prior samples, interpolations, traversals, the 2-D manifold,
the latent scatter and reconstructions. Each function writes one PNG and returns its path; the layout of the
digit grids is :mod:`generative.images`' (28-pixel tiles, 2-pixel gaps, integer scale).

Everything takes plain values (counts, paths, ``(kind, value)`` endpoints, dimension pairs). A request the
model or the run's test digits cannot satisfy raises :class:`ExploreError`, which names the setting it is
about (``interpolation``, ``manifold``, ``manifold dimensions``) so that a caller such as ``lab sample``
can say which of its options to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from generative import images as img
from lab.errors import DataError, RunError
from lab.runs import atomic_path

SCATTER_INCHES, SCATTER_DPI = 6, 100  # the scatter plot is 600 x 600 pixels


class ExploreError(ValueError):
    """A picture this model or these test digits cannot give. ``setting`` names what was asked for
    (``"interpolation"``, ``"manifold"``, ``"manifold dimensions"``, or ``"picture file"`` when the PNG cannot
    be written), ``detail`` says what is wrong."""

    def __init__(self, setting: str, detail: str):
        super().__init__(f"{setting}: {detail}")
        self.setting = setting
        self.detail = detail


@dataclass
class TestDigits:
    grey: np.ndarray  # (N, 784) in [0, 1]
    encoded: np.ndarray  # what the encoder sees: the run's binarisation of the grey digits
    labels: np.ndarray


def load_run_model(run):
    """The trained model of a finished run, or the last checkpoint's of a run still training."""
    from generative.vae import load_vae, run_model

    path, _ = run_model(run)
    if path is None:
        raise RunError(f"{run.path}: no model yet (the first checkpoint is written after the first epoch); "
                       f"let the run train, or continue it with `lab run --resume {run.path}`")
    try:
        return load_vae(path, compile=False)
    except (ValueError, OSError, TypeError, KeyError) as exc:
        raise RunError(f"{path}: cannot load the model: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def load_run_test_digits(run) -> TestDigits:
    """The run's test digits, from its data.path (or, if that relative path is not found from here, the
    absolute path recorded at training time)."""
    from generative.data import flat
    from generative.vae import encoder_inputs, run_model
    from lab import scenario
    from lab.data.mnist import load_mnist

    cfg = scenario.validate(run.read_scenario(), str(run.scenario_path))
    path = cfg.data.path
    recorded = run_model(run)[1].get("data_path")
    if path is not None and not Path(path).expanduser().exists() and recorded and Path(recorded).exists():
        path = recorded
    try:
        data = load_mnist(path).limit(cfg.data.train_limit, cfg.data.test_limit)
    except DataError as exc:
        raise DataError(f"the test digits of {run.path} are not available: {exc.message}", exc.problems) from None
    grey = flat(data.x_test)
    return TestDigits(grey, encoder_inputs(grey, cfg.data.binarize, cfg.seed), data.y_test)


def endpoint_text(kind: str, value: int) -> str:
    """``("index", 17)`` -> ``"17"``; ``("class", 3)`` -> ``"c3"``."""
    return f"c{value}" if kind == "class" else str(value)


def default_path(run, mode: str, *, n: int = 64, seed: int = 0, temperature: float = 1.0,
                 endpoints=None, dims: tuple[int, int] | None = None) -> Path:
    """Where a picture goes unless told otherwise: ``RUN/artifacts/samples/<mode and its settings>.png``."""
    folder = run.artifacts / "samples"
    if mode == "prior":
        name = f"prior-n{n}-seed{seed}-t{temperature:g}.png"
    elif mode == "interpolate":
        name = "interpolate-" + "-".join(endpoint_text(kind, value) for kind, value in endpoints) + ".png"
    elif mode == "manifold":
        name = "manifold" + (f"-d{dims[0]}-d{dims[1]}" if dims else "") + ".png"
    elif mode == "reconstruct":
        name = f"reconstruct-n{n}.png"
    else:
        name = f"{mode}.png"
    return folder / name


def _cannot_write(path: Path, exc: OSError) -> ExploreError:
    return ExploreError("picture file", f"{path}: cannot write the picture: {exc.strerror or exc}")


def _write(array: np.ndarray, path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return img.save_png(array, path)
    except OSError as exc:  # a file where a folder should be, no permission, a full disk ...
        raise _cannot_write(path, exc) from None


def prior_grid(model, path: Path, n: int, seed: int, temperature: float, scale: int = 2) -> Path:
    rows, cols = img.square_shape(n)
    return _write(img.tile(model.sample(n, seed=seed, temperature=temperature), rows, cols, scale), path)


def traverse(model, path: Path, steps: int, span: float, scale: int = 2) -> Path:
    latent = model.latent_size
    values = np.linspace(-span, span, steps, dtype=np.float32)
    z = np.zeros((latent, steps, latent), np.float32)
    for d in range(latent):
        z[d, :, d] = values
    return _write(img.tile(model.decode(z.reshape(-1, latent)), latent, steps, scale), path)


def manifold_dims(latent: int, dims: tuple[int, int] | None) -> tuple[int, int]:
    """The two latent dimensions a manifold is drawn over: ``dims`` checked against a latent of size
    ``latent``, or (0, 1) when ``dims`` is None and the latent has exactly two."""
    if latent < 2:
        raise ExploreError("manifold", f"needs a latent of at least 2 dimensions; this model's latent has {latent}")
    if dims is None:
        if latent == 2:
            return 0, 1
        raise ExploreError("manifold dimensions", f"this model's latent has {latent} dimensions: choose the two to "
                           f"draw (two of 0 ... {latent - 1}, e.g. 0 1)")
    i, j = dims
    for d in (i, j):
        if not 0 <= d < latent:
            raise ExploreError("manifold dimensions", f"dimension {d} is out of range (the latent has dimensions "
                               f"0 ... {latent - 1})")
    if i == j:
        raise ExploreError("manifold dimensions", f"{i} and {j} are the same dimension: choose two different dimensions")
    return i, j


def manifold(model, path: Path, dims: tuple[int, int], steps: int, scale: int = 2) -> Path:
    """Rows go from high to low values of dimension ``dims[1]``, columns from low to high of ``dims[0]``."""
    quantiles = np.linspace(0.05, 0.95, steps)
    values = np.array([NormalDist().inv_cdf(float(q)) for q in quantiles], np.float32)
    z = np.zeros((steps, steps, model.latent_size), np.float32)
    for r, vy in enumerate(values[::-1]):
        z[r, :, dims[0]] = values
        z[r, :, dims[1]] = vy
    return _write(img.tile(model.decode(z.reshape(-1, model.latent_size)), steps, steps, scale), path)


def _endpoint_code(model, test: TestDigits, kind: str, value: int) -> np.ndarray:
    n = len(test.grey)
    if kind == "index":
        if not 0 <= value < n:
            raise ExploreError("interpolation", f"test index {value} is out of range: the run's test set has {n} "
                               f"digits (0 ... {n - 1})")
        return model.encode(test.encoded[value:value + 1])[0][0]
    members = np.flatnonzero(test.labels == value)
    if members.size == 0:
        raise ExploreError("interpolation", f"no test digit of class {value} in the run's {n} test digits")
    return model.encode(test.encoded[members])[0].mean(0)


def interpolate(model, test: TestDigits, path: Path, endpoints, steps: int, scale: int = 2) -> Path:
    """A strip of ``steps`` digits along the line between two codes; each endpoint is ``("index", i)`` (the
    latent mean of test digit i) or ``("class", c)`` (the average latent mean of the test digits of class c)."""
    a, b = (_endpoint_code(model, test, kind, value) for kind, value in endpoints)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return _write(img.tile(model.decode((1 - t) * a + t * b), 1, steps, scale), path)


def reconstruct(model, test: TestDigits, path: Path, n: int, scale: int = 2) -> Path:
    n = min(n, len(test.grey))
    rec = model.decode(model.encode(test.encoded[:n])[0])
    pairs = np.stack([test.grey[:n], rec], 1).reshape(-1, 784)
    cols = 16 if n >= 8 else 2 * n
    return _write(img.tile(pairs, -(-n // 8), cols, scale), path)


def scatter_coordinates(z: np.ndarray) -> tuple[np.ndarray, str]:
    """2-D coordinates of latent means: themselves (2-D), PCA (more), or (z, nothing) for a 1-D latent."""
    if z.shape[1] == 2:
        return z, "z[0] / z[1]"
    if z.shape[1] == 1:
        return np.concatenate([z, np.zeros_like(z)], 1), "z[0]"
    centred = z - z.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    share = (s[:2] ** 2).sum() / (s**2).sum()
    return centred @ vt[:2].T, f"first two principal components ({share:.0%} of the variance)"


def scatter(model, test: TestDigits, path: Path) -> Path:
    from lab.plots import pyplot

    plt = pyplot()

    z, what = scatter_coordinates(model.encode(test.encoded)[0])
    if model.latent_size == 1:
        z[:, 1] = test.labels + np.random.default_rng(0).uniform(-0.3, 0.3, len(z))
    fig, ax = plt.subplots(figsize=(SCATTER_INCHES, SCATTER_INCHES), dpi=SCATTER_DPI)
    points = ax.scatter(z[:, 0], z[:, 1], c=test.labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=6, alpha=0.8)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_title(f"latent means of {len(z)} test digits\n{what}", fontsize=9)
    fig.subplots_adjust(left=0.1, right=0.95, top=0.9, bottom=0.08)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=SCATTER_DPI, format="png")
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:
        plt.close(fig)
    return path
