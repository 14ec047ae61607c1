"""Dask clusters in Kubernetes: the runner's DaskCluster objects, created, scaled and deleted through the API emulator.

The Kubernetes API is the emulator (tests/support/kube_emulator.py, a kmock
stand-in; no cluster can run here) with an emulated dask-kubernetes
operator (kube_emulator_dask.py) and the emulated kubelet running the pods.
The runner is npuhub's own, over the real ``kubernetes_asyncio`` client.
Every object it sends is checked against the operator's resource
definitions read from the installed dask-kubernetes package
(support/dask_crd.py) and every pod template with kubernetes-validate.
"""

from __future__ import annotations

import asyncio
import time

import kubernetes_validate
import pytest
from kubernetes_asyncio import client

from dask_kubernetes.operator.validation import validate_cluster_name
from npuhub.dask.runners.base import ClusterSpec, WorkerGrant
from npuhub.dask.runners.kube_objects import CLUSTERS, GROUP, VERSION, WORKER_GROUPS, cluster_name
from npuhub.dask.runners.kubernetes import RBAC, KubernetesRunner
from support.dask_crd import crd_errors, pod_specs
from support.kube_emulator import RUNS, EmulatedNode

pytestmark = pytest.mark.integration

IMAGE = "registry.test/npuhub/singleuser-ascend:2026.1"
RESOURCE = "huawei.com/Ascend910"
AGENT = "npuhub-dask-runner-under-test"
NODES = [EmulatedNode("cpu-node-1"),  # the scheduler's (it holds no device: it tolerates no device taint)
         EmulatedNode("npu-node-1", {"accelerator": "ascend-910b"},
                      [{"key": RESOURCE, "value": "present", "effect": "NoSchedule"}]),
         EmulatedNode("npu-node-2", {"accelerator": "ascend-910b"},
                      [{"key": RESOURCE, "value": "present", "effect": "NoSchedule"}])]
CLUSTER = {"nodes": NODES, "images": {IMAGE: RUNS}, "dask_operator": True, "pull_seconds": 0.2}


def fragment(node: str) -> dict:
    """What the ascend device-plugin backend sends for a 1-device grant on ``node`` (launch.kubernetes)."""
    return {"resources": {"limits": {RESOURCE: "1"}, "requests": {RESOURCE: "1"}},
            "nodeSelector": {"accelerator": "ascend-910b", "kubernetes.io/hostname": node},
            "tolerations": [{"key": RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
            "annotations": {"npuhub.io/share": "1"}, "labels": {"npuhub.io/flavor": "npu-1"},
            "env": {"ASCEND_RT_VISIBLE_DEVICES_POLICY": "plugin"},
            "volumes": [{"name": "ascend-driver", "hostPath": {"path": "/usr/local/Ascend/driver"}}],
            "volumeMounts": [{"name": "ascend-driver", "mountPath": "/usr/local/Ascend/driver", "readOnly": True}]}


def grant(i: int, node: str) -> WorkerGrant:
    return WorkerGrant(f"worker-{i}", f"req-{i}", {
        "env": {"NPUHUB_FLAVOR": "npu-1", "NPUHUB_SHARE": "1", "NPUHUB_REQUEST_ID": f"req-{i}",
                "NPUHUB_GRANT_ID": f"req-{i}", "NPUHUB_SLICES": f"{i}:1", "NPUHUB_NODE": node},
        "cpu": 4.0, "memory": "16G", "image": IMAGE, "kubernetes": fragment(node)})


SPEC = ClusterSpec(id="c0ffee01", user="ada@uni.edu", flavor="npu-1", image=IMAGE,
                   scheduler_launch={"env": {"NPUHUB_REQUEST_ID": "req-s"}, "cpu": 1.0, "memory": "2G",
                                     "image": IMAGE})


async def api_client(url: str, agent: str = AGENT) -> client.ApiClient:
    api = client.ApiClient(client.Configuration(host=url))
    api.user_agent = agent  # the runner's requests, told apart from the test's, the kubelet's and the operator's
    return api


async def eventually(what: str, check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout} s")
        await asyncio.sleep(0.2)


def check_object(kind: str, obj: dict) -> None:
    assert crd_errors(kind, obj) == []
    for where, meta, spec in pod_specs(obj):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"check-{where}", **meta}, "spec": spec}
        kubernetes_validate.validate(pod, "1.33", strict=True)
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["image"] == IMAGE
        assert meta["labels"]["npuhub.io/dask-cluster"] == SPEC.id
        assert meta["annotations"]["npuhub.io/user"] == SPEC.user


@pytest.mark.parametrize("emulated_cluster", [CLUSTER], indirect=True)
async def test_a_cluster_is_created_scaled_by_placement_and_deleted_with_the_services_verbs(emulated_cluster):
    runner = KubernetesRunner(lambda: api_client(emulated_cluster.url), namespace="npuhub", poll_interval=0.2,
                              start_timeout=30)
    custom = client.CustomObjectsApi(await api_client(emulated_cluster.url, "the-test-looking"))
    core = client.CoreV1Api(custom.api_client)
    name = cluster_name(SPEC)
    validate_cluster_name(name)  # the operator's own check of the name

    async def groups() -> dict[str, int]:
        found = await custom.list_namespaced_custom_object(GROUP, VERSION, "npuhub", WORKER_GROUPS,
                                                           label_selector="npuhub.io/dask-cluster=c0ffee01")
        return {g["metadata"]["name"]: g["spec"]["worker"]["replicas"] for g in found["items"]}

    async def worker_nodes() -> dict[str, str]:
        pods = await core.list_namespaced_pod("npuhub", label_selector=f"dask.org/cluster-name={name},"
                                                                       "dask.org/component=worker")
        return {p.metadata.name: p.spec.node_name for p in pods.items if p.metadata.deletion_timestamp is None}

    try:
        # start: the DaskCluster, its scheduler running (the emulated operator's and kubelet's work)
        endpoints = await runner.start(SPEC)
        assert endpoints.scheduler_address == f"tls://{name}-scheduler.npuhub.svc.cluster.local:8786"
        # the cluster's own certificate: for the owner's client (Endpoints.tls) and, from its Secret, its pods
        assert "BEGIN CERTIFICATE" in endpoints.tls["cert"] and "PRIVATE KEY" in endpoints.tls["key"]
        secret = custom.api_client.sanitize_for_serialization(await core.read_namespaced_secret(f"{name}-tls", "npuhub"))
        kubernetes_validate.validate({k: secret[k] for k in ("apiVersion", "kind", "type", "stringData")} | {
            "metadata": {"name": f"{name}-tls", "labels": secret["metadata"]["labels"]}}, "1.33", strict=True)
        cluster = await custom.get_namespaced_custom_object(GROUP, VERSION, "npuhub", CLUSTERS, name)
        assert cluster["status"]["phase"] == "Running" and cluster["spec"]["worker"]["replicas"] == 0
        check_object("daskcluster", {k: v for k, v in cluster.items() if k != "status"} | {
            "metadata": {k: cluster["metadata"][k] for k in ("name", "namespace", "labels", "annotations")}})
        # only its own pods, its owner's servers and the service may connect to its pods
        policy = (await client.NetworkingV1Api(custom.api_client).read_namespaced_network_policy(name, "npuhub"))
        policy = custom.api_client.sanitize_for_serialization(policy)
        kubernetes_validate.validate({k: policy[k] for k in ("apiVersion", "kind", "spec")} | {
            "metadata": {"name": name, "labels": policy["metadata"]["labels"]}}, "1.33", strict=True)
        sources = policy["spec"]["ingress"][0]["from"]
        assert policy["spec"]["podSelector"]["matchLabels"] == {"npuhub.io/dask-cluster": SPEC.id}
        assert {"npuhub.io/user": "ada-uni.edu-" + sources[1]["podSelector"]["matchLabels"]["npuhub.io/user"][-8:],
                "component": "singleuser-server"} == sources[1]["podSelector"]["matchLabels"]
        assert len(sources) == 4 and sources[0]["podSelector"]["matchLabels"] == {"npuhub.io/dask-cluster": SPEC.id}
        assert await runner.start(SPEC) == endpoints  # a start retried finds the same cluster and certificate
        assert await runner.adopt(SPEC) == endpoints  # so does a service that restarted
        assert runner.scheduler_alive(SPEC)
        assert await runner.ready_workers(SPEC) == 0

        # scale: 3 workers, 2 slices counted on node 1 and 1 on node 2 -> two placement groups
        await runner.scale(SPEC, [grant(1, "npu-node-1"), grant(2, "npu-node-1"), grant(3, "npu-node-2")])
        assert sorted((await groups()).values()) == [1, 2]
        for group in (await custom.list_namespaced_custom_object(GROUP, VERSION, "npuhub", WORKER_GROUPS,
                                                                 label_selector="npuhub.io/dask-cluster=c0ffee01"))["items"]:
            check_object("daskworkergroup", {"apiVersion": group["apiVersion"], "kind": group["kind"], "spec": group["spec"],
                                             "metadata": {k: group["metadata"][k] for k in ("name", "namespace", "labels",
                                                                                            "annotations")}})
            limits = group["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]
            assert limits == {RESOURCE: "1", "cpu": "4", "memory": "16G"}
        assert await eventually("3 workers ready", lambda: _equals(runner.ready_workers(SPEC), 3)) == 3
        nodes = await worker_nodes()
        assert sorted(nodes.values()) == ["npu-node-1", "npu-node-1", "npu-node-2"], nodes  # where the pool counted them

        # one of node 1's slices released: that group shrinks, the other is untouched
        await runner.scale(SPEC, [grant(1, "npu-node-1"), grant(3, "npu-node-2")])
        assert sorted((await groups()).values()) == [1, 1]
        await eventually("2 workers, one per node", lambda: _sorted_values(worker_nodes(),
                                                                           ["npu-node-1", "npu-node-2"]))
        # node 2's worker released: its group goes
        await runner.scale(SPEC, [grant(1, "npu-node-1")])
        assert list((await groups()).values()) == [1]
        assert await eventually("1 worker", lambda: _equals(runner.ready_workers(SPEC), 1)) == 1
        assert runner.scheduler_alive(SPEC)

        # the scheduler's container ends (its --idle-timeout, or a crash): the runner says so, the service closes
        scheduler_pod = (await core.list_namespaced_pod("npuhub", label_selector="dask.org/component=scheduler")).items[0]
        emulated_cluster.crash(scheduler_pod.metadata.name)

        async def ended():
            await runner.ready_workers(SPEC)
            return not runner.scheduler_alive(SPEC)
        assert await eventually("the scheduler seen ended", ended)

        # stop: the DaskCluster and its groups deleted, the workers with them; stop again is harmless
        await runner.stop(SPEC)
        await runner.stop(SPEC)
        assert await groups() == {}
        listed = await custom.list_namespaced_custom_object(GROUP, VERSION, "npuhub", CLUSTERS)
        assert listed["items"] == []
        await eventually("no pods left", lambda: _empty(core.list_namespaced_pod("npuhub")))
        assert not (await client.NetworkingV1Api(custom.api_client).list_namespaced_network_policy("npuhub")).items
        assert not (await core.list_namespaced_secret("npuhub")).items
        assert await runner.adopt(SPEC) is None  # nothing to take back after a restart
        assert await runner.ready_workers(SPEC) == 0
    finally:
        await runner.stop(SPEC)
        await runner.close()
        await custom.api_client.close()

    # RBAC: exactly the verbs the runner documents (and the chart's Role must grant), no more, no fewer
    used = set()
    for request in list(emulated_cluster.emulator):  # kmock: the emulator iterates over the requests it served
        if request.headers.get("User-Agent") != AGENT or request.resource is None:
            continue
        used.add((request.resource.group, request.resource.plural, _verb(request)))
    assert used <= RBAC, used - RBAC
    assert used == RBAC, RBAC - used


def _verb(request) -> str:
    method = str(request.method.value if hasattr(request.method, "value") else request.method).upper()
    if method == "GET":
        return "watch" if request.params.get("watch") else ("get" if request.name else "list")
    return {"POST": "create", "PATCH": "patch", "PUT": "update",
            "DELETE": "delete" if request.name else "deletecollection"}[method]


async def _equals(awaitable, value):
    got = await awaitable
    return got if got == value else None


async def _sorted_values(awaitable, expected):
    got = await awaitable
    return got if sorted(got.values()) == expected else None


async def _empty(awaitable):
    return not (await awaitable).items
