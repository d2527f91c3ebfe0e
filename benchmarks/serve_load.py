"""How fast is ``lab serve`` under concurrent clients? Latency, throughput, failures and memory (loopback).

    .venv/bin/python benchmarks/serve_load.py                          # tiny runs made in a temp folder
    .venv/bin/python benchmarks/serve_load.py --runs runs --seconds 10 --clients 1 8 32

The script starts a real ``lab serve`` process (``python -m lab serve CLASSIFIER RBM --port P --token T``,
on a free loopback port), waits for ``GET /ready``, and measures:

* **predict** (``POST /api/runs/<classifier>/predict``, JSON ``pixels`` of a 28x28 digit: test image 0 of
  the run's data, or a synthetic stroke when the data is not there) and **recommend** (``POST
  /api/runs/<rbm>/recommend``, the run's first user id, top 10) at each ``--clients`` count: threads,
  each with one keep-alive ``http.client`` connection, sending requests back to back for ``--seconds``;
  p50/p99 latency of the 2xx answers, requests/s, failed requests (any non-2xx or exception) and the
  server's CPU time per request (``/proc/<pid>/stat``);
* beside them, the **in-process** call of the same function (``lab.serve.runs.predict`` /
  ``recommend`` on a ``ServedRun`` opened in this process, one thread): the limit HTTP can approach;
* **memory**: the server's RSS (``VmRSS`` of ``/proc/<pid>/status``) after its first 1,000 predict
  requests and after 10,000 (8 clients), first thing after it is ready.

Goals, each printed met or missed: predict p99 < 50 ms at 8 clients; the service's p50 at 1 client within
1.5x of the in-process call's; no failed request at 32 clients; RSS after 10,000 requests within 10% of
RSS after 1,000. The clients run on the same machine as the server and share its cores: the load
(``/proc/loadavg``) is printed before and after. The server is stopped by its pid at the end.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from lab.launch import free_ports  # noqa: E402

TASKS = ("classifier", "rbm")
MEMORY_FIRST, MEMORY_TOTAL, MEMORY_CLIENTS = 1_000, 10_000, 8
GOAL_P99_MS, GOAL_RATIO, GOAL_RSS = 50.0, 1.5, 0.10


@dataclass
class Result:
    """The answers of one setting: latencies (s) of the 2xx answers, failures, wall time, server CPU (s)."""

    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    seconds: float = 0.0
    server_cpu: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.failed

    def ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else float("nan")


# --------------------------------------------------------------------------------------------------
# runs


def newest_runs(folder: Path) -> dict[str, Path]:
    """The newest finished run of each of :data:`TASKS` under ``folder`` (run folders sort by time)."""
    from lab.runs import find_runs

    found = {}
    for run in find_runs(folder):
        try:
            task, status = run.task, run.status
        except Exception:  # an unreadable run.json: not a candidate
            continue
        if task in TASKS and status == "complete":
            found[task] = run.path
    missing = [t for t in TASKS if t not in found]
    if missing:
        sys.exit(f"{folder}: no finished {' or '.join(missing)} run (make some with tests/serve_runs.py)")
    return found


def tiny_runs(folder: Path) -> dict[str, Path]:
    """A tiny classifier and RBM run trained now (``tests/serve_runs.py``) in ``folder``."""
    spec = importlib.util.spec_from_file_location("serve_runs", ROOT / "tests" / "serve_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    t0 = time.perf_counter()
    runs = module.make_runs(folder, kinds=set(TASKS))
    print(f"made tiny runs in {time.perf_counter() - t0:.0f} s: {', '.join(p.name for p in runs.values())}")
    return runs


def digit(served) -> tuple[list[list[int]], str]:
    """A 28x28 digit as rows of 0-255: the run's test image 0, or a synthetic stroke (a '7')."""
    try:
        image, label = served.model.test_image(0)
        pixels = np.asarray(image)[..., 0].round().astype(int).tolist()
        return pixels, f"test image 0 of the run's data (a {label})"
    except Exception as exc:  # the data set is not on this machine
        a = np.zeros((28, 28), int)
        a[6:9, 7:22] = 255
        for row in range(9, 24):
            a[row, 20 - (row - 9) // 2:23 - (row - 9) // 2] = 255
        return a.tolist(), f"a synthetic stroke (the run's data: {type(exc).__name__})"


# --------------------------------------------------------------------------------------------------
# the server



class Server:
    """``lab serve`` as a child process, its log in a file; stopped by its pid."""

    def __init__(self, runs: list[Path], log: Path):
        self.port, self.token, self.log = free_ports(1)[0], secrets.token_hex(16), log
        self.started = time.perf_counter()
        cmd = [sys.executable, "-m", "lab", "serve", *map(str, runs), "--port", str(self.port),
               "--token", self.token]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 300.0) -> float:
        """Seconds from the start until ``GET /ready`` answers 200 (polled every 0.25 s)."""
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                sys.exit(f"lab serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/ready")
                if conn.getresponse().status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        sys.exit(f"lab serve was not ready after {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()


# --------------------------------------------------------------------------------------------------
# the clients


class Client:
    """One keep-alive connection; ``post`` answers (seconds, ok), reconnecting after an error."""

    def __init__(self, server: Server):
        self.server, self.conn = server, None
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {server.token}"}

    def post(self, path: str, body: bytes) -> tuple[float, bool, str]:
        t0 = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
            self.conn.request("POST", path, body=body, headers=self.headers)
            resp = self.conn.getresponse()
            data = resp.read()
            ok = 200 <= resp.status < 300
            why = "" if ok else f"{resp.status} {data[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            if self.conn is not None:
                self.conn.close()
            self.conn, ok, why = None, False, f"{type(exc).__name__}: {exc}"
        return time.perf_counter() - t0, ok, why


def hammer(server: Server, path: str, body: bytes, clients: int, *, seconds: float | None = None,
           total: int | None = None, warm: bool = True) -> Result:
    """``clients`` threads posting ``body`` to ``path`` back to back, for ``seconds`` or ``total`` requests
    in all (tickets from one counter: ``next`` on an ``itertools.count`` is atomic under the GIL)."""
    results = [Result() for _ in range(clients)]
    start, tickets = threading.Barrier(clients + 1), itertools.count()
    deadline = [0.0]

    def work(res: Result) -> None:
        client = Client(server)
        if warm:
            client.post(path, body)  # opens the connection; not counted
        start.wait()
        while (time.perf_counter() < deadline[0]) if total is None else (next(tickets) < total):
            took, ok, why = client.post(path, body)
            if ok:
                res.latencies.append(took)
            else:
                res.failed += 1
                if len(res.errors) < 3:
                    res.errors.append(why)
        if client.conn is not None:
            client.conn.close()

    threads = [threading.Thread(target=work, args=(r,), daemon=True) for r in results]
    for t in threads:
        t.start()
    cpu0 = server.cpu_seconds()
    deadline[0] = time.perf_counter() + (seconds or 0)
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    out = Result(seconds=time.perf_counter() - t0, server_cpu=server.cpu_seconds() - cpu0)
    for r in results:
        out.latencies += r.latencies
        out.failed += r.failed
        out.errors += r.errors
    return out


def in_process(call, seconds: float, warm: int = 20) -> Result:
    """``call()`` back to back in this thread for ``seconds`` (after ``warm`` calls not counted)."""
    for _ in range(warm):
        call()
    out = Result()
    t0 = end = time.perf_counter()
    while end - t0 < seconds:
        call()
        now = time.perf_counter()
        out.latencies.append(now - end)
        end = now
    out.seconds = end - t0
    return out


# --------------------------------------------------------------------------------------------------
# the report


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def row(endpoint: str, where: str, clients: int, r: Result) -> str:
    cpu = f"{r.server_cpu / max(r.requests, 1) * 1000:8.2f}" if r.server_cpu is not None else f"{'-':>8}"
    return (f"{endpoint:<10} {where:<11} {clients:>7} {r.requests:>9,} {r.failed:>6} {r.ms(50):>8.2f} "
            f"{r.ms(99):>8.2f} {r.rate:>9.1f} {cpu}")


HEADER = (f"{'endpoint':<10} {'where':<11} {'clients':>7} {'requests':>9} {'failed':>6} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'req/s':>9} {'srv cpu ms/req':>14}")


def goal(text: str, ok: bool) -> str:
    return f"  {'met   ' if ok else 'MISSED'}  {text}"


def goals(table: dict, clients: list[int], rss: tuple[float, float]) -> list[str]:
    lines = []
    if 8 in clients:
        p99 = table["predict", 8].ms(99)
        lines.append(goal(f"predict p99 < {GOAL_P99_MS:g} ms at 8 clients: {p99:.2f} ms", p99 < GOAL_P99_MS))
    if 1 in clients:
        for ep in ("predict", "recommend"):
            http_p50, own = table[ep, 1].ms(50), table[ep, "in-process"].ms(50)
            lines.append(goal(f"{ep} p50 at 1 client within {GOAL_RATIO:g}x of the in-process call: "
                              f"{http_p50:.2f} ms / {own:.2f} ms = {http_p50 / own:.2f}x",
                              http_p50 <= GOAL_RATIO * own))
    if 32 in clients:
        failed = {ep: table[ep, 32].failed for ep in ("predict", "recommend")}
        lines.append(goal(f"no failed request at 32 clients: {failed}", not any(failed.values())))
    first, last = rss
    lines.append(goal(f"RSS after {MEMORY_TOTAL:,} predict requests within {GOAL_RSS:.0%} of after "
                      f"{MEMORY_FIRST:,}: {last:.1f} MiB / {first:.1f} MiB = {last / first:.3f}",
                      abs(last / first - 1) <= GOAL_RSS))
    return lines


# --------------------------------------------------------------------------------------------------
# the measurements


def open_in_process(runs: dict[str, Path]) -> dict:
    """The two runs opened in this process (TensorFlow loads here too)."""
    from lab.serve.runs import ServedRun

    served = {}
    for task, path in runs.items():
        served[task] = ServedRun(path)
        served[task].open()
    return served


def requests_of(served: dict) -> dict:
    """endpoint -> (URL path, JSON body, the in-process call), plus what the digit is."""
    from lab.serve import runs as served_runs

    pixels, source = digit(served["classifier"])
    user = int(served["rbm"].model.ratings.user_ids[0])
    clf, rbm = served["classifier"], served["rbm"]
    print(f"predict: {source}; recommend: user {user}, top 10")
    return {
        "predict": (f"/api/runs/{clf.name}/predict", json.dumps({"pixels": pixels}).encode(),
                    lambda: served_runs.predict(clf, pixels=pixels, top=3)),
        "recommend": (f"/api/runs/{rbm.name}/recommend", json.dumps({"user": user, "top": 10}).encode(),
                      lambda: served_runs.recommend(rbm, user=user, top=10)),
    }


def check_answers(server: Server, calls: dict) -> None:
    """One request of each kind must answer 200 with what the endpoint promises, before anything is timed:
    the same answer as the in-process call (predict: its top classes; recommend: its picks)."""
    key = {"predict": "top", "recommend": "picks"}
    for ep, (path, body, call) in calls.items():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("POST", path, body=body, headers=Client(server).headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status != 200:
            sys.exit(f"{ep}: the first request answered {resp.status}: {data[:500]!r}")
        got, own = json.loads(data).get(key[ep]), json.loads(json.dumps(call()))[key[ep]]
        if got != own:
            sys.exit(f"{ep}: the service answered {got}, the in-process call {own}")


def memory(server: Server, calls: dict) -> tuple[float, float]:
    path, body, _ = calls["predict"]
    rss = [server.rss_mib()]
    for n in (MEMORY_FIRST, MEMORY_TOTAL - MEMORY_FIRST):
        r = hammer(server, path, body, MEMORY_CLIENTS, total=n, warm=False)
        rss.append(server.rss_mib())
        print(f"  {n:,} predict requests at {MEMORY_CLIENTS} clients in {r.seconds:.1f} s "
              f"({r.failed} failed): server RSS {rss[-1]:.1f} MiB")
    print(f"  (RSS when ready: {rss[0]:.1f} MiB)")
    return rss[1], rss[2]


def measure(server: Server, calls: dict, clients: list[int], seconds: float) -> dict:
    table = {}
    print(f"\n{HEADER}")
    for ep, (path, body, call) in calls.items():
        table[ep, "in-process"] = in_process(call, seconds)
        print(row(ep, "in-process", 1, table[ep, "in-process"]), flush=True)
        for n in clients:
            table[ep, n] = r = hammer(server, path, body, n, seconds=seconds)
            print(row(ep, "http", n, r), flush=True)
            for why in r.errors[:3]:
                print(f"{'':>12}failed: {why}")
    return table


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, help="a runs folder: its newest finished classifier and rbm runs "
                                              "(default: tiny runs made now in a temp folder)")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds per setting (default 10)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrent clients")
    args = ap.parse_args(argv)
    if args.seconds <= 0 or any(n < 1 for n in args.clients):
        ap.error("--seconds and --clients must be positive")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    print(f"load (/proc/loadavg) at start: {loadavg()}; {os.cpu_count()} CPUs, "
          f"{len(os.sched_getaffinity(0))} usable; clients and server share them")
    tmp = Path(tempfile.mkdtemp(prefix="serve-load-"))
    server = None
    try:
        runs = newest_runs(args.runs) if args.runs else tiny_runs(tmp / "tiny")
        print("runs: " + ", ".join(str(p) for p in runs.values()))
        server = Server(list(runs.values()), tmp / "server.log")
        calls = requests_of(open_in_process(runs))
        print(f"lab serve (pid {server.pid}) ready in {server.wait_ready():.1f} s on port {server.port}")
        check_answers(server, calls)
        print("memory:")
        rss = memory(server, calls)
        table = measure(server, calls, args.clients, args.seconds)
        print("\ngoals:")
        print("\n".join(goals(table, args.clients, rss)))
    finally:
        if server is not None:
            server.stop()
            code = server.proc.returncode  # -15: uvicorn shuts down, then raises the SIGTERM again
            how = "by SIGTERM, after its shutdown" if code == -signal.SIGTERM else f"exit {code}"
            print(f"\nlab serve (pid {server.pid}) stopped: {how}")
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"load (/proc/loadavg) at end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
