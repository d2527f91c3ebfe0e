"""``lab validate FILE...``: check scenario files without running them (no TensorFlow).

Warnings a task's checks raise (``warnings.warn``: a setting that is allowed but probably not meant) are
printed as ``warning: FILE: ...`` on stderr; they do not change the exit status.
"""

import sys
import warnings

from lab import scenario
from lab.errors import LabError, ScenarioError


def add_arguments(p):
    p.add_argument("files", nargs="+", help="scenario files (or names of shipped scenarios)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="check with these overrides applied")


def main(args) -> int:
    failed = []
    for name in args.files:
        path = scenario.resolve_scenario_path(name)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                cfg = scenario.load_scenario(path, args.overrides)
            except LabError as exc:
                failed.append(str(exc))
                cfg = None
        for w in caught:
            if issubclass(w.category, UserWarning):
                print(f"warning: {path}: {w.message}", file=sys.stderr)
            else:  # a library's deprecation and the like: shown as Python would have
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        if cfg is not None:
            print(f"ok: {path} ({cfg.task}: {cfg.name})")
    if failed:
        if len(failed) == 1:
            raise ScenarioError(failed[0])
        raise ScenarioError(f"{len(failed)} of {len(args.files)} files have problems:\n" + "\n".join(failed))
    return 0
