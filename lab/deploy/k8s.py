"""Kubernetes manifests that run a scenario (``lab deploy k8s``): ``kubectl apply -f job.yaml``.

The default is plain Kubernetes, no operator:

- a **ConfigMap** holding the resolved scenario (every field, the overrides applied), mounted at
  ``/etc/lab/scenario.yaml``;
- a headless **Service** (``clusterIP: None``, ``publishNotReadyAddresses``) whose DNS names the pods;
- an **Indexed Job** of N pods (``completionMode: Indexed``, ``backoffLimit``), each ``lab run`` with
  ``LAB_CLUSTER_JOB``/``LAB_CLUSTER_SERVICE``/``LAB_CLUSTER_WORKERS``/``LAB_CLUSTER_PORT``: with the
  ``JOB_COMPLETION_INDEX`` Kubernetes sets, the lab derives the cluster itself (:mod:`lab.cluster`) -
  pod ``i`` is ``<job>-<i>.<service>``; no init script. Resource requests and limits (CPU, memory,
  ``nvidia.com/gpu``), a non-root security context;
- a **PersistentVolumeClaim** mounted at ``/runs``: pod 0, the chief, writes the run folder
  ``/runs/<job>`` there (``lab run --continue``: a pod the Job restarts continues from the last
  checkpoint). Every pod mounts it, so with more than one worker it asks for ``ReadWriteMany`` (NFS,
  CephFS, a cloud file store: ``--storage-class``).

``--tfjob`` writes a Kubeflow ``TFJob`` instead of the Service and the Job: the training operator sets
``TF_CONFIG`` in each pod, which the lab reads as it is.

``--serve RUN...`` (no scenario) writes a Deployment of ``lab serve`` and a ClusterIP Service instead,
serving run folders the job wrote to the volume (:mod:`lab.deploy.serve`).
"""

from __future__ import annotations

import re

import yaml

from lab import __version__, scenario
from lab.deploy import DNS_LABEL, job_name, resolve
from lab.errors import UsageError

PORT = 2222
# an image reference: [registry[:port]/]name[/name...][:tag][@digest], names lower case
IMAGE = re.compile(r"^([a-zA-Z0-9.-]+(:\d+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
                   r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")
QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
LABEL = "app.kubernetes.io/name"
SECURITY = {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000}  # the image's user (see Dockerfile)


def check_image(image: str) -> str:
    if not image or not IMAGE.match(image):
        raise UsageError(f"--image {image!r} is not an image reference: e.g. registry.example/lab:gpu (no "
                         f"spaces; lower-case repository names)")
    return image


def check_quantity(flag: str, text: str) -> str:
    if not QUANTITY.match(str(text)):
        raise UsageError(f"{flag} {text!r} is not a Kubernetes quantity: e.g. 2, 500m, 8Gi")
    return str(text)


def check_namespace(namespace: str) -> str:
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise UsageError(f"--namespace {namespace!r}: use lower-case letters, digits and '-' (a DNS label)")
    return namespace


def cpu_threads(cpus: str) -> str:
    """TensorFlow's thread count for a CPU quantity (``2`` -> 2, ``500m`` -> 1)."""
    return str(max(1, int(float(cpus.rstrip("m")) / (1000 if cpus.endswith("m") else 1))))


def manifests(scenario_file: str | None, workers: int, image: str, *, overrides=(), gpus_per_worker: int = 0,
              namespace: str = "default", name: str | None = None, cpus: str = "2", memory: str = "4Gi",
              storage: str = "10Gi", storage_class: str | None = None, backoff_limit: int = 3,
              tfjob: bool = False) -> list[dict]:
    """The manifests (see the module docstring), each a mapping ready for ``yaml.safe_dump``."""
    check_image(image)
    cpus, memory = check_quantity("--cpus-per-worker", cpus), check_quantity("--memory-per-worker", memory)
    storage = check_quantity("--storage", storage)
    if gpus_per_worker < 0 or backoff_limit < 0:
        raise UsageError("--gpus-per-worker and --backoff-limit must be 0 or more")
    check_namespace(namespace)
    cfg, _, _ = resolve(scenario_file, list(overrides), workers)
    job = job_name(name, cfg.name)
    meta = {"name": job, "namespace": namespace, "labels": {LABEL: "lab", "lab/job": job}}
    pod = _pod(job, image, workers, cpus, memory, gpus_per_worker, tfjob)
    docs = [_config_map(meta, job, scenario.dump(cfg)), _claim(meta, job, storage, storage_class, workers)]
    if tfjob:
        return docs + [_tfjob(meta, pod, workers, backoff_limit)]
    return docs + [_service(meta, job), _job(meta, pod, workers, backoff_limit)]


def _config_map(meta: dict, job: str, text: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": f"{job}-scenario"},
            "data": {"scenario.yaml": text}}


def _claim(meta: dict, job: str, storage: str, storage_class: str | None, workers: int) -> dict:
    spec = {"accessModes": ["ReadWriteMany" if workers > 1 else "ReadWriteOnce"],
            "resources": {"requests": {"storage": storage}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {**meta, "name": f"{job}-runs"},
            "spec": spec}


def _service(meta: dict, job: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": {"lab/job": job},
                     "ports": [{"name": "grpc", "port": PORT, "targetPort": PORT}]}}


def _job(meta: dict, pod: dict, workers: int, backoff_limit: int) -> dict:
    pod["spec"]["subdomain"] = meta["name"]  # pod i is <job>-<i>.<service>
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"completionMode": "Indexed", "completions": workers, "parallelism": workers,
                     "backoffLimit": backoff_limit, "template": pod}}


def _tfjob(meta: dict, pod: dict, workers: int, backoff_limit: int) -> dict:
    worker = {"replicas": workers, "restartPolicy": "OnFailure", "template": pod}
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": meta,
            "spec": {"runPolicy": {"backoffLimit": backoff_limit, "cleanPodPolicy": "None"},
                     "tfReplicaSpecs": {"Worker": worker}}}


def _pod(job: str, image: str, workers: int, cpus: str, memory: str, gpus: int, tfjob: bool) -> dict:
    limits = {"cpu": cpus, "memory": memory, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    threads = cpu_threads(cpus)
    env = {"PYTHONUNBUFFERED": "1", "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}
    if not tfjob:
        env.update({"LAB_CLUSTER_JOB": job, "LAB_CLUSTER_SERVICE": job, "LAB_CLUSTER_WORKERS": str(workers),
                    "LAB_CLUSTER_PORT": str(PORT)})
    container = {
        "name": "tensorflow",  # the name a TFJob requires; any name works for the Job
        "image": image,
        "command": ["lab"],
        "args": ["run", "/etc/lab/scenario.yaml", "--out", "/runs", "--folder", job, "--continue", "--quiet"],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"name": "grpc", "containerPort": PORT}],
        "resources": {"requests": dict(limits), "limits": limits},
        "volumeMounts": [{"name": "scenario", "mountPath": "/etc/lab", "readOnly": True},
                         {"name": "runs", "mountPath": "/runs"}],
    }
    return {"metadata": {"labels": {LABEL: "lab", "lab/job": job}},
            "spec": {"restartPolicy": "Never" if not tfjob else "OnFailure",
                     "securityContext": dict(SECURITY),
                     "containers": [container],
                     "volumes": [{"name": "scenario", "configMap": {"name": f"{job}-scenario"}},
                                 {"name": "runs", "persistentVolumeClaim": {"claimName": f"{job}-runs"}}]}}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the scenario in the ConfigMap) as YAML literal blocks, readable as files."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                             style="|" if "\n" in s else None))


def dump(docs: list[dict], what: str) -> str:
    """The manifests as one YAML stream, with a header saying where they came from."""
    header = (f"# Written by `lab deploy k8s` (the lab {__version__}) for {what}. Apply with\n"
              f"# `kubectl apply -f FILE`; the chief (pod 0) writes the run folder to the\n"
              f"# PersistentVolumeClaim, mounted at /runs.\n")
    return header + "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False, width=200) for d in docs)
