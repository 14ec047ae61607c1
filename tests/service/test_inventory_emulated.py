"""The node inventory against a Kubernetes API *emulator* (kmock, on loopback), with the real service process.

No cluster can run here: ``support.kube_emulator_nodes`` emulates the API
server's node list and watch; the service is the real ``python -m
npuhub.service`` behind the real hub, reading ``pool: {kubernetes: ...}``
from its site file and watching the emulator through kubernetes_asyncio.
"""

from __future__ import annotations

import re
import time

import pytest
import yaml

from support.kube_emulator_nodes import EmulatedCluster
from support.service_stack import SITE, ServiceProcess
from support.sites import KUBE_LABEL, KUBE_RESOURCE, kube_pool

from test_cli import as_user
from test_service_api import metric, wait_for

pytestmark = pytest.mark.integration

LABELS = {KUBE_LABEL: "ascend-910b"}
OTHER = {KUBE_LABEL: "something-else"}


@pytest.fixture
def cluster():
    with EmulatedCluster() as emulated:
        yield emulated


@pytest.fixture
def cluster_service(service_hub, cluster, tmp_path):
    """The service with its pool from the emulated cluster (SQLite), stopped after the test."""
    site = tmp_path / "cluster-site.yaml"
    site.write_text(yaml.safe_dump({**SITE, "pool": kube_pool(resync_seconds=30)}, sort_keys=False))
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
    started = []

    def start() -> ServiceProcess:
        proc = ServiceProcess(service_hub, f"sqlite:///{tmp_path / 'admission.sqlite'}", tmp_path / "service",
                              site=site, extra_config=f"c.NPUHubService.kubeconfig = {str(kubeconfig)!r}\n")
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


def nodes_of(pool: dict) -> dict[str, dict]:
    return {n["name"]: n for n in pool["nodes"]}


def test_emulated_cluster_nodes_feed_the_pool_and_the_queue(cluster, cluster_service):
    cluster.add_node("npu-a", 1, LABELS, KUBE_RESOURCE)
    cluster.add_node("cpu-only", 0, OTHER, KUBE_RESOURCE)  # not one of the site's models: not in the pool
    svc = cluster_service()
    admin = svc.client("admin")
    assert wait_for(lambda: svc.health().status_code == 200, 30)
    health = svc.health().json()
    assert health["role"] == "leader" and health["inventory"] == {"synced": True, "nodes": 1}

    pool = admin.get("/pool").json()
    assert pool["models"][0]["capacity"] == "1"
    assert list(nodes_of(pool)) == ["npu-a"] and nodes_of(pool)["npu-a"]["state"] == "schedulable"

    # Four quarters fill the one device; the fifth waits.
    students = [svc.client(f"student{i}") for i in range(1, 8)]
    for s in students[:4]:
        assert s.post("/requests", {"flavor": "npu-quarter"}).json()["state"] == "granted"
    fifth = students[4].post("/requests", {"flavor": "npu-quarter"}).json()
    assert fifth["state"] == "waiting"

    # A node added to the cluster serves the queue within seconds.
    added_at = time.monotonic()
    cluster.add_node("npu-b", 1, LABELS, KUBE_RESOURCE)
    granted = wait_for(lambda: (r := students[4].get(f"/requests/{fifth['id']}").json())["state"] == "granted" and r,
                       timeout=10, interval=0.05)
    assert granted["grant"]["node"] == "npu-b"
    assert time.monotonic() - added_at < 5

    # Cordoned: its session keeps running, nobody new lands on it (three quarters of npu-b stay unused).
    cluster.cordon("npu-b")
    wait_for(lambda: nodes_of(admin.get("/pool").json())["npu-b"]["state"] == "cordoned")
    sixth = students[5].post("/requests", {"flavor": "npu-quarter"}).json()
    assert sixth["state"] == "waiting"
    pool = admin.get("/pool").json()
    assert nodes_of(pool)["npu-b"]["requests"] == [fifth["id"]]
    assert pool["models"][0]["capacity"] == "1" and pool["models"][0]["held_apart"] == "1/4"
    assert students[4].get(f"/requests/{fifth['id']}").json()["state"] == "granted"
    assert metric(admin, "npuhub_pool_nodes", state="cordoned") == 1
    assert metric(admin, "npuhub_sessions_on_cordoned_nodes") == 1
    shown = as_user(svc, "admin", "pool")  # the operator's command line says it too
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^npu-b\s+Ascend 910B\s+cordoned\s+0\s+1/4\s+3/4", shown.stdout, re.MULTILINE), shown.stdout
    assert f"Node npu-b is cordoned (or not ready): it takes no new grant; 1 session(s) keep running on it: " \
           f"{fifth['id']}." in shown.stdout

    # Deleted under a running grant: the grant ends with node_lost, in both languages, and is reported.
    cluster.delete_node("npu-b")
    ended = wait_for(lambda: (r := students[4].get(f"/requests/{fifth['id']}").json())["state"] == "released" and r)
    assert ended["reason"] == "node_lost"
    assert "removed from the cluster" in ended["message"]["en"] and "已从集群中移除" in ended["message"]["zh"]
    pool = admin.get("/pool").json()
    assert "npu-b" not in nodes_of(pool)
    assert pool["lost_nodes"][0]["name"] == "npu-b" and pool["lost_nodes"][0]["requests"] == [fifth["id"]]
    assert metric(admin, "npuhub_node_lost_grants_total") == 1
    shown = as_user(svc, "admin", "pool")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    assert f"Node npu-b left the cluster at" in shown.stderr and f"ended with reason node_lost: {fifth['id']}" \
        in shown.stderr

    # A node whose allocatable grows serves the queue too.
    cluster.set_allocatable("npu-a", KUBE_RESOURCE, 2)
    wait_for(lambda: students[5].get(f"/requests/{sixth['id']}").json()["state"] == "granted", timeout=10)
    assert admin.get("/pool").json()["models"][0]["capacity"] == "2"
    assert "Traceback" not in svc.log(tail=10**7)


def test_emulated_cluster_restart_keeps_grants_on_their_nodes(cluster, cluster_service):
    """kill -9 of the service: the next process lists the nodes first, then restores each grant onto its node."""
    cluster.add_node("npu-a", 1, LABELS, KUBE_RESOURCE)
    svc = cluster_service()
    wait_for(lambda: svc.health().status_code == 200, 30)
    students = [svc.client(f"student{i}") for i in range(1, 6)]
    held = [s.post("/requests", {"flavor": "npu-quarter"}).json() for s in students[:4]]
    assert {h["state"] for h in held} == {"granted"}
    svc.kill()
    again = cluster_service()
    wait_for(lambda: again.health().status_code == 200, 30)
    # the device is still full: a fifth quarter waits (nothing granted twice)
    assert students[4].post("/requests", {"flavor": "npu-quarter"}).json()["state"] == "waiting"
    pool = again.client("admin").get("/pool").json()
    assert pool["models"][0]["held"] == "1" and len(nodes_of(pool)["npu-a"]["requests"]) == 4
