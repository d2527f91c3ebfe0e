"""A tiny test-only task for the driver's tests: counts to `steps`, checkpointing as it goes,
and can be told to stop (KeyboardInterrupt) part way, like a person pressing Ctrl-C."""

from pydantic import Field

from lab.schema import Scenario, Section


class CounterConfig(Section):
    steps: int = Field(10, ge=1, description="How far to count.")
    interrupt_at: int = Field(-1, description="Raise KeyboardInterrupt at this step on a fresh run (-1: never).")


class CounterScenario(Scenario):
    counter: CounterConfig = Field(default_factory=CounterConfig, description="The counting.")


def run_counter(cfg, ctx):
    import numpy as np

    state = ctx.load_state("counter.json") if ctx.resume else None
    start = state["step"] if state else 0
    total = state["total"] if state else 0.0
    rng = np.random.default_rng(cfg.seed)
    draws = rng.random(cfg.counter.steps)
    for step in range(start, cfg.counter.steps):
        if step == cfg.counter.interrupt_at and not ctx.resume:
            raise KeyboardInterrupt
        total += float(draws[step])
        ctx.log_metrics(step, total=total)
        ctx.save_state("counter.json", {"step": step + 1, "total": total})
    ctx.report.text("Counting", f"counted to {cfg.counter.steps}")
    return {"total": total, "steps": cfg.counter.steps, "started_at": start}
