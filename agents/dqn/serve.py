"""What ``lab watch`` (and a web service) calls: a maze-dqn run's agent playing greedy episodes.

Every frame shows the maze, the agent, its trail, the greedy action of every cell (arrows), max-Q as a
heatmap and a caption with the steps taken against the BFS-optimal length.

* :func:`load_run` opens a run folder and rebuilds its agent (the final one, else the last checkpoint's);
  :func:`resize_run` puts it on mazes of another size (a vin only);
* :func:`play` yields the frames of greedy episodes, one maze each, and each episode's result;
* :func:`watch` shows them in a pygame window where there is a display and/or records them as a GIF (or
  MP4), and returns what happened.

Settings that cannot work (an unknown recording format, a size the agent cannot plan on, ...) raise
:class:`WatchError`, which names the setting in words; ``lab watch`` reports it against its option.
Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np

from agents.dqn.agent import AGENT_DIR, CHECKPOINT, FINAL_DIR
from agents.dqn.evaluate import episode_frames, eval_env_config
from agents.dqn.recurrent import load_agent
from agents.dqn.stacking import agent_observation_space
from envs.maze import render as rnd
from envs.maze.config import env_config
from envs.maze.env import MazeEnv, observation_space
from envs.maze.generate import MazeError
from lab import scenario
from lab.checkpoints import CheckpointStore
from lab.errors import RunError
from lab.runs import RunDir, atomic_path
from lab.seeding import stream_seed

FORMATS = (".gif", ".mp4")
TASK = "maze-dqn"
HOLD_FRAMES = 6  # frames the end of an episode stays on screen / in the recording


class WatchError(ValueError):
    """A watch setting that cannot work. ``setting`` names it in words (``"record file"``, ``"maze size"``,
    ``"episodes"``, ``"frames per second"``), ``value`` is what was given (None: not worth repeating) and
    ``detail`` says what is wrong."""

    def __init__(self, setting: str, value, detail: str):
        super().__init__(f"{setting}{'' if value is None else f' {value}'}: {detail}")
        self.setting, self.value, self.detail = setting, value, detail


def check_settings(episodes: int = 1, fps: int | None = None,
                   record: str | Path | None = None) -> Path | None:
    """Refuse settings that cannot work before anything long happens (WatchError); returns the recording's
    path (None: no recording asked for)."""
    if episodes < 1:
        raise WatchError("episodes", episodes, "must be at least 1")
    if fps is not None and not 1 <= fps <= 240:
        raise WatchError("frames per second", fps, "must be between 1 and 240")
    return check_record_path(record)


def check_record_path(record: str | Path | None) -> Path | None:
    """Refuse an unsupported recording format, or a folder that does not exist (WatchError)."""
    if record is None:
        return None
    path = Path(record)
    if path.suffix.lower() not in FORMATS:
        raise WatchError("record file", record, f"unsupported format {path.suffix or '(none)'!r}; "
                         "use a .gif or .mp4 file name")
    if path.suffix.lower() == ".mp4":
        try:
            import imageio.v2  # noqa: F401
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise WatchError("record file", record, "an .mp4 needs imageio with ffmpeg: pip install "
                             "'the-lab[video]' (or record a .gif, which needs nothing more)") from None
    if path.parent and not path.parent.exists():
        raise WatchError("record file", record, f"the folder {path.parent} does not exist")
    return path


def open_run(run_path: str | Path) -> RunDir:
    """The run folder at ``run_path``; RunError when it is not a maze-dqn run."""
    run = RunDir.open(run_path)
    run.require_task(TASK, command="lab watch")
    return run


def load_run(run_path: str | Path):
    """(scenario config, agent) of a finished or interrupted maze-dqn run: its final agent, else the agent of
    its last checkpoint (RunError when it has neither yet)."""
    run = open_run(run_path)
    cfg = scenario.validate(run.read_scenario(), str(run.scenario_path))
    space = agent_observation_space(cfg)
    checkpoint = CheckpointStore(run.checkpoints, CHECKPOINT).load()  # only reads
    for folder in (run.path / FINAL_DIR, checkpoint[1].get(AGENT_DIR) if checkpoint else None):
        if folder is not None and folder.exists():
            # greedy play never runs the (XLA-compiled) update
            agent = load_agent(folder, jit_compile=False, obs_shape=space.shape, obs_dtype=space.dtype,
                                  n_actions=4)
            return cfg, agent
    raise RunError(f"{run.path}: this run has no saved agent yet (no {FINAL_DIR}/ and no checkpoint); "
                   f"train it with `lab run --resume {run.path}`")


def resize_run(cfg, agent, size: tuple[int, int]):
    """(scenario with the maze resized to ``size`` = (width, height) cells, agent for that grid); WatchError
    when the run's maze is a fixed layout, the size is out of range or the network cannot plan on another
    size."""
    width, height = size
    if cfg.env.has_layout:
        raise WatchError("maze size", f"{width}x{height}",
                         "this run plays a fixed layout, whose size is set by its text")
    try:
        env = env_config(cfg.env.model_dump(), source="resized", width=width, height=height)
    except MazeError as exc:
        detail = "; ".join(p.removeprefix("resized: ") for p in exc.problems) or str(exc)
        raise WatchError("maze size", f"{width}x{height}", detail) from None
    try:
        agent = agent.resized(observation_space(env).shape)
    except ValueError as exc:
        raise WatchError("maze size", f"{width}x{height}", str(exc)) from None
    return cfg.model_copy(update={"env": env}), agent


def maze_seeds(cfg, episodes: int, seed: int | None = None) -> list[int | None]:
    """The maze of each episode: for random mazes the maze seeds ``seed``, ``seed + 1``, ... (default: the
    run's evaluation mazes, never seen in training; a maze seed names a maze, it is no random stream); for
    a fixed maze None, the same maze in every episode."""
    evaluation = cfg.eval_seeds()
    if evaluation is None:
        return [None] * episodes
    first = evaluation[0] if seed is None else seed
    return list(range(first, first + episodes))


def play(cfg, agent, mazes: list[int | None]) -> Iterator[tuple[np.ndarray, dict | None]]:
    """The frames of one greedy episode per maze of ``mazes`` (:func:`maze_seeds`), from the real start:
    yields ``(frame, None)``, and at the last frame of each episode ``(frame, result)`` with result
    ``{"maze_seed", "steps", "optimal", "success"}``. Close it (``contextlib.closing``) to stop early."""
    env = MazeEnv(eval_env_config(cfg.env), render_mode="rgb_array")
    env.reset(seed=stream_seed(cfg.seed, "watch"))
    try:
        for i, maze_seed in enumerate(mazes):
            label = f"episode {i + 1}/{len(mazes)}: " if len(mazes) > 1 else ""
            frames = episode_frames(agent, env, None if maze_seed is None else {"maze_seed": int(maze_seed)},
                                    label)
            frame = next(frames)
            while True:
                try:
                    following = next(frames)
                except StopIteration as stop:
                    yield frame, {"maze_seed": maze_seed, **stop.value}
                    break
                yield frame, None
                frame = following
    finally:
        env.close()


def watch(run_path: str | Path, episodes: int = 3, record: str | Path | None = None, fps: int | None = None,
          seed: int | None = None, window: bool | None = None, size: tuple[int, int] | None = None) -> dict:
    """Play ``episodes`` greedy episodes of a run's agent; show them in a window and/or record them.

    ``window``: None = a window when a display is available. Without a window and without ``record`` the
    recording goes to ``<run>/artifacts/watch.gif``. ``seed``: for random mazes, the first maze seed
    (:func:`maze_seeds`). ``size``: (width, height) in cells to play mazes of another size than the run
    trained on (a vin only: it plans on any size; see :meth:`DQNAgent.resized`). Returns ``{"episodes",
    "solved", "results" (one dict per episode played, see :func:`play`), "recording" (its path, or None),
    "closed_by_user"}``.
    """
    record_path = check_settings(episodes, fps, record)
    cfg, agent = load_run(run_path)
    if size is not None:
        cfg, agent = resize_run(cfg, agent, size)
    fps = fps or cfg.env.render_fps
    if window is None:
        window = rnd.display_problem() is None
    if not window and record_path is None:
        record_path = open_run(run_path).artifact("watch.gif")
    win = rnd.Window(f"lab watch: {cfg.name}", fps=fps) if window else None
    with closing(play(cfg, agent, maze_seeds(cfg, episodes, seed))) as frames:
        kept, results, closed = _present(frames, win, keep=record_path is not None)
    written = write_recording(kept, record_path, fps) if record_path is not None and kept else None
    return {"episodes": len(results), "solved": sum(r["success"] for r in results), "results": results,
            "recording": written, "closed_by_user": closed}


def _present(frames, win, keep: bool) -> tuple[list[np.ndarray], list[dict], bool]:
    """Show the frames of :func:`play` in ``win`` (None: no window), each episode's last one held for
    :data:`HOLD_FRAMES` frames; returns (the frames to record when ``keep``, the results of the episodes
    played to their end, whether the user closed the window)."""
    kept: list[np.ndarray] = []
    results: list[dict] = []
    try:
        for frame, result in frames:
            hold = 0 if result is None else HOLD_FRAMES
            if keep:
                kept.extend([frame] * (1 + hold))
            if win is not None and not _show(win, frame):
                return kept, results, True
            if result is not None:
                results.append(result)
            if win is not None and not all(_show(win, frame) for _ in range(hold)):
                return kept, results, True
    finally:
        if win is not None:
            win.close()
    return kept, results, False


def _show(win, frame) -> bool:
    """Show a frame; False when the user pressed Esc or closed the window."""
    win.show(frame, drain_events=False)
    pg = win._pg
    if pg is None:
        return False
    for event in win.events():
        if event.type == pg.QUIT or (event.type == pg.KEYDOWN and event.key in (pg.K_ESCAPE, pg.K_q)):
            return False
    return True


def write_recording(frames, path: Path, fps: int) -> Path:
    """Write ``frames`` (RGB uint8) as a GIF or, for a ``.mp4`` path, an H.264 video (atomically)."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        return rnd.save_gif(frames, path, fps=fps)
    import imageio.v2 as imageio

    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    h, w = h + h % 2, w + w % 2  # H.264 wants even sizes
    padded = []
    for f in frames:
        canvas = np.zeros((h, w, 3), dtype=np.uint8)
        canvas[: f.shape[0], : f.shape[1]] = f
        padded.append(canvas)
    with atomic_path(path) as tmp:
        imageio.mimwrite(tmp, padded, fps=fps, format="FFMPEG")
    return path
