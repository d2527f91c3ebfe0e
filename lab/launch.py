"""Start the workers of a TensorFlow multi-worker run on this machine and watch them (``lab launch``).

TensorFlow already has a multi-worker runtime: each process of a ``MultiWorkerMirroredStrategy`` reads
``TF_CONFIG`` (the cluster's ``host:port`` addresses and which of them it is), and the processes find
each other and run the collectives themselves. So there is no scheduler here, home-made or otherwise:
the launcher only picks free ports, starts N ``lab run --resume RUN`` processes with their
``TF_CONFIG``, streams their output into ``RUN/logs/worker-<i>.log`` (and, prefixed, to the console),
and stops them all when one of them fails or the user presses Ctrl-C, so that no worker is left
waiting for a peer that is gone.

The parent never imports TensorFlow. :func:`run_workers` drives any list of commands, which is how the
tests exercise it without TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from lab.errors import RunError, ScenarioError
from lab.execute import prepare
from lab.lock import describe_holder, lock_holder
from lab.runs import RunDir, atomic_write_json
from lab.scenario import parse_override
from lab.strategy import PORT_TAKEN

MAX_WORKERS = 64
STRATEGY = "multi-worker"
WORKERS_FILE = "workers.json"
PORT_ATTEMPTS = 3  # a port taken between free_ports() and the worker's start: start again on new ones

# TensorFlow's and absl's native log lines ("I0000 00:00:1712345678.123 ... cpu_feature_guard.cc ...",
# "W0415 12:01:02.345 ..."); they go to the worker's log only, unless LAB_TF_LOGS=1.
NATIVE_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog()"


# --------------------------------------------------------------------------------------------------
# The cluster description


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports that are free on ``host`` now: ``n`` sockets are bound to port 0 at the same
    time (so the system cannot hand out one port twice), their ports read, then all closed.

    Between this and the workers binding them another program could take one; TensorFlow then fails to
    start its server, the worker says so (:data:`lab.strategy.PORT_TAKEN`) and :func:`launch` starts the
    workers again on new ports (up to :data:`PORT_ATTEMPTS` times)."""
    if n < 1:
        raise ValueError(f"free_ports: n must be at least 1, not {n}")
    sockets: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(addresses: Sequence[str], index: int) -> str:
    """``TF_CONFIG`` (JSON) for worker ``index`` of a cluster of workers at ``addresses`` (``host:port``).
    Worker 0 is the chief: it writes the run folder's checkpoints, metrics and summary."""
    if not 0 <= index < len(addresses):
        raise ValueError(f"tf_config: index {index} is not in 0 ... {len(addresses) - 1}")
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def worker_env(base: Mapping[str, str], addresses: Sequence[str], index: int,
               cpu_count: int | None = None) -> dict[str, str]:
    """The environment of worker ``index``: ``base`` (the launcher's environment) plus ``TF_CONFIG``,
    ``PYTHONUNBUFFERED=1`` (its lines arrive as they are printed), ``LAB_LAUNCH_WORKER`` (informational)
    and TensorFlow's thread pools.

    On one machine the N workers share its cores: each gets ``TF_NUM_INTRAOP_THREADS`` and
    ``TF_NUM_INTEROP_THREADS`` = max(1, cores // N), unless the user set them, so that N processes do not
    each start a pool as wide as the machine and spend their time preempting each other."""
    env = dict(base)
    env["TF_CONFIG"] = tf_config(addresses, index)
    env["PYTHONUNBUFFERED"] = "1"
    env["LAB_LAUNCH_WORKER"] = str(index)
    threads = str(max(1, (cpu_count or os.cpu_count() or 1) // len(addresses)))
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        if not env.get(name):
            env[name] = threads
    return env


def worker_command(run_path: str | Path) -> list[str]:
    """What each worker runs: ``lab run --resume RUN`` (the chief continues the run from wherever it is -
    the start, for a fresh folder; the other workers read the scenario from it)."""
    return [sys.executable, "-m", "lab", "run", "--resume", str(run_path)]


# --------------------------------------------------------------------------------------------------
# Starting, streaming and watching processes


def is_native_log(line: str) -> bool:
    """A TensorFlow/absl native log line (kept in the worker's log file, not shown on the console)."""
    return bool(NATIVE_LOG.match(line)) or line.startswith(ABSL_PREAMBLE)


def describe_exit(code: int) -> str:
    """``exited with code 3``, or ``killed by SIGKILL`` for a negative return code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class WorkerFailure:
    """The first worker that failed: its index, return code and log file."""

    index: int
    returncode: int
    log: Path

    @property
    def reason(self) -> str:
        return describe_exit(self.returncode)


class WorkerFailed(RunError):
    """A worker exited with a non-zero code (the others were stopped)."""

    def __init__(self, failure: WorkerFailure, message: str):
        super().__init__(message)
        self.failure = failure


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _Console:
    """Whole lines, one at a time, from several reader threads."""

    def __init__(self, stream: IO[str] | None, show_native: bool):
        self.stream = stream
        self.show_native = show_native
        self.lock = threading.Lock()

    def line(self, index: int, text: str) -> None:
        if self.stream is None or (not self.show_native and is_native_log(text)):
            return
        text = text.rsplit("\r", 1)[-1]  # a progress bar's updates: its last state
        with self.lock:
            self.stream.write(f"[worker {index}] {text}\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        """The launcher's own messages (shown even with --quiet)."""
        with self.lock:
            print(text, file=sys.stderr, flush=True)


def _pump(index: int, pipe: IO[bytes], log: IO[bytes], console: _Console) -> None:
    try:
        for raw in iter(pipe.readline, b""):
            log.write(raw if raw.endswith(b"\n") else raw + b"\n")
            log.flush()
            console.line(index, raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    except (OSError, ValueError):  # the pipe was closed under us while stopping
        pass
    finally:
        log.close()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the worker's process group (it leads its own session). Only while it has not been
    reaped: until then its pid, and so the group id, cannot belong to anyone else."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(procs: Sequence[subprocess.Popen], sig: int, grace: float) -> None:
    """``sig`` to every running worker, up to ``grace`` seconds for them to exit, then SIGKILL."""
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, sig)
    deadline = time.monotonic() + grace
    try:
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)
    except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
        pass
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
            pass


def _tail(path: Path, n: int = 8) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip() and not is_native_log(line)][-n:]


def run_workers(commands: Sequence[Sequence[str]], envs: Sequence[Mapping[str, str]], log_dir: str | Path, *,
                grace: float = 10.0, quiet: bool = False, poll: float = 0.1,
                info: Sequence[Mapping] | None = None, stream: IO[str] | None = None,
                show_native: bool | None = None, resume_hint: str = "",
                on_failure: Callable[[WorkerFailure], None] | None = None,
                on_interrupt: Callable[[], None] | None = None) -> list[int]:
    """Run ``commands[i]`` with environment ``envs[i]``, each in its own session, until all have exited.

    Each worker's stdout and stderr go (merged) to ``log_dir/worker-<i>.log`` (appended: a resumed run
    keeps what came before) and, prefixed ``[worker i]``, to ``stream`` (default the launcher's stderr;
    nothing with ``quiet``). TensorFlow's native log lines reach the console only with ``show_native``
    (default: ``LAB_TF_LOGS=1``). ``log_dir/workers.json`` records each worker's index, pid, command, log
    and ``info[i]`` (e.g. its address), then the return codes.

    Returns the return codes (all 0). When a worker exits non-zero the others get SIGTERM, then SIGKILL
    after ``grace`` seconds; ``on_failure(failure)`` is called and :class:`WorkerFailed` raised, naming the
    worker, its log and ``resume_hint``. On Ctrl-C the workers get SIGINT (same grace), ``on_interrupt()``
    is called and the KeyboardInterrupt re-raised. A worker exiting 0 while others still run is fine.
    """
    if len(commands) != len(envs):
        raise ValueError("run_workers: one environment per command")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    if show_native is None:
        show_native = os.environ.get("LAB_TF_LOGS") == "1"
    group = _Workers(log_dir, _Console(None if quiet else (stream or sys.stderr), show_native))
    failure: WorkerFailure | None = None
    interrupted = False
    try:
        try:
            group.start(commands, envs, info)
            failure = group.wait(grace, poll)
        except KeyboardInterrupt:
            interrupted = True
            _stop(group.procs, signal.SIGINT, grace)
    finally:
        group.close()
    if interrupted:
        if on_interrupt is not None:
            on_interrupt()
        raise KeyboardInterrupt
    if failure is not None:
        if on_failure is not None:
            on_failure(failure)
        raise WorkerFailed(failure, _failure_message(failure, quiet, resume_hint))
    return [p.returncode for p in group.procs]


class _Workers:
    """The processes of one :func:`run_workers` call, their output threads and ``workers.json``."""

    def __init__(self, log_dir: Path, console: _Console):
        self.log_dir, self.console = log_dir, console
        self.procs: list[subprocess.Popen] = []
        self.threads: list[threading.Thread] = []
        self.logs: list[Path] = []
        self.record = {"launched": _now(), "log_dir": str(log_dir), "workers": []}

    def start(self, commands, envs, info) -> None:
        """Start every worker in its own session, its output pumped to its log and the console."""
        for i, (cmd, env) in enumerate(zip(commands, envs, strict=True)):
            self.logs.append(self.log_dir / f"worker-{i}.log")
            log = open(self.logs[i], "ab")  # closed by its reader thread
            try:
                proc = subprocess.Popen(list(cmd), env=dict(env), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except BaseException:
                log.close()
                raise
            self.procs.append(proc)
            thread = threading.Thread(target=_pump, args=(i, proc.stdout, log, self.console),
                                      name=f"worker-{i}-output", daemon=True)
            thread.start()
            self.threads.append(thread)
            self.record["workers"].append({"index": i, "pid": proc.pid, **(dict(info[i]) if info else {}),
                                           "command": list(cmd), "log": str(self.logs[i])})
        atomic_write_json(self.log_dir / WORKERS_FILE, self.record)

    def wait(self, grace: float, poll: float) -> WorkerFailure | None:
        """Until every worker has exited 0, or the first that fails (the others are then stopped)."""
        while True:
            codes = [p.poll() for p in self.procs]
            failed = [i for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                i = failed[0]
                failure = WorkerFailure(i, codes[i], self.logs[i])
                others = "; stopping the other workers" if len(self.procs) > 1 else ""
                self.console.say(f"worker {i} {failure.reason}{others}")
                _stop(self.procs, signal.SIGTERM, grace)
                return failure
            if all(c == 0 for c in codes):
                return None
            time.sleep(poll)

    def close(self) -> None:
        """Kill what still runs (after an unexpected error), drain the output, record the return codes."""
        _stop(self.procs, signal.SIGKILL, 0)
        for thread in self.threads:
            thread.join(timeout=5)
        for proc, thread in zip(self.procs, self.threads, strict=False):
            if proc.stdout is not None and not thread.is_alive():
                proc.stdout.close()
        if self.procs:
            for entry, proc in zip(self.record["workers"], self.procs, strict=False):
                entry["returncode"] = proc.returncode
            self.record["finished"] = _now()
            atomic_write_json(self.log_dir / WORKERS_FILE, self.record)


def _failure_message(failure: WorkerFailure, quiet: bool, resume_hint: str) -> str:
    message = f"worker {failure.index} {failure.reason}; its output is in {failure.log}"
    if quiet:
        tail = _tail(failure.log)
        if tail:
            message += "\n  last lines:\n" + "\n".join(f"    {line}" for line in tail)
    if resume_hint:
        message += f"\ncontinue with: {resume_hint}"
    return message


# --------------------------------------------------------------------------------------------------
# lab launch


def check_workers(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_WORKERS:
        raise ScenarioError(f"--workers {n!r}: give a whole number of workers, 1 ... {MAX_WORKERS}")
    return n


def prepare_launch(scenario_file: str | None, overrides: Sequence[str] = (), out: str | None = None,
                   resume: str | None = None) -> RunDir:
    """Validate and create the run folder (strategy multi-worker), or reopen one to continue; no TensorFlow.

    A fresh run: the user's overrides may not choose another strategy. A resumed run: it must have been a
    multi-worker run, and not be complete."""
    if resume:
        run = RunDir.open(resume)
        strategy = run.read_scenario().get("strategy")
        if strategy != STRATEGY:
            raise RunError(f"{run.path} was not a multi-worker run (its strategy is {strategy!r}); continue "
                           f"it with `lab run --resume {run.path}`")
        if run.status == "complete":
            raise RunError(f"{run.path}: this run is already complete; start a new one with "
                           f"`lab launch --workers N {scenario_file or 'FILE'}`")
        holder = lock_holder(run.path)
        if holder is not None:  # before any worker starts (the chief would be refused after the others)
            raise RunError(f"{run.path} is in use by {describe_holder(holder)}; wait for it or stop it")
        _, run = prepare(scenario_file, overrides, None, resume)  # validates; refuses --set with --resume
        return run
    for text in overrides:
        path, value = parse_override(text)
        if path == ["strategy"] and value != STRATEGY:
            raise ScenarioError(f"--set {text}: lab launch always uses strategy {STRATEGY} (TF_CONFIG names "
                                f"each worker); to run on one process use `lab run`")
    _, run = prepare(scenario_file, [*overrides, f"strategy={STRATEGY}"], out)
    return run


def launch(run: RunDir, workers: int, *, grace: float = 10.0, quiet: bool = False,
           host: str = "127.0.0.1", stream: IO[str] | None = None) -> RunDir:
    """Run ``run`` (a prepared multi-worker run folder) with ``workers`` local processes; returns it when
    all exited 0. Failures set the run's marker to ``failed`` (Ctrl-C: ``interrupted``) unless the run is
    already complete, and raise a RunError that says how to continue."""
    check_workers(workers)
    hint = f"lab launch --workers {workers} --resume {run.path}"

    def mark(status: str) -> None:
        try:
            if run.status != "complete":
                run.write_marker(status=status)
        except RunError:  # a damaged marker: say nothing more than the failure itself
            pass

    def interrupted() -> None:
        mark("interrupted")
        print(f"\ninterrupted; continue with: {hint}", file=sys.stderr, flush=True)

    for attempt in range(1, PORT_ATTEMPTS + 1):
        addresses = [f"{host}:{p}" for p in free_ports(workers, host)]
        envs = [worker_env(os.environ, addresses, i) for i in range(workers)]
        commands = [worker_command(run.path.resolve()) for _ in range(workers)]
        try:
            run_workers(commands, envs, run.path / "logs", grace=grace, quiet=quiet, stream=stream,
                        info=[{"address": a} for a in addresses], resume_hint=hint, on_interrupt=interrupted)
            return run
        except WorkerFailed as exc:
            if attempt == PORT_ATTEMPTS or not _port_was_taken(exc.failure.log):
                mark("failed")
                raise
            print(f"worker {exc.failure.index} {PORT_TAKEN} (another program took its port between the "
                  f"choice and the start): starting the workers again on new ports",
                  file=stream or sys.stderr, flush=True)
    raise AssertionError("unreachable")


def _port_was_taken(log: Path) -> bool:
    """The worker's log says TensorFlow could not listen on its port (lab.strategy's message)."""
    return any(PORT_TAKEN in line for line in _tail(log, 20))
