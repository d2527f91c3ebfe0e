"""The live view of ``lab run --live`` and ``lab watch --live``: the maze DQN as it learns.

Each frame shows, side by side, the current training episode of the first sub-env (the agent and its trail)
and the greedy policy on a maze (arrows on every tile, max-Q as a heatmap, the greedy route from the start
as a trail): the fixed maze, or held-out evaluation mazes in turn for random mazes, so what grows is
generalisation, not memory. Under them a strip of curves (evaluation success and path ratio, training
return, TD loss, epsilon) and a status line with the env step.

Keys (a window only): space pauses training, ``+`` / ``-`` change the frame rate, ``n`` shows another
maze, ``s`` saves the frame as ``artifacts/live-<env step>.png``, Esc or closing the window stops the
run cleanly: :meth:`agents.dqn.train.Trainer.train` saves a checkpoint and raises
:class:`lab.errors.StopRequested` (``lab run --resume`` continues it).

Cost: frames are drawn between two vector steps of the training loop, at most ``fps`` a second and never
more often than keeps their drawing under :data:`BUDGET` of the wall time (the next frame waits
``cost / BUDGET`` after one that cost ``cost``). A drawing thread would not help: on 2 cores it competes
with TensorFlow's threads and the GIL. Without a window (no display, or ``--record``) the same frames
become a time-lapse, ``artifacts/learning.gif`` (and ``.mp4`` where imageio's ffmpeg is installed).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agents.dqn.evaluate import eval_env_config
from agents.dqn.serve import write_recording
from envs.maze import render as rnd
from envs.maze.env import MazeEnv, tables_for
from lab.runs import atomic_path

BUDGET = 0.05  # the largest share of wall time that drawing may take
KEY_POLL_SECONDS = 0.05  # how often the window's keys are read
CYCLE_SECONDS = 6.0  # random mazes: another held-out maze this often
MAX_FRAMES = 120  # frames kept for the time-lapse (halved, evenly, when full)
FPS_STEPS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
PANEL_PIXELS = 300  # about the width of one maze panel
KEYS_HELP = "space pause · +/- frame rate · n next maze · s save picture · Esc stop"


class PolicyMazes:
    """The mazes the policy panel shows: the fixed one, or the held-out evaluation mazes in turn."""

    def __init__(self, cfg):
        self.seeds = cfg.eval_seeds()  # None: the fixed maze
        self.env = MazeEnv(eval_env_config(cfg.env))
        self.env.reset(seed=0)
        self.index = -1
        self.shown_at = 0.0
        self.next()

    def next(self) -> None:
        """Show the next maze (the same one when the maze is fixed)."""
        self.index += 1
        options = None if self.seeds is None else {"maze_seed": self.seeds[self.index % len(self.seeds)]}
        self.env.reset(options=options)
        self.positions, obs = self.env.cell_observations()
        # padded to one batch size for every maze: a compiled Q function is then compiled once
        pad = np.repeat(obs[:1], self.env.maze.walls.size - len(obs), axis=0)
        self.obs = np.concatenate([obs, pad])
        self.start = self.env.agent_pos
        self.shown_at = time.perf_counter()

    def maybe_cycle(self, now: float) -> None:
        if self.seeds is not None and now - self.shown_at >= CYCLE_SECONDS:
            self.next()

    @property
    def title(self) -> str:
        if self.seeds is None:
            return "the maze"
        seed = self.seeds[self.index % len(self.seeds)]
        return f"held-out maze {self.index % len(self.seeds) + 1} of {len(self.seeds)} (seed {seed})"


class TimeLapse:
    """Frames at an even interval, at most :data:`MAX_FRAMES` (every other one dropped and the interval
    doubled when full)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []  # when each kept frame was drawn
        self.next_at = 0.0

    def add(self, frame: np.ndarray, now: float) -> None:
        if now < self.next_at:
            return
        self.frames.append(frame)
        self.times.append(now)
        if len(self.frames) > MAX_FRAMES:
            self.frames, self.times = self.frames[::2], self.times[::2]
            self.interval *= 2
        self.next_at = self.times[-1] + self.interval


def greedy_route(maze, cfg, start, actions: np.ndarray) -> tuple[list[int], bool]:
    """Tiles (flat) of the route the greedy ``actions`` (on the tile grid) take from ``start``, and whether
    it reaches the goal (a wall bump or a tile seen twice ends it: the policy is deterministic)."""
    t = tables_for(maze, cfg)
    pos = start[0] * t.cols + start[1]
    route, seen = [pos], {pos}
    flat = actions.ravel()
    while pos != t.goal:
        nxt = int(t.move[pos, flat[pos]])
        if nxt in seen:
            return route, False
        route.append(nxt)
        seen.add(nxt)
        pos = nxt
    return route, True


class LiveView:
    """Draws the learning of a :class:`agents.dqn.train.Trainer`, for a window and/or a time-lapse.

    ``window``: an :class:`envs.maze.render.Window` (None: headless); ``settings``: the run's
    :class:`lab.context.LiveSettings`; ``artifacts``: the run's artifacts folder."""

    def __init__(self, cfg, settings, artifacts: Path, window=None):
        self.cfg, self.settings, self.artifacts, self.window = cfg, settings, Path(artifacts), window
        self.fps = float(settings.fps)
        self.timelapse = TimeLapse(1.0 / self.fps) if settings.record or window is None else None
        self.mazes = PolicyMazes(cfg)
        rows, cols = self.mazes.env.maze.shape
        self.painter = rnd.Painter(int(np.clip(PANEL_PIXELS // cols, 6, 32)))
        self.paused = self.stop = False
        self.frames_drawn = 0
        self.draw_seconds = 0.0
        self.last_frame: np.ndarray | None = None
        self.saved: list[Path] = []
        self._next_frame = self._next_poll = 0.0
        self._trail: list[tuple[int, int]] = []
        self._ended = False

    def warm_up(self, agent) -> None:
        """Compile the agent's Q function for the policy panel now (an XLA compile of a vin takes about a
        second), not in the middle of training."""
        agent.q_values(self.mazes.obs)

    # ---- called by the training loop ------------------------------------------------------------
    def tick(self, trainer, loop) -> bool:
        """After each vector step: follow the first env, read keys, draw when due. True: stop the run."""
        self._follow(trainer, loop)
        now = time.perf_counter()
        if self.window is not None and now >= self._next_poll:
            self._next_poll = now + KEY_POLL_SECONDS
            self.handle(self.window.events(), trainer)
        if now >= self._next_frame:
            self.draw(trainer, loop)
        while self.paused and not self.stop:
            time.sleep(KEY_POLL_SECONDS)
            self.handle(self.window.events() if self.window is not None else [], trainer)
            if time.perf_counter() >= self._next_frame:
                self.draw(trainer, loop)
        return self.stop

    def _follow(self, trainer, loop) -> None:
        if self._ended:
            self._trail.clear()
        r, c = trainer.envs.agent_pos[0]
        self._trail.append((int(r), int(c)))
        self._ended = bool(loop.resetting[0])

    def handle(self, events, trainer) -> None:
        """The window's events: keys and closing (see the module's docstring)."""
        import pygame as pg

        for event in events:
            if event.type == pg.QUIT or (event.type == pg.KEYDOWN and event.key == pg.K_ESCAPE):
                self.stop = True
            elif event.type != pg.KEYDOWN:
                continue
            elif event.key == pg.K_SPACE:
                self.paused = not self.paused
                self._next_frame = 0.0  # show "paused" at once
            elif event.key in (pg.K_PLUS, pg.K_EQUALS, pg.K_KP_PLUS) or event.unicode == "+":
                self.fps = next((f for f in FPS_STEPS if f > self.fps), FPS_STEPS[-1])
            elif event.key in (pg.K_MINUS, pg.K_KP_MINUS) or event.unicode == "-":
                self.fps = next((f for f in reversed(FPS_STEPS) if f < self.fps), FPS_STEPS[0])
            elif event.key == pg.K_n:
                self.mazes.next()
                self._next_frame = 0.0
            elif event.key == pg.K_s and self.last_frame is not None:
                self.save_picture(trainer.env_steps)

    def save_picture(self, env_steps: int) -> Path:
        path = self.artifacts / f"live-{env_steps}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(self.last_frame).save(tmp, format="PNG")
        self.saved.append(path)
        return path

    # ---- drawing ------------------------------------------------------------------------------
    def draw(self, trainer, loop) -> None:
        t0 = time.perf_counter()
        self.mazes.maybe_cycle(t0)
        frame = self.compose(trainer, loop)
        self.last_frame = frame
        if self.window is not None:
            self.window.show(frame, drain_events=False, wait=False)
            self.stop |= self.window.closed_by_user
        if self.timelapse is not None:
            self.timelapse.add(frame, t0)
        cost = time.perf_counter() - t0
        self.frames_drawn += 1
        self.draw_seconds += cost
        interval = 1.0 / self.fps if self.window is not None else self.timelapse.interval
        self._next_frame = t0 + max(interval, cost / BUDGET)

    def compose(self, trainer, loop) -> np.ndarray:
        """The whole frame: the two maze panels, the curves and the status line."""
        left = self._training_panel(trainer)
        right = self._policy_panel(trainer.agent)
        height = max(left.shape[0], right.shape[0])
        gap = np.full((height, 8, 3), rnd.CAPTION_BG, dtype=np.uint8)
        top = np.concatenate([_pad_to(left, height), gap, _pad_to(right, height)], axis=1)
        width = top.shape[1]
        curves = curve_strip(trainer.history, width)
        return np.concatenate([top, curves, rnd.caption_bar(self._status(trainer, loop), width)], axis=0)

    def _training_panel(self, trainer) -> np.ndarray:
        maze = trainer.envs.mazes[0]
        n = trainer.cfg.training.num_envs
        caption = f"training: env 1 of {n}, step {max(0, len(self._trail) - 1)} of its episode"
        agent = self._trail[-1] if self._trail else tuple(trainer.envs.agent_pos[0])  # (before any tick)
        return self.painter.frame(maze, agent, self._trail, caption=caption)

    def _policy_panel(self, agent) -> np.ndarray:
        m = self.mazes
        maze = m.env.maze
        q = agent.q_values(m.obs)[:len(m.positions)]
        values = np.full(maze.shape, np.nan)
        actions = np.full(maze.shape, -1, dtype=np.int64)
        rr, cc = m.positions[:, 0], m.positions[:, 1]
        values[rr, cc] = q.max(axis=1)
        actions[rr, cc] = q.argmax(axis=1)
        route, solved = greedy_route(maze, m.env.config, m.start, actions)
        cols = maze.shape[1]
        trail = [(p // cols, p % cols) for p in route]
        optimal = maze.distance[m.start]
        verdict = (f"greedy route: goal in {len(route) - 1} moves (optimal {optimal})" if solved
                   else "greedy route: does not reach the goal")
        return self.painter.frame(maze, m.start, trail, values, actions, f"{m.title}\n{verdict}")

    def _status(self, trainer, loop) -> str:
        t = trainer.cfg.training
        state = "PAUSED · " if self.paused else ""
        speed = trainer.env_steps / max(loop.seconds(), 1e-9)
        keys = f" · {KEYS_HELP}" if self.window is not None else ""
        return (f"{state}env step {trainer.env_steps:,} of {t.env_steps:,} · episodes {trainer.episodes:,} · "
                f"epsilon {loop.epsilon:.3f} · {speed:,.0f} env steps/s · {self.fps:g} fps{keys}")

    # ---- the end ------------------------------------------------------------------------------
    def summary(self, loop) -> str:
        """One line: where the frames went and what drawing them cost."""
        where = "in a window" if self.window is not None else "headless"
        share = self.draw_seconds / max(loop.seconds(), 1e-9)
        return (f"live view: {self.frames_drawn} frames drawn {where}, {self.draw_seconds:.2f} s of drawing "
                f"({share:.1%} of the training time)")

    def finish(self, trainer, loop, ctx=None) -> list[Path]:
        """The last frame, the time-lapse files (and their copy), a report section; returns what it wrote."""
        if ctx is not None:
            ctx.log(self.summary(loop))
        if self.timelapse is None:
            return []
        self.timelapse.frames.append(self.compose(trainer, loop))
        written = [rnd.save_gif(self.timelapse.frames, self.artifacts / "learning.gif", fps=8)]
        if _has_ffmpeg():
            written.append(write_recording(self.timelapse.frames, self.artifacts / "learning.mp4", 8))
        copy_to = self.settings.copy_to
        if copy_to is not None:
            source = next((p for p in written if p.suffix == Path(copy_to).suffix.lower()), written[0])
            shutil.copyfile(source, copy_to)
        if ctx is not None:
            ctx.report.image("Learning, as it happened", "artifacts/learning.gif",
                             f"A time-lapse of {len(self.timelapse.frames)} frames, one every "
                             f"{self.timelapse.interval:g} s of training at the end: the training episode "
                             f"of env 1 (left), the greedy policy (right), and the curves.")
        return written

    def close(self) -> None:
        if self.window is not None:
            self.window.close()


def _has_ffmpeg() -> bool:
    try:
        import imageio.v2  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def _pad_to(panel: np.ndarray, height: int) -> np.ndarray:
    if panel.shape[0] == height:
        return panel
    pad = np.full((height - panel.shape[0], panel.shape[1], 3), rnd.CAPTION_BG, dtype=np.uint8)
    return np.concatenate([panel, pad], axis=0)


# --------------------------------------------------------------------------------------------------
# The curves, drawn with Pillow (a matplotlib figure per frame would cost ~50 ms)

CURVES = (  # title, the EvalRecord fields drawn (colour each), fixed y range or None, log scale
    ("success · path ratio/2", (("success_rate", (90, 200, 90)), ("half_path_ratio", (240, 160, 60))),
     (0.0, 1.05), False),
    ("training return", (("train_return", (110, 170, 250)),), None, False),
    ("TD loss (log)", (("loss", (240, 90, 90)),), None, True),
    ("epsilon", (("epsilon", (200, 200, 200)),), (0.0, 1.05), False),
)
CURVE_HEIGHT = 110


def _series(history, name: str) -> np.ndarray:
    if name == "half_path_ratio":
        return np.array([h.path_ratio / 2 for h in history], dtype=np.float64)
    return np.array([getattr(h, name) for h in history], dtype=np.float64)


def curve_strip(history, width: int) -> np.ndarray:
    """(CURVE_HEIGHT, width, 3): one small chart per entry of :data:`CURVES` against env steps."""
    image = Image.new("RGB", (width, CURVE_HEIGHT), rnd.CAPTION_BG)
    draw = ImageDraw.Draw(image)
    font = _font()
    w = width // len(CURVES)
    steps = np.array([h.env_steps for h in history], dtype=np.float64)
    for i, (title, series, fixed, log) in enumerate(CURVES):
        box = (i * w + 6, 18, (i + 1) * w - 6, CURVE_HEIGHT - 6)
        draw.text((box[0], 2), title, fill=rnd.CAPTION_FG, font=font)
        draw.rectangle(box, outline=(90, 90, 100))
        ys = [(_series(history, name), color) for name, color in series]
        _plot(draw, box, steps, ys, fixed, log)
    return np.asarray(image, dtype=np.uint8)


def _plot(draw, box, steps, ys, fixed, log) -> None:
    values = np.concatenate([y for y, _ in ys]) if ys else np.array([])
    if log:
        ys = [(np.log10(np.where(y > 0, y, np.nan)), c) for y, c in ys]
        values = np.log10(values[values > 0])
    finite = values[np.isfinite(values)]
    if len(steps) < 1 or not len(finite):
        return
    lo, hi = fixed if fixed is not None else (float(finite.min()), float(finite.max()))
    hi = hi if hi > lo else lo + 1.0
    x0, y0, x1, y1 = box
    span = max(float(steps[-1]), 1.0)
    for y, color in ys:
        pts = [(x0 + (x1 - x0) * s / span, y1 - (y1 - y0) * (v - lo) / (hi - lo))
               for s, v in zip(steps, y, strict=True) if np.isfinite(v)]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        elif pts:
            draw.ellipse((pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2), fill=color)


def _font():
    try:
        return ImageFont.load_default(size=11)
    except (OSError, ValueError, TypeError):
        return ImageFont.load_default()
