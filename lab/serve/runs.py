"""The runs ``lab serve`` serves: each opened once, at start, through its task's ``serve.py`` - the same
functions ``lab predict``, ``lab generate``, ``lab recommend``, ``lab sample`` and ``lab watch`` call - and
answered in plain data.

Each kind of run answers one kind of request (:data:`KINDS`); a run of another task (the autoencoder, the
first lessons, a bench) is listed with its figures only. Requests are bounded here (:data:`LIMITS`); a
request a run cannot take raises :class:`ClientError` (status 400, the message names the setting), never
anything the service would turn into a 500. Models are called from the service's worker threads; the
language model keeps a recurrent state: each generation carries its own and holds the shared network
for one token at a time (its lock), so texts interleave and an abandoned one holds nothing.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from agents.dqn.evaluate import eval_env_config, policy_overlay
from agents.dqn.serve import WatchError, load_run, maze_seeds, resize_run
from envs.maze.config import env_config
from envs.maze.env import MazeEnv, observation_space
from envs.maze.generate import MazeError
from generative.rbm.serve import open_run, recommend_for_ratings, recommend_for_user
from generative.rbm.titles import RecommendError, normalise_title
from generative.vae.serve import load_model
from lab.compare import declared_figures
from lab.errors import LabError, RunError
from lab.runs import RunDir
from lab.seeding import stream
from supervised.classifier.serve import Classifier, PredictError, prepare_image
from supervised.language_model.serve import GenerateError, TextModel, check_settings

KINDS = {
    "classifier": "predict",
    "language-model": "generate",
    "rbm": "recommend",
    "vae": "sample",
    "maze-dqn": "solve",
}
LIMITS = {
    "upload_bytes": 5 * 2**20,
    "pixels_side": 1024,
    "top": 50,
    "length": 2000,
    "generate_seconds": 30.0,
    "samples": 256,
    "latent_abs": 1000.0,
    "titles": 50,
    "maze_side": 25,
    "layout_chars": 10_000,
    "query_chars": 200,
}


class ClientError(Exception):
    """A request this run cannot take: answered with ``status`` and the message, naming the setting."""

    def __init__(self, message: str, setting: str = "", status: int = 400):
        super().__init__(message)
        self.message, self.setting, self.status = message, setting, status


class ServedRun:
    """One run folder: what ``GET /api/runs`` lists, and its opened model for its kind of request."""

    def __init__(self, path: str | Path):
        self.run = RunDir.open(path)
        if self.run.status != "complete":
            raise RunError(
                f"{self.run.path}: this run is {self.run.status or 'not finished'}; serve finished "
                f"runs (continue it with `lab run --resume {self.run.path}`)"
            )
        self.name = self.run.path.name
        self.task = str(self.run.marker().get("task", ""))
        self.kind = KINDS.get(self.task)
        self.scenario = self.run.read_scenario()
        self.summary = self.run.summary()
        self.lock = threading.Lock()
        self.model = None
        self.info: dict = {}

    def open(self) -> None:
        """Load the model its kind needs (a RunError when the run folder cannot give it)."""
        opener = OPENERS.get(self.kind)
        if opener:
            self.model, self.info = opener(self.run)

    def listing(self) -> dict:
        numbers = {
            k: v for k, v in self.summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        first = next(iter(declared_figures(self.task)), None)
        headline = {"name": first, "value": numbers[first]} if first in numbers else None
        return {
            "name": self.name,
            "task": self.task,
            "kind": self.kind,
            "title": self.scenario.get("name"),
            "description": self.scenario.get("description") or "",
            "status": self.run.status,
            "headline": headline,
            "figures": numbers,
            "info": self.info,
        }

    def needs(self, kind: str) -> None:
        if self.kind != kind:
            raise ClientError(
                f"run {self.name} is a {self.task} run; `{kind}` needs a "
                f"{next(t for t, k in KINDS.items() if k == kind)} run",
                "run",
                404,
            )


def _open_classifier(run):
    clf = Classifier.open(run.path)
    clf.predict(np.zeros((1, *clf.input_shape), np.float32))  # compile the predict step before serving
    return clf, {"classes": list(clf.classes), "input_shape": list(clf.input_shape)}


def _open_text(run):

    model = TextModel.open(run.path)
    return model, {"level": model.level, "prompt": str(model.meta.get("prompt", "\n"))}


def _open_recommender(run):

    rec = open_run(run.path)
    scale = [float(rec.ratings.scale[0]), float(rec.ratings.scale[-1])]
    return rec, {
        "dataset": str(rec.meta.get("dataset", rec.ratings.name)),
        "n_items": int(rec.ratings.n_items),
        "scale": scale,
        "orientation": rec.orientation,
    }


def _open_vae(run):

    model = load_model(run)
    return model, {"latent_size": int(model.latent_size)}


def _open_agent(run):

    cfg, agent = load_run(run.path)
    return (cfg, agent), {
        "random_mazes": not cfg.env.has_layout and cfg.env.mazes == "random",
        "width": cfg.env.width,
        "height": cfg.env.height,
    }


OPENERS = {
    "predict": _open_classifier,
    "generate": _open_text,
    "recommend": _open_recommender,
    "sample": _open_vae,
    "solve": _open_agent,
}


# --------------------------------------------------------------------------------------------------
# predict


def predict(
    served: ServedRun, *, image: bytes | None = None, pixels=None, top: int = 3, invert="auto"
) -> dict:
    """Class probabilities of one picture (the bytes of an image file, or pixels 0-255 as nested lists)."""

    served.needs("predict")
    clf = served.model
    if image is not None and len(image) > LIMITS["upload_bytes"]:
        raise ClientError(
            f"the file has {len(image):,} bytes; at most {LIMITS['upload_bytes']:,}", "file", 413
        )
    source = image if image is not None else _pixel_array(pixels)
    top = _bounded("top", top, 1, clf.n_classes)
    try:
        x, notes = prepare_image(source, clf.input_shape, invert)
    except PredictError as exc:
        raise ClientError(_scrub(served, exc), exc.setting) from None
    probs = clf.predict(x[None])[0]
    return {
        "classes": list(clf.classes),
        "top": clf.top(probs, top),
        "probabilities": [round(float(p), 6) for p in probs],
        "notes": notes,
    }


def _pixel_array(pixels) -> np.ndarray:
    try:
        a = np.asarray(pixels, dtype=np.float64)
    except (ValueError, TypeError):
        raise ClientError("pixels must be rows of numbers of equal length (0-255)", "pixels") from None
    side = LIMITS["pixels_side"]
    if (
        a.ndim not in (2, 3)
        or a.size == 0
        or max(a.shape[:2]) > side
        or (a.ndim == 3 and a.shape[2] not in (1, 3, 4))
    ):
        raise ClientError(
            f"pixels of shape {list(a.shape)}: give H rows of W values (or W [r, g, b] triples), "
            f"H and W at most {side}",
            "pixels",
        )
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 255:
        raise ClientError("pixels must be numbers from 0 to 255", "pixels")
    return a.astype(np.float32)


def _scrub(served: ServedRun, exc: Exception) -> str:
    """A task's message for a client: the run's folder named as the client knows it, not by its path here."""
    return str(exc).replace(str(served.run.path), served.name)


def _bounded(setting: str, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ClientError(f"{setting} {value!r}: give {low} to {high}", setting)
    return value


# --------------------------------------------------------------------------------------------------
# generate


def generation(
    served: ServedRun, prompt: str | None, length: int, temperature: float, top_k: int | None, seed: int
) -> Iterator[dict]:
    """The tokens of one generation as they are sampled, then ``{"done": {...}}``. Settings and the prompt
    are checked before the first token (a ClientError); each generation keeps its own recurrent state
    (:func:`_tokens`), and sampling stops at :data:`LIMITS` ``generate_seconds`` (``cut``)."""

    served.needs("generate")
    _bounded("length", length, 1, LIMITS["length"])
    try:
        check_settings(length, temperature, top_k, seed)
        served.model.prompt(prompt)
    except GenerateError as exc:
        raise ClientError(_scrub(served, exc), exc.setting) from None
    return _tokens(served, prompt, length, temperature, top_k, seed)


def _tokens(served, prompt, length, temperature, top_k, seed) -> Iterator[dict]:
    """The same tokens as ``TextModel.stream``, but each generation keeps its own recurrent state
    (``TextSampler.snapshot``/``restore``) and holds the shared network only for one token at a time: texts
    interleave, and one whose client went away holds nothing."""
    model = served.model
    sampler, vocab, k = model.sampler, model.sampler.vocab, model.top_k(top_k)
    read, rng = model.prompt(prompt), stream(seed, "sampling")
    t0, n, cut = time.monotonic(), 0, False
    with served.lock:
        sampler.reset()
        sampler.begin(read["text"])
        sampler.feed(read["ids"])
        mine = sampler.snapshot()
    for _ in range(length):
        with served.lock:
            sampler.restore(mine)
            token, logprob = sampler.sample(temperature, k, rng)
            piece = sampler.text_of(token)
            mine = sampler.snapshot()
        yield {"text": piece, "token": vocab.token(token), "logprob": logprob}
        n += 1
        if time.monotonic() - t0 > LIMITS["generate_seconds"]:
            cut = True
            break
    yield {"done": {"tokens": n, "seconds": round(time.monotonic() - t0, 3), "cut": cut}}


# --------------------------------------------------------------------------------------------------
# recommend


def recommend(served: ServedRun, *, user=None, ratings: dict | None = None, top: int = 10) -> dict:

    served.needs("recommend")
    top = _bounded("top", top, 1, LIMITS["top"])
    if (user is None) == (not ratings):
        raise ClientError(
            "give either `user` (an id of the run's data) or `ratings` (title -> stars)", "user"
        )
    try:
        if user is not None:
            return recommend_for_user(served.model, str(user), top)
        return recommend_for_ratings(served.model, {str(k): v for k, v in ratings.items()}, top)
    except RecommendError as exc:
        raise ClientError(_scrub(served, exc), "user" if user is not None else "ratings") from None


def titles(served: ServedRun, query: str, limit: int = 20) -> dict:
    """Titles containing ``query`` (case and accents ignored), the most rated first."""

    served.needs("recommend")
    limit = _bounded("limit", limit, 1, LIMITS["titles"])
    if len(query) > LIMITS["query_chars"]:
        raise ClientError(f"q has {len(query)} characters; at most {LIMITS['query_chars']}", "q")
    index, r = served.model.titles, served.model.ratings
    q = normalise_title(query)
    hits = [i for i, t in enumerate(index.norm) if q in t] if q else list(range(r.n_items))
    hits.sort(key=lambda i: -index.popularity[i])
    return {"titles": [{"item_id": int(r.item_ids[i]), "title": r.display_title(i)} for i in hits[:limit]]}


# --------------------------------------------------------------------------------------------------
# sample


def sample(served: ServedRun, *, n: int = 16, seed: int = 0, temperature: float = 1.0, latents=None) -> dict:
    """Digits from the VAE's prior (``n``, ``seed``, ``temperature``) or decoded from given ``latents``."""

    served.needs("sample")
    model = served.model
    d = int(model.latent_size)
    if latents is not None:
        codes = _codes(latents, d)
    else:
        n = _bounded("n", n, 1, LIMITS["samples"])
        temperature = _bounded("temperature", temperature, 0.01, 3.0)
        codes = model.sample_latent(int(n), stream(int(seed), "serve-samples"), float(temperature))
    pixels = model.decode(codes)
    return {"latent_size": d, "codes": np.round(codes, 5).tolist(), "images": [_png(p) for p in pixels]}


def _codes(latents, d: int) -> np.ndarray:
    try:
        z = np.asarray(latents, dtype=np.float64)
    except (ValueError, TypeError):
        raise ClientError(f"latents must be lists of {d} numbers", "latents") from None
    if z.ndim != 2 or z.shape[1] != d or not 1 <= len(z) <= LIMITS["samples"]:
        raise ClientError(
            f"latents of shape {list(z.shape)}: give 1 to {LIMITS['samples']} codes of {d} numbers "
            f"(this run's latent size)",
            "latents",
        )
    if not np.isfinite(z).all() or np.abs(z).max() > LIMITS["latent_abs"]:
        raise ClientError(
            f"latent values must be finite numbers within +-{LIMITS['latent_abs']:g}", "latents"
        )
    return z.astype(np.float32)


def _png(pixels: np.ndarray) -> str:
    img = Image.fromarray((np.clip(pixels.reshape(28, 28), 0, 1) * 255).astype(np.uint8), mode="L")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------------
# solve


def solve(
    served: ServedRun,
    *,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    layout: str | None = None,
) -> dict:
    """The agent's greedy walk on a maze: the run's own; maze ``seed`` of the given size (random-maze runs);
    or a ``layout`` ('#' wall, '.' floor, 'S', 'G'); with its max-Q and greedy action on every tile and the
    optimal length."""
    served.needs("solve")
    cfg, agent = served.model
    random = served.info["random_mazes"]
    if layout is not None:
        if seed is not None or width is not None or height is not None:
            raise ClientError("give a layout, or a seed and size, not both", "layout")
        cfg, agent = _on_layout(served, cfg, agent, layout)
        return walk(cfg, agent, None)
    if not random and (seed is not None or width is not None or height is not None):
        raise ClientError("this run plays one fixed maze: send {} (no seed or size), or a layout", "seed")
    if width is not None or height is not None:
        side = LIMITS["maze_side"]
        size = (
            _bounded("width", width or cfg.env.width, 2, side),
            _bounded("height", height or cfg.env.height, 2, side),
        )
        try:
            cfg, agent = resize_run(cfg, agent, size)
        except WatchError as exc:
            raise ClientError(_scrub(served, exc), exc.setting) from None
    if random and seed is None:
        seed = maze_seeds(cfg, 1)[0]  # the run's first evaluation maze (never seen in training)
    return walk(cfg, agent, seed)


def _on_layout(served: ServedRun, cfg, agent, layout: str):
    """(scenario playing ``layout``, the agent for its grid); a ClientError naming what is wrong with it."""
    if len(layout) > LIMITS["layout_chars"]:
        raise ClientError(
            f"the layout has {len(layout):,} characters; at most {LIMITS['layout_chars']:,}", "layout"
        )
    try:
        env = env_config(
            cfg.env.model_dump(), source="layout", layout=layout, layout_file=None, mazes="fixed"
        )
        agent = agent.resized(observation_space(env).shape)
    except MazeError as exc:
        raise ClientError("; ".join(exc.problems) or str(exc), "layout") from None
    except ValueError as exc:
        raise ClientError(_scrub(served, exc), "layout") from None
    return cfg.model_copy(update={"env": env}), agent


def walk(cfg, agent, seed: int | None) -> dict:

    env = MazeEnv(eval_env_config(cfg.env))
    try:
        if seed is not None:
            _bounded("seed", seed, 0, 2**31 - 1)
        obs, info = env.reset(seed=0, options=None if seed is None else {"maze_seed": int(seed)})
        values, actions = policy_overlay(agent, env)
        maze, path = env.unwrapped.maze, [list(env.unwrapped.agent_pos)]
        policy = agent.greedy_policy()
        memoryless = getattr(policy, "memoryless", True)
        terminated = truncated = False
        while not (terminated or truncated):
            obs, _, terminated, truncated, _ = env.step(int(policy(obs[None])[0]))
            path.append(list(env.unwrapped.agent_pos))
            if memoryless and not terminated and path[-1] in path[:-1]:
                break  # a memoryless greedy policy depends on the tile only: a tile seen again is a loop
    finally:
        env.close()
    q = [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in values]
    return {
        "maze": {
            "rows": int(maze.shape[0]),
            "cols": int(maze.shape[1]),
            "walls": maze.walls.tolist(),
            "start": list(maze.start),
            "goal": list(maze.goal),
            "seed": seed,
        },
        "path": path,
        "success": bool(terminated),
        "steps": len(path) - 1,
        "optimal": int(info["optimal_length"]),
        "q_max": q,
        "actions": actions.tolist(),
    }


def open_all(paths) -> list[ServedRun]:
    """Every run given, opened (a LabError naming the first that cannot be served); names must differ."""
    runs: dict[str, ServedRun] = {}
    for path in paths:
        served = ServedRun(path)
        if served.name in runs:
            raise LabError(
                f"two runs are named {served.name}: {runs[served.name].run.path} and {served.run.path}; "
                f"the API names a run by its folder's name"
            )
        served.open()
        runs[served.name] = served
    return list(runs.values())
