"""The Kubernetes API emulator itself (tests/support/kube_emulator.py): what the spawner tests rely on.

An API simulation, not a cluster: these tests pin the behaviour KubeSpawner
and npuhub depend on (watches as kubernetes_asyncio asks for them, selectors,
metadata, PUT with resourceVersion conflicts, the pod quota, graceful pod
deletion, the emulated kubelet's pod lifecycle), so that a failing lifecycle
test points at npuhub and not at the emulator.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.rest import ApiException

from support.kube_emulator import LAB, EmulatedNode, exits_with

pytestmark = pytest.mark.integration

IMAGE = "registry.test/npuhub/lab:1"


def pod_body(name: str, image: str = IMAGE, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"component": "singleuser-server", "user": name}},
            "spec": {"restartPolicy": "OnFailure", "containers": [{
                "name": "notebook", "image": image, "args": ["jupyterhub-singleuser"],
                "ports": [{"name": "notebook-port", "containerPort": 8888}]}], **spec}}


async def core(cluster) -> client.CoreV1Api:
    configuration = client.Configuration(host=cluster.url)
    return client.CoreV1Api(client.ApiClient(configuration))


def wait_for(what, check, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


async def test_the_emulator_serves_watches_selectors_and_metadata_as_kubernetes_asyncio_asks(emulated_cluster):
    api = await core(emulated_cluster)
    async with api.api_client:
        created = await api.create_namespaced_pod("npuhub", pod_body("jupyter-ada", image="not/in:registry"))
        assert created.metadata.namespace == "npuhub" and created.metadata.uid and created.metadata.resource_version
        await api.create_namespaced_event("npuhub", {"metadata": {"name": "other"}, "involvedObject": {
            "kind": "Node", "name": "n"}, "lastTimestamp": None, "eventTime": None})
        listed = await api.list_namespaced_pod("npuhub", label_selector="component=singleuser-server,user=ada")
        assert listed.items == []
        listed = await api.list_namespaced_pod("npuhub", label_selector="component=singleuser-server")
        assert [p.metadata.name for p in listed.items] == ["jupyter-ada"]
        # set-based, as npuhub's node watch asks ("npuhub.test/accelerator in (ascend-910b)")
        listed = await api.list_namespaced_pod("npuhub", label_selector="user in (jupyter-bob, jupyter-ada),component")
        assert [p.metadata.name for p in listed.items] == ["jupyter-ada"]
        for selector in ("user notin (jupyter-ada)", "user in (jupyter-bob)", "team in (jupyter-ada)"):
            assert (await api.list_namespaced_pod("npuhub", label_selector=selector)).items == [], selector
        events = await api.list_namespaced_event("npuhub", field_selector="involvedObject.kind=Node")
        assert [e.metadata.name for e in events.items] == ["other"]
        # watch=True, ended by the server after timeoutSeconds
        began = time.monotonic()
        seen = []
        w = watch.Watch()
        async with w.stream(api.list_namespaced_pod, namespace="npuhub", timeout_seconds=2,
                            label_selector="component=singleuser-server") as stream:
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.name))
        assert ("ADDED", "jupyter-ada") in seen and 1.5 < time.monotonic() - began < 15


async def test_put_replaces_and_refuses_a_stale_version(emulated_cluster):
    configuration = client.Configuration(host=emulated_cluster.url)
    async with client.ApiClient(configuration) as api_client:
        leases = client.CoordinationV1Api(api_client)
        lease = await leases.create_namespaced_lease("npuhub", {"metadata": {"name": "leader"},
                                                                "spec": {"holderIdentity": "a"}})
        lease.spec.holder_identity = "b"
        replaced = await leases.replace_namespaced_lease("leader", "npuhub", lease)
        assert replaced.spec.holder_identity == "b"
        assert replaced.metadata.resource_version != lease.metadata.resource_version
        lease.spec.holder_identity = "c"  # still the old version
        with pytest.raises(ApiException) as info:
            await leases.replace_namespaced_lease("leader", "npuhub", lease)
        assert info.value.status == 409


async def test_a_namespace_quota_on_pods_refuses_the_next_pod(emulated_cluster):
    api = await core(emulated_cluster)
    async with api.api_client:
        await api.create_namespaced_resource_quota("npuhub", {"metadata": {"name": "npuhub"},
                                                              "spec": {"hard": {"pods": "1"}}})
        await api.create_namespaced_pod("npuhub", pod_body("jupyter-one", image="not/in:registry"))
        with pytest.raises(ApiException) as info:
            await api.create_namespaced_pod("npuhub", pod_body("jupyter-two"))
        assert info.value.status == 403 and "exceeded quota" in info.value.body


def test_the_emulated_kubelet_runs_the_container_as_a_process_and_stops_it_before_the_pod_is_gone(emulated_cluster):
    cluster = emulated_cluster
    cluster.images[IMAGE] = LAB
    cluster.create("pods", pod_body("jupyter-grace", env=None) | {})
    pod = wait_for("running", lambda: (p := cluster.pod("jupyter-grace")) and p["status"]["phase"] == "Running" and p)
    assert pod["spec"]["nodeName"] == "emulated-node-1" and pod["status"]["podIP"].startswith("127.")
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] and status["image"] == IMAGE and status["imageID"] and status["restartCount"] == 0
    events = cluster.api("GET", "/api/v1/namespaces/npuhub/events").json()["items"]
    assert [e["reason"] for e in events if e["involvedObject"]["name"] == "jupyter-grace"] == [
        "Scheduled", "Pulling", "Pulled", "Created", "Started"]
    run = next(r for r in cluster.kubelet.runs.values() if r.process is not None)
    cluster.delete("pods", "jupyter-grace")
    wait_for("gone", lambda: cluster.pod("jupyter-grace") is None)
    assert run.process.returncode is not None  # its container stopped before the pod disappeared


@pytest.mark.parametrize("emulated_cluster", [{"nodes": [EmulatedNode("npu-1", {"accelerator": "ascend"},
                                                                      [{"key": "npu", "value": "maintenance",
                                                                        "effect": "NoSchedule"}])]}],
                         indirect=True)
def test_the_emulated_scheduler_honours_taints_and_selectors(emulated_cluster):
    cluster = emulated_cluster
    cluster.images[IMAGE] = exits_with(3)
    cluster.create("pods", pod_body("jupyter-taint", nodeSelector={"accelerator": "ascend"}))
    cluster.create("pods", pod_body("jupyter-gpu", nodeSelector={"accelerator": "nvidia"}))
    cluster.create("pods", pod_body("jupyter-ok", nodeSelector={"accelerator": "ascend"}, tolerations=[
        {"key": "npu", "operator": "Exists", "effect": "NoSchedule"}]))

    def condition(name):
        pod = cluster.pod(name)
        return next((c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"), None)

    assert "untolerated taint {npu: maintenance}" in wait_for("taint", lambda: condition("jupyter-taint"))["message"]
    assert "didn't match Pod's node affinity/selector" in wait_for("gpu", lambda: condition("jupyter-gpu"))["message"]
    # the tolerating pod is placed; its container exits with 3, so it backs off (restartPolicy OnFailure)
    status = wait_for("exit", lambda: (cluster.pod("jupyter-ok")["status"].get("containerStatuses") or [{}])[0]
                      .get("lastState", {}).get("terminated"))
    assert status["exitCode"] == 3
