"""On a real cluster: a ¼ slice of each device model the pool has, its pod's resources, the device seen inside, stop.

Never run on npuhub's own machines (tests/cluster/conftest.py says how an
operator runs it). One test per device model of the pool, each with the
first ¼ flavor of that model on the test account's menu.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.stream import WsApiClient

#: What shows the devices of each vendor inside a container, and what its output must hold.
DEVICE_CHECKS = {
    "ascend": (["sh", "-c", "npu-smi info || ls /dev/davinci*"], ("NPU", "/dev/davinci")),
    "nvidia": (["nvidia-smi", "-L"], ("GPU",)),
}


def quarter_flavors(site) -> list[tuple[str, str, str]]:
    """(flavor id, device model, vendor) of the first ¼ flavor per device model on the test account's menu."""
    vendors = {m["model"]: m["vendor"] for m in site.service("/pool")["models"]}
    seen, chosen = set(), []
    for entry in site.service("/flavors", user=site.user)["flavors"]:
        if entry.get("model") and entry["share"] in ("1/4", "¼") and entry["model"] not in seen:
            seen.add(entry["model"])
            chosen.append((entry["id"], entry["model"], vendors.get(entry["model"], "")))
    return chosen


def wait_ready(site, ready: bool, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        server = site.hub("GET", f"/users/{site.user}").json().get("servers", {}).get("")
        if (ready and server and server.get("ready")) or (not ready and not server):
            return server or {}
        assert time.monotonic() < deadline, f"{site.user}'s server did not become {'ready' if ready else 'stopped'}"
        time.sleep(2)


async def pod_and_devices(namespace: str, pod_name: str, command: list[str]) -> tuple[dict, str]:
    await config.load_kube_config()
    async with client.ApiClient() as api_client:
        pod = await client.CoreV1Api(api_client).read_namespaced_pod(pod_name, namespace)
        pod = api_client.sanitize_for_serialization(pod)
    async with WsApiClient() as ws:
        seen = await client.CoreV1Api(api_client=ws).connect_get_namespaced_pod_exec(
            pod_name, namespace, command=command, container="notebook", stderr=True, stdin=False, stdout=True,
            tty=False)
    return pod, seen


def test_cluster_a_quarter_slice_on_each_device_model_runs_with_its_device_and_stops(site):
    flavors = quarter_flavors(site)
    if not flavors:
        pytest.skip(f"not run: no ¼ flavor of an accelerator is on {site.user}'s menu")
    for flavor_id, model, vendor in flavors:
        r = site.hub("POST", f"/users/{site.user}/server", json={"profile": flavor_id})
        assert r.status_code in (201, 202), r.text
        state = wait_ready(site, True)["state"]
        request_id = state["npuhub"]["request"]
        granted = site.service(f"/requests/{request_id}")
        assert granted["state"] == "granted"
        wanted = ((granted.get("launch") or {}).get("kubernetes") or {}).get("resources", {}).get("limits", {})
        command, words = DEVICE_CHECKS.get(vendor, (["true"], ("",)))
        pod, seen = asyncio.run(pod_and_devices(state["namespace"], state["pod_name"], command))
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert wanted and all(str(limits.get(name)) == str(value) for name, value in wanted.items()), (model, limits)
        assert any(word in seen for word in words), f"{model}: no device seen inside the pod:\n{seen}"
        assert site.hub("DELETE", f"/users/{site.user}/server").status_code in (202, 204)
        wait_ready(site, False)
        assert site.service(f"/requests/{request_id}")["state"] != "granted"
