"""The scenario section env: (envs/maze/config.py)."""

import pytest

from envs.maze.config import MazeEnvConfig, MazeRewardsConfig, env_config, load_env_config
from envs.maze.generate import MazeError
from envs.maze.mazes import build_maze, episode_limit, grid_shape
from lab.scenario import field_docs


def test_every_field_has_a_description_and_a_default():
    for path, description, _ in field_docs(MazeEnvConfig):
        assert description, f"env.{path} has no description"
    for model in (MazeEnvConfig, MazeRewardsConfig):
        for name, field in model.model_fields.items():
            assert not field.is_required(), f"{model.__name__}.{name} has no default"


def test_defaults():
    cfg = env_config()
    assert ((cfg.width, cfg.height, cfg.algorithm, cfg.observation, cfg.mazes) ==
            (5, 5, "dfs", "grid", "fixed"))
    assert grid_shape(cfg) == (11, 11)
    assert episode_limit(cfg) == 4 * 11 * 11
    assert episode_limit(env_config(max_episode_steps=50)) == 50
    lo, hi = cfg.train_maze_seeds
    assert 0 <= lo < hi


def problems(**settings) -> str:
    with pytest.raises(MazeError) as info:
        env_config(**settings)
    return str(info.value)


@pytest.mark.parametrize("settings,match", [
    ({"width": 1}, "width 1 is too small: the smallest maze is 2 x 2"),
    ({"height": 500}, "height 500 is too large: the limit is 100 cells, because"),
    ({"start": "middle"}, "env.start: must be corner, random or \\[row, col\\]"),
    ({"goal": [9, 0]}, "goal \\[9, 0\\] is outside the 5 x 5-cell maze"),
    ({"start": [4, 4]}, "start and goal are the same cell"),
    ({"widht": 4}, "env.widht: unknown key; did you mean `width`"),
    ({"observation": "grids"}, "did you mean `grid`"),
    ({"local_size": 4}, "must be odd and from 3 to 15"),
    ({"width": 2, "height": 2, "observation": "local", "local_size": 5, "local_goal": "window"},
     r"local_size 5 is not smaller than the maze \(5 x 5 tiles\).*use local_size <= 3"),
    ({"train_maze_seeds": [5, 5]}, "must be \\[lo, hi\\) with 0 <= lo < hi"),
    ({"observation": "local", "obs_dtype": "uint8"}, "uint8 exists only for observation: grid"),
    ({"layout": "#S.G#", "mazes": "random"}, "a layout is one fixed maze"),
    ({"layout": "#S.G#", "layout_file": "x.txt"}, "either layout or layout_file"),
    ({"layout": "#S#\n#.#"}, "layout: bad maze layout: no goal"),
    ({"layout": "#S.G#\n#.x.#"}, "row 2, column 3: unknown character 'x'"),
    ({"layout_file": "/nonexistent/maze.txt"}, "no such layout file"),
    ({"rewards": {"shaping_gamma": 1.5}}, "env.rewards.shaping_gamma"),
])
def test_bad_settings_are_reported_with_their_path(settings, match):
    import re

    assert re.search(match, problems(**settings)), problems(**settings)


def test_all_problems_at_once():
    text = problems(width=1, observation="pictures", rewards={"gaol": 1})
    assert "3 problems" in text
    assert "did you mean `goal`" in text


def test_layout_config_builds_that_maze(tmp_path):
    cfg = env_config(layout="#######\n#S..G.#\n#######")
    assert cfg.has_layout and grid_shape(cfg) == (3, 7)
    assert build_maze(cfg).optimal_length == 3
    f = tmp_path / "m.txt"
    f.write_text("#####\n#S#G#\n#...#\n#####\n")
    cfg = env_config(layout_file=str(f))
    assert build_maze(cfg).optimal_length == 4


def test_mazes_are_cached_and_seeded():
    cfg = env_config(width=6, height=4)
    assert build_maze(cfg, 3) is build_maze(cfg, 3)
    assert build_maze(cfg, 3).walls.tobytes() != build_maze(cfg, 4).walls.tobytes()
    assert build_maze(cfg).walls.tobytes() == build_maze(cfg, cfg.maze_seed).walls.tobytes()


def test_load_env_config_names_file_and_line(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\ntask: not-yet-a-task\nenv:\n  width: 7\n  loops: 2\n")
    with pytest.raises(MazeError) as info:
        load_env_config(f)
    assert f"{f}:5: env.loops" in str(info.value)
    f.write_text("name: t\ntask: whatever\nenv:\n  width: 7\n  height: 3\n")
    cfg = load_env_config(f)
    assert (cfg.width, cfg.height) == (7, 3)
    f.write_text("name: t\ntask: whatever\n")
    assert load_env_config(f) == MazeEnvConfig()
    f.write_text("name: t\nenv: [1, 2]\n")
    with pytest.raises(MazeError, match="must be a mapping"):
        load_env_config(f)


def test_config_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, envs.maze.config, envs.maze.mazes, envs.maze.make; "
            "bad = [m for m in ('tensorflow', 'keras', 'pygame', 'PIL') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bounded_cache_keeps_the_recent_within_its_budget():
    from envs.maze.mazes import BoundedCache

    cache = BoundedCache(100)
    for k in range(5):
        cache.put(k, str(k), 30)
    assert len(cache) == 3 and cache.used == 90
    assert cache.get(0) is None and cache.get(2) == "2"
    cache.put(5, "5", 30)  # evicts 3, the least recently used (2 was just read)
    assert cache.get(3) is None and cache.get(2) == "2" and cache.get(5) == "5"
    cache.put(6, "6", 500)  # larger than the budget: kept alone
    assert len(cache) == 1 and cache.get(6) == "6"


def test_one_size_check_and_one_place_spec_for_config_generator_and_commands():
    from envs.maze import generate as gen
    from lab.commands.play import parse_size
    from lab.errors import UsageError

    for width, height, name, value in ((1, 5, "width", 1), (5, 101, "height", 101)):
        said = gen.size_problem(name, value)
        assert said and said in problems(width=width, height=height)
        with pytest.raises(MazeError) as info:
            gen.generate(width, height, seed=0)
        assert str(info.value) == said
        with pytest.raises(UsageError) as usage:
            parse_size(f"{width}x{height}")
        assert str(usage.value) == f"--size {width}x{height}: {said}"
    assert parse_size("12x8") == (12, 8)
    assert MazeEnvConfig.model_fields["start"].annotation == gen.PlaceSpec
    assert MazeEnvConfig.model_fields["goal"].annotation == gen.PlaceSpec
    said = gen.placement_problem((9, 0), "corner", 5, 5)
    assert said and said in problems(start=[9, 0])
    assert env_config(start=[1, 2]).start == (1, 2)
