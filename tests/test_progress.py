"""Progress output: bounded when not on a terminal, silent when quiet, final line when a loop stops early."""

import io

from lab.progress import Progress


class Pipe(io.StringIO):
    def isatty(self):
        return False


def test_not_a_terminal_prints_a_bounded_number_of_lines(monkeypatch):
    import lab.progress as progress

    clock = iter(range(0, 10**9, 7))  # 7 "seconds" between calls
    monkeypatch.setattr(progress.time, "time", lambda: next(clock))
    out = Pipe()
    with Progress(100_000, "train", stream=out) as bar:
        for _ in range(100_000):
            bar.update(1, loss=0.5)
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 12, lines
    assert lines[-1].startswith("train: 100000/100000") and "loss=0.5" in lines[-1]


def test_early_stop_prints_where_it_ended():
    out = Pipe()
    bar = Progress(1000, "dqn", stream=out)
    bar.update(10)
    bar.update(490, success=1.0)
    bar.close()
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("dqn: 500/1000") and "success=1" in lines[-1]
    assert len(lines) == 2


def test_quiet_prints_nothing():
    out = Pipe()
    with Progress(10, "x", quiet=True, stream=out) as bar:
        bar.update(10, a=1)
    assert out.getvalue() == ""
