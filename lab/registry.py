"""Task name -> (its scenario model, its runner).

To add a task: write its config model (a subclass of :class:`lab.schema.Scenario`, in a module that
does not import TensorFlow) and a runner ``run(cfg, ctx) -> dict`` (the final figures), then add one
line to ``TASKS``. Both are given as ``"module:attribute"`` strings so that listing and validating
scenarios never imports the heavy runner modules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from lab.errors import ScenarioError


@dataclass(frozen=True)
class TaskSpec:
    name: str
    config: str  # "module:Class" of the pydantic scenario model (no TensorFlow import at module level)
    runner: str  # "module:function" taking (cfg, ctx) and returning the summary figures
    summary: str  # one line for `lab list --tasks`
    serve: str = ""  # the module of the task's serve.py (what its command calls), "" when it has none


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec("graph-basics", "supervised.config:GraphBasicsScenario", "supervised.basics:run_graph_basics",
                 "The book's chapter 1: computation graphs (2.0 + 2.5, W.x, W.x + b) evaluated and drawn as DOT."),
        TaskSpec("first-network", "supervised.config:FirstNetworkScenario", "supervised.basics:run_first_network",
                 "The book's chapter 2: one sigmoid layer learns y from X; a gallery of activation functions."),
        TaskSpec("optimizers", "supervised.config:OptimizersScenario", "supervised.basics:run_optimizers",
                 "Gradient descent, momentum, Nesterov, Adagrad, RMSprop, Adam on Rosenbrock, Beale and a small net."),
        TaskSpec("maze-dqn", "agents.dqn.task:MazeDQNScenario", "agents.dqn.train:run_maze_dqn",
                 "Double DQN (n-step, optional prioritized replay and dueling head) learns mazes; see it with `lab watch`."),
        TaskSpec("autoencoder", "generative.autoencoder.config:AutoencoderScenario", "generative.autoencoder.train:run",
                 "The book's 784-128-64-128-784 autoencoder on MNIST (optionally denoising) beside a PCA baseline."),
        TaskSpec("vae", "generative.vae.config:VaeScenario", "generative.vae.train:run",
                 "Variational autoencoder (dense or conv) on binarised MNIST: ELBO, IW log-likelihood, scored "
                 "samples; `lab sample`.", serve="generative.vae.serve"),
        TaskSpec("classifier", "supervised.classifier_config:ClassifierScenario", "supervised.classifier:run",
                 "Image classifiers (the book's MNIST network, convnets, its CIFAR-10 CNN, a small resnet); `lab predict`."),
        TaskSpec("language-model", "supervised.lm_config:LanguageModelScenario", "supervised.language_model:run",
                 "Next-character or next-word rnn / gru / lstm models beside a Kneser-Ney n-gram; `lab generate`."),
        TaskSpec("rbm", "generative.rbm_config:RBMScenario", "generative.recommender:run",
                 "Salakhutdinov-Mnih-Hinton RBM recommender (ratings data, baselines, RMSE and top-N), `lab recommend`."),
    ]
}


def task_names() -> list[str]:
    return sorted(TASKS)


def _load(ref: str):
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def spec(task: str) -> TaskSpec:
    if task not in TASKS:
        raise ScenarioError(f"unknown task {task!r}; known tasks: {', '.join(task_names())}")
    return TASKS[task]


def config_model(task: str):
    """The pydantic model that validates scenarios of ``task`` (imports no TensorFlow)."""
    return _load(spec(task).config)


def runner(task: str):
    """The function that runs ``task`` (may import TensorFlow)."""
    return _load(spec(task).runner)


def serve(task: str):
    """The task's ``serve.py`` module: what its command and the web service call (may import TensorFlow)."""
    module = spec(task).serve
    if not module:
        raise ScenarioError(f"task {task!r} has nothing to serve")
    return importlib.import_module(module)
