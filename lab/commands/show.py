"""``lab show RUN_DIR``: what ran and its final figures."""

import json

from lab.runs import RunDir, read_json


def add_arguments(p):
    p.add_argument("run", help="a run folder (runs/<time>-<name>)")
    p.add_argument("--json", action="store_true", help="print summary.json only")


def main(args) -> int:
    run = RunDir.open(args.run)
    summary = run.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    marker = run.marker()
    scen = run.read_scenario()
    env = read_json(run.env_path, "environment record", dict) if run.env_path.exists() else {}
    strat = env.get("strategy") if isinstance(env.get("strategy"), dict) else {}
    print(f"run:       {run.path}")
    print(f"name:      {scen.get('name')}  ({scen.get('description', '')})")
    print(f"task:      {marker.get('task')}   status: {marker.get('status')}   "
          f"created {marker.get('created')}  updated {marker.get('updated')}")
    if strat:
        print(f"strategy:  {strat.get('requested')} -> {strat.get('chosen')} ({strat.get('reason')}); "
              f"precision {strat.get('precision')}; seed {env.get('seed')}")
    if summary:
        print("figures:")
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            v = f"{v:.6g}" if isinstance(v, float) else v
            print(f"  {k:<{width}}  {v}")
    else:
        hint = (f"; continue it with `lab run --resume {run.path}`"
                if marker.get("status") in ("interrupted", "running", "failed") else "")
        print(f"figures:   none yet (status {marker.get('status')}){hint}")
    arts = sorted(p.name for p in run.artifacts.glob("*")) if run.artifacts.exists() else []
    if arts:
        print(f"artifacts: {', '.join(arts)}")
    if run.report_path.exists():
        print(f"report:    {run.report_path}")
    return 0
