"""``lab deploy slurm|k8s SCENARIO --workers N ...``: job files for a Slurm cluster or Kubernetes; ``lab
deploy k8s --serve RUN...``: a Deployment and a Service of ``lab serve`` (no TensorFlow; nothing is
submitted)."""

import argparse
import sys

from lab.deploy import k8s, slurm
from lab.deploy import serve as k8s_serve
from lab.errors import UsageError

DESCRIPTION = """Write the job file that runs a scenario on a cluster, to stdout (submit it yourself):

  lab deploy slurm SCENARIO --workers N [--gpus-per-worker G] [--partition P] [--time T] > job.sbatch
  sbatch job.sbatch
  lab deploy k8s SCENARIO --workers N --image IMAGE [--gpus-per-worker G] [--namespace NS] > job.yaml
  kubectl apply -f job.yaml
  lab deploy k8s --serve RUN [RUN...] --image IMAGE [--runs-claim CLAIM] [--replicas R] > serve.yaml

Each worker is a `lab run` process of TensorFlow's multi-worker runtime (strategy multi-worker when N > 1);
the lab reads the cluster from Slurm's variables or the Kubernetes Indexed Job's index itself, so the
files set no TF_CONFIG. Worker 0 is the chief and writes the run folder. `--serve` serves finished run
folders of the runs volume with `lab serve` instead (a Deployment and a ClusterIP Service). Mistakes (an
unknown scenario, --workers 0, a task that cannot run on several workers, a bad time or image, a run name
with '/') are reported and nothing is printed."""


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number") from None


def _common(p, what: str, workers_required: bool = True):
    p.add_argument("scenario", nargs="?", help="scenario file, or the name of one in scenarios/")
    p.add_argument("--workers", type=_count, required=workers_required, metavar="N",
                   help=f"worker {what} (1 ... 64)")
    p.add_argument("--gpus-per-worker", type=_count, default=0, metavar="G", help="GPUs each worker asks for")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a field, as in lab run (value parsed as YAML); repeatable")
    p.add_argument("--name", help="the job's name (default lab-<scenario name>)")


def add_arguments(p):
    sub = p.add_subparsers(dest="engine", metavar="ENGINE", required=True)
    s = sub.add_parser("slurm", help="an sbatch script", description=slurm.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(s, "tasks")
    s.add_argument("--cpus-per-worker", type=_count, metavar="C", help="CPUs per task (--cpus-per-task)")
    s.add_argument("--partition", help="the Slurm partition")
    s.add_argument("--time", help="the job's time limit, as sbatch takes it (90, 1:30:00, 2-12:00)")
    s.add_argument("--out", help="folder of the run folder, on a file system every node sees (default: the "
                                 "scenario's `output`, runs/)")
    s.add_argument("--resume", metavar="RUN_DIR", help="continue this run folder from the chief's checkpoint")
    k = sub.add_parser("k8s", help="Kubernetes manifests: ConfigMap, headless Service, Indexed Job, volume",
                       description=k8s.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(k, "pods (required unless --serve)", workers_required=False)
    k.add_argument("--image", required=True, help="the lab's container image (see Dockerfile)")
    k.add_argument("--namespace", default="default")
    k.add_argument("--cpus-per-worker", default="2", metavar="Q", help="CPU request and limit (default 2)")
    k.add_argument("--memory-per-worker", default="4Gi", metavar="Q", help="memory (default 4Gi)")
    k.add_argument("--storage", metavar="Q", help="size of the runs volume (default 10Gi)")
    k.add_argument("--storage-class", help="storage class of the runs volume (ReadWriteMany for N > 1)")
    k.add_argument("--backoff-limit", type=_count, help="pod failures before the Job fails (default 3)")
    k.add_argument("--tfjob", action="store_true", help="a Kubeflow TFJob instead of the Service and Job")
    _serve_arguments(k)


def _serve_arguments(k):
    g = k.add_argument_group("serving finished runs (--serve, instead of a scenario)")
    g.add_argument("--serve", nargs="+", metavar="RUN", help="a Deployment and a Service of `lab serve` "
                   "for these run folders (their names under /runs on the runs volume)")
    g.add_argument("--port", type=_count, help=f"the port served (default {k8s_serve.PORT})")
    g.add_argument("--replicas", type=_count, help="pods serving (default 1)")
    g.add_argument("--token-secret", metavar="NAME", help="the Secret holding the token, key `token` "
                   "(default <name>-token; not created)")
    g.add_argument("--runs-claim", metavar="CLAIM", help="the PersistentVolumeClaim holding the runs "
                   "(default <name>-runs; the training job's is <job>-runs; not created)")


TRAINING_ONLY = {"scenario": "a scenario", "workers": "--workers", "overrides": "--set",
                 "gpus_per_worker": "--gpus-per-worker", "storage": "--storage",
                 "storage_class": "--storage-class", "backoff_limit": "--backoff-limit", "tfjob": "--tfjob"}
SERVE_ONLY = {"port": "--port", "replicas": "--replicas", "token_secret": "--token-secret",
              "runs_claim": "--runs-claim"}


def _serve(args) -> str:
    """``lab deploy k8s --serve``: the manifests, after refusing what only a training job takes."""
    given = [flag for key, flag in TRAINING_ONLY.items() if getattr(args, key) not in (None, [], False, 0)]
    if given:
        raise UsageError(f"--serve writes a Deployment of `lab serve`, not a training job: drop "
                         f"{' and '.join(given)} (or --serve, to train)")
    options = {key: getattr(args, key) for key in SERVE_ONLY if getattr(args, key) is not None}
    docs = k8s_serve.manifests(args.serve, args.image, namespace=args.namespace, name=args.name,
                               cpus=args.cpus_per_worker, memory=args.memory_per_worker, **options)
    return k8s_serve.dump(docs)


def _train(args) -> str:
    given = [flag for key, flag in SERVE_ONLY.items() if getattr(args, key) is not None]
    if given:
        raise UsageError(f"{' and '.join(given)}: only with --serve RUN...")
    if args.workers is None:
        raise UsageError("--workers N: required to train (or --serve RUN... to serve finished runs)")
    optional = {"storage": args.storage, "backoff_limit": args.backoff_limit}
    docs = k8s.manifests(args.scenario, args.workers, args.image, overrides=args.overrides,
                         gpus_per_worker=args.gpus_per_worker, namespace=args.namespace, name=args.name,
                         cpus=args.cpus_per_worker, memory=args.memory_per_worker,
                         storage_class=args.storage_class, tfjob=args.tfjob,
                         **{k: v for k, v in optional.items() if v is not None})
    return k8s.dump(docs, f"{args.scenario} on {args.workers} worker(s)")


def main(args) -> int:
    if args.engine == "slurm":
        text = slurm.script(args.scenario, args.workers, overrides=args.overrides, out=args.out,
                            resume=args.resume, gpus_per_worker=args.gpus_per_worker,
                            cpus_per_worker=args.cpus_per_worker, partition=args.partition, time=args.time,
                            name=args.name)
    else:
        text = _serve(args) if args.serve is not None else _train(args)
    sys.stdout.write(text)
    return 0
