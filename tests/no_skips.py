"""No quiet skips in CI: with ``LAB_NO_SKIPS=1`` (``.ci/run`` sets it) a skipped test fails the session,
naming it and its reason.

A test skips only when something outside the lab is missing (a data set beside the checkout, a program
like Graphviz, a GPU, a display). CI provides what it needs, so a skip there is a test lost, not passed: a
required package that failed to import, ``../shared`` not checked out, a component that did not start.
"""

import os
import sys

_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        _SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("LAB_NO_SKIPS") == "1" and _SKIPPED and exitstatus == 0:
        print("\nerror: LAB_NO_SKIPS=1 and these tests skipped (CI must run them all):\n  "
              + "\n  ".join(_SKIPPED), file=sys.stderr)
        session.exitstatus = 1
