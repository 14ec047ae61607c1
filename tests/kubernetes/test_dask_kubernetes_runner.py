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
from npuhub.dask.runners.kubernetes import RBAC, DaskClusterError, KubernetesRunner
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
        assert endpoints.dashboard_url == (f"http://{name}-scheduler.npuhub.svc.cluster.local:8787"
                                           f"/services/npuhub/dask/{SPEC.id}")
        # the cluster's own certificate: for the owner's client (Endpoints.tls) and, from its Secret, its pods
        assert "BEGIN CERTIFICATE" in endpoints.tls["cert"] and "PRIVATE KEY" in endpoints.tls["key"]
        secret = custom.api_client.sanitize_for_serialization(
            await core.read_namespaced_secret(f"{name}-tls", "npuhub"))
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
        listed = await custom.list_namespaced_custom_object(GROUP, VERSION, "npuhub", WORKER_GROUPS,
                                                            label_selector="npuhub.io/dask-cluster=c0ffee01")
        for group in listed["items"]:
            meta = {k: group["metadata"][k] for k in ("name", "namespace", "labels", "annotations")}
            check_object("daskworkergroup", {"apiVersion": group["apiVersion"], "kind": group["kind"],
                                             "spec": group["spec"], "metadata": meta})
            limits = group["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]
            assert limits == {RESOURCE: "1", "cpu": "4", "memory": "16G"}
        assert await eventually("3 workers ready", lambda: _equals(runner.ready_workers(SPEC), 3)) == 3
        nodes = await worker_nodes()
        # each worker on the node the pool counted its slice on
        assert sorted(nodes.values()) == ["npu-node-1", "npu-node-1", "npu-node-2"], nodes

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
        scheduler_pod = (await core.list_namespaced_pod(
            "npuhub", label_selector="dask.org/component=scheduler")).items[0]
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


@pytest.mark.parametrize("emulated_cluster", [{"images": {IMAGE: RUNS}}], indirect=True)
async def test_with_the_operator_down_a_start_gives_up_in_one_sentence_and_leaves_nothing(emulated_cluster):
    """The operator's CRDs are there but the operator does not run (no emulated operator here): nobody marks the
    DaskCluster Running. After ``start_timeout`` the person is told in both languages, and the DaskCluster, its
    Secret and its NetworkPolicy are deleted again: nothing of a cluster that cannot start stays."""
    runner = KubernetesRunner(lambda: api_client(emulated_cluster.url), namespace="npuhub", start_timeout=2,
                              poll_interval=0.2)
    try:
        with pytest.raises(DaskClusterError) as refused:
            await runner.start(SPEC)
        assert "did not start within 2 seconds" in refused.value.text.en and "2 秒内没有启动" in refused.value.text.zh
        for path in ("/apis/kubernetes.dask.org/v1/namespaces/npuhub/daskclusters", "/api/v1/namespaces/npuhub/secrets",
                     "/apis/networking.k8s.io/v1/namespaces/npuhub/networkpolicies"):
            assert emulated_cluster.api("GET", path).json()["items"] == [], path
    finally:
        await runner.close()


async def test_the_emulator_serves_daskclusters_as_the_api_server_does(emulated_cluster):
    """The emulator's custom resource (what the runner and the emulated operator rely on): create, get, list by
    label, watch, merge-patch, delete, through kubernetes_asyncio's CustomObjectsApi."""
    from kubernetes_asyncio import watch

    from npuhub.dask.runners.kube_objects import daskcluster

    api = client.CustomObjectsApi(await api_client(emulated_cluster.url, "the-test-looking"))
    try:
        seen = []

        async def watching():
            async with watch.Watch().stream(api.list_namespaced_custom_object, GROUP, VERSION, "npuhub", CLUSTERS,
                                            timeout_seconds=3) as stream:
                async for event in stream:
                    seen.append((event["type"], (event["object"].get("status") or {}).get("phase")))
        watcher = asyncio.create_task(watching())
        await asyncio.sleep(0.5)
        body = daskcluster(SPEC, "npuhub")
        # (kmock answers a create with 200, a real API server with 201, which the client alone parses: read it back)
        await api.create_namespaced_custom_object(GROUP, VERSION, "npuhub", CLUSTERS, body)
        name = body["metadata"]["name"]
        got = await api.get_namespaced_custom_object(GROUP, VERSION, "npuhub", CLUSTERS, name)
        assert got["spec"] == body["spec"] and got["metadata"]["uid"] and got["metadata"]["resourceVersion"]
        listed = await api.list_namespaced_custom_object(GROUP, VERSION, "npuhub", CLUSTERS,
                                                         label_selector="npuhub.io/user=someone-else")
        assert listed["items"] == []
        await api.patch_namespaced_custom_object(GROUP, VERSION, "npuhub", CLUSTERS, name,
                                                 {"status": {"phase": "Running"}},
                                                 _content_type="application/merge-patch+json")
        await api.delete_namespaced_custom_object(GROUP, VERSION, "npuhub", CLUSTERS, name)
        await watcher
        assert seen[0] == ("ADDED", None) and ("MODIFIED", "Running") in seen and seen[-1][0] == "DELETED", seen
    finally:
        await api.api_client.close()
