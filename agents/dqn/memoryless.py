"""The same network without its memory, trained in the same run as a recurrent one (``training.baselines``:
``feedforward``, ``frame_stack``), so that the run's own figures show what the memory does.

``feedforward`` is the recurrent network with its LSTM or GRU replaced by a dense layer as wide as the
cell's state (``hidden + [units]``, an mlp) reading the observation alone; ``frame_stack`` is that network
on the last 4 observations side by side (``agent.frame_stack: 4``). Both learn from as many transitions per
update as a batch of sequences holds (``batch_size x sequence.length``), keep as many transitions as the
sequence replay (``replay.capacity x sequence.length``), and train for the env steps the recurrent agent
trained (capped by the same ``training.time_limit_seconds``), on the same training mazes, then play the
same held-out mazes. They keep no checkpoint: a resumed run trains them again from scratch.
"""

from __future__ import annotations

from agents.dqn.evaluate import Evaluator

NETWORK_BASELINES = ("feedforward", "frame_stack")


def memoryless_config(cfg, name: str, env_steps: int):
    """The scenario ``cfg`` (a recurrent maze-dqn one) as baseline ``name`` trained for ``env_steps``."""
    data = cfg.model_dump(mode="json")
    agent, net = data["agent"], cfg.agent.network
    length = cfg.agent.sequence.length
    agent.pop("sequence")
    agent["network"] = {"kind": "mlp", "hidden": [*net.hidden, net.units], "activation": net.activation,
                        "input_scale": net.input_scale}
    agent["frame_stack"] = 4 if name == "frame_stack" else 1
    agent["batch_size"] = cfg.agent.batch_size * length
    agent["replay"] = {**agent["replay"], "capacity": cfg.agent.replay.capacity * length}
    training = data["training"]
    training["env_steps"] = max(int(env_steps), agent["learning_starts"] + training["num_envs"])
    training["eval_every"] = min(training["eval_every"], training["env_steps"])
    training["baselines"] = []
    training["checkpoint_every"] = training["env_steps"] + 1
    return type(cfg).model_validate(data)


def train_memoryless(cfg, env_steps: int, maze_seeds, make_trainer, log=print) -> dict:
    """Train each network baseline ``cfg.training.baselines`` names (``make_trainer(config)``: a trainer
    without a run folder) and play it on ``maze_seeds``: ``baseline_<name>_success_rate`` /
    ``_mean_steps``, and ``baseline_<name>_env_steps``."""
    out = {}
    for name in (n for n in cfg.training.baselines if n in NETWORK_BASELINES):
        variant = memoryless_config(cfg, name, env_steps)
        log(f"baseline {name}: the network without its memory, {variant.training.env_steps:,} env steps")
        trainer = make_trainer(variant)
        trainer.train()
        result = Evaluator(variant.env, maze_seeds).run(trainer.agent.greedy_policy())
        out[f"baseline_{name}_success_rate"] = result.success_rate
        out[f"baseline_{name}_mean_steps"] = result.mean_steps
        out[f"baseline_{name}_env_steps"] = trainer.env_steps
    return out
