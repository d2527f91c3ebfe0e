"""Watch a trained maze agent: a pygame window where there is a display, a GIF (or MP4) where there is none.

Every frame shows the maze, the agent, its trail, the greedy action of every cell (arrows), max-Q as a
heatmap and a caption with the steps taken against the BFS-optimal length.

Settings that cannot work (an unknown recording format, a size the agent cannot plan on, ...) raise
:class:`WatchError`, which names the setting in words; ``lab watch`` reports it against its option.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.errors import RunError

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


def check_settings(episodes: int = 1, fps: int | None = None, record: str | Path | None = None) -> Path | None:
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


def load_run(run):
    """(scenario config, agent) of a finished or interrupted maze-dqn run."""
    from agents.dqn.agent import AGENT_DIR, FINAL_DIR, DQNAgent
    from envs.maze.env import observation_space
    from lab import scenario

    run.require_task(TASK, command="lab watch")
    cfg = scenario.validate(run.read_scenario(), str(run.scenario_path))
    space = observation_space(cfg.env)
    for folder in (run.path / FINAL_DIR, _checkpoint_agent(run), run.checkpoints / AGENT_DIR):  # (the last: older labs)
        if folder is not None and folder.exists():
            agent = DQNAgent.load(folder, obs_shape=space.shape, obs_dtype=space.dtype, n_actions=4)
            return cfg, agent
    raise RunError(f"{run.path}: this run has no saved agent yet (no {FINAL_DIR}/ and no checkpoint); "
                   f"train it with `lab run --resume {run.path}`")


def _checkpoint_agent(run):
    """The agent folder of the run's last checkpoint (None before the first one); only reads."""
    from agents.dqn.agent import AGENT_DIR
    from agents.dqn.train import CHECKPOINT
    from lab.checkpoints import CheckpointStore

    checkpoint = CheckpointStore(run.checkpoints, CHECKPOINT).load()
    return checkpoint[1].get(AGENT_DIR) if checkpoint else None


def resize_run(cfg, agent, size: tuple[int, int]):
    """(scenario with the maze resized to ``size`` = (width, height) cells, agent for that grid); WatchError
    when the run's maze is a fixed layout, the size is out of range or the network cannot plan on another size."""
    from envs.maze.config import env_config
    from envs.maze.env import observation_space
    from envs.maze.generate import MazeError

    width, height = size
    if cfg.env.has_layout:
        raise WatchError("maze size", f"{width}x{height}", "this run plays a fixed layout, whose size is set by its text")
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


def watch(run, episodes: int = 3, record: str | Path | None = None, fps: int | None = None, seed: int | None = None,
          window: bool | None = None, size: tuple[int, int] | None = None, log=print) -> dict:
    """Play ``episodes`` greedy episodes of a run's agent; show them in a window and/or record them.

    ``window``: None = a window when a display is available. Without a window and without ``record`` the
    recording goes to ``<run>/artifacts/watch.gif``. ``seed``: for random mazes, episode i plays the maze
    of seed ``seed + i`` (default: the run's first evaluation mazes, never seen in training); a fixed maze
    is the same in every episode. ``size``: (width, height) in cells to play mazes of another size than
    the run trained on (a vin only: it plans on any size; see :meth:`DQNAgent.resized`).
    """
    from agents.dqn.evaluate import episode_frames, eval_env_config
    from envs.maze import render as rnd
    from envs.maze.env import MazeEnv

    record_path = check_settings(episodes, fps, record)
    cfg, agent = load_run(run)
    if size is not None:
        cfg, agent = resize_run(cfg, agent, size)
    fps = fps or cfg.env.render_fps
    if window is None:
        window = rnd.display_problem() is None
    if not window and record_path is None:
        record_path = run.artifact("watch.gif")
    env = MazeEnv(eval_env_config(cfg.env), render_mode="rgb_array")
    env.reset(seed=cfg.seed)
    if cfg.eval_seeds() is None:
        seeds = [None] * episodes
    else:
        first = cfg.eval_seeds()[0] if seed is None else seed
        seeds = [first + i for i in range(episodes)]
    win = rnd.Window(f"lab watch: {cfg.name}", fps=fps) if window else None
    frames: list[np.ndarray] = []
    results = []
    quit_early = False
    try:
        for i, maze_seed in enumerate(seeds):
            label = f"episode {i + 1}/{episodes}: " if episodes > 1 else ""
            gen = episode_frames(agent, env, None if maze_seed is None else {"maze_seed": int(maze_seed)}, label)
            while True:
                try:
                    frame = next(gen)
                except StopIteration as stop:
                    results.append(stop.value)
                    break
                if record_path is not None:
                    frames.append(frame)
                if win is not None and not _show(win, frame):
                    quit_early = True
                    break
            if quit_early:
                break
            if record_path is not None:
                frames.extend([frames[-1]] * HOLD_FRAMES)
            if win is not None:
                for _ in range(HOLD_FRAMES):
                    if not _show(win, frame):
                        quit_early = True
                        break
            if quit_early:
                break
    finally:
        if win is not None:
            win.close()
        env.close()
    written = None
    if record_path is not None and frames:
        written = write_recording(frames, record_path, fps)
        log(f"recording: {written}")
    solved = sum(r["success"] for r in results)
    return {"episodes": len(results), "solved": solved, "results": results, "recording": written,
            "closed_by_user": quit_early}


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
    from envs.maze.render import save_gif

    path = Path(path)
    if path.suffix.lower() == ".gif":
        return save_gif(frames, path, fps=fps)
    import imageio.v2 as imageio

    from lab.runs import atomic_path

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
