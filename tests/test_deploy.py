"""`lab deploy slurm|k8s`: the job files, their validation against Kubernetes' OpenAPI schemas (offline,
kubernetes-validate), the cluster each pod derives from them, and bad input (exit 2, nothing printed)."""

import shlex

import kubernetes_validate
import pytest
import yaml

from lab import cluster
from lab.cli import main as lab_main
from lab.errors import RunError
from lab.execute import prepare

K8S_VERSION = "1.30.0"


def deploy(capsys, *args) -> tuple[int, str, str]:
    code = lab_main(["deploy", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def srun_words(script: str) -> list[str]:
    line = next(x for x in script.splitlines() if x.startswith("srun "))
    return shlex.split(line)


def test_slurm_script_runs_lab_run_on_every_task(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, text, _ = deploy(capsys, "slurm", "mnist_mlp_book", "--workers", "4", "--gpus-per-worker", "1",
                           "--partition", "gpu", "--time", "1:30:00", "--set", "training.epochs=3")
    assert code == 0 and text.startswith("#!/bin/bash\n")
    for line in ("#SBATCH --ntasks=4", "#SBATCH --gpus-per-task=1", "#SBATCH --partition=gpu",
                 "#SBATCH --time=1:30:00", "#SBATCH --distribution=block", f"#SBATCH --chdir={tmp_path}"):
        assert line in text.splitlines()
    words = srun_words(text)
    assert words[words.index("run") + 1].endswith("scenarios/mnist_mlp_book.yaml")
    assert ["--set", "training.epochs=3"] == words[words.index("--set"):words.index("--set") + 2]
    assert "strategy=multi-worker" in words and "--continue" in words
    assert words[words.index("--out") + 1] == str(tmp_path / "runs")
    assert words[words.index("--folder") + 1] == "${SLURM_JOB_NAME}-${SLURM_JOB_ID}"  # (expanded by bash)
    assert "TF_CONFIG" not in text


def test_one_worker_keeps_the_scenarios_strategy_so_any_task_runs(capsys):
    code, text, _ = deploy(capsys, "slurm", "maze_dqn_small", "--workers", "1")
    assert code == 0 and "strategy=multi-worker" not in text and "#SBATCH --ntasks=1" in text


def test_slurm_resume_continues_the_chiefs_run_folder(capsys, tmp_path):
    _, run = prepare("mnist_mlp_book", ["strategy=multi-worker"], out=str(tmp_path))
    code, text, _ = deploy(capsys, "slurm", "--resume", str(run.path), "--workers", "2")
    assert code == 0
    words = srun_words(text)
    assert words[words.index("--resume") + 1] == str(run.path) and "--set" not in words


@pytest.mark.parametrize("args, says", [
    (["slurm", "no_such_scenario", "--workers", "2"], "no_such_scenario"),
    (["slurm", "mnist_mlp_book", "--workers", "0"], "--workers 0"),
    (["slurm", "maze_dqn_small", "--workers", "2"], "--workers 2 needs strategy multi-worker"),
    (["slurm", "mnist_mlp_book", "--workers", "2", "--time", "soon"], "--time 'soon' is not a Slurm time"),
    (["slurm", "mnist_mlp_book", "--workers", "2", "--partition", "a b"], "--partition 'a b'"),
    (["slurm", "mnist_mlp_book", "--workers", "2", "--set", "strategy=cpu"], "runs strategy multi-worker"),
    (["k8s", "mnist_mlp_book", "--workers", "2", "--image", "my image"], "--image 'my image'"),
    (["k8s", "mnist_mlp_book", "--workers", "2", "--image", "lab:1", "--memory-per-worker", "lots"],
     "quantity"),
    (["k8s", "mnist_mlp_book", "--workers", "2", "--image", "lab:1", "--name", "Bad_Name"], "--name"),
    (["k8s", "vae_mnist_conv", "--workers", "65", "--image", "lab:1"], "--workers 65"),
])
def test_bad_input_is_named_and_nothing_is_printed(capsys, args, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = deploy(capsys, *args)
    assert code == 2 and out == "" and says in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def manifests(capsys, *more) -> list[dict]:
    code, text, err = deploy(capsys, "k8s", "mnist_mlp_book", "--workers", "3", "--image",
                             "registry.example/lab:gpu", "--gpus-per-worker", "1", "--namespace", "ml", *more)
    assert code == 0, err
    return list(yaml.safe_load_all(text))


def test_indexed_job_manifests_validate_against_the_kubernetes_schemas(capsys):
    docs = manifests(capsys)
    assert [d["kind"] for d in docs] == ["ConfigMap", "PersistentVolumeClaim", "Service", "Job"]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    config, claim, service, job = docs
    assert yaml.safe_load(config["data"]["scenario.yaml"])["strategy"] == "multi-worker"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 3 and spec["backoffLimit"] == 3
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == job["metadata"]["name"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_pod_derives_the_cluster_from_its_index_and_the_services_dns(capsys, index):
    job = manifests(capsys)[-1]
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]} | {"JOB_COMPLETION_INDEX": str(index)}
    got = cluster.read(env)
    name = job["metadata"]["name"]
    assert got.source == "kubernetes" and got.index == index
    port = container["ports"][0]["containerPort"]
    assert got.addresses == tuple(f"{name}-{i}.{name}:{port}" for i in range(3))
    assert container["args"][:2] == ["run", "/etc/lab/scenario.yaml"] and "--continue" in container["args"]


def test_tfjob_instead_of_the_service_and_job(capsys):
    docs = manifests(capsys, "--tfjob")
    assert [d["kind"] for d in docs] == ["ConfigMap", "PersistentVolumeClaim", "TFJob"]
    tfjob = docs[-1]
    assert tfjob["apiVersion"] == "kubeflow.org/v1"
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 3
    # A TFJob is a custom resource (no schema in Kubernetes' own): its pod template is checked as one.
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                                  "template": worker["template"]}, K8S_VERSION, strict=True)
    env = {e["name"] for e in worker["template"]["spec"]["containers"][0]["env"]}
    assert not env & {"LAB_CLUSTER_JOB", "LAB_CLUSTER_SERVICE"}  # the operator's TF_CONFIG says it all


def test_continue_reopens_a_fixed_run_folder_of_the_same_scenario_only(tmp_path):
    _, first = prepare("mnist_mlp_book", ["training.epochs=2"], out=str(tmp_path), folder="job-7")
    _, again = prepare("mnist_mlp_book", ["training.epochs=2"], out=str(tmp_path), folder="job-7",
                       continue_=True)
    assert again.path == first.path
    with pytest.raises(RunError, match="exists already"):
        prepare("mnist_mlp_book", ["training.epochs=2"], out=str(tmp_path), folder="job-7")
    with pytest.raises(RunError, match="holds another scenario"):
        prepare("mnist_mlp_book", ["training.epochs=3"], out=str(tmp_path), folder="job-7", continue_=True)
