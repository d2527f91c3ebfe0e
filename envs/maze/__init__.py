"""The maze world: generate.py (mazes, BFS), config.py (the ``env:`` section), env.py (MazeEnv),
vector.py (MazeVectorEnv), render.py (frames, window, GIFs), play.py (``lab play``)."""
