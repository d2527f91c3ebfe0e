"""The maze world: generate.py (mazes, BFS, the maze vocabulary: sizes, places, MazeError), layout.py
(mazes as text), config.py (the ``env:`` section: schema only), mazes.py (the mazes a section asks for,
cached), env.py (MazeEnv), vector.py (MazeVectorEnv), make.py (make_env, make_vector_env), render.py
(frames, window, GIFs), play.py (``lab play``)."""
