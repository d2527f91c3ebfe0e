"""Progress bars that show the figure that matters, and never flood a log file.

On a terminal: a tqdm bar on stderr with postfix figures. Not on a terminal: at most about a dozen
plain lines per loop (every ~10% and at least 30 s apart). ``quiet``: nothing.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    def __init__(self, total: int | None, desc: str = "", quiet: bool = False, unit: str = "it", stream=None):
        self.total = total
        self.desc = desc
        self.quiet = quiet
        self.n = 0
        self.figures: dict = {}
        self.stream = stream or sys.stderr
        self._bar = None
        self._last_line = 0.0
        self._last_frac = -1.0
        self._t0 = time.time()
        self._closed = False
        if not quiet and self.stream.isatty():
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True,
                             leave=True)

    def update(self, n: int = 1, **figures) -> None:
        self.n += n
        if figures:
            self.figures.update(figures)
        if self.quiet:
            return
        if self._bar is not None:
            if figures:
                self._bar.set_postfix({k: _short(v) for k, v in self.figures.items()}, refresh=False)
            self._bar.update(n)
            return
        frac = self.n / self.total if self.total else 0.0
        now = time.time()
        if ((frac - self._last_frac >= 0.1 and now - self._last_line >= 30) or
                (self.total and self.n >= self.total and self._last_frac < 1)):
            self._line()
            self._last_frac, self._last_line = frac, now

    def set(self, **figures) -> None:
        self.update(0, **figures)

    def _line(self) -> None:
        figs = " ".join(f"{k}={_short(v)}" for k, v in self.figures.items())
        total = f"/{self.total}" if self.total else ""
        print(f"{self.desc}: {self.n}{total} [{time.time() - self._t0:.0f}s] {figs}".rstrip(),
              file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif (not self.quiet and not self._closed and self.n and
                self._last_frac < (self.n / self.total if self.total else 1)):
            self._line()  # where the loop ended (it may stop early, before the next 10% line)
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _short(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return v
