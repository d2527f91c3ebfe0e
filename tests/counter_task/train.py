"""The ``counter`` runner: a step-based task. It adds one random draw per step, saves its state after every
step (``ctx.save_state``) and, on ``--resume``, continues from the saved step."""

from lab.seeding import stream
from tests.counter_task.report import write_report

STATE = "counter.json"


def run(cfg, ctx) -> dict:
    state = ctx.load_state(STATE) if ctx.resume else None
    start, total = (state["step"], state["total"]) if state else (0, 0.0)
    draws = stream(cfg.seed, "draws").random(cfg.counter.steps)
    with ctx.progress(cfg.counter.steps, "counting", unit="step") as bar:
        bar.update(start)
        for step in range(start, cfg.counter.steps):
            if step == cfg.counter.interrupt_at and not ctx.resume:
                raise KeyboardInterrupt  # what Ctrl-C does between two steps
            total += float(draws[step])
            ctx.log_metrics(step, total=total)
            ctx.save_state(STATE, {"step": step + 1, "total": total})
            bar.update(1, total=total)
    write_report(ctx, cfg.counter.steps, total)
    return {"total": total, "steps": cfg.counter.steps, "started_at": start}
