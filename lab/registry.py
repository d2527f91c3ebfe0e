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
        TaskSpec("graph-basics", "supervised.graph_basics.config:GraphBasicsScenario",
                 "supervised.graph_basics.train:run",
                 "The book's chapter 1: computation graphs (2.0 + 2.5, W.x, W.x + b) evaluated and drawn as "
                 "DOT."),
        TaskSpec("first-network", "supervised.first_network.config:FirstNetworkScenario",
                 "supervised.first_network.train:run",
                 "The book's chapter 2: one sigmoid layer learns y from X; a gallery of activation "
                 "functions."),
        TaskSpec("optimizers", "supervised.optimizers.config:OptimizersScenario",
                 "supervised.optimizers.train:run",
                 "Gradient descent, momentum, Nesterov, Adagrad, RMSprop, Adam on Rosenbrock, Beale and a "
                 "small net."),
        TaskSpec("maze-dqn", "agents.dqn.config:MazeDQNScenario", "agents.dqn.train:run",
                 "Double DQN (n-step, optional prioritized replay and dueling head) learns mazes; see it with `lab watch`.",
                 serve="agents.dqn.serve"),
        TaskSpec("autoencoder", "generative.config:AutoencoderScenario", "generative.autoencoder:run", "The book's 784-128-64-128-784 autoencoder on MNIST (optionally denoising) beside a PCA baseline."),
        TaskSpec("vae", "generative.config:VaeScenario", "generative.vae:run", "Variational autoencoder (dense or conv) on binarised MNIST: ELBO, IW log-likelihood, scored samples."),
        TaskSpec("classifier", "supervised.classifier.config:ClassifierScenario", "supervised.classifier.train:run",
                 "Image classifiers (the book's MNIST network, convnets, its CIFAR-10 CNN, a small resnet); `lab predict`.",
                 serve="supervised.classifier.serve"),
        TaskSpec("language-model", "supervised.language_model.config:LanguageModelScenario",
                 "supervised.language_model.train:run",
                 "Next-character or next-word rnn / gru / lstm models beside a Kneser-Ney n-gram; `lab generate`.",
                 serve="supervised.language_model.serve"),
        TaskSpec("rbm", "generative.rbm.config:RBMScenario", "generative.rbm.train:run",
                 "Salakhutdinov-Mnih-Hinton RBM recommender (ratings data, baselines, RMSE and top-N), `lab recommend`.",
                 serve="generative.rbm.serve"),
        TaskSpec("bench", "supervised.bench.config:BenchScenario", "supervised.bench.train:run",
                 "The book's chapter 4: matmul, conv2d and training-step speeds of the CPU and each GPU against peak.",
                 serve="supervised.bench.serve"),
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
