"""Task name -> the task's folder.

A task is a folder of a lane (``agents/dqn/``, ``generative/rbm/`` ...) holding the same file names:
``config.py`` (its scenario model, no TensorFlow), ``model.py``, ``train.py`` (``run(cfg, ctx) -> dict``),
``report.py`` and ``serve.py`` (what its ``lab`` command and the web service call). Adding a task is adding
a folder and one line to ``TASKS``. The folder is a dotted module path and the scenario model a class name:
both are strings, and the modules are imported only when asked for, so listing and validating scenarios
never imports a runner (or TensorFlow).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from lab.errors import ScenarioError


@dataclass(frozen=True)
class Task:
    name: str  # what scenarios write after `task:`
    folder: str  # the task's package, e.g. "generative.rbm"
    scenario: str  # the class of the scenario model in <folder>/config.py
    summary: str  # one line for `lab list --tasks`

    def module(self, part: str) -> ModuleType:
        """``<folder>.<part>``: ``config``, ``model``, ``train``, ``report`` or ``serve``."""
        return importlib.import_module(f"{self.folder}.{part}")


TASKS: dict[str, Task] = {
    task.name: task
    for task in [
        Task("graph-basics", "supervised.graph_basics", "GraphBasicsScenario",
             "The book's chapter 1: computation graphs (2.0 + 2.5, W.x, W.x + b) evaluated and drawn as "
             "DOT."),
        Task("first-network", "supervised.first_network", "FirstNetworkScenario",
             "The book's chapter 2: one sigmoid layer learns y from X; a gallery of activation functions."),
        Task("optimizers", "supervised.optimizers", "OptimizersScenario",
             "Gradient descent, momentum, Nesterov, Adagrad, RMSprop, Adam on Rosenbrock, Beale and a small "
             "net."),
        Task("bench", "supervised.bench", "BenchScenario",
             "The book's chapter 4: matmul, conv2d and training-step speeds of the CPU and each GPU against "
             "peak; `lab bench`."),
        Task("maze-dqn", "agents.dqn", "MazeDQNScenario",
             "Double DQN (n-step, optional prioritized replay and dueling head) learns mazes; see it with "
             "`lab watch`."),
        Task("autoencoder", "generative.autoencoder", "AutoencoderScenario",
             "The book's 784-128-64-128-784 autoencoder on MNIST (optionally denoising) beside a PCA "
             "baseline."),
        Task("vae", "generative.vae", "VaeScenario",
             "Variational autoencoder (dense or conv) on binarised MNIST: ELBO, IW log-likelihood, scored "
             "samples; `lab sample`."),
        Task("rbm", "generative.rbm", "RBMScenario",
             "Salakhutdinov-Mnih-Hinton RBM recommender (ratings data, baselines, RMSE and top-N); "
             "`lab recommend`."),
        Task("classifier", "supervised.classifier", "ClassifierScenario",
             "Image classifiers (the book's MNIST network, convnets, its CIFAR-10 CNN, a small resnet); "
             "`lab predict`."),
        Task("language-model", "supervised.language_model", "LanguageModelScenario",
             "Next-character or next-word rnn / gru / lstm models beside a Kneser-Ney n-gram; "
             "`lab generate`."),
    ]
}


def task_names() -> list[str]:
    return sorted(TASKS)


def spec(task: str) -> Task:
    if task not in TASKS:
        raise ScenarioError(f"unknown task {task!r}; known tasks: {', '.join(task_names())}")
    return TASKS[task]


def config_model(task: str):
    """The pydantic model that validates scenarios of ``task`` (imports no TensorFlow)."""
    t = spec(task)
    return getattr(t.module("config"), t.scenario)


def runner(task: str):
    """The function that runs ``task`` (may import TensorFlow)."""
    return spec(task).module("train").run


def serve(task: str) -> ModuleType:
    """The task's ``serve.py``: what its command and the web service call (may import TensorFlow)."""
    return spec(task).module("serve")
