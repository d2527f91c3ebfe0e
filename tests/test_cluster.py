"""The one cluster reader (lab.cluster): TF_CONFIG, Slurm's variables and a Kubernetes Indexed Job's index
give the same kind of cluster; the first thing wrong is named, and `lab run` exits 2 on it."""

import json

import pytest

from lab import cluster
from lab.cli import main as lab_main
from lab.errors import StrategyError


@pytest.mark.parametrize("text, hosts", [
    ("vm", ["vm"]),
    ("node[01-03,07],gpu5", ["node01", "node02", "node03", "node07", "gpu5"]),
    ("a[1-2]-ib,b[9-10]", ["a1-ib", "a2-ib", "b9", "b10"]),
    ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
    ("c[098-101]", ["c098", "c099", "c100", "c101"]),
])
def test_slurm_host_lists_expand(text, hosts):
    assert cluster.expand_hostlist(text) == hosts


@pytest.mark.parametrize("text, says", [
    ("node[1-", "never closed"), ("node[3-1]", "not a number or a range"), ("a,,b", "empty name"),
    ("node]1[", "do not pair up"), ("", "empty"), ("no de", "not a host name"), ("n[x]", "not a number"),
])
def test_host_lists_it_cannot_expand_are_named(text, says):
    with pytest.raises(StrategyError, match="cannot expand|empty") as info:
        cluster.expand_hostlist(text)
    assert says in str(info.value)


def test_tasks_per_node():
    assert cluster.tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    assert cluster.tasks_per_node("4") == [4]
    with pytest.raises(StrategyError, match="tasks per node"):
        cluster.tasks_per_node("2(x)")


def slurm_env(procid: int, **more) -> dict:
    node = ["n1", "n1", "n2", "n2", "n3"][procid]
    local = [0, 1, 0, 1, 0][procid]
    return {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "n[1-3]", "SLURM_STEP_TASKS_PER_NODE": "2(x2),1",
            "SLURM_PROCID": str(procid), "SLURM_LOCALID": str(local), "SLURMD_NODENAME": node, **more}


@pytest.mark.parametrize("procid", range(5))
def test_slurm_tasks_each_find_the_same_cluster_and_their_place(procid):
    got = cluster.read(slurm_env(procid))
    port = 20000 + 8 * (4242 % 1500)
    assert got.source == "slurm" and got.index == procid
    assert got.addresses == (f"n1:{port}", f"n1:{port + 1}", f"n2:{port}", f"n2:{port + 1}", f"n3:{port}")
    tf = json.loads(got.tf_config())
    assert tf == {"cluster": {"worker": list(got.addresses)}, "task": {"type": "worker", "index": procid}}


def test_slurm_port_can_be_set_and_job_variables_stand_in_for_the_steps():
    env = {"SLURM_JOB_ID": "7", "SLURM_JOB_NODELIST": "vm", "SLURM_TASKS_PER_NODE": "2", "SLURM_PROCID": "1",
           "LAB_CLUSTER_PORT": "31000"}
    assert cluster.read(env).addresses == ("vm:31000", "vm:31001")


@pytest.mark.parametrize("change, says", [
    ({"SLURM_PROCID": "5"}, "SLURM_PROCID=5 is out of range: the step has 5 task"),
    ({"SLURM_STEP_NODELIST": "n[1-"}, "cannot expand the node list"),
    ({"SLURM_STEP_TASKS_PER_NODE": "2,2"},
     "names 3 node(s) but SLURM_STEP_TASKS_PER_NODE='2,2' gives tasks for 2"),
    ({"SLURMD_NODENAME": "n3"}, "not distributed node by node"),
    ({"SLURM_JOB_ID": ""}, "SLURM_JOB_ID is not set"),
    ({"LAB_CLUSTER_PORT": "80"}, "LAB_CLUSTER_PORT='80'"),
])
def test_slurm_mistakes_are_named(change, says):
    with pytest.raises(StrategyError) as info:
        cluster.read(slurm_env(1, **change))
    assert says in str(info.value)


def k8s_env(index, **more):
    return {"JOB_COMPLETION_INDEX": str(index), "LAB_CLUSTER_JOB": "lab-mnist",
            "LAB_CLUSTER_SERVICE": "lab-mnist", "LAB_CLUSTER_WORKERS": "4", "LAB_CLUSTER_PORT": "2222",
            **more}


@pytest.mark.parametrize("index", range(4))
def test_indexed_job_pods_find_each_other_by_the_services_dns(index):
    got = cluster.read(k8s_env(index))
    assert got.source == "kubernetes" and got.index == index
    assert got.addresses == tuple(f"lab-mnist-{i}.lab-mnist:2222" for i in range(4))


@pytest.mark.parametrize("change, says", [
    ({"JOB_COMPLETION_INDEX": "4"}, "JOB_COMPLETION_INDEX='4' is out of range for LAB_CLUSTER_WORKERS=4"),
    ({"LAB_CLUSTER_SERVICE": ""}, "LAB_CLUSTER_SERVICE not set"),
    ({"LAB_CLUSTER_WORKERS": "many"}, "not a number of workers"),
])
def test_indexed_job_mistakes_are_named(change, says):
    with pytest.raises(StrategyError) as info:
        cluster.read(k8s_env(0, **change))
    assert says in str(info.value)


def test_tf_config_comes_first_and_adopt_records_the_source():
    tf_config = {"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 1}}
    env = {"TF_CONFIG": json.dumps(tf_config), **slurm_env(0)}
    assert cluster.read(env).source == "TF_CONFIG"
    env = slurm_env(3)
    got = cluster.adopt(env)
    assert json.loads(env["TF_CONFIG"])["task"]["index"] == 3
    assert cluster.describe(env) == got.as_dict() and got.as_dict()["source"] == "slurm"
    assert cluster.read({}) is None and cluster.adopt({}) is None


def test_lab_run_names_a_bad_slurm_variable_and_exits_2(tmp_path, monkeypatch, capsys, root):
    for k, v in slurm_env(0, SLURM_STEP_NODELIST="n[1-").items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv(cluster.RECORD, raising=False)
    code = lab_main(["run", str(root / "scenarios" / "mnist_mlp_book.yaml"), "--set", "strategy=multi-worker",
                     "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "Slurm: cannot expand the node list 'n[1-'" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())
    monkeypatch.delenv("TF_CONFIG", raising=False)
