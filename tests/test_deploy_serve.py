"""`lab deploy k8s --serve RUN...`: a Deployment and a ClusterIP Service of `lab serve`, validated against
Kubernetes' OpenAPI schemas (offline, kubernetes-validate, strict): the probes, the token from a Secret, the
runs volume read-only, the training pods' security context; and bad input (exit 2, nothing printed)."""

import kubernetes_validate
import pytest
import yaml

from lab.cli import main as lab_main
from lab.deploy import k8s

K8S_VERSION = "1.30.0"
RUNS = ["20261204-193908-digits", "20261204-193930-movies"]


def deploy(capsys, *args) -> tuple[int, str, str]:
    code = lab_main(["deploy", "k8s", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def served(capsys, *more) -> tuple[list[dict], str]:
    code, text, err = deploy(capsys, "--serve", *RUNS, "--image", "registry.example/lab:cpu", *more)
    assert code == 0, err
    return list(yaml.safe_load_all(text)), text


def parts(docs) -> tuple[dict, dict, dict, dict]:
    deployment, service = docs
    pod = deployment["spec"]["template"]["spec"]
    return deployment, service, pod, pod["containers"][0]


def test_manifests_validate_against_the_kubernetes_schemas(capsys):
    docs, text = served(capsys, "--namespace", "ml", "--replicas", "3", "--cpus-per-worker", "500m",
                        "--memory-per-worker", "2Gi")
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    deployment, service, pod, container = parts(docs)
    assert deployment["spec"]["replicas"] == 3
    assert {d["metadata"]["namespace"] for d in docs} == {"ml"}
    assert container["resources"]["requests"] == container["resources"]["limits"] == {"cpu": "500m",
                                                                                        "memory": "2Gi"}
    assert all(line.startswith("#") for line in text.split("apiVersion")[0].splitlines())


def test_the_container_runs_lab_serve_on_the_runs_of_the_volume(capsys):
    _, _, _, container = parts(served(capsys, "--port", "9000")[0])
    assert container["command"] == ["lab"]
    runs = [f"/runs/{r}" for r in RUNS]
    assert container["args"] == ["serve", *runs, "--host", "0.0.0.0", "--port", "9000"]
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]


def test_probes_ask_ready_and_health_on_the_container_port(capsys):
    _, _, _, container = parts(served(capsys)[0])
    port = container["ports"][0]["containerPort"]
    assert port == 8000
    want = {"readinessProbe": "/ready", "livenessProbe": "/health", "startupProbe": "/health"}
    for probe, path in want.items():
        assert container[probe]["httpGet"] == {"path": path, "port": port}


def test_the_token_comes_from_the_secret_never_from_the_file(capsys):
    docs, text = served(capsys, "--name", "digits")
    _, _, _, container = parts(docs)
    token = [e for e in container["env"] if e["name"] == "LAB_SERVE_TOKEN"]
    assert token == [{"name": "LAB_SERVE_TOKEN",
                      "valueFrom": {"secretKeyRef": {"name": "digits-token", "key": "token"}}}]
    assert "--token" not in container["args"] and "--insecure" not in container["args"]
    assert "kubectl create secret generic digits-token" in text
    _, _, _, container = parts(served(capsys, "--token-secret", "serving-token")[0])
    env = {e["name"]: e for e in container["env"]}
    assert env["LAB_SERVE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "serving-token"


def test_the_runs_volume_is_mounted_read_only_and_not_created(capsys):
    docs, text = served(capsys)
    _, _, pod, container = parts(docs)
    assert container["volumeMounts"] == [{"name": "runs", "mountPath": "/runs", "readOnly": True}]
    assert pod["volumes"] == [{"name": "runs",
                               "persistentVolumeClaim": {"claimName": "lab-serve-runs", "readOnly": True}}]
    assert "PersistentVolumeClaim" not in {d["kind"] for d in docs} and "does not create it" in text
    _, _, pod, _ = parts(served(capsys, "--runs-claim", "lab-mnist-mlp-book-runs")[0])
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "lab-mnist-mlp-book-runs"


def test_the_service_selects_the_pods_and_the_security_context_is_the_training_pods(capsys):
    deployment, service, pod, container = parts(served(capsys)[0])
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port = {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    assert service["spec"]["ports"] == [port]
    code, text, _ = deploy(capsys, "mnist_mlp_book", "--workers", "1", "--image", "lab:1")
    job = list(yaml.safe_load_all(text))[-1]
    assert code == 0 and pod["securityContext"] == job["spec"]["template"]["spec"]["securityContext"]
    assert pod["securityContext"] == k8s.SECURITY and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("args, says", [
    (["--serve", "runs/20261204-193908-digits", "--image", "lab:1"], "no '/'"),
    (["--serve", "..", "--image", "lab:1"], "no '..'"),
    (["--serve", "a", "a", "--image", "lab:1"], "given twice"),
    (["--serve", "a", "--image", "my image"], "--image 'my image'"),
    (["mnist_mlp_book", "--serve", "a", "--image", "lab:1"], "drop a scenario"),
    (["--serve", "a", "--image", "lab:1", "--workers", "2"], "drop --workers"),
    (["--serve", "a", "--image", "lab:1", "--set", "training.epochs=3", "--tfjob"], "drop --set and --tfjob"),
    (["--serve", "a", "--image", "lab:1", "--replicas", "0"], "--replicas 0"),
    (["--serve", "a", "--image", "lab:1", "--port", "80"], "--port 80"),
    (["--serve", "a", "--image", "lab:1", "--port", "70000"], "--port 70000"),
    (["--serve", "a", "--image", "lab:1", "--token-secret", "Bad_Name"], "--token-secret 'Bad_Name'"),
    (["--serve", "a", "--image", "lab:1", "--runs-claim", "runs_claim"], "--runs-claim 'runs_claim'"),
    (["--serve", "a", "--image", "lab:1", "--memory-per-worker", "lots"], "quantity"),
    (["--serve", "a", "--image", "lab:1", "--namespace", "ML"], "--namespace 'ML'"),
    (["mnist_mlp_book", "--workers", "1", "--image", "lab:1", "--port", "9000"], "only with --serve"),
    (["mnist_mlp_book", "--image", "lab:1"], "--workers N: required"),
])
def test_bad_input_is_named_and_nothing_is_printed(capsys, args, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = deploy(capsys, *args)
    assert code == 2 and out == "" and says in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())
