"""Where the other workers of a multi-worker run are: one reader for the three places a cluster is described.

TensorFlow's multi-worker runtime reads ``TF_CONFIG``. Three things describe the same cluster, and this
module reads them in one place (in this order), so no wrapper script has to write ``TF_CONFIG``:

- ``TF_CONFIG`` itself: set by ``lab launch``, by Kubeflow's ``TFJob``, or by hand;
- **Slurm**'s variables, inside ``srun`` (``lab deploy slurm`` writes such a job): the node list
  (``SLURM_STEP_NODELIST``, else ``SLURM_JOB_NODELIST``: ``node[01-03,07],gpu5``), the tasks on each
  node (``SLURM_STEP_TASKS_PER_NODE``, else ``SLURM_TASKS_PER_NODE``: ``2(x3),1``), this task's
  ``SLURM_PROCID`` and ``SLURM_LOCALID``. Tasks are numbered node by node (Slurm's default block
  distribution), and the task with local id ``k`` on a node listens on ``port + k``; ``port`` is
  ``LAB_CLUSTER_PORT`` or, by default, ``20000 + 8 * (SLURM_JOB_ID mod 1500)`` (below Linux's ephemeral
  range, different for jobs whose ids are close; more than 8 tasks on one node may meet the next job's
  ports - set ``LAB_CLUSTER_PORT`` then). This is the derivation of TensorFlow's
  ``SlurmClusterResolver``, done without importing TensorFlow;
- a **Kubernetes Indexed Job** (``lab deploy k8s`` writes one): ``JOB_COMPLETION_INDEX`` (set by
  Kubernetes in each pod) and ``LAB_CLUSTER_JOB``, ``LAB_CLUSTER_SERVICE``, ``LAB_CLUSTER_WORKERS``,
  ``LAB_CLUSTER_PORT`` (set by the manifest): pod ``i`` is ``<job>-<i>.<service>:<port>`` in the
  headless Service's DNS.

:func:`adopt` writes the ``TF_CONFIG`` the cluster gives (for Slurm and Kubernetes) and records which
source it used in ``LAB_CLUSTER``, which :func:`describe` reads for ``env.json``. The first thing wrong
(a node list it cannot expand, an index out of range, a missing variable) is a :class:`StrategyError`
naming it: ``lab run`` exits 2.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lab.errors import StrategyError
from lab.strategy import check_tf_config

RECORD = "LAB_CLUSTER"  # JSON: the cluster adopt() derived (source, addresses, index, from)
PORT = "LAB_CLUSTER_PORT"
K8S_VARS = ("LAB_CLUSTER_JOB", "LAB_CLUSTER_SERVICE", "LAB_CLUSTER_WORKERS")
SLURM_PORT_BASE, SLURM_PORT_SLOTS, SLURM_PORT_JOBS = 20000, 8, 1500


@dataclass(frozen=True)
class Cluster:
    """A multi-worker cluster: every worker's ``host:port`` and this process's place in the list."""

    source: str  # "TF_CONFIG", "slurm" or "kubernetes"
    addresses: tuple[str, ...]
    index: int
    origin: str = ""  # the variables it was read from, for env.json

    def tf_config(self) -> str:
        return json.dumps({"cluster": {"worker": list(self.addresses)},
                           "task": {"type": "worker", "index": self.index}})

    def as_dict(self) -> dict:
        return {"source": self.source, "workers": len(self.addresses), "index": self.index,
                "addresses": list(self.addresses), "from": self.origin}


def read(environ: Mapping[str, str] | None = None) -> Cluster | None:
    """The cluster this process belongs to, from the first source present (see the module docstring);
    None when none is."""
    env = os.environ if environ is None else environ
    if env.get("TF_CONFIG", "").strip():
        origin = "lab launch" if env.get("LAB_LAUNCH_WORKER") else "TF_CONFIG"
        return _from_tf_config(env["TF_CONFIG"], origin)
    if "SLURM_PROCID" in env:
        return from_slurm(env)
    if "JOB_COMPLETION_INDEX" in env and any(name in env for name in K8S_VARS):
        return from_indexed_job(env)
    return None


def adopt(environ: dict | None = None) -> Cluster | None:
    """Read the cluster and, when it came from Slurm or Kubernetes, set ``TF_CONFIG`` (what TensorFlow
    reads) in ``environ`` (default: this process's environment); record the source in ``LAB_CLUSTER``."""
    env = os.environ if environ is None else environ
    if env.get(RECORD):
        return None  # adopted already (a second run in one process): TF_CONFIG is the one it wrote
    cluster = read(env)
    if cluster is None:
        return None
    if cluster.source != "TF_CONFIG":
        env["TF_CONFIG"] = cluster.tf_config()
    env[RECORD] = json.dumps(cluster.as_dict())
    return cluster


def describe(environ: Mapping[str, str] | None = None) -> dict | None:
    """What ``env.json`` records of the cluster: the source :func:`adopt` used, the workers, this index."""
    env = os.environ if environ is None else environ
    if env.get(RECORD):
        return json.loads(env[RECORD])
    cluster = _from_tf_config(env["TF_CONFIG"], "TF_CONFIG") if env.get("TF_CONFIG", "").strip() else None
    return cluster.as_dict() if cluster else None


def _from_tf_config(text: str, origin: str) -> Cluster:
    cfg = check_tf_config(text)
    task = cfg["task"]
    jobs = [job for job in ("chief", "worker") if job in cfg["cluster"]]
    addresses = [a for job in jobs for a in cfg["cluster"][job]]
    offset = len(cfg["cluster"].get("chief", [])) if task["type"] == "worker" else 0
    return Cluster("TF_CONFIG", tuple(addresses), offset + int(task["index"]), origin)


# --------------------------------------------------------------------------------------------------
# Slurm


def expand_hostlist(text: str) -> list[str]:
    """Slurm's compressed host list expanded: ``node[01-03,07],gpu5`` -> node01, node02, node03, node07,
    gpu5 (zero padding kept; several bracket groups in one name multiply). A StrategyError names what it
    cannot read."""
    if not text or not text.strip():
        raise StrategyError("Slurm: the node list is empty")
    hosts: list[str] = []
    for item in _split_top(text.strip()):
        hosts += _expand_item(item, text)
    return hosts


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth not in (0, 1):
            raise StrategyError(f"Slurm: cannot expand the node list {text!r}: brackets do not pair up")
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise StrategyError(f"Slurm: cannot expand the node list {text!r}: a '[' is never closed")
    items.append(text[start:])
    if any(not item for item in items):
        raise StrategyError(f"Slurm: cannot expand the node list {text!r}: an empty name between commas")
    return items


def _expand_item(item: str, whole: str) -> list[str]:
    m = re.match(r"^([^\[\]]*)\[([^\[\]]+)\](.*)$", item)
    if not m:
        if "[" in item or "]" in item or not re.fullmatch(r"[A-Za-z0-9._-]+", item):
            raise StrategyError(f"Slurm: cannot expand the node list {whole!r}: {item!r} is not a host name")
        return [item]
    prefix, ranges, rest = m.groups()
    tails = _expand_item(rest, whole) if rest else [""]
    return [f"{prefix}{number}{tail}" for number in _numbers(ranges, whole) for tail in tails]


def _numbers(ranges: str, whole: str) -> list[str]:
    out = []
    for part in ranges.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise StrategyError(f"Slurm: cannot expand the node list {whole!r}: {part!r} is not a number or "
                                f"a range low-high")
        lo, hi = m.group(1), m.group(2) or m.group(1)
        width = len(lo) if lo.startswith("0") else 0
        out += [str(n).zfill(width) for n in range(int(lo), int(hi) + 1)]
    return out


def tasks_per_node(text: str) -> list[int]:
    """Slurm's ``SLURM_TASKS_PER_NODE`` expanded: ``2(x3),1`` -> [2, 2, 2, 1]."""
    counts: list[int] = []
    for part in (text or "").split(","):
        m = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not m or int(m.group(1)) < 1:
            raise StrategyError(f"Slurm: cannot read the tasks per node {text!r} (expected e.g. 2(x3),1)")
        counts += [int(m.group(1))] * int(m.group(2) or 1)
    return counts


def _slurm_var(env: Mapping[str, str], *names: str) -> tuple[str, str]:
    for name in names:
        if env.get(name, "").strip():
            return name, env[name].strip()
    raise StrategyError(f"Slurm: {' or '.join(names)} is not set; run the workers with srun inside the job "
                        f"(`lab deploy slurm` writes such a script)")


def _whole(env: Mapping[str, str], name: str, low: int = 0) -> int:
    _, raw = _slurm_var(env, name)
    if not raw.isdigit() or int(raw) < low:
        raise StrategyError(f"Slurm: {name}={raw!r} is not a whole number")
    return int(raw)


def from_slurm(env: Mapping[str, str]) -> Cluster:
    """The cluster of the Slurm job step this process is a task of (see the module docstring)."""
    node_var, nodelist = _slurm_var(env, "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST")
    tpn_var, tpn = _slurm_var(env, "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE")
    nodes, counts = expand_hostlist(nodelist), tasks_per_node(tpn)
    if len(nodes) != len(counts):
        raise StrategyError(f"Slurm: {node_var}={nodelist!r} names {len(nodes)} node(s) but "
                            f"{tpn_var}={tpn!r} gives tasks for {len(counts)}")
    procid, port = _whole(env, "SLURM_PROCID"), slurm_port(env)
    addresses = [f"{node}:{port + k}" for node, n in zip(nodes, counts, strict=True) for k in range(n)]
    if procid >= len(addresses):
        raise StrategyError(f"Slurm: SLURM_PROCID={procid} is out of range: the step has {len(addresses)} "
                            f"task(s) ({node_var}={nodelist!r}, {tpn_var}={tpn!r})")
    _check_block(env, addresses, procid)
    origin = f"{node_var}={nodelist}, {tpn_var}={tpn}, SLURM_PROCID={procid}"
    return Cluster("slurm", tuple(addresses), procid, origin)


def slurm_port(env: Mapping[str, str]) -> int:
    """The first port of this job's tasks on each node (``LAB_CLUSTER_PORT``, or one from the job id)."""
    if env.get(PORT, "").strip():
        return _port(env[PORT])
    job = _whole(env, "SLURM_JOB_ID")
    return SLURM_PORT_BASE + SLURM_PORT_SLOTS * (job % SLURM_PORT_JOBS)


def _check_block(env: Mapping[str, str], addresses: list[str], procid: int) -> None:
    """Tasks must be numbered node by node (the derivation assumes Slurm's block distribution)."""
    here, local = env.get("SLURMD_NODENAME", "").strip(), env.get("SLURM_LOCALID", "").strip()
    host, port = addresses[procid].rsplit(":", 1)
    first = min(i for i, a in enumerate(addresses) if a.rsplit(":", 1)[0] == host)
    if (here and here != host) or (local.isdigit() and int(local) != procid - first):
        raise StrategyError(f"Slurm: task {procid} runs on {here or '?'} as local task {local or '?'}, not "
                            f"on {host} as local task {procid - first}: the tasks are not distributed node "
                            f"by node; submit with --distribution=block")


def _port(raw: str) -> int:
    if not raw.strip().isdigit() or not 1024 <= int(raw) <= 65000:
        raise StrategyError(f"{PORT}={raw!r}: give a port number, 1024 ... 65000")
    return int(raw)


# --------------------------------------------------------------------------------------------------
# Kubernetes Indexed Job


def from_indexed_job(env: Mapping[str, str]) -> Cluster:
    """The cluster of a Kubernetes Indexed Job behind a headless Service (see the module docstring)."""
    missing = [name for name in ("JOB_COMPLETION_INDEX", *K8S_VARS, PORT) if not env.get(name, "").strip()]
    if missing:
        raise StrategyError(f"Kubernetes: {', '.join(missing)} not set; the pod's environment needs all of "
                            f"JOB_COMPLETION_INDEX, {', '.join(K8S_VARS)} and {PORT} (`lab deploy k8s` "
                            f"writes them)")
    workers, index = env["LAB_CLUSTER_WORKERS"].strip(), env["JOB_COMPLETION_INDEX"].strip()
    if not workers.isdigit() or int(workers) < 1:
        raise StrategyError(f"Kubernetes: LAB_CLUSTER_WORKERS={workers!r} is not a number of workers")
    if not index.isdigit() or int(index) >= int(workers):
        raise StrategyError(f"Kubernetes: JOB_COMPLETION_INDEX={index!r} is out of range for "
                            f"LAB_CLUSTER_WORKERS={workers} (0 ... {int(workers) - 1})")
    job, service, port = env["LAB_CLUSTER_JOB"].strip(), env["LAB_CLUSTER_SERVICE"].strip(), _port(env[PORT])
    addresses = tuple(f"{job}-{i}.{service}:{port}" for i in range(int(workers)))
    origin = f"JOB_COMPLETION_INDEX={index}, LAB_CLUSTER_JOB={job}, LAB_CLUSTER_SERVICE={service}"
    return Cluster("kubernetes", addresses, int(index), origin)
