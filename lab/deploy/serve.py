"""Kubernetes manifests that serve finished runs (``lab deploy k8s --serve RUN... --image IMAGE``):
``kubectl apply -f serve.yaml``.

- a **Deployment** of ``--replicas`` pods, each running ``lab serve /runs/<run>... --host 0.0.0.0 --port
  P`` with the token from a Secret (``LAB_SERVE_TOKEN`` from a ``secretKeyRef``, key ``token``; ``lab
  serve`` reads it when no ``--token`` is given), a readiness probe on ``/ready`` and liveness and
  startup probes on ``/health`` (httpGet on the port; the startup probe gives TensorFlow and the models
  five minutes to load), resource requests and limits, the training pods' non-root security context (no
  privilege escalation, no capabilities, no service-account token);
- the runs on a **PersistentVolumeClaim** mounted read-only at ``/runs``: the claim the training job
  wrote them to (``lab deploy k8s SCENARIO`` names it ``<job>-runs``: ``--runs-claim <job>-runs``). These
  manifests do not create it;
- a **ClusterIP Service** on the port.

Nothing here creates the Secret either (a token does not belong in a file that is shared): ``kubectl
create secret generic <name>-token --from-literal=token=...``. A RUN is a run folder's name as it is
under ``/runs`` on the volume (a plain name: no ``/``, no ``..``). The image needs the lab's ``serve``
extra (FastAPI, uvicorn). No TensorFlow here.
"""

from __future__ import annotations

import re

import yaml

from lab import __version__
from lab.deploy import job_name
from lab.deploy.k8s import LABEL, SECURITY, check_image, check_namespace, check_quantity, cpu_threads
from lab.errors import UsageError

PORT = 8000
MOUNT = "/runs"
TOKEN_KEY = "token"
RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$")
OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # a Kubernetes object name (DNS subdomain)


def check_runs(runs) -> list[str]:
    """Run folder names under ``/runs``: plain names (no ``/``, no ``..``), each once."""
    runs = list(runs or [])
    if not runs:
        raise UsageError("--serve: give the names of the run folders, as they are under /runs on the volume")
    for run in runs:
        if "/" in run or ".." in run or not RUN_NAME.match(run):
            raise UsageError(f"--serve {run!r}: give a run folder's name as it is under {MOUNT} on the "
                             f"volume (letters, digits, '.', '_' and '-'; no '/', no '..'), e.g. "
                             f"20261204-193908-digits")
    twice = sorted({r for r in runs if runs.count(r) > 1})
    if twice:
        raise UsageError(f"--serve: {twice[0]} is given twice (lab serve names each run by its folder's "
                         f"name)")
    return runs


def check_object_name(flag: str, name: str) -> str:
    if not OBJECT_NAME.match(name) or len(name) > 253:
        raise UsageError(f"{flag} {name!r}: give a Kubernetes object name (lower-case letters, digits, '-' "
                         f"and '.')")
    return name


def check_port(port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
        raise UsageError(f"--port {port!r}: give 1024 ... 65535 (the pod runs as a user, not root)")
    return port


def check_replicas(replicas) -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise UsageError(f"--replicas {replicas!r}: give 1 or more")
    return replicas


def manifests(runs, image: str, *, namespace: str = "default", name: str | None = None, port: int = PORT,
              replicas: int = 1, cpus: str = "2", memory: str = "4Gi", token_secret: str | None = None,
              runs_claim: str | None = None) -> list[dict]:
    """The Deployment and the Service (see the module docstring), each a mapping for ``yaml.safe_dump``."""
    runs, image = check_runs(runs), check_image(image)
    cpus, memory = check_quantity("--cpus-per-worker", cpus), check_quantity("--memory-per-worker", memory)
    port, replicas, namespace = check_port(port), check_replicas(replicas), check_namespace(namespace)
    app = job_name(name, "serve")
    secret = check_object_name("--token-secret", token_secret or f"{app}-token")
    claim = check_object_name("--runs-claim", runs_claim or f"{app}-runs")
    labels = {LABEL: "lab", "lab/serve": app}
    meta = {"name": app, "namespace": namespace, "labels": labels}
    pod = _pod(labels, _container(runs, image, port, cpus, memory, secret), claim)
    return [_deployment(meta, pod, replicas), _service(meta, port)]


def _container(runs: list[str], image: str, port: int, cpus: str, memory: str, secret: str) -> dict:
    threads = cpu_threads(cpus)
    env = [{"name": "PYTHONUNBUFFERED", "value": "1"},
           {"name": "TF_NUM_INTRAOP_THREADS", "value": threads},
           {"name": "TF_NUM_INTEROP_THREADS", "value": threads},
           {"name": "LAB_SERVE_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": TOKEN_KEY}}}]
    limits = {"cpu": cpus, "memory": memory}
    return {
        "name": "serve",
        "image": image,
        "command": ["lab"],
        "args": ["serve", *(f"{MOUNT}/{run}" for run in runs), "--host", "0.0.0.0", "--port", str(port)],
        "env": env,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": {"requests": dict(limits), "limits": limits},
        "startupProbe": _probe("/health", port, period=5, failures=60),  # loading: up to 5 minutes
        "readinessProbe": _probe("/ready", port, period=10, failures=3),
        "livenessProbe": _probe("/health", port, period=20, failures=3),
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "runs", "mountPath": MOUNT, "readOnly": True}],
    }


def _probe(path: str, port: int, *, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 5,
            "failureThreshold": failures}


def _pod(labels: dict, container: dict, claim: str) -> dict:
    return {"metadata": {"labels": dict(labels)},
            "spec": {"securityContext": dict(SECURITY), "automountServiceAccountToken": False,
                     "containers": [container],
                     "volumes": [{"name": "runs",
                                  "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}]}}


def _deployment(meta: dict, pod: dict, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"lab/serve": meta["name"]}},
                     "template": pod}}


def _service(meta: dict, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"type": "ClusterIP", "selector": {"lab/serve": meta["name"]},
                     "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}}


def dump(docs: list[dict]) -> str:
    """The manifests as one YAML stream, with a header saying what they need before they are applied."""
    deployment = docs[0]
    meta, pod = deployment["metadata"], deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    app, ns, port = meta["name"], meta["namespace"], container["ports"][0]["containerPort"]
    token = next(e for e in container["env"] if e["name"] == "LAB_SERVE_TOKEN")
    secret = token["valueFrom"]["secretKeyRef"]["name"]
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    runs = [a.removeprefix(f"{MOUNT}/") for a in container["args"] if a.startswith(f"{MOUNT}/")]
    header = (
        f"# Written by `lab deploy k8s --serve` (the lab {__version__}): a Deployment running `lab serve`\n"
        f"# of {', '.join(runs)} and a ClusterIP Service.\n"
        f"# Before `kubectl apply -f FILE`:\n"
        f"# - the run folders must be on the PersistentVolumeClaim {claim} (mounted read-only at {MOUNT}).\n"
        f"#   This file does not create it: the training job (`lab deploy k8s SCENARIO`) wrote the runs\n"
        f"#   to its claim, <job>-runs (--runs-claim names it). Replicas on several nodes need a claim all\n"
        f"#   of them can mount (ReadOnlyMany or ReadWriteMany).\n"
        f"# - the token is read from the Secret {secret} (key `{TOKEN_KEY}`), which you create:\n"
        f"#   kubectl create secret generic {secret} -n {ns} \\\n"
        f"#       --from-literal={TOKEN_KEY}=\"$(openssl rand -hex 16)\"\n"
        f"# - the image must hold the lab's `serve` extra (pip install 'the-lab[serve]').\n"
        f"# Then: kubectl port-forward -n {ns} service/{app} {port} and open\n"
        f"# http://localhost:{port}/#token=<token>; in the cluster: http://{app}.{ns}.svc:{port}/api/runs\n"
        f"# with `Authorization: Bearer <token>`.\n"
    )
    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=200) for d in docs)
