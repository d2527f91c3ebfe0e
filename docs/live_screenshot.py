"""Draws docs/images/live_window.png, the README's picture of the live window: the maze_dqn_random scenario
trained for a while with the live view (the frame the window shows, keys line included). Run it where a
window can open (``xvfb-run -a python docs/live_screenshot.py``); it takes about a minute on 2 cores."""

import sys
from pathlib import Path
from tempfile import TemporaryDirectory

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.dqn.live import LiveView  # noqa: E402
from agents.dqn.train import Trainer  # noqa: E402
from envs.maze import render as rnd  # noqa: E402
from lab import scenario  # noqa: E402
from lab.backend import start_tensorflow  # noqa: E402
from lab.context import LiveSettings  # noqa: E402

OUT = Path(__file__).resolve().parent / "images" / "live_window.png"


def main() -> None:
    start_tensorflow()
    cfg = scenario.load_scenario(scenario.resolve_scenario_path("maze_dqn_random"),
                                 ["training.env_steps=14000", "training.stop_after_perfect=0",
                                  "training.eval_every=2000", "training.eval_mazes=50",
                                  "training.test_mazes=0"])
    trainer = Trainer(cfg, None, jit_compile=True)
    with TemporaryDirectory() as folder:
        view = LiveView(cfg, LiveSettings(window=True), Path(folder), rnd.Window("lab: learning", fps=60))
        trainer.train(None, view)
        frame = view.compose(trainer, trainer.last_loop)
        view.close()
    Image.fromarray(frame).save(OUT)
    print(OUT)


if __name__ == "__main__":
    main()
