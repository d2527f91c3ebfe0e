"""What ``lab sample`` (and a future web service) asks of a VAE run: open its model and its test digits, then
prior samples, interpolations, traversals, the 2-D manifold, the latent scatter and reconstructions.

A run is a :class:`lab.runs.RunDir` (``RunDir.open(path)``, checked with ``require_task("vae")``);
:func:`load_model` and :func:`load_test_digits` read what the answers need from it. Then two layers, both
with plain arguments (counts, paths, ``(kind, value)`` endpoints, dimension pairs):

- *data*: :func:`prior_samples`, :func:`traversal`, :func:`manifold`, :func:`interpolation`,
  :func:`reconstructions` return pixel probabilities as numpy arrays (``(..., 784)``);
  :func:`latent_scatter` returns 2-D coordinates, labels and what the axes are;
- *pictures*: ``save_*`` write one PNG each and return its path; the layout of the digit grids is
  :mod:`lab.images`' (28-pixel tiles, 2-pixel gaps, integer scale).

A request the model or the run's test digits cannot satisfy raises :class:`ExploreError`, which names the
setting it is about (``interpolation``, ``manifold``, ``manifold dimensions``, ``picture file``) so that a
caller such as ``lab sample`` can say which of its options to change. Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from generative.vae.model import VAE, binary_test_digits, load_vae
from generative.vae.train import CHECKPOINT, FINAL_MODEL, SAMPLES_STREAM
from lab import images, scenario
from lab.checkpoints import CheckpointStore
from lab.data.mnist import flat, load_mnist
from lab.errors import DataError, RunError
from lab.loop import MODEL_PART
from lab.plots import pyplot
from lab.runs import atomic_path
from lab.seeding import stream

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


# --------------------------------------------------------------------------------------------------
# Opening a run


def run_model(run) -> tuple[Path | None, dict]:
    """``(path of the model to explore, the recorded loop state's extra)`` of a VAE run folder: the
    trained model (``artifacts/vae.keras``) of a finished run, else the last checkpoint's of one still
    training or interrupted; ``(None, {})`` before the first checkpoint."""
    store = CheckpointStore(run.checkpoints, CHECKPOINT)
    checkpoint = store.load()
    extra = checkpoint[0].get("extra") if checkpoint else {}
    if not isinstance(extra, dict) or not isinstance(extra.get("data_path", ""), (str, type(None))):
        raise RunError(f"{store.manifest}: corrupt checkpoint manifest (its loop state's extra is not what a "
                       "vae run writes)")
    extra = dict(extra or {})
    final = run.artifacts / FINAL_MODEL
    if final.exists():
        return final, extra
    return (checkpoint[1].get(MODEL_PART) if checkpoint else None), extra


def load_model(run) -> VAE:
    """The trained model of a finished run, or the last checkpoint's of a run still training."""
    path, _ = run_model(run)
    if path is None:
        raise RunError(f"{run.path}: no model yet (the first checkpoint is written after the first epoch); "
                       f"let the run train, or continue it with `lab run --resume {run.path}`")
    try:
        return load_vae(path, compile=False)
    except (ValueError, OSError, TypeError, KeyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"{path}: cannot load the model: {first}") from None


def load_test_digits(run) -> TestDigits:
    """The run's test digits, from its data.path (or, if that relative path is not found from here, the
    absolute path recorded at training time), binarised as the run binarised them."""
    cfg = scenario.validate(run.read_scenario(), str(run.scenario_path))
    path = cfg.data.path
    recorded = run_model(run)[1].get("data_path")
    if path is not None and not Path(path).expanduser().exists() and recorded and Path(recorded).exists():
        path = recorded
    try:
        data = load_mnist(path).limit(cfg.data.train_limit, cfg.data.test_limit)
    except DataError as exc:
        raise DataError(f"the test digits of {run.path} are not available: {exc.message}",
                        exc.problems) from None
    grey = flat(data.x_test)
    return TestDigits(grey, binary_test_digits(grey, cfg.data.binarize, cfg.seed), data.y_test)


# --------------------------------------------------------------------------------------------------
# Plain data: pixel probabilities and coordinates


def prior_samples(model: VAE, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """``n`` digits (n, 784) decoded from codes of the model's prior (the stream a run of ``seed`` drew its
    samples.png from), standard deviations scaled by ``temperature``."""
    return model.sample(n, stream(seed, SAMPLES_STREAM), temperature)


def traversal(model: VAE, steps: int, span: float) -> np.ndarray:
    """(latent, steps, 784): row d sweeps latent dimension d from -span to span, the others held at 0."""
    latent = model.latent_size
    values = np.linspace(-span, span, steps, dtype=np.float32)
    z = np.zeros((latent, steps, latent), np.float32)
    for d in range(latent):
        z[d, :, d] = values
    return model.decode(z.reshape(-1, latent)).reshape(latent, steps, 784)


def manifold_dims(latent: int, dims: tuple[int, int] | None) -> tuple[int, int]:
    """The two latent dimensions a manifold is drawn over: ``dims`` checked against a latent of size
    ``latent``, or (0, 1) when ``dims`` is None and the latent has exactly two."""
    if latent < 2:
        raise ExploreError("manifold", "needs a latent of at least 2 dimensions; this model's latent has "
                           f"{latent}")
    if dims is None:
        if latent == 2:
            return 0, 1
        raise ExploreError("manifold dimensions", f"this model's latent has {latent} dimensions: choose the "
                           f"two to draw (two of 0 ... {latent - 1}, e.g. 0 1)")
    i, j = dims
    for d in (i, j):
        if not 0 <= d < latent:
            raise ExploreError("manifold dimensions", f"dimension {d} is out of range (the latent has "
                               f"dimensions 0 ... {latent - 1})")
    if i == j:
        raise ExploreError("manifold dimensions", f"{i} and {j} are the same dimension: choose two different "
                           "dimensions")
    return i, j


def manifold(model: VAE, dims: tuple[int, int], steps: int) -> np.ndarray:
    """(steps, steps, 784): codes placed through the Gaussian inverse CDF (quantiles 0.05 ... 0.95) over the
    checked ``dims`` (:func:`manifold_dims`), the others 0. Rows go from high to low values of dimension
    ``dims[1]``, columns from low to high of ``dims[0]``."""
    quantiles = np.linspace(0.05, 0.95, steps)
    values = np.array([NormalDist().inv_cdf(float(q)) for q in quantiles], np.float32)
    z = np.zeros((steps, steps, model.latent_size), np.float32)
    for r, vy in enumerate(values[::-1]):
        z[r, :, dims[0]] = values
        z[r, :, dims[1]] = vy
    return model.decode(z.reshape(-1, model.latent_size)).reshape(steps, steps, 784)


def _endpoint_code(model: VAE, test: TestDigits, kind: str, value: int) -> np.ndarray:
    n = len(test.grey)
    if kind == "index":
        if not 0 <= value < n:
            raise ExploreError("interpolation", f"test index {value} is out of range: the run's test set has "
                               f"{n} digits (0 ... {n - 1})")
        return model.encode(test.encoded[value:value + 1])[0][0]
    members = np.flatnonzero(test.labels == value)
    if members.size == 0:
        raise ExploreError("interpolation", f"no test digit of class {value} in the run's {n} test digits")
    return model.encode(test.encoded[members])[0].mean(0)


def interpolation(model: VAE, test: TestDigits, endpoints, steps: int) -> np.ndarray:
    """(steps, 784): digits along the line between two codes; each endpoint is ``("index", i)`` (the latent
    mean of test digit i) or ``("class", c)`` (the average latent mean of the test digits of class c)."""
    a, b = (_endpoint_code(model, test, kind, value) for kind, value in endpoints)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return model.decode((1 - t) * a + t * b)


def reconstructions(model: VAE, test: TestDigits, n: int) -> np.ndarray:
    """(min(n, test digits), 2, 784): the first test digits (grey) and their reconstructions through the
    mean of q(z|x)."""
    n = min(n, len(test.grey))
    rec = model.decode(model.encode(test.encoded[:n])[0])
    return np.stack([test.grey[:n], rec], 1)


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


def latent_scatter(model: VAE, test: TestDigits) -> tuple[np.ndarray, np.ndarray, str]:
    """(coordinates (N, 2), labels (N,), what the axes are) of the test digits' latent means. A 1-D latent
    is drawn against the class (jittered by the stream ``scatter-jitter``)."""
    z, what = scatter_coordinates(model.encode(test.encoded)[0])
    if model.latent_size == 1:
        z[:, 1] = test.labels + stream(0, "scatter-jitter").uniform(-0.3, 0.3, len(z))
    return z, test.labels, what


# --------------------------------------------------------------------------------------------------
# Pictures


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


def write_grid(pixels: np.ndarray, path: Path, rows: int, cols: int, scale: int = 2) -> Path:
    """Digits (..., 784) tiled ``rows`` x ``cols`` and written as a PNG; an ExploreError when it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return images.save_png(images.tile(pixels, rows, cols, scale), path)
    except OSError as exc:  # a file where a folder should be, no permission, a full disk ...
        raise _cannot_write(path, exc) from None


def save_prior(model: VAE, path: Path, n: int, seed: int, temperature: float, scale: int = 2) -> Path:
    """A square grid of :func:`prior_samples`."""
    rows, cols = images.square_shape(n)
    return write_grid(prior_samples(model, n, seed, temperature), path, rows, cols, scale)


def save_traversal(model: VAE, path: Path, steps: int, span: float, scale: int = 2) -> Path:
    """One row per latent dimension (:func:`traversal`)."""
    return write_grid(traversal(model, steps, span), path, model.latent_size, steps, scale)


def save_manifold(model: VAE, path: Path, dims: tuple[int, int], steps: int, scale: int = 2) -> Path:
    """The ``steps`` x ``steps`` grid of :func:`manifold`."""
    return write_grid(manifold(model, dims, steps), path, steps, steps, scale)


def save_interpolation(model: VAE, test: TestDigits, path: Path, endpoints, steps: int,
                       scale: int = 2) -> Path:
    """A strip of :func:`interpolation`."""
    return write_grid(interpolation(model, test, endpoints, steps), path, 1, steps, scale)


def save_reconstructions(model: VAE, test: TestDigits, path: Path, n: int, scale: int = 2) -> Path:
    """Pairs of :func:`reconstructions`, 8 a row (fewer than 8: one row)."""
    pairs = reconstructions(model, test, n)
    cols = 16 if len(pairs) >= 8 else 2 * len(pairs)
    return write_grid(pairs.reshape(-1, 784), path, -(-len(pairs) // 8), cols, scale)


def save_scatter(model: VAE, test: TestDigits, path: Path) -> Path:
    """:func:`latent_scatter` drawn coloured by class, 600 x 600 pixels."""
    z, labels, what = latent_scatter(model, test)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(SCATTER_INCHES, SCATTER_INCHES), dpi=SCATTER_DPI)
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=6, alpha=0.8)
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
